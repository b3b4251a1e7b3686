{#-
  Conflicts between the legacy source and the new application (spec "Push to
  Supabase"), one row per target row that has, or had, one. A pushable target row is
  in conflict when the read-back differs from the transformed source row and the new
  application changed it:
  - after a push of ours (int_dispatch__supabase_last_pushes), when the read-back's
    payload hash (the sync views' _payload_hash over the same columns, cast the same
    way) differs from the hash we last pushed;
  - before any push (rows of the initial migration), when the target's updated_at is
    newer than the source's (the source's newer is an ordinary update).
  A read-back loaded before our last push of the row is stale (the pusher writes the
  legacy updated_at, which the incremental read-back may never reach again): it shows
  nothing the app did after that push, so it is no conflict; the update views compare
  the source with that push instead.
  `strategy` comes from the seed supabase_conflict_strategies (source_wins when the
  entity has no row). The update views leave out the open conflicts whose strategy is
  not source_wins. Incremental: a conflict keeps its first detected_at while open; one
  no longer found is closed (is_open false, resolved_at set), so the table is also the
  conflicts' log. Incremental in what it compares, too: a build looks only at the legacy
  ids whose target model row was rebuilt (`_built_at`) or whose read-back row was
  loaded (the read-back merges by row version) since the last build, and at every
  conflict still open; it writes only new, changed and resolved conflicts. How far a
  build compared is recorded in int_dispatch__build_watermarks by its pre-hook, in
  its transaction: a build that finds no conflict writes no row here, yet the next
  one starts where it stopped.
-#}
{{ config(
    materialized='incremental',
    unique_key=['entity', 'legacy_id'],
    incremental_strategy='merge',
    on_schema_change='append_new_columns',
    indexes=[{'columns': ['entity', 'legacy_id'], 'unique': True}],
    pre_hook=[
        "{{ dispatch_model_settings() }}",
        "{{ dispatch_record_watermarks('sync_conflicts', {
            'built_at': dispatch_run_started_at_text(),
            'supabase_load_id': dispatch_read_back_load_id()}) }}"
    ],
    post_hook="{{ dispatch_model_analyze() }}"
) }}

{%- set entities = dispatch_entities() %}
{#- how far the last build compared (int_dispatch__build_watermarks): its own rows cannot
    tell, as a build that finds no conflict writes none -#}
{%- set since = dispatch_recorded_watermarks('sync_conflicts', ['supabase_load_id', 'built_at']) %}

with

strategies as (

    select * from {{ ref('supabase_conflict_strategies') }}

),

-- the newest read-back load this build saw (kept on the rows it writes)
load_ids as (

    select {{ dispatch_read_back_load_id() }} as supabase_load_id

),

{% for entity in entities -%}
{%- set table = entity.target_table %}
{%- set key = entity.legacy_key %}
{% if is_incremental() -%}
-- what may have changed since the last build that wrote here, and what is still open
{{ table }}_candidates as (

    select changed_source.{{ key }} as legacy_id
    from {{ ref(table) }} as changed_source
    where changed_source._built_at > {{ since.built_at }}

    union

    select changed_read_back.{{ key }} as legacy_id
    from {{ ref('stg_supabase__' ~ table) }} as changed_read_back
    where changed_read_back.dlt_load_id > {{ since.supabase_load_id }}

    union

    select open_conflicts.legacy_id
    from {{ this }} as open_conflicts
    where
        open_conflicts.is_open
        and open_conflicts.entity = '{{ table }}'

),

{% endif -%}
-- one CTE per entity, each read once: Postgres inlines it and reaches the few candidates'
-- pushes through the model's unique index (one CTE for all six is materialized whole,
-- 1.2M rows at 2M source rows, and sorted for every entity)
{{ table }}_last_pushes as (

    select * from {{ ref('int_dispatch__supabase_last_pushes') }}
    where object_name = '{{ table }}'

),

{{ table }}_differing as (

    select
        '{{ table }}' as entity,
        source_rows.{{ key }} as legacy_id,
        source_rows.id as uuid,  -- noqa: RF04
        {{ dispatch_row_json(table, 'source_rows') }} as source_version,
        {{ dispatch_row_json(table, 'read_back') }} as target_version,
        source_rows.updated_at as source_updated_at,
        read_back.updated_at as target_updated_at,
        {{ dispatch_payload_hash(table, 'read_back.') }} as target_payload_hash,
        last_pushes.payload_hash as last_pushed_hash,
        last_pushes.recorded_at as last_pushed_at

    from {{ ref(table) }} as source_rows
    inner join {{ ref('stg_supabase__' ~ table) }} as read_back
        on source_rows.{{ key }} = read_back.{{ key }}
    left join {{ table }}_last_pushes as last_pushes
        on cast(source_rows.{{ key }} as {{ dbt.type_string() }}) = last_pushes.sync_key
    where
        source_rows.rejection_code is null
        {%- if is_incremental() %}
        and source_rows.{{ key }} in (select {{ table }}_candidates.legacy_id from {{ table }}_candidates)
        {%- endif %}
        -- a read-back older than our last push of the row cannot show what the app did since
        and not {{ dispatch_read_back_is_stale('read_back', 'last_pushes') }}
        and {{ dispatch_row_differs(table, 'source_rows', 'read_back') }}

),

