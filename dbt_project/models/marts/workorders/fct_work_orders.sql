with

work_orders as (

    select * from {{ ref('int_work_orders__routed') }}

),

final as (

    select
        work_order_id,
        work_order_number,
        portfolio_id,
        building_id,
        lease_id,
        source_unit_id,
        routed_unit_id,
        routing_rule,
        is_valid,
        invalid_reason,
        status,
        status_key,
        is_open,
        servicefusion_status,
        description,
        category,
        priority,
        work_order_type,
        location,
        specific_location,
        created_at,
        start_date,
        scheduled_end_date,
        completed_date,
        cost_estimate,
        total_cost,
        vendor_id

    from work_orders

)

select * from final
