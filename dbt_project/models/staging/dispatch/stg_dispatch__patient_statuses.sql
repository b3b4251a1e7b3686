with

source as (

    {{ source_or_empty('dispatch', 'dispatch_patient_status') }}

),

renamed as (

    select
        cast(id as {{ dbt.type_int() }}) as patient_status_id,
        cast(name as {{ dbt.type_string() }}) as status_name,
        cast(_dispatch_deleted_at as {{ type_timestamp_tz() }}) as deleted_at,
        cast(_dlt_load_id as {{ dbt.type_string() }}) as dlt_load_id

    from source

)

select * from renamed
