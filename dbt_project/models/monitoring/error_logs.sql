-- One row per error a person may have to act on: failed chain steps and records a
-- destination refused, each with its category and the recovery action.
with

steps as (

    select * from {{ ref('stg_reverse_etl__chain_steps') }}

),

records as (

    select * from {{ ref('stg_reverse_etl__sync_records') }}

),

runs as (

    select * from {{ ref('stg_reverse_etl__sync_runs') }}

),

failed_steps as (

    select
        'step:' || chain_step_id as error_log_id,
        step_started_at as occurred_at,
        chain_name as sync_name,
        case
            when step_name like 'fetch%' then 'extract'
            when step_key = 'build' then 'build'
            else 'push'
        end as error_category,
        step_detail as error_message,
        'fix the cause named in the message, then rerun '
        || '`reverse-etl sync workorders --step ' || step_key || '`' as recovery_action

    from steps
    where step_status = 'failed'

),

rejected_records as (

    select
        'record:' || records.sync_record_id as error_log_id,
        records.recorded_at as occurred_at,
        runs.sync_name,
        coalesce(records.error_code, 'REJECTED') as error_category,
        records.error_message,
        'correct the source record (or the model that maps it); the next run sends '
        || 'the changed payload, or `reverse-etl push ... --retry-rejected`' as recovery_action

    from records
    inner join runs
        on records.run_id = runs.run_id
    where records.outcome = 'rejected'

),

final as (

    select * from failed_steps
    union all
    select * from rejected_records

)

select * from final
