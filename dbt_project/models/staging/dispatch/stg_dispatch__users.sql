with

source as (

    {{ source_or_empty('dispatch', 'dispatch_user') }}

),

renamed as (

    select
        cast(id as {{ dbt.type_int() }}) as user_id,
        cast(email as {{ dbt.type_string() }}) as email,
        cast(first_name as {{ dbt.type_string() }}) as first_name,
        cast(last_name as {{ dbt.type_string() }}) as last_name,
        cast(role as {{ dbt.type_string() }}) as user_role,
        cast(office_id as {{ dbt.type_int() }}) as office_id,
        cast(is_active as {{ dbt.type_boolean() }}) as is_active,
        cast(created_at as {{ type_timestamp_tz() }}) as created_at,
        cast(updated_at as {{ type_timestamp_tz() }}) as updated_at,
        cast(_dispatch_deleted_at as {{ type_timestamp_tz() }}) as deleted_at,
        cast(_dlt_load_id as {{ dbt.type_string() }}) as dlt_load_id

    from source

)

select * from renamed
