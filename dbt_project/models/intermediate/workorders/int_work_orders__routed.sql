with

work_orders as (

    select * from {{ ref('stg_propertyware__work_orders') }}

),

work_order_units as (

    select * from {{ ref('stg_propertyware__work_order_units') }}

),

work_order_vendors as (

    select * from {{ ref('stg_propertyware__work_order_vendors') }}

),

buildings as (

    select * from {{ ref('stg_propertyware__buildings') }}

),

building_unit_counts as (

    select * from {{ ref('int_buildings__unit_counts') }}

),

units as (

    select * from {{ ref('stg_propertyware__units') }}

),

statuses as (

    select * from {{ ref('int_work_order_statuses') }}

),

-- the work order's unit is the first of its unit IDs
first_units as (

    select
        work_order_id,
        unit_id,
        row_number() over (partition by work_order_id order by unit_position) as unit_rank

    from work_order_units

),

first_vendors as (

    select
        work_order_id,
        vendor_id,
        row_number() over (partition by work_order_id order by vendor_position) as vendor_rank

    from work_order_vendors

),

joined as (

    select
        work_orders.*,
        first_units.unit_id as source_unit_id,
        first_vendors.vendor_id,
        building_unit_counts.only_unit_id,
        units.building_id as unit_building_id,
        buildings.building_id is not null as is_known_building,
        coalesce(building_unit_counts.is_multi_unit, false) as is_multi_unit,
        units.unit_id is not null as is_known_unit

    from work_orders
    left join first_units
        on
            work_orders.work_order_id = first_units.work_order_id
            and first_units.unit_rank = 1
    left join first_vendors
        on
            work_orders.work_order_id = first_vendors.work_order_id
            and first_vendors.vendor_rank = 1
    left join buildings
        on work_orders.building_id = buildings.building_id
    left join building_unit_counts
        on work_orders.building_id = building_unit_counts.building_id
    left join units
        on first_units.unit_id = units.unit_id

),

-- the unit-routing rule: no technician is ever routed to a unit outside the building
routed as (

    select
        *,
        case
            when not is_known_building then 'invalid'
            when source_unit_id is null then 'building_level'
            when source_unit_id = building_id and only_unit_id is not null then 'single_unit_building'
            when source_unit_id = building_id then 'building_level'
            when unit_building_id = building_id then 'unit'
            else 'invalid'
        end as routing_rule,
        case
            when not is_known_building then 'building_not_found'
            when source_unit_id is null or source_unit_id = building_id then null
            when unit_building_id = building_id then null
            when not is_known_unit then 'unit_not_found'
            else 'unit_outside_building'
        end as invalid_reason

    from joined

),

final as (

    select
        routed.work_order_id,
        routed.work_order_number,
        routed.portfolio_id,
        routed.building_id,
        routed.lease_id,
        routed.source_unit_id,
        case
            when routed.routing_rule = 'single_unit_building' then routed.only_unit_id
            when routed.routing_rule = 'unit' then routed.source_unit_id
        end as routed_unit_id,
        routed.routing_rule,
        routed.invalid_reason is null as is_valid,
        routed.invalid_reason,
        routed.status,
        {{ normalize_status('routed.status') }} as status_key,
        coalesce(statuses.is_open, false) as is_open,
        statuses.servicefusion_status,
        routed.description,
        routed.category,
        routed.priority,
        routed.work_order_type,
        routed.location,
        routed.specific_location,
        routed.created_at,
        routed.start_date,
        routed.scheduled_end_date,
        routed.completed_date,
        routed.cost_estimate,
        routed.total_cost,
        routed.vendor_id

    from routed
    left join statuses
        on {{ normalize_status('routed.status') }} = statuses.status_key

)

select * from final
