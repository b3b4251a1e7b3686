with

lease_tenants as (

    select * from {{ ref('stg_propertyware__lease_tenants') }}

),

leases as (

    select * from {{ ref('stg_propertyware__leases') }}

),

-- a contact may be a tenant of several leases: keep its active lease, else its latest one
tenant_leases as (

    select
        lease_tenants.*,
        leases.building_id,
        leases.unit_id,
        leases.is_active as is_lease_active,
        row_number() over (
            partition by lease_tenants.tenant_id
            order by
                case when leases.is_active then 0 else 1 end,
                leases.start_date desc,
                lease_tenants.lease_id desc
        ) as lease_rank

    from lease_tenants
    inner join leases
        on lease_tenants.lease_id = leases.lease_id

),

-- phone: the first formattable of mobile, home, work; an unformattable one is left out
phones_formatted as (

    select
        *,
        coalesce(
            {{ format_us_phone('mobile_phone') }},
            {{ format_us_phone('home_phone') }},
            {{ format_us_phone('work_phone') }}
        ) as phone,
        (
            {{ is_given('mobile_phone') }}
            or {{ is_given('home_phone') }}
            or {{ is_given('work_phone') }}
        ) as has_phone_given

    from tenant_leases
    where lease_rank = 1

),

final as (

    select
        tenant_id,
        building_id,
        unit_id,
        first_name,
        last_name,
        complete_name,
        email,
        phone,
        mobile_phone,
        home_phone,
        work_phone,
        is_lease_active as has_active_lease,
        lease_id as latest_lease_id,
        case when is_lease_active then lease_id end as lease_id,
        -- a phone was given but none could be formatted: the contact is kept and this is reported
        (has_phone_given and phone is null) as phone_unformattable

    from phones_formatted

)

select * from final
