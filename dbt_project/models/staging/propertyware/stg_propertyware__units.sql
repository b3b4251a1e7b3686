with

source as (

    {{ source_or_empty('propertyware', 'units') }}

),

renamed as (

    select
        cast(id as {{ dbt.type_bigint() }}) as unit_id,
        cast(building_id as {{ dbt.type_bigint() }}) as building_id,
        cast(name as {{ dbt.type_string() }}) as unit_name,
        cast(abbreviation as {{ dbt.type_string() }}) as abbreviation,
        cast(address as {{ dbt.type_string() }}) as address,
        cast(address2 as {{ dbt.type_string() }}) as address2,
        cast(city as {{ dbt.type_string() }}) as city,
        cast(state as {{ dbt.type_string() }}) as state,
        cast(zip as {{ dbt.type_string() }}) as zip,
        cast(status as {{ dbt.type_string() }}) as unit_status,
        cast(type as {{ dbt.type_string() }}) as unit_type,
        cast(number_bedrooms as {{ dbt.type_bigint() }}) as number_bedrooms,
        cast(number_bathrooms as {{ dbt.type_numeric() }}) as number_bathrooms,
        coalesce(active, false) as is_active

    from source

)

select * from renamed
