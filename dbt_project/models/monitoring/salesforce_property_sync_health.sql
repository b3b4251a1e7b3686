{#-
  One row of health figures for the RDS -> Salesforce Product_Property__c slice;
  sync_monitoring_dashboard turns it into one row per sync.
  A view: `reverse-etl health` reads it live, so runs recorded after the last
  `dbt build` count. Thresholds are project vars (dbt_project.yml).
-#}
with

properties_to_create as (

    select * from {{ ref('properties_to_create') }}

),

properties_to_update as (

    select * from {{ ref('properties_to_update') }}

),

group_status as (

    select * from {{ ref('int_property_groups_sync_status') }}

),

matches as (

    select * from {{ ref('int_product_property_matches') }}

),

sync_runs as (

    select * from {{ ref('stg_reverse_etl__sync_runs') }}

),

-- real runs only: a dry run sends nothing, so it is neither a sync nor an error
salesforce_runs as (

    select *

    from sync_runs
    where
        destination = 'salesforce'
        and object_name = 'Product_Property__c'
        and not is_dry_run

),

-- rows with a value cut to fit its field (_truncated_fields): sent, but not as
-- the source holds them, so they are counted rather than hidden
queue_figures as (

    select
        (select count(*) from properties_to_create) as create_queue_size,
        (select count(*) from properties_to_update) as update_queue_size,
        (
            select count(*) from properties_to_create
            where _truncated_fields is not null
        ) as create_rows_truncated,
        (
            select count(*) from properties_to_update
            where _truncated_fields is not null
        ) as update_rows_truncated

),

group_figures as (

    select
        count(*) as property_groups,
        sum(case when is_active_group then 1 else 0 end) as active_groups,
        sum(case when is_missing_in_salesforce then 1 else 0 end) as active_groups_missing,
        sum(case when is_p1_missing then 1 else 0 end) as p1_missing,
        sum(case when is_in_salesforce then 1 else 0 end) as matched_groups,
        sum(case when are_features_accurate then 1 else 0 end) as feature_accurate_groups,
        sum(records_in_sync_count) as matched_records_in_sync,
        -- groups of several RDS properties that the sync handles: in Salesforce or queued
        sum(
            case
                when member_property_count > 1 and (is_in_salesforce or is_missing_in_salesforce)
                    then 1
                else 0
            end
        ) as multi_property_groups,
        sum(case when matched_record_count > 1 then 1 else 0 end) as groups_matched_by_multiple_records

    from group_status

),

record_figures as (

    select
        count(*) as salesforce_records,
        sum(case when is_matched then 1 else 0 end) as matched_records,
        sum(case when not is_matched then 1 else 0 end) as unmatched_records,
        sum(case when has_conflicting_match then 1 else 0 end) as conflicting_match_records

    from matches

),

run_figures as (

    select
        count(*) as real_run_count,
        max(
            case
                when sync_pass = 'create' and run_status in ('succeeded', 'partial') then finished_at
            end
        ) as last_successful_create_run_at,
        max(
            case
                when sync_pass = 'update' and run_status in ('succeeded', 'partial') then finished_at
            end
        ) as last_successful_update_run_at,
        max(
            case when run_status in ('succeeded', 'partial') then finished_at end
        ) as last_successful_sync_at

    from salesforce_runs

),

-- the latest finished real run, either pass; a failed run counts as all errors
last_run as (

    select
        run_id as last_run_id,
        sync_pass as last_run_pass,
        run_status as last_run_status,
        finished_at as last_run_finished_at,
        cast(
            case
                when run_status = 'failed' then 1.0
                when created_count + updated_count + already_present_count + rejected_count = 0 then 0.0
                else
                    1.0 * rejected_count
                    / (created_count + updated_count + already_present_count + rejected_count)
            end as {{ dbt.type_float() }}
        ) as last_run_error_rate

    from (
        select
            *,
            row_number() over (order by finished_at desc, run_id desc) as recency
        from salesforce_runs
        where run_status <> 'running'
    ) as finished_runs
    where recency = 1

),

figures as (

    select
        'salesforce.Product_Property__c' as sync_object,
        {{ propsync_now() }} as measured_at,
        queue_figures.create_queue_size,
        queue_figures.update_queue_size,
        queue_figures.create_rows_truncated,
        queue_figures.update_rows_truncated,
        coalesce(group_figures.property_groups, 0) as property_groups,
        coalesce(group_figures.active_groups, 0) as active_groups,
        coalesce(group_figures.active_groups_missing, 0) as active_groups_missing,
        coalesce(group_figures.p1_missing, 0) as p1_missing,
        coalesce(group_figures.matched_groups, 0) as matched_groups,
        coalesce(group_figures.feature_accurate_groups, 0) as feature_accurate_groups,
        cast(
            1.0 * group_figures.feature_accurate_groups / nullif(group_figures.matched_groups, 0)
            as {{ dbt.type_float() }}
        ) as feature_accuracy,
        coalesce(group_figures.matched_records_in_sync, 0) as matched_records_in_sync,
        coalesce(group_figures.multi_property_groups, 0) as multi_property_groups,
        coalesce(group_figures.groups_matched_by_multiple_records, 0)
            as groups_matched_by_multiple_records,
        coalesce(record_figures.salesforce_records, 0) as salesforce_records,
        coalesce(record_figures.matched_records, 0) as matched_records,
        coalesce(record_figures.unmatched_records, 0) as unmatched_records,
        coalesce(record_figures.conflicting_match_records, 0) as conflicting_match_records,
        run_figures.real_run_count > 0 as has_sync_history,
        run_figures.last_successful_create_run_at,
        run_figures.last_successful_update_run_at,
        run_figures.last_successful_sync_at,
        last_run.last_run_id,
        last_run.last_run_pass,
        last_run.last_run_status,
        last_run.last_run_finished_at,
        last_run.last_run_error_rate

    from queue_figures
    cross join group_figures
    cross join record_figures
    cross join run_figures
    left join last_run
        on 1 = 1

),

-- before the first real push there is no run: the P0 clock starts with it
alerts as (

    select
        *,
        has_sync_history
        and (
            last_successful_sync_at is null
            or last_successful_sync_at < {{ dbt.dateadd(
                'hour',
                -1 * var('sync_alert_p0_max_hours_without_success'),
                propsync_now()) }}
        ) as is_p0_no_recent_success,
        coalesce(last_run_error_rate > {{ var('sync_alert_p1_max_error_rate') }}, false)
            as is_p1_error_rate,
        p1_missing > {{ var('sync_alert_p1_max_missing') }} as is_p1_missing,
        create_queue_size > {{ var('sync_alert_p2_max_create_backlog') }} as is_p2_create_backlog,
        coalesce(feature_accuracy < {{ var('sync_alert_p2_min_feature_accuracy') }}, false)
            as is_p2_feature_accuracy

    from figures

),

final as (

    select
        *,
        case
            when is_p0_no_recent_success then 'P0'
            when is_p1_error_rate or is_p1_missing then 'P1'
            when is_p2_create_backlog or is_p2_feature_accuracy then 'P2'
            else 'OK'
        end as alert_level

    from alerts

)

select * from final
