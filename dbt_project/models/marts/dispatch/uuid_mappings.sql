{#-
  Legacy id -> uuid, per entity type (spec "Legacy id -> UUID mapping"). Incremental:
  a build reads only the source ids loaded since the last one and the read-back rows
  not yet seen with their mapping's uuid, and an assigned uuid never changes (the merge
  updates only the validation columns, of new mappings and status changes).
  A legacy id the read-back holds keeps the target's uuid (the initial migration's
  random uuids); any other gets uuid v5 of its entity type's namespace and the legacy
  id as text, so a lost table rebuilds to the same uuids.
-#}
{{ config(
    materialized='incremental',
    unique_key=['entity_type', 'legacy_id'],
    incremental_strategy='merge',
    merge_update_columns=['sync_status', 'last_validated_at', '_dispatch_load_id', '_supabase_load_id', '_built_at'],
    on_schema_change='fail',
    indexes=[{'columns': ['entity_type', 'legacy_id'], 'unique': True}],
    pre_hook=["{{ dispatch_create_extensions() }}", "{{ dispatch_model_settings(nested_loops=true) }}"],
    post_hook="{{ dispatch_model_analyze() }}"
) }}

{#- literals on an incremental build of the table (dispatch_watermark_values) -#}
{%- set since = dispatch_watermark_values(['dispatch_load_id', 'supabase_load_id']) %}

{%- set entities = dispatch_entities() %}

with

{% if is_incremental() -%}
watermark as (

    select
        coalesce(max(_dispatch_load_id), '') as dispatch_load_id,
        coalesce(max(_supabase_load_id), '') as supabase_load_id

    from {{ this }}

),

existing as (

    select * from {{ this }}

),

{% else -%}
watermark as (

    select
        '' as dispatch_load_id,
        '' as supabase_load_id

),

-- a first build: no mapping yet
existing as (

    select
        cast(null as {{ dbt.type_string() }}) as entity_type,
        cast(null as {{ dbt.type_int() }}) as legacy_id,
        -- the spec names the column `uuid`
        cast(null as {{ dispatch_type_uuid() }}) as uuid,  -- noqa: RF04
        cast(null as {{ type_timestamp_tz() }}) as created_at,
        cast(null as {{ type_timestamp_tz() }}) as last_validated_at,
        cast(null as {{ dbt.type_string() }}) as sync_status

    where 1 = 0

),

{% endif -%}
source_ids as (

    {%- for entity in entities %}

    select
        '{{ entity.entity_type }}' as entity_type,
        {{ entity.source_key }} as legacy_id,
        dlt_load_id

    from {{ ref(entity.staging_model) }}
    {%- if is_incremental() %}
    where dlt_load_id > {{ since.dispatch_load_id }}
    {%- endif %}
    {%- if not loop.last %}

    union all
    {%- endif %}
    {%- endfor %}

),

read_back as (

    {%- for entity in entities %}

    select
        '{{ entity.entity_type }}' as entity_type,
        read_back_rows.{{ entity.legacy_key }} as legacy_id,
        read_back_rows.id as target_uuid,
        read_back_rows.dlt_load_id

    from {{ ref('stg_supabase__' ~ entity.target_table) }} as read_back_rows
    {%- if is_incremental() %}
    -- only read-back rows loaded since the last build (the read-back merges the rows the
    -- target wrote since its last read), and of those only the ones not yet seen with
    -- their mapping's uuid, can change anything
    where
        read_back_rows.dlt_load_id > {{ since.supabase_load_id }}
        and not exists (
            select 1 from {{ this }} as known
            where
                known.entity_type = '{{ entity.entity_type }}'
                and known.legacy_id = read_back_rows.{{ entity.legacy_key }}
                and known.uuid = read_back_rows.id
        )
    {%- endif %}
    {%- if not loop.last %}

    union all
    {%- endif %}
    {%- endfor %}

),

entity_types as (

    {%- for entity in entities %}

    select
        '{{ entity.entity_type }}' as entity_type,
        '{{ entity.namespace }}' as namespace,
        '{{ entity.source_table }}' as source_table,
        '{{ entity.target_table }}' as target_table
    {%- if not loop.last %}

    union all
    {%- endif %}
    {%- endfor %}

),

source_keys as (

    select
        entity_type,
        legacy_id

    from source_ids
    group by entity_type, legacy_id

),

-- the target's legacy ids are unique (contracts.md section 7), and so are the read-back's
read_back_keys as (

    select
        entity_type,
        legacy_id,
        target_uuid

    from read_back
    where legacy_id is not null

),

load_ids as (

    select
        (select max(source_ids.dlt_load_id) from source_ids) as dispatch_load_id,
        (select max(read_back.dlt_load_id) from read_back) as supabase_load_id

),

keys as (

    select
        read_back_keys.target_uuid,
        coalesce(source_keys.entity_type, read_back_keys.entity_type) as entity_type,
        coalesce(source_keys.legacy_id, read_back_keys.legacy_id) as legacy_id

    from source_keys
    full outer join read_back_keys
        on
            source_keys.entity_type = read_back_keys.entity_type
            and source_keys.legacy_id = read_back_keys.legacy_id

),

-- an existing mapping keeps its uuid; else the read-back's; else uuid v5
mapped as (

    select
        keys.entity_type,
        keys.legacy_id,
        entity_types.source_table,
        entity_types.target_table,
        keys.target_uuid,
        existing.created_at as existing_created_at,
        existing.last_validated_at as existing_last_validated_at,
        existing.sync_status as existing_sync_status,
        coalesce(
            existing.uuid,
            keys.target_uuid,
            {{ dispatch_uuid_v5('entity_types.namespace', dbt.cast('keys.legacy_id', dbt.type_string())) }}
        ) as mapped_uuid

    from keys
    inner join entity_types
        on keys.entity_type = entity_types.entity_type
    left join existing
        on
            keys.entity_type = existing.entity_type
            and keys.legacy_id = existing.legacy_id

),

final as (

    select
        mapped.entity_type,
        mapped.legacy_id,
        mapped.mapped_uuid as uuid,  -- noqa: RF04
        mapped.source_table,
        mapped.target_table,
        coalesce(mapped.existing_created_at, {{ dispatch_run_started_at() }}) as created_at,
        -- when the read-back first showed the target row with this uuid (kept while it does)
        case
            when mapped.target_uuid = mapped.mapped_uuid
                then coalesce(mapped.existing_last_validated_at, {{ dispatch_run_started_at() }})
            else mapped.existing_last_validated_at
        end as last_validated_at,
        case
            when mapped.target_uuid = mapped.mapped_uuid then 'synced'
            when mapped.target_uuid is not null then 'mismatch'
            else coalesce(mapped.existing_sync_status, 'pending')
        end as sync_status,
        coalesce(
            (select load_ids.dispatch_load_id from load_ids),
            (select watermark.dispatch_load_id from watermark)
        ) as _dispatch_load_id,
        coalesce(
            (select load_ids.supabase_load_id from load_ids),
            (select watermark.supabase_load_id from watermark)
        ) as _supabase_load_id,
        {{ dispatch_run_started_at() }} as _built_at,
        mapped.existing_sync_status

    from mapped

),

-- written: new mappings, and those whose status changes (a mapping seen again
-- unchanged costs no write)
changed as (

    select
        entity_type,
        legacy_id,
        uuid,  -- noqa: RF04
        source_table,
        target_table,
        created_at,
        last_validated_at,
        sync_status,
        _dispatch_load_id,
        _supabase_load_id,
        _built_at

    from final
    where
        existing_sync_status is null
        or sync_status != existing_sync_status

)

select * from changed
