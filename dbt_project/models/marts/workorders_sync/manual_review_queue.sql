{{ config(materialized='view') }}

with

duplicate_detection_log as (

    select * from {{ ref('duplicate_detection_log') }}

),

sync_records as (

    select * from {{ ref('stg_reverse_etl__sync_records') }}

),

sync_runs as (

    select * from {{ ref('stg_reverse_etl__sync_runs') }}

),

reviews as (

    select
        'dedup:' || decision_id as review_item_id,
        'dedup_review' as review_source,
        entity,
        cast(pw_id as {{ dbt.type_string() }}) as pw_id,
        candidate_id,
        score,
        reason

    from duplicate_detection_log
    where decision = 'review'

),

-- the latest outcome of each ServiceFusion record the pusher sent; rejected ones
-- (422 validation errors) need a person
latest_records as (

    select
        sync_runs.sync_name,
        sync_records.sync_key,
        sync_records.outcome,
        sync_records.error_code,
        sync_records.error_message,
        sync_records.error_fields,
        row_number() over (
            partition by sync_runs.sync_name, sync_records.sync_key
            order by sync_records.recorded_at desc
        ) as record_rank

    from sync_records
    inner join sync_runs
        on sync_records.run_id = sync_runs.run_id
    where
        sync_records.destination = 'servicefusion'
        and not coalesce(sync_runs.is_dry_run, false)
        and sync_records.outcome in ('created', 'already_present', 'rejected')

),

rejections as (

    select
        'rejected:' || sync_name || ':' || sync_key as review_item_id,
        'rejected' as review_source,
        sync_name as entity,
        sync_key as pw_id,
        cast(null as {{ dbt.type_string() }}) as candidate_id,
        cast(null as {{ dbt.type_numeric() }}) as score,
        coalesce(error_code, 'rejected') || ': ' || coalesce(error_message, '')
        || coalesce(' (' || error_fields || ')', '') as reason

    from latest_records
    where record_rank = 1 and outcome = 'rejected'

),

final as (

    select * from reviews
    union all
    select * from rejections

)

select * from final
