{#-
  Target rows of `offices` (contracts.md section 7), one per legacy office, deleted and
  rejected ones included: columns copied, `id` from uuid_mappings. Offices have no
  foreign key, so none is rejected. Incremental: only offices loaded since the last
  build are computed again.
-#}
{{ config(
    materialized='incremental',
    unique_key='legacy_office_id',
    incremental_strategy='merge',
    on_schema_change='fail',
    indexes=[{'columns': ['legacy_office_id'], 'unique': True}],
    pre_hook="{{ dispatch_model_settings() }}",
    post_hook="{{ dispatch_model_analyze() }}"
) }}

{#- literals on an incremental build of the table (dispatch_watermark_values) -#}
{%- set since = dispatch_watermark_values(['source_load_id', 'built_at']) %}

with

{% if is_incremental() -%}
{{ dispatch_watermark_cte() }},

previous as (

    select * from {{ this }}

),

changed_keys as (

    {{ dispatch_changed_keys(
        ref('stg_dispatch__offices'), 'office_id', 'legacy_office_id', since,
        []
    ) }}

),

{% endif -%}
offices as (

    select * from {{ ref('stg_dispatch__offices') }}
    {%- if is_incremental() %}
    where office_id in (select changed_keys.changed_key from changed_keys)
    {%- endif %}

),

uuid_mappings as (

    select * from {{ ref('uuid_mappings') }}
    where entity_type = 'offices'

),

load_ids as (

    select max(dlt_load_id) as source_load_id

    from offices

),

transformed as (

    select
        uuid_mappings.uuid as id,
        offices.office_id as legacy_office_id,
        offices.office_name as name,  -- noqa: RF04
        offices.address,
        offices.phone,
        offices.timezone,  -- noqa: RF04
        offices.is_active,
        offices.deleted_at,
        offices.created_at,
        offices.updated_at,
        {{ dispatch_rejection_columns([]) }}

    from offices
    inner join uuid_mappings
        on offices.office_id = uuid_mappings.legacy_id

),

final as (

    select
        transformed.*,
        {{ dispatch_state_changed_at('transformed', 'legacy_office_id') }} as _state_changed_at,
        {%- if is_incremental() %}
        coalesce(load_ids.source_load_id, watermark.source_load_id) as _source_load_id,
        {%- else %}
        coalesce(load_ids.source_load_id, '') as _source_load_id,
        {%- endif %}
        {{ dispatch_run_started_at() }} as _built_at

    from transformed
    cross join load_ids
    {%- if is_incremental() %}
    cross join watermark
    left join previous
        on transformed.legacy_office_id = previous.legacy_office_id
    {%- endif %}

)

select * from final
