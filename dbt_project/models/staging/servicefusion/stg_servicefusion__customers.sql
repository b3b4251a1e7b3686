with

source as (

    {{ source_or_empty('servicefusion', 'customers') }}

),

renamed as (

    select
        cast(id as {{ dbt.type_bigint() }}) as customer_id,
        nullif(trim(cast(customer_name as {{ dbt.type_string() }})), '') as customer_name,
        nullif(trim(cast(parent_customer as {{ dbt.type_string() }})), '') as parent_customer_name,
        nullif(trim(cast(account_number as {{ dbt.type_string() }})), '') as account_number,
        nullif(cast(private_notes as {{ dbt.type_string() }}), '') as private_notes,
        {{ normalize_name('customer_name') }} as normalized_name,
        cast(created_at as {{ type_timestamp_tz() }}) as created_at,
        cast(updated_at as {{ type_timestamp_tz() }}) as updated_at,
        _dlt_id as customer_dlt_id

    from source

)

select * from renamed
