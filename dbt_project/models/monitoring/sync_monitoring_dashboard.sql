{#-
  One row per registered sync (reverse_etl/registry.py): its queue, its last
  real run and its alert level. Each slice adds its syncs to `slice_syncs`,
  with the slice's own conditions that concern the pass; the run figures and
  the levels are the same for every sync. A view, so `reverse-etl health`
  sees runs recorded after the last `dbt build`.
-#}
with

salesforce_health as (

    select * from {{ ref('salesforce_property_sync_health') }}

),

sync_runs as (

    select * from {{ ref('stg_reverse_etl__sync_runs') }}

),

workorder_health as (

    select * from {{ ref('workorder_sync_health') }}

),

supabase_health as (

    select * from {{ ref('supabase_sync_health') }}

),

slice_syncs as (

    select
        'salesforce.properties.create' as sync_name,
        'salesforce' as destination,
        'Product_Property__c' as object_name,
        'create' as sync_pass,
        'sync.properties_to_create' as sync_view,
        create_queue_size as queue_size,
        create_rows_truncated as rows_truncated,
        is_p0_no_recent_success,
        is_p1_missing as is_p1_slice_condition,
        is_p2_create_backlog as is_p2_slice_condition,
        case
            when is_p0_no_recent_success then 'no successful sync recently'
            when is_p1_missing then 'too many active groups missing in Salesforce'
            when is_p2_create_backlog then 'create backlog too large'
        end as slice_reason

    from salesforce_health

    union all

    select
        'salesforce.properties.update' as sync_name,
        'salesforce' as destination,
        'Product_Property__c' as object_name,
        'update' as sync_pass,
        'sync.properties_to_update' as sync_view,
        update_queue_size as queue_size,
        update_rows_truncated as rows_truncated,
        is_p0_no_recent_success,
        false as is_p1_slice_condition,
        is_p2_feature_accuracy as is_p2_slice_condition,
        case
            when is_p0_no_recent_success then 'no successful sync recently'
            when is_p2_feature_accuracy then 'feature accuracy too low'
        end as slice_reason

    from salesforce_health

    union all

    select
        sync_name,
        destination,
        object_name,
        sync_pass,
        sync_view,
        queue_size,
        rows_truncated,
        is_p0_no_recent_success,
        is_p1_slice_condition,
        is_p2_slice_condition,
        slice_reason

    from workorder_health

    union all

    select
        sync_name,
        destination,
        object_name,
        sync_pass,
        sync_view,
        queue_size,
        rows_truncated,
        is_p0_no_recent_success,
        is_p1_slice_condition,
        is_p2_slice_condition,
        slice_reason

    from supabase_health

),

-- real runs only: a dry run sends nothing, so it is neither a sync nor an error
finished_runs as (

    select
        *,
        row_number() over (
            partition by sync_name order by finished_at desc, run_id desc
        ) as recency

    from sync_runs
    where
        not is_dry_run
        and run_status not in ('running', 'abandoned')

),

last_runs as (

    select
        sync_name,
        run_id as last_run_id,
        run_status as last_run_status,
        finished_at as last_run_finished_at,
        -- rows of the view the last run rejected or set aside as rejected before
        rejected_count + skipped_count as outstanding_rejections,
        cast(
            case
                when run_status = 'failed' then 1.0
                when created_count + updated_count + already_present_count + rejected_count = 0
                    then 0.0
                else
                    1.0 * rejected_count
                    / (created_count + updated_count + already_present_count + rejected_count)
            end as {{ dbt.type_float() }}
        ) as last_run_error_rate

    from finished_runs
    where recency = 1

),

successes as (

    select
        sync_name,
        max(finished_at) as last_successful_run_at

    from finished_runs
    where run_status in ('succeeded', 'partial')
    group by sync_name

),

figures as (

    select
        slice_syncs.*,
        {{ propsync_now() }} as measured_at,
        last_runs.last_run_id,
        last_runs.last_run_status,
        last_runs.last_run_finished_at,
        last_runs.last_run_error_rate,
        coalesce(last_runs.outstanding_rejections, 0) as outstanding_rejections,
        successes.last_successful_run_at,
        coalesce(last_runs.last_run_error_rate > {{ var('sync_alert_p1_max_error_rate') }}, false)
            as is_p1_error_rate

    from slice_syncs
    left join last_runs
        on slice_syncs.sync_name = last_runs.sync_name
    left join successes
        on slice_syncs.sync_name = successes.sync_name

),

final as (

    select
        *,
        case
            when is_p0_no_recent_success then 'P0'
            when is_p1_error_rate or is_p1_slice_condition then 'P1'
            when is_p2_slice_condition or outstanding_rejections > 0 then 'P2'
            else 'OK'
        end as alert_level,
        case
            when is_p0_no_recent_success or is_p1_slice_condition then slice_reason
            when is_p1_error_rate then 'error rate of the last run too high'
            when is_p2_slice_condition then slice_reason
            when outstanding_rejections > 0 then 'rejected records outstanding'
        end as alert_reasons

    from figures

)

select * from final
