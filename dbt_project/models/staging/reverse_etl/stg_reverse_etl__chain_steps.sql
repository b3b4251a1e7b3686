with

steps as (

    select * from {{ source('reverse_etl', 'chain_steps') }}

),

runs as (

    select * from {{ source('reverse_etl', 'chain_runs') }}

),

joined as (

    select
        cast(steps.chain_run_id as {{ dbt.type_string() }}) || ':' || steps.step as chain_step_id,
        cast(steps.chain_run_id as {{ dbt.type_string() }}) as chain_run_id,
        runs.chain as chain_name,
        runs.dry_run as is_dry_run,
        runs.status as chain_status,
        runs.started_at as chain_started_at,
        steps.step as step_key,
        steps.step_name,
        steps.status as step_status,
        steps.records as record_count,
        steps.rejected as rejected_count,
        steps.api_requests,
        steps.rate_wait_s,
        steps.started_at as step_started_at,
        steps.duration_s,
        steps.detail as step_detail

    from steps
    inner join runs
        on steps.chain_run_id = runs.chain_run_id

)

select * from joined
