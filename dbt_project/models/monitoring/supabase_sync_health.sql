{#-
  One row per dispatch -> Supabase sync (reverse_etl/registry.py: a create and an
  update pass per target table), in the shape of sync_monitoring_dashboard's slice
  rows: the queue from dispatch_sync_summary, P0 (records to send and no real run of
  the sync succeeded within sync_alert_p0_max_hours_without_success), P1 (a check of
  dispatch_validation fails for the table: counts, foreign keys or money), P2 (records
  wait for a person: conflicts held for review, or source rows rejected by the rules).
-#}
with

sync_runs as (

    select * from {{ ref('stg_reverse_etl__sync_runs') }}

),

summary as (

    select * from {{ ref('dispatch_sync_summary') }}

),

passes as (

    select
        entity,
        'create' as sync_pass,
        to_create as queue_size

    from summary

    union all

    select
        entity,
        'update' as sync_pass,
        to_update as queue_size

    from summary

),

successes as (

    select
        sync_name,
        max(finished_at) as last_successful_run_at

    from sync_runs
    where not is_dry_run and run_status in ('succeeded', 'partial')
    group by sync_name

),

figures as (

    select
        {{ dbt.concat(["'supabase.'", 'passes.entity', "'.'", 'passes.sync_pass']) }}
            as sync_name,
        passes.entity,
        passes.sync_pass,
        passes.queue_size,
        summary.failed_checks,
        summary.conflicts_held,
        summary.rejected

    from passes
    inner join summary
        on passes.entity = summary.entity

),

final as (

    select
        figures.sync_name,
        'supabase' as destination,
        figures.entity as object_name,
        figures.sync_pass,
        {{ dbt.concat(["'sync.supabase_'", 'figures.entity', "'_to_'", 'figures.sync_pass']) }}
            as sync_view,
        figures.queue_size,
        0 as rows_truncated,
        figures.queue_size > 0
        and coalesce(
            successes.last_successful_run_at < {{ dbt.dateadd(
                'hour',
                -1 * var('sync_alert_p0_max_hours_without_success'),
                propsync_now()) }},
            true
        ) as is_p0_no_recent_success,
        figures.failed_checks > 0 as is_p1_slice_condition,
        figures.conflicts_held > 0 or figures.rejected > 0 as is_p2_slice_condition,
        case
            when figures.failed_checks > 0 then 'validation failed after the last push'
            when figures.conflicts_held > 0 then 'conflicts held for manual review'
            when figures.rejected > 0 then 'source rows rejected by the rules'
        end as slice_reason

    from figures
    left join successes
        on figures.sync_name = successes.sync_name

)

select * from final
