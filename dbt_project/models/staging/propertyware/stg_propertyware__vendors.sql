with

source as (

    {{ source_or_empty('propertyware', 'vendors') }}

),

renamed as (

    select
        cast(id as {{ dbt.type_bigint() }}) as vendor_id,
        cast(name as {{ dbt.type_string() }}) as vendor_name,
        cast(company_name as {{ dbt.type_string() }}) as company_name,
        cast(vendor_type as {{ dbt.type_string() }}) as vendor_type,
        cast(email as {{ dbt.type_string() }}) as email,
        cast(phone as {{ dbt.type_string() }}) as phone,
        cast(address as {{ dbt.type_string() }}) as address,
        cast(city as {{ dbt.type_string() }}) as city,
        cast(state as {{ dbt.type_string() }}) as state,
        cast(zip as {{ dbt.type_string() }}) as zip,
        coalesce(active, false) as is_active

    from source

)

select * from renamed
