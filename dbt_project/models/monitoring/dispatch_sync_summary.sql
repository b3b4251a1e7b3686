{#-
  The dispatch -> Supabase slice at a glance, one row per target table in
  foreign-key order: rows to create and to update now (the sync views), unchanged
  (pushable rows the read-back holds with the same values), rejected (total and per
  reason), open conflicts (and those held: strategy not source_wins), data-quality
  warnings, failed validation checks, and a verdict, first that applies:
  pending_push (rows to create or update), failed_validation (a check of
  dispatch_validation fails), needs_review (conflicts held for review), in_sync.
  A view: it answers from the latest build and read-back.
-#}

{%- set entities = dispatch_entities() %}

with

validation as (

    select * from {{ ref('dispatch_validation') }}

),

conflicts as (

    select * from {{ ref('sync_conflicts') }}
    where is_open

),

rejected as (

    select * from {{ ref('dispatch_rejected_records') }}

),

warnings as (

    select * from {{ ref('dispatch_data_quality_warnings') }}

),

rejected_by_code as (

    select
        entity,
        rejection_code,
        count(*) as rejected_count

    from rejected
    group by entity, rejection_code

),

rejected_by_entity as (

    select
        entity,
        sum(rejected_count) as rejected_count,
        {{ dbt.listagg(dbt.concat(['rejection_code', "': '", dbt.cast('rejected_count', dbt.type_string())]),
            "', '", 'order by rejection_code') }} as rejected_by_reason

    from rejected_by_code
    group by entity

),

counts as (

    {%- for entity in entities %}
    {%- set table = entity.target_table %}

    select
        {{ loop.index }} as push_order,
        '{{ table }}' as entity,
        (select count(*) from {{ ref('supabase_' ~ table ~ '_to_create') }}) as to_create,
        (select count(*) from {{ ref('supabase_' ~ table ~ '_to_update') }}) as to_update,
        (
            select count(*) from {{ ref(table) }} as source_rows
            where
                source_rows.rejection_code is null
                and exists (
                    select 1 from {{ ref('stg_supabase__' ~ table) }} as read_back
                    where read_back.{{ entity.legacy_key }} = source_rows.{{ entity.legacy_key }}
                )
        ) as pushable_in_target
    {%- if not loop.last %}

    union all
    {%- endif %}
    {%- endfor %}

),

conflict_counts as (

    select
        entity,
        count(*) as conflict_count,
        sum(case when strategy != 'source_wins' then 1 else 0 end) as held_count

    from conflicts
    group by entity

),

warning_counts as (

    select
        entity,
        count(*) as warning_count

    from warnings
    group by entity

),

check_counts as (

    select
        entity,
        sum(case when passed then 0 else 1 end) as failed_count

    from validation
    group by entity

),

joined as (

    select
        counts.entity,
        counts.push_order,
        counts.to_create,
        counts.to_update,
        counts.pushable_in_target,
        rejected_by_entity.rejected_by_reason,
        coalesce(rejected_by_entity.rejected_count, 0) as rejected,
        coalesce(conflict_counts.conflict_count, 0) as conflicts,
        coalesce(conflict_counts.held_count, 0) as conflicts_held,
        coalesce(warning_counts.warning_count, 0) as data_quality_warnings,
        coalesce(check_counts.failed_count, 0) as failed_checks

    from counts
    left join rejected_by_entity
        on counts.entity = rejected_by_entity.entity
    left join conflict_counts
        on counts.entity = conflict_counts.entity
    left join warning_counts
        on counts.entity = warning_counts.entity
    left join check_counts
        on counts.entity = check_counts.entity

),

final as (

    select
        entity,
        push_order,
        to_create,
        to_update,
        rejected,
        rejected_by_reason,
        conflicts,
        conflicts_held,
        data_quality_warnings,
        failed_checks,
        pushable_in_target - to_update - conflicts_held as unchanged,
        case
            when to_create + to_update > 0 then 'pending_push'
            when failed_checks > 0 then 'failed_validation'
            when conflicts_held > 0 then 'needs_review'
            else 'in_sync'
        end as verdict

    from joined

)

select * from final
