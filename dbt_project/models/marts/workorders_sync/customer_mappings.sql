with

portfolio_matches as (

    select * from {{ ref('int_workorders_sync__portfolio_matches') }}

),

building_matches as (

    select * from {{ ref('int_workorders_sync__building_matches') }}

),

unioned as (

    select
        'portfolio' as pw_entity,
        portfolio_id as pw_id,
        portfolio_id,
        account_number,
        servicefusion_customer_id,
        decision,
        confidence,
        method,
        candidate_customer_id

    from portfolio_matches

    union all

    select
        'building' as pw_entity,
        building_id as pw_id,
        portfolio_id,
        account_number,
        servicefusion_customer_id,
        decision,
        confidence,
        method,
        candidate_customer_id

    from building_matches

),

final as (

    select
        pw_entity || ':' || cast(pw_id as {{ dbt.type_string() }}) as customer_mapping_id,
        *
    from unioned

)

select * from final
