with

sync_records as (

    select * from {{ ref('stg_reverse_etl__sync_records') }}

),

sync_runs as (

    select * from {{ ref('stg_reverse_etl__sync_runs') }}

),

final as (

    select
        sync_records.sync_record_id as audit_log_id,
        sync_records.run_id,
        sync_runs.sync_pass,
        sync_runs.sync_view,
        sync_runs.is_dry_run,
        sync_runs.run_status,
        sync_runs.started_at as run_started_at,
        sync_records.sync_key,
        sync_records.record_id,
        sync_records.outcome,
        sync_records.payload,
        sync_records.before_values,
        sync_records.payload_hash,
        sync_records.error_code,
        sync_records.error_message,
        sync_records.error_fields,
        sync_records.recorded_at,
        sync_records.outcome = 'rejected' as is_rejected

    from sync_records
    inner join sync_runs
        on sync_records.run_id = sync_runs.run_id
    where
        sync_runs.destination = 'salesforce'
        and sync_runs.object_name = 'Product_Property__c'

)

select * from final
