with

source as (

    {{ source_or_empty('servicefusion', 'jobs') }}

),

renamed as (

    select
        cast(id as {{ dbt.type_bigint() }}) as job_id,
        nullif(trim(cast(number as {{ dbt.type_string() }})), '') as job_number,
        cast(customer_id as {{ dbt.type_bigint() }}) as customer_id,
        nullif(trim(cast(customer_name as {{ dbt.type_string() }})), '') as customer_name,
        nullif(trim(cast(po_number as {{ dbt.type_string() }})), '') as po_number,
        nullif(trim(cast(status as {{ dbt.type_string() }})), '') as status,
        lower(trim(cast(status as {{ dbt.type_string() }}))) as status_key,
        nullif(cast(description as {{ dbt.type_string() }}), '') as description,
        {{ normalize_name('description') }} as normalized_description,
        nullif(trim(cast(category as {{ dbt.type_string() }})), '') as category,
        nullif(trim(cast(street_1 as {{ dbt.type_string() }})), '') as street_1,
        nullif(trim(cast(street_2 as {{ dbt.type_string() }})), '') as street_2,
        nullif(trim(cast(city as {{ dbt.type_string() }})), '') as city,
        nullif(trim(cast(state_prov as {{ dbt.type_string() }})), '') as state_prov,
        nullif(trim(cast(postal_code as {{ dbt.type_string() }})), '') as postal_code,
        nullif(trim(cast(location_name as {{ dbt.type_string() }})), '') as location_name,
        cast(created_at as {{ type_timestamp_tz() }}) as created_at,
        cast(updated_at as {{ type_timestamp_tz() }}) as updated_at

    from source

)

select * from renamed
