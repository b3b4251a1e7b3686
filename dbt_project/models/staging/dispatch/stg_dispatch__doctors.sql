with

source as (

    {{ source_or_empty('dispatch', 'dispatch_doctor') }}

),

renamed as (

    select
        cast(id as {{ dbt.type_int() }}) as doctor_id,
        cast(user_id as {{ dbt.type_int() }}) as user_id,
        cast(office_id as {{ dbt.type_int() }}) as office_id,
        cast(license_number as {{ dbt.type_string() }}) as license_number,
        cast(specialty as {{ dbt.type_string() }}) as specialty,
        cast(created_at as {{ type_timestamp_tz() }}) as created_at,
        cast(updated_at as {{ type_timestamp_tz() }}) as updated_at,
        cast(_dispatch_deleted_at as {{ type_timestamp_tz() }}) as deleted_at,
        cast(_dlt_load_id as {{ dbt.type_string() }}) as dlt_load_id

    from source

)

select * from renamed
