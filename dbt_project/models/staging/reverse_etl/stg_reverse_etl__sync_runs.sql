with

source as (

    select * from {{ source('reverse_etl', 'sync_runs') }}

),

renamed as (

    select
        cast(run_id as {{ dbt.type_string() }}) as run_id,
        sync_name,
        destination,
        object_name,
        sync_view,
        pass as sync_pass,
        dry_run as is_dry_run,
        started_at,
        finished_at,
        status as run_status,
        rows_in_view,
        created as created_count,
        updated as updated_count,
        already_present as already_present_count,
        rejected as rejected_count,
        skipped as skipped_count,
        api_requests as api_request_count,
        error as run_error,
        gate as gate_result,
        cast(revert_of as {{ dbt.type_string() }}) as revert_of_run_id

    from source

)

select * from renamed
