with

steps as (

    select * from {{ ref('stg_reverse_etl__chain_steps') }}

),

final as (

    select
        chain_step_id,
        chain_run_id,
        chain_name,
        is_dry_run,
        chain_status,
        chain_started_at,
        step_key,
        step_name,
        step_status,
        record_count,
        rejected_count,
        api_requests,
        rate_wait_s,
        step_started_at,
        duration_s,
        step_detail,
        case
            when duration_s > 0 then record_count / duration_s
        end as records_per_second

    from steps

)

select * from final
