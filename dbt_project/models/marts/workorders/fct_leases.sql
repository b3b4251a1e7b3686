with

leases as (

    select * from {{ ref('stg_propertyware__leases') }}

),

lease_tenants as (

    select * from {{ ref('stg_propertyware__lease_tenants') }}

),

tenants_counted as (

    select
        lease_id,
        count(distinct tenant_id) as tenant_count

    from lease_tenants
    group by lease_id

),

final as (

    select
        leases.lease_id,
        leases.building_id,
        leases.unit_id,
        leases.lease_name,
        leases.lease_status,
        leases.primary_contact_id,
        {{ utc_date('leases.start_date') }} as start_date,
        {{ utc_date('leases.end_date') }} as end_date,
        {{ utc_date('leases.move_in_date') }} as move_in_date,
        {{ utc_date('leases.move_out_date') }} as move_out_date,
        leases.is_active,
        coalesce(tenants_counted.tenant_count, 0) as tenant_count

    from leases
    left join tenants_counted
        on leases.lease_id = tenants_counted.lease_id

)

select * from final
