with

source as (

    {{ source_or_empty('propertyware', 'leases') }}

),

renamed as (

    select
        cast(id as {{ dbt.type_bigint() }}) as lease_id,
        cast(building_id as {{ dbt.type_bigint() }}) as building_id,
        cast(unit_id as {{ dbt.type_bigint() }}) as unit_id,
        cast(lease_name as {{ dbt.type_string() }}) as lease_name,
        cast(lease_status as {{ dbt.type_string() }}) as lease_status,
        cast(primary_contact__id as {{ dbt.type_bigint() }}) as primary_contact_id,
        cast(start_date as {{ type_timestamp_tz() }}) as start_date,
        cast(end_date as {{ type_timestamp_tz() }}) as end_date,
        cast(move_in_date as {{ type_timestamp_tz() }}) as move_in_date,
        cast(move_out_date as {{ type_timestamp_tz() }}) as move_out_date,
        coalesce(active, false) as is_active

    from source

)

select * from renamed
