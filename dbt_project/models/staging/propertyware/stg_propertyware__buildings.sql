with

source as (

    {{ source_or_empty('propertyware', 'buildings') }}

),

renamed as (

    select
        cast(id as {{ dbt.type_bigint() }}) as building_id,
        cast(portfolio_id as {{ dbt.type_bigint() }}) as portfolio_id,
        cast(name as {{ dbt.type_string() }}) as building_name,
        cast(abbreviation as {{ dbt.type_string() }}) as abbreviation,
        cast(address as {{ dbt.type_string() }}) as address,
        cast(address2 as {{ dbt.type_string() }}) as address2,
        cast(city as {{ dbt.type_string() }}) as city,
        cast(state as {{ dbt.type_string() }}) as state,
        cast(zip as {{ dbt.type_string() }}) as zip,
        coalesce(multi_unit, false) as is_multi_unit_flag,
        cast(status as {{ dbt.type_string() }}) as building_status,
        cast(type as {{ dbt.type_string() }}) as building_type,
        coalesce(active, false) as is_active

    from source

)

select * from renamed
