with

buildings as (

    select * from {{ ref('stg_propertyware__buildings') }}

),

building_unit_counts as (

    select * from {{ ref('int_buildings__unit_counts') }}

),

final as (

    select
        buildings.building_id,
        buildings.portfolio_id,
        buildings.building_name,
        buildings.address,
        buildings.address2,
        buildings.city,
        buildings.state,
        buildings.zip,
        {{ zip5('buildings.zip') }} as zip5,
        building_unit_counts.is_multi_unit,
        building_unit_counts.unit_count,
        building_unit_counts.only_unit_id,
        buildings.is_active

    from buildings
    inner join building_unit_counts
        on buildings.building_id = building_unit_counts.building_id

)

select * from final
