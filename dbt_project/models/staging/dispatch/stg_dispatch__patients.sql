with

source as (

    {{ source_or_empty('dispatch', 'dispatch_patient') }}

),

renamed as (

    select
        cast(id as {{ dbt.type_int() }}) as patient_id,
        cast(office_id as {{ dbt.type_int() }}) as office_id,
        cast(user_id as {{ dbt.type_int() }}) as user_id,
        cast(doctor_id as {{ dbt.type_int() }}) as doctor_id,
        cast(patient_number as {{ dbt.type_string() }}) as patient_number,
        cast(first_name as {{ dbt.type_string() }}) as first_name,
        cast(last_name as {{ dbt.type_string() }}) as last_name,
        cast(birth_date as date) as birth_date,
        cast(status_id as {{ dbt.type_int() }}) as status_id,
        cast(created_at as {{ type_timestamp_tz() }}) as created_at,
        cast(updated_at as {{ type_timestamp_tz() }}) as updated_at,
        cast(_dispatch_deleted_at as {{ type_timestamp_tz() }}) as deleted_at,
        cast(_dlt_load_id as {{ dbt.type_string() }}) as dlt_load_id

    from source

)

select * from renamed
