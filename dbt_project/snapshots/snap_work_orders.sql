{% snapshot snap_work_orders %}

{#- config (check strategy, columns, valid_from / valid_to) in _snapshots.yml -#}
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
    created_at,
    start_date,
    scheduled_end_date,
    completed_date,
    cost_estimate,
    total_cost,
    vendor_id

from {{ ref('fct_work_orders') }}

{% endsnapshot %}
