with

source as (

    {{ source_or_empty('propertyware', 'portfolios') }}

),

renamed as (

    select
        cast(id as {{ dbt.type_bigint() }}) as portfolio_id,
        cast(name as {{ dbt.type_string() }}) as portfolio_name,
        cast(abbreviation as {{ dbt.type_string() }}) as abbreviation,
        coalesce(active, false) as is_active,
        cast(management_company as {{ dbt.type_string() }}) as management_company

    from source

)

select * from renamed