{% endfor -%}
differing as (

    {%- for entity in entities %}

    select * from {{ entity.target_table }}_differing
    {%- if not loop.last %}

    union all
    {%- endif %}
    {%- endfor %}

),

current_conflicts as (

    select
        differing.*,
        case
            when differing.last_pushed_hash is not null then 'changed_since_last_push'
            else 'target_newer_than_source'
        end as conflict_basis,
        coalesce(strategies.strategy, 'source_wins') as strategy

    from differing
    left join strategies
        on differing.entity = strategies.entity
    where
        case
            when differing.last_pushed_hash is not null
                then differing.target_payload_hash != differing.last_pushed_hash
            else differing.target_updated_at > differing.source_updated_at
        end

),

current_rows as (

    select
        {{ dbt.concat([
            'current_conflicts.entity', "':'", dbt.cast('current_conflicts.legacy_id', dbt.type_string())
        ]) }} as conflict_id,
        current_conflicts.entity,
        current_conflicts.legacy_id,
        current_conflicts.uuid,  -- noqa: RF04
        current_conflicts.source_version,
        current_conflicts.target_version,
        current_conflicts.strategy,
        current_conflicts.conflict_basis,
        current_conflicts.source_updated_at,
        current_conflicts.target_updated_at,
        current_conflicts.last_pushed_hash,
        current_conflicts.target_payload_hash,
        current_conflicts.last_pushed_at,
        true as is_open,
        {{ dispatch_run_started_at() }} as detected_at,
        cast(null as {{ type_timestamp_tz() }}) as resolved_at,
        (select load_ids.supabase_load_id from load_ids) as _supabase_load_id,
        {{ dispatch_run_started_at() }} as _built_at

    from current_conflicts

),

-- the conflicts open after the last build (none on a first build)
previous_open as (

    {% if is_incremental() -%}
    select * from {{ this }}
    where is_open
    {%- else -%}
    select * from current_rows
    where 1 = 0
    {%- endif %}

),

still_open as (

    select
        current_rows.conflict_id,
        current_rows.entity,
        current_rows.legacy_id,
        current_rows.uuid,
        current_rows.source_version,
        current_rows.target_version,
        current_rows.strategy,
        current_rows.conflict_basis,
        current_rows.source_updated_at,
        current_rows.target_updated_at,
        current_rows.last_pushed_hash,
        current_rows.target_payload_hash,
        current_rows.last_pushed_at,
        current_rows.is_open,
        coalesce(previous_open.detected_at, current_rows.detected_at) as detected_at,
        current_rows.resolved_at,
        current_rows._supabase_load_id,
        current_rows._built_at

    from current_rows
    left join previous_open
        on current_rows.conflict_id = previous_open.conflict_id
    -- an open conflict unchanged since the last build is not written again
    where
        previous_open.conflict_id is null
        or previous_open.target_payload_hash is distinct from current_rows.target_payload_hash
        or previous_open.source_version is distinct from current_rows.source_version
        or previous_open.strategy is distinct from current_rows.strategy

),

-- open before, not found now: resolved (pushed over, reverted, or the source caught up)
resolved as (

    select
        previous_open.conflict_id,
        previous_open.entity,
        previous_open.legacy_id,
        previous_open.uuid,
        previous_open.source_version,
        previous_open.target_version,
        previous_open.strategy,
        previous_open.conflict_basis,
        previous_open.source_updated_at,
        previous_open.target_updated_at,
        previous_open.last_pushed_hash,
        previous_open.target_payload_hash,
        previous_open.last_pushed_at,
        false as is_open,
        previous_open.detected_at,
        {{ dispatch_run_started_at() }} as resolved_at,
        (select load_ids.supabase_load_id from load_ids) as _supabase_load_id,
        {{ dispatch_run_started_at() }} as _built_at

    from previous_open
    left join current_rows
        on previous_open.conflict_id = current_rows.conflict_id
    where current_rows.conflict_id is null

),

final as (

    select * from still_open

    union all

    select * from resolved

)

select * from final
