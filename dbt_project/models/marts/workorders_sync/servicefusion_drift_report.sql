with

building_matches as (

    select * from {{ ref('int_workorders_sync__building_matches') }}

),

buildings as (

    select * from {{ ref('dim_building') }}

),

units as (

    select * from {{ ref('dim_unit') }}

),

tenants as (

    select * from {{ ref('dim_tenant') }}

),

unit_location_mappings as (

    select * from {{ ref('unit_location_mappings') }}

),

customers as (

    select * from {{ ref('stg_servicefusion__customers') }}

),

locations as (

    select * from {{ ref('stg_servicefusion__customer_locations') }}

),

contacts as (

    select * from {{ ref('stg_servicefusion__customer_contacts') }}

),

-- one location per customer to show: the primary one, else the first
shown_locations as (

    select
        *,
        row_number() over (
            partition by customer_id
            order by case when is_primary then 0 else 1 end, location_index
        ) as location_rank

    from locations

),

-- only customers that already existed (matched): new ones get everything in their create body
mapped as (

    select
        building_matches.building_id,
        building_matches.servicefusion_customer_id as customer_id

    from building_matches
    where building_matches.servicefusion_customer_id is not null

),

missing_locations as (

    select
        unit_location_mappings.servicefusion_customer_id as customer_id,
        unit_location_mappings.building_id,
        unit_location_mappings.unit_id as pw_id,
        'missing_location' as drift_type,
        units.unit_name || ', ' || coalesce(units.address, '') || coalesce(' ' || units.address2, '')
        || ', ' || coalesce(units.city, '') || ' ' || coalesce(units.state, '') || ' ' || coalesce(units.zip5, '')
            as propertyware_value,
        cast(null as {{ dbt.type_string() }}) as servicefusion_value,
        'add the location to the customer in ServiceFusion' as action  -- noqa: RF04

    from unit_location_mappings
    inner join units
        on unit_location_mappings.unit_id = units.unit_id
    where unit_location_mappings.mapping_status = 'missing'

),

missing_contacts as (

    select
        mapped.customer_id,
        mapped.building_id,
        tenants.tenant_id as pw_id,
        'missing_contact' as drift_type,
        trim(coalesce(tenants.first_name, '') || ' ' || coalesce(tenants.last_name, ''))
        || coalesce(' <' || tenants.email || '>', '') as propertyware_value,
        cast(null as {{ dbt.type_string() }}) as servicefusion_value,
        'add the tenant as a contact of the customer in ServiceFusion' as action  -- noqa: RF04

    from tenants
    inner join mapped
        on tenants.building_id = mapped.building_id
    left join contacts
        on
            mapped.customer_id = contacts.customer_id
            and {{ normalize_name("coalesce(tenants.first_name, '') || ' ' || coalesce(tenants.last_name, '')") }}
            = contacts.normalized_full_name
    where
        tenants.has_active_lease
        and contacts.customer_contact_id is null

),

name_drift as (

    select
        mapped.customer_id,
        mapped.building_id,
        mapped.building_id as pw_id,
        'building_name_differs' as drift_type,
        buildings.building_name as propertyware_value,
        customers.customer_name as servicefusion_value,
        'rename the customer in ServiceFusion (the API cannot update customers)' as action  -- noqa: RF04

    from mapped
    inner join buildings
        on mapped.building_id = buildings.building_id
    inner join customers
        on mapped.customer_id = customers.customer_id
    where {{ normalize_name('buildings.building_name') }} != customers.normalized_name

),

building_addresses as (

    select
        mapped.customer_id,
        mapped.building_id,
        buildings.address,
        buildings.address2,
        buildings.city,
        buildings.state,
        buildings.zip5,
        {{ normalize_address('buildings.address', 'buildings.address2') }} as normalized_address,
        {{ zip5('buildings.zip5') }} as building_zip5

    from mapped
    inner join buildings
        on mapped.building_id = buildings.building_id

),

address_drift as (

    select
        building_addresses.customer_id,
        building_addresses.building_id,
        building_addresses.building_id as pw_id,
        'building_address_differs' as drift_type,
        coalesce(building_addresses.address, '') || coalesce(' ' || building_addresses.address2, '')
        || ', ' || coalesce(building_addresses.city, '') || ' ' || coalesce(building_addresses.state, '')
        || ' ' || coalesce(building_addresses.zip5, '') as propertyware_value,
        primary_locations.street_1 || coalesce(' ' || primary_locations.street_2, '')
        || ', ' || coalesce(primary_locations.city, '') || ' ' || coalesce(primary_locations.state_prov, '')
        || ' ' || coalesce(primary_locations.postal_code, '') as servicefusion_value,
        'correct the customer''s address in ServiceFusion (the API cannot update customers)' as action  -- noqa: RF04

    from building_addresses
    left join shown_locations as primary_locations
        on
            building_addresses.customer_id = primary_locations.customer_id
            and primary_locations.location_rank = 1
    where not exists (
            select 1
            from locations
            where
                locations.customer_id = building_addresses.customer_id
                and locations.normalized_address = building_addresses.normalized_address
                and locations.zip5 is not distinct from building_addresses.building_zip5
        )

),

unioned as (

    select * from missing_locations
    union all
    select * from missing_contacts
    union all
    select * from name_drift
    union all
    select * from address_drift

),

final as (

    select
        drift_type || ':' || cast(pw_id as {{ dbt.type_string() }}) || ':'
        || cast(customer_id as {{ dbt.type_string() }}) as drift_id,
        customer_id,
        building_id,
        pw_id,
        drift_type,
        propertyware_value,
        servicefusion_value,
        action

    from unioned

)

select * from final
