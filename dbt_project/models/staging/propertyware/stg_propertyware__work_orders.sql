with

source as (

    {{ source_or_empty('propertyware', 'work_orders') }}

),

renamed as (

    select
        cast(id as {{ dbt.type_bigint() }}) as work_order_id,
        cast(number as {{ dbt.type_bigint() }}) as work_order_number,
        cast(portfolio as {{ dbt.type_bigint() }}) as portfolio_id,
        cast(building as {{ dbt.type_bigint() }}) as building_id,
        cast(lease as {{ dbt.type_bigint() }}) as lease_id,
        -- as typed: normalized (trim, lower case) in int_work_order_statuses
        cast(status as {{ dbt.type_string() }}) as status,
        cast(description as {{ dbt.type_string() }}) as description,
        cast(category as {{ dbt.type_string() }}) as category,
        cast(priority as {{ dbt.type_string() }}) as priority,
        cast(type as {{ dbt.type_string() }}) as work_order_type,
        cast(location as {{ dbt.type_string() }}) as location,  -- noqa: RF04
        cast(specific_location as {{ dbt.type_string() }}) as specific_location,
        cast(created_date as {{ type_timestamp_tz() }}) as created_at,
        cast(start_date as {{ type_timestamp_tz() }}) as start_date,
        cast(scheduled_end_date as {{ type_timestamp_tz() }}) as scheduled_end_date,
        cast(completed_date as {{ type_timestamp_tz() }}) as completed_date,
        cast(cost_estimate as {{ dbt.type_numeric() }}) as cost_estimate,
        cast(total_cost as {{ dbt.type_numeric() }}) as total_cost,
        -- dlt's row key: the child tables' _dlt_parent_id
        cast(_dlt_id as {{ dbt.type_string() }}) as dlt_id

    from source

)

select * from renamed
