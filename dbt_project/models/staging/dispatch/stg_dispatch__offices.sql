with

source as (

    {{ source_or_empty('dispatch', 'dispatch_office') }}

),

renamed as (

    select
        cast(id as {{ dbt.type_int() }}) as office_id,
        cast(name as {{ dbt.type_string() }}) as office_name,
        cast(address as {{ dbt.type_string() }}) as address,
        cast(phone as {{ dbt.type_string() }}) as phone,
        cast(timezone as {{ dbt.type_string() }}) as timezone,
        cast(is_active as {{ dbt.type_boolean() }}) as is_active,
        cast(created_at as {{ type_timestamp_tz() }}) as created_at,
        cast(updated_at as {{ type_timestamp_tz() }}) as updated_at,
        cast(_dispatch_deleted_at as {{ type_timestamp_tz() }}) as deleted_at,
        cast(_dlt_load_id as {{ dbt.type_string() }}) as dlt_load_id

    from source

)

select * from renamed
