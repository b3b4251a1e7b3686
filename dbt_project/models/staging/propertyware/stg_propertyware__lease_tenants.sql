with

source as (

    {{ source_or_empty('propertyware', 'leases__tenants') }}

),

renamed as (

    select
        {{ surrogate_key(['lease_id', 'id']) }} as lease_tenant_id,
        cast(lease_id as {{ dbt.type_bigint() }}) as lease_id,
        cast(id as {{ dbt.type_bigint() }}) as tenant_id,
        cast(_dlt_list_idx as {{ dbt.type_bigint() }}) as tenant_position,
        cast(first_name as {{ dbt.type_string() }}) as first_name,
        cast(last_name as {{ dbt.type_string() }}) as last_name,
        cast(complete_name as {{ dbt.type_string() }}) as complete_name,
        cast(contact_type as {{ dbt.type_string() }}) as contact_type,
        cast(email as {{ dbt.type_string() }}) as email,
        cast(mobile_phone as {{ dbt.type_string() }}) as mobile_phone,
        cast(home_phone as {{ dbt.type_string() }}) as home_phone,
        cast(work_phone as {{ dbt.type_string() }}) as work_phone,
        cast(address as {{ dbt.type_string() }}) as address,
        cast(address2 as {{ dbt.type_string() }}) as address2,
        cast(city as {{ dbt.type_string() }}) as city,
        cast(state as {{ dbt.type_string() }}) as state,
        cast(zip as {{ dbt.type_string() }}) as zip

    from source

)

select * from renamed
