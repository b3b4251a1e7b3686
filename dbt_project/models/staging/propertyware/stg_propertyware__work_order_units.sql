with

source as (

    {{ source_or_empty('propertyware', 'work_orders__unit_ids') }}

),

work_orders as (

    {{ source_or_empty('propertyware', 'work_orders') }}

),

-- a dlt child table knows its parent only by _dlt_parent_id: the join gives the work order ID
renamed as (

    select
        {{ surrogate_key(['work_orders.id', 'source._dlt_list_idx']) }} as work_order_unit_key,
        cast(work_orders.id as {{ dbt.type_bigint() }}) as work_order_id,
        cast(source.value as {{ dbt.type_bigint() }}) as unit_id,
        cast(source._dlt_list_idx as {{ dbt.type_bigint() }}) as unit_position

    from source
    inner join work_orders
        on source._dlt_parent_id = work_orders._dlt_id

)

select * from renamed
