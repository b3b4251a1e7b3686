with

buildings as (

    select * from {{ ref('dim_building') }}

),

building_customer_ids as (

    select * from {{ ref('int_workorders_sync__building_customer_ids') }}

),

duplicate_detection_log as (

    select * from {{ ref('duplicate_detection_log') }}

),

manual_review_queue as (

    select * from {{ ref('manual_review_queue') }}

),

work_orders as (

    select * from {{ ref('fct_work_orders') }}

),

work_order_job_mappings as (

    select * from {{ ref('work_order_job_mappings') }}

),

work_orders_to_update as (

    select * from {{ ref('propertyware_work_orders_to_update') }}

),

sync_runs as (

    select * from {{ ref('stg_reverse_etl__sync_runs') }}
    where
        destination in ('servicefusion', 'propertyware')
        and not coalesce(is_dry_run, false)

),

sync_records as (

    select
        sync_records.*,
        sync_runs.sync_name

    from {{ ref('stg_reverse_etl__sync_records') }} as sync_records
    inner join sync_runs
        on sync_records.run_id = sync_runs.run_id
    where sync_records.outcome in ('created', 'updated', 'already_present', 'rejected')

),

coverage as (

    select
        'customer_mapping_coverage' as metric_name,
        'building' as entity,
        cast(count(building_customer_ids.building_id) as {{ dbt.type_numeric() }}) as numerator,
        cast(count(*) as {{ dbt.type_numeric() }}) as denominator,
        cast(0.95 as {{ dbt.type_numeric() }}) as target_value

    from buildings
    left join building_customer_ids
        on buildings.building_id = building_customer_ids.building_id

),

duplicates_prevented as (

    select
        'duplicates_prevented' as metric_name,
        entity,
        cast(count(*) as {{ dbt.type_numeric() }}) as numerator,
        cast(null as {{ dbt.type_numeric() }}) as denominator,
        cast(null as {{ dbt.type_numeric() }}) as target_value

    from duplicate_detection_log
    where decision = 'match'
    group by entity

),

review_queue as (

    select
        'review_queue_size' as metric_name,
        'all' as entity,
        cast(count(*) as {{ dbt.type_numeric() }}) as numerator,
        cast(null as {{ dbt.type_numeric() }}) as denominator,
        cast(null as {{ dbt.type_numeric() }}) as target_value

    from manual_review_queue

),

invalid_work_orders as (

    select
        'invalid_work_orders' as metric_name,
        'work_order' as entity,
        cast(sum(case when not is_valid then 1 else 0 end) as {{ dbt.type_numeric() }}) as numerator,
        cast(count(*) as {{ dbt.type_numeric() }}) as denominator,
        cast(0 as {{ dbt.type_numeric() }}) as target_value

    from work_orders

),

-- writes not needed: existing records mapped instead of created, statuses in step
api_calls_saved as (

    select
        'api_calls_saved' as metric_name,
        case when entity = 'work_order' then 'job' else 'customer' end as entity,
        cast(count(*) as {{ dbt.type_numeric() }}) as numerator,
        cast(null as {{ dbt.type_numeric() }}) as denominator,
        cast(null as {{ dbt.type_numeric() }}) as target_value

    from duplicate_detection_log
    where decision = 'match'
    group by case when entity = 'work_order' then 'job' else 'customer' end

    union all

    select
        'api_calls_saved' as metric_name,
        'work_order_status' as entity,
        cast(
            count(*) - (select count(*) from work_orders_to_update) as {{ dbt.type_numeric() }}
        ) as numerator,
        cast(null as {{ dbt.type_numeric() }}) as denominator,
        cast(null as {{ dbt.type_numeric() }}) as target_value

    from work_order_job_mappings
    where decision = 'match'

),

success_rate as (

    select
        'sync_success_rate' as metric_name,
        sync_name as entity,
        cast(sum(case when outcome != 'rejected' then 1 else 0 end) as {{ dbt.type_numeric() }}) as numerator,
        cast(count(*) as {{ dbt.type_numeric() }}) as denominator,
        cast(0.999 as {{ dbt.type_numeric() }}) as target_value

    from sync_records
    group by sync_name

),

error_rate as (

    select
        'error_rate_by_category' as metric_name,
        coalesce(rejected.error_code, 'unknown') as entity,
        cast(count(*) as {{ dbt.type_numeric() }}) as numerator,
        cast((select count(*) from sync_records) as {{ dbt.type_numeric() }}) as denominator,
        cast(0.01 as {{ dbt.type_numeric() }}) as target_value

    from sync_records as rejected
    where rejected.outcome = 'rejected'
    group by coalesce(rejected.error_code, 'unknown')

),

throughput as (

    select
        'records_per_second' as metric_name,
        sync_name as entity,
        cast(
            sum(
                coalesce(created_count, 0) + coalesce(updated_count, 0)
                + coalesce(already_present_count, 0) + coalesce(rejected_count, 0)
            )
            as {{ dbt.type_numeric() }}
        ) as numerator,
        cast(sum({{ dbt.datediff('started_at', 'finished_at', 'second') }}) as {{ dbt.type_numeric() }})
            as denominator,
        cast(null as {{ dbt.type_numeric() }}) as target_value

    from sync_runs
    where finished_at is not null
    group by sync_name

),

unioned as (

    select * from coverage
    union all
    select * from duplicates_prevented
    union all
    select * from review_queue
    union all
    select * from invalid_work_orders
    union all
    select * from api_calls_saved
    union all
    select * from success_rate
    union all
    select * from error_rate
    union all
    select * from throughput

),

final as (

    select
        metric_name,
        entity,
        numerator,
        denominator,
        target_value,
        metric_name || ':' || entity as metric_id,
        case
            when denominator is null then numerator
            when denominator = 0 then null
            else numerator / denominator
        end as metric_value

    from unioned

)

select * from final
