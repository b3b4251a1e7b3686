with

portfolios as (

    select * from {{ ref('stg_propertyware__portfolios') }}

),

final as (

    select
        portfolio_id,
        portfolio_name,
        abbreviation,
        is_active,
        management_company

    from portfolios

)

select * from final
