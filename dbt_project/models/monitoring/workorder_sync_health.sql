{#-
  One row per work-order sync (reverse_etl/registry.py), in the shape of
  sync_monitoring_dashboard's slice rows: the queue (rows of its sync view), rows cut
  to fit, and the slice's own alert conditions. P0: something to send and no real
  run of the sync succeeded within sync_alert_p0_max_hours_without_success. P2:
  records wait for a person (the manual review queue, or changes ServiceFusion's API
  cannot take, from the drift report).
-#}
{%- set syncs = [
    ('servicefusion.parent_customers.create', 'servicefusion', 'customers', 'create',
     'servicefusion_parent_customers_to_create', 'portfolio', true),
    ('servicefusion.customers.create', 'servicefusion', 'customers', 'create',
     'servicefusion_customers_to_create', 'building', true),
    ('servicefusion.jobs.create', 'servicefusion', 'jobs', 'create',
     'servicefusion_jobs_to_create', 'work_order', true),
    ('propertyware.work_orders.update', 'propertyware', 'work_orders', 'update',
     'propertyware_work_orders_to_update', 'none', false),
] %}

with

sync_runs as (

    select * from {{ ref('stg_reverse_etl__sync_runs') }}

),

review_queue as (

    select * from {{ ref('manual_review_queue') }}

),

drift_report as (

    select * from {{ ref('servicefusion_drift_report') }}

),

queues as (

    {%- for name, destination, object_name, sync_pass, view, entity, cuts in syncs %}
    select
        '{{ name }}' as sync_name,
        '{{ destination }}' as destination,
        '{{ object_name }}' as object_name,
        '{{ sync_pass }}' as sync_pass,
        'sync.{{ view }}' as sync_view,
        '{{ entity }}' as review_entity,
        count(*) as queue_size,
        {% if cuts -%}
        sum(case when _truncated_fields is not null then 1 else 0 end)
        {%- else -%}
        0
        {%- endif %} as rows_truncated

    from {{ ref(view) }}
    {%- if not loop.last %}

    union all
    {% endif %}
    {%- endfor %}

),

successes as (

    select
        sync_name,
        max(finished_at) as last_successful_run_at

    from sync_runs
    where not is_dry_run and run_status in ('succeeded', 'partial')
    group by sync_name

),

reviews as (

    select
        entity,
        count(*) as waiting

    from review_queue
    group by entity

),

drift as (

    select count(*) as waiting from drift_report

),

figures as (

    select
        queues.sync_name,
        queues.destination,
        queues.object_name,
        queues.sync_pass,
        queues.sync_view,
        queues.queue_size,
        coalesce(queues.rows_truncated, 0) as rows_truncated,
        coalesce(reviews.waiting, 0) as review_queue_size,
        case
            when queues.sync_name = 'servicefusion.customers.create' then drift.waiting
            else 0
        end as drift_rows,
        queues.queue_size > 0
        and coalesce(
            successes.last_successful_run_at < {{ dbt.dateadd(
                'hour',
                -1 * var('sync_alert_p0_max_hours_without_success'),
                propsync_now()) }},
            true
        ) as is_p0_no_recent_success

    from queues
    left join successes
        on queues.sync_name = successes.sync_name
    left join reviews
        on queues.review_entity = reviews.entity
    cross join drift

),

final as (

    select
        sync_name,
        destination,
        object_name,
        sync_pass,
        sync_view,
        queue_size,
        rows_truncated,
        is_p0_no_recent_success,
        false as is_p1_slice_condition,
        review_queue_size > 0 or drift_rows > 0 as is_p2_slice_condition,
        case
            when is_p0_no_recent_success then 'records to send and no successful sync recently'
            when review_queue_size > 0 then 'records wait in the manual review queue'
            when drift_rows > 0 then 'changes need manual action in ServiceFusion (drift report)'
        end as slice_reason

    from figures

)

select * from final
