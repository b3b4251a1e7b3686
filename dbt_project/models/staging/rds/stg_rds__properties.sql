with

source as (

    {{ source_or_empty('rds', 'properties') }}

),

renamed as (

    select
        cast(id as {{ dbt.type_string() }}) as property_id,
        cast(company_id as {{ dbt.type_string() }}) as company_id,
        cast(name as {{ dbt.type_string() }}) as property_name,
        cast(street_address as {{ dbt.type_string() }}) as street_address,
        cast(city as {{ dbt.type_string() }}) as city,
        cast(state as {{ dbt.type_string() }}) as state,
        cast(postal_code as {{ dbt.type_string() }}) as postal_code,
        cast(status as {{ dbt.type_string() }}) as property_status,
        status = 'ACTIVE' as is_active,
        -- a blank sfdc_id is no link: it must not group all blank rows together
        nullif(trim(cast(sfdc_id as {{ dbt.type_string() }})), '') as sfdc_id,
        cast(inserted_at as {{ type_timestamp_tz() }}) as inserted_at,
        cast(updated_at as {{ type_timestamp_tz() }}) as updated_at

    from source

)

select * from renamed
