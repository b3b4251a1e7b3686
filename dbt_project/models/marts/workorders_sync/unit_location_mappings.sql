with

units as (

    select * from {{ ref('dim_unit') }}

),

building_matches as (

    select * from {{ ref('int_workorders_sync__building_matches') }}

),

locations as (

    select * from {{ ref('stg_servicefusion__customer_locations') }}

),

unit_addresses as (

    select
        units.unit_id,
        units.building_id,
        building_matches.servicefusion_customer_id,
        {{ normalize_address('units.address', 'units.address2') }} as normalized_address,
        {{ zip5('units.zip5') }} as unit_zip5,
        {{ normalize_name('units.unit_name') }} as normalized_nickname

    from units
    left join building_matches
        on units.building_id = building_matches.building_id

),

-- a unit's location: on its building's customer, same normalized address, ZIP and nickname
matched_locations as (

    select
        unit_addresses.unit_id,
        min(locations.customer_location_id) as customer_location_id

    from unit_addresses
    inner join locations
        on
            unit_addresses.servicefusion_customer_id = locations.customer_id
            and unit_addresses.normalized_address = locations.normalized_address
            and unit_addresses.unit_zip5 is not distinct from locations.zip5
            and unit_addresses.normalized_nickname = locations.normalized_nickname
    group by unit_addresses.unit_id

),

final as (

    select
        unit_addresses.unit_id,
        unit_addresses.building_id,
        unit_addresses.servicefusion_customer_id,
        matched_locations.customer_location_id,
        case
            when unit_addresses.servicefusion_customer_id is null then 'customer_not_mapped'
            when matched_locations.customer_location_id is null then 'missing'
            else 'matched'
        end as mapping_status

    from unit_addresses
    left join matched_locations
        on unit_addresses.unit_id = matched_locations.unit_id

)

select * from final
