with

locations as (

    {{ source_or_empty('servicefusion', 'customers__locations') }}

),

customers as (

    {{ source_or_empty('servicefusion', 'customers') }}

),

renamed as (

    select
        locations._dlt_id as customer_location_id,
        cast(customers.id as {{ dbt.type_bigint() }}) as customer_id,
        cast(locations._dlt_list_idx as {{ dbt.type_int() }}) as location_index,
        nullif(trim(cast(locations.street_1 as {{ dbt.type_string() }})), '') as street_1,
        nullif(trim(cast(locations.street_2 as {{ dbt.type_string() }})), '') as street_2,
        nullif(trim(cast(locations.city as {{ dbt.type_string() }})), '') as city,
        nullif(trim(cast(locations.state_prov as {{ dbt.type_string() }})), '') as state_prov,
        nullif(trim(cast(locations.postal_code as {{ dbt.type_string() }})), '') as postal_code,
        nullif(trim(cast(locations.nickname as {{ dbt.type_string() }})), '') as nickname,
        coalesce(locations.is_primary, false) as is_primary,
        {{ normalize_address('locations.street_1', 'locations.street_2') }} as normalized_address,
        {{ zip5('locations.postal_code') }} as zip5,
        {{ normalize_name('locations.nickname') }} as normalized_nickname

    from locations
    inner join customers
        on locations._dlt_parent_id = customers._dlt_id

)

select * from renamed
