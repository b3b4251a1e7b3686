{%- set payload_columns = ['customer_name', 'po_number', 'description', 'category', 'status',
    'street_1', 'street_2', 'city', 'state_prov', 'postal_code', 'location_name'] %}

with

work_orders as (

    select * from {{ ref('fct_work_orders') }}

),

work_order_matches as (

    select * from {{ ref('int_workorders_sync__work_order_matches') }}

),

-- a view over the ledger: customers created earlier in this run are seen here
building_customer_ids as (

    select * from {{ ref('int_workorders_sync__building_customer_ids') }}

),

buildings as (

    select * from {{ ref('dim_building') }}

),

units as (

    select * from {{ ref('dim_unit') }}

),

jobs as (

    select * from {{ ref('stg_servicefusion__jobs') }}

),

job_categories as (

    select * from {{ ref('stg_servicefusion__job_categories') }}

),

to_create as (

    select
        work_orders.*,
        building_customer_ids.servicefusion_customer_id

    from work_orders
    inner join work_order_matches
        on work_orders.work_order_id = work_order_matches.work_order_id
    inner join building_customer_ids
        on work_orders.building_id = building_customer_ids.building_id
    where
        work_orders.is_open
        and work_orders.is_valid
        and work_order_matches.decision = 'create'
        and not exists (
            select 1 from jobs
            where jobs.po_number = cast(work_orders.work_order_number as {{ dbt.type_string() }})
        )

),

payload as (

    select
        cast(to_create.servicefusion_customer_id as {{ dbt.type_string() }}) as customer_name,
        cast(to_create.work_order_number as {{ dbt.type_string() }}) as po_number,
        to_create.description,
        job_categories.category_name as category,
        to_create.servicefusion_status as status,
        coalesce(units.address, buildings.address) as street_1,
        case when units.unit_id is not null then units.address2 else buildings.address2 end as street_2,
        coalesce(units.city, buildings.city) as city,
        coalesce(units.state, buildings.state) as state_prov,
        coalesce(units.zip5, {{ zip5('buildings.zip') }}) as postal_code,
        coalesce(units.unit_name, buildings.building_name) as location_name,
        cast(to_create.work_order_number as {{ dbt.type_string() }}) as _sync_key,
        cast(null as {{ dbt.type_string() }}) as _truncated_fields

    from to_create
    inner join buildings
        on to_create.building_id = buildings.building_id
    left join units
        on to_create.routed_unit_id = units.unit_id
    left join job_categories
        on lower(trim(to_create.category)) = job_categories.category_key

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
