{{ config(pre_hook=create_matching_extensions()) }}

with

buildings as (

    select * from {{ ref('dim_building') }}

),

customers as (

    select * from {{ ref('stg_servicefusion__customers') }}

),

locations as (

    select * from {{ ref('stg_servicefusion__customer_locations') }}

),

rules as (

    select * from {{ ref('match_rules') }}
    where rule_set = 'default'

),

building_addresses as (

    select
        buildings.*,
        {{ normalize_address('buildings.address', 'buildings.address2') }} as normalized_address,
        {{ zip5('buildings.zip') }} as building_zip5

    from buildings

),

-- customers holding a location at the building's normalized address and ZIP
same_address as (

    select distinct
        building_addresses.building_id,
        locations.customer_id

    from building_addresses
    inner join locations
        on
            building_addresses.normalized_address = locations.normalized_address
            and building_addresses.building_zip5 is not distinct from locations.zip5

),

candidates as (

    select
        building_addresses.building_id,
        customers.customer_id,
        customers.customer_name,
        case
            when customers.account_number = 'PW-B-' || cast(building_addresses.building_id as {{ dbt.type_string() }})
                then 1
            else
                rules.address_weight * case when same_address.customer_id is not null then 1 else 0 end
                + rules.name_weight
                * {{ name_similarity('building_addresses.building_name', 'customers.customer_name') }}
        end as candidate_score,
        case
            when customers.account_number = 'PW-B-' || cast(building_addresses.building_id as {{ dbt.type_string() }})
                then 'account_number'
            when same_address.customer_id is not null then 'address_and_name'
            else 'name'
        end as candidate_method

    from building_addresses
    cross join customers
    cross join rules
    left join same_address
        on
            building_addresses.building_id = same_address.building_id
            and customers.customer_id = same_address.customer_id

),

ranked as (

    select
        *,
        row_number() over (
            partition by building_id
            order by
                candidate_score desc,
                case when candidate_method = 'account_number' then 0 else 1 end asc,
                customer_id asc
        ) as candidate_rank

    from candidates

),

best as (

    select * from ranked
    where candidate_rank = 1

),

final as (

    select
        buildings.building_id,
        buildings.portfolio_id,
        'PW-B-' || cast(buildings.building_id as {{ dbt.type_string() }}) as account_number,
        best.customer_id as candidate_customer_id,
        best.customer_name as candidate_customer_name,
        cast(coalesce(best.candidate_score, 0) as {{ dbt.type_numeric() }}) as confidence,
        coalesce(best.candidate_method, 'none') as method,  -- noqa: RF04
        {{ match_decision('coalesce(best.candidate_score, 0)') }} as decision,
        case when coalesce(best.candidate_score, 0) >= rules.match_threshold then best.customer_id end
            as servicefusion_customer_id

    from buildings
    cross join rules
    left join best
        on buildings.building_id = best.building_id

)

select * from final
