{%- set payload_columns = ['customer_name', 'account_number', 'parent_customer', 'private_notes',
    'locations', 'contacts'] %}
{%- set cuts = [] %}

with

building_matches as (

    select * from {{ ref('int_workorders_sync__building_matches') }}

),

portfolio_matches as (

    select * from {{ ref('int_workorders_sync__portfolio_matches') }}

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

customers as (

    select * from {{ ref('stg_servicefusion__customers') }}

),

ledger_created as (

    select * from {{ ref('int_workorders_sync__ledger_created_customers') }}

),

-- buildings to create whose parent is matched or about to be created (not in review)
to_create as (

    select
        buildings.*,
        building_matches.account_number,
        portfolio_matches.parent_customer_name

    from building_matches
    inner join buildings
        on building_matches.building_id = buildings.building_id
    inner join portfolio_matches
        on building_matches.portfolio_id = portfolio_matches.portfolio_id
    left join customers
        on building_matches.account_number = customers.account_number
    left join ledger_created
        on building_matches.account_number = ledger_created.account_number
    where
        building_matches.decision = 'create'
        and portfolio_matches.decision in ('match', 'create')
        and customers.customer_id is null
        and ledger_created.account_number is null

),

-- one location per unit, the first unit primary; a building without units gets its own address
unit_locations as (

    select
        units.building_id,
        units.unit_rank as location_rank,
        units.address as street_1,
        units.address2 as street_2,
        units.city,
        units.state as state_prov,
        {{ zip5('units.zip5') }} as postal_code,
        units.unit_name as nickname,
        units.unit_rank = 1 as is_primary

    from units
    inner join to_create
        on units.building_id = to_create.building_id

),

building_locations as (

    select
        to_create.building_id,
        1 as location_rank,
        to_create.address as street_1,
        to_create.address2 as street_2,
        to_create.city,
        to_create.state as state_prov,
        {{ zip5('to_create.zip') }} as postal_code,
        to_create.building_name as nickname,
        true as is_primary

    from to_create
    where not exists (
            select 1 from units
            where units.building_id = to_create.building_id
        )

),

all_locations as (

    select * from unit_locations
    union all
    select * from building_locations

),

locations as (

    select
        building_id,
        {{ json_array_agg(
            "jsonb_build_object('street_1', street_1, 'street_2', street_2, 'city', city,
            'state_prov', state_prov, 'postal_code', postal_code, 'nickname', nickname,
            'is_primary', is_primary)",
            'location_rank') }} as locations

    from all_locations
    group by building_id

),

-- tenants of active leases (ServiceFusion needs fname and lname); a phone that
-- could not be formatted is left out, the contact is kept
contacts as (

    select
        tenants.building_id,
        {{ json_array_agg(
            "jsonb_build_object('fname', tenants.first_name, 'lname', tenants.last_name,
            'emails', case when tenants.email is null then cast('[]' as jsonb)
                else jsonb_build_array(jsonb_build_object('email', tenants.email)) end,
            'phones', case when tenants.phone is null then cast('[]' as jsonb)
                else jsonb_build_array(jsonb_build_object('phone', tenants.phone)) end)",
            'tenants.last_name, tenants.first_name, tenants.tenant_id') }} as contacts

    from tenants
    inner join to_create
        on tenants.building_id = to_create.building_id
    where
        tenants.has_active_lease
        and tenants.first_name is not null
        and tenants.last_name is not null
    group by tenants.building_id

),

payload as (

    select
        {{ fit_to_length('to_create.building_name', 45, 'customer_name', cuts) }} as customer_name,
        to_create.account_number,
        to_create.parent_customer_name as parent_customer,
        case
            when {{ dbt.length('to_create.building_name') }} > 45 then to_create.building_name
        end as private_notes,
        locations.locations,
        coalesce(contacts.contacts, cast('[]' as jsonb)) as contacts,
        to_create.account_number as _sync_key,
        {{ truncated_fields(cuts) }} as _truncated_fields

    from to_create
    left join locations
        on to_create.building_id = locations.building_id
    left join contacts
        on to_create.building_id = contacts.building_id

),

final as (

    select
        {%- for column in payload_columns %}
        {{ column }},
        {%- endfor %}
        _sync_key,
        {{ surrogate_key(payload_columns) }} as _payload_hash,
        _truncated_fields

    from payload

)

select * from final
