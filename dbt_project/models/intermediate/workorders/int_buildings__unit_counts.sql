with

buildings as (

    select * from {{ ref('stg_propertyware__buildings') }}

),

units as (

    select * from {{ ref('stg_propertyware__units') }}

),

units_counted as (

    select
        building_id,
        count(*) as unit_count,
        min(unit_id) as first_unit_id

    from units
    group by building_id

),

final as (

    select
        buildings.building_id,
        units_counted.first_unit_id,
        coalesce(units_counted.unit_count, 0) as unit_count,
        -- multi-unit when PropertyWare flags it or it has more than one unit
        (buildings.is_multi_unit_flag or coalesce(units_counted.unit_count, 0) > 1) as is_multi_unit,
        case
            when not buildings.is_multi_unit_flag and units_counted.unit_count = 1
                then units_counted.first_unit_id
        end as only_unit_id

    from buildings
    left join units_counted
        on buildings.building_id = units_counted.building_id

)

select * from final
