with

source as (

    {{ source_or_empty('dispatch', 'dispatch_instruction') }}

),

renamed as (

    select
        cast(id as {{ dbt.type_int() }}) as instruction_id,
        cast(patient_id as {{ dbt.type_int() }}) as patient_id,
        cast(doctor_id as {{ dbt.type_int() }}) as doctor_id,
        cast(type as {{ dbt.type_string() }}) as instruction_type,
        cast(status as {{ dbt.type_string() }}) as instruction_status,
        cast(notes as {{ dbt.type_string() }}) as notes,
        cast(submitted_at as {{ type_timestamp_tz() }}) as submitted_at,
        cast(created_at as {{ type_timestamp_tz() }}) as created_at,
        cast(updated_at as {{ type_timestamp_tz() }}) as updated_at,
        cast(_dispatch_deleted_at as {{ type_timestamp_tz() }}) as deleted_at,
        cast(_dlt_load_id as {{ dbt.type_string() }}) as dlt_load_id

    from source

)

select * from renamed
