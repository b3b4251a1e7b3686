{%- set payload_columns = [adapter.quote('ID'), adapter.quote('status')] %}

with

work_orders as (

    select * from {{ ref('fct_work_orders') }}

),

work_order_job_mappings as (

    select * from {{ ref('work_order_job_mappings') }}

),

jobs as (

    select * from {{ ref('stg_servicefusion__jobs') }}

),

status_mapping as (

    select * from {{ ref('work_order_status_mapping') }}

),

mapped_jobs as (

    select
        work_orders.work_order_id,
        work_orders.status as work_order_status,
        work_orders.status_key as work_order_status_key,
        jobs.status as job_status,
        jobs.status_key as job_status_key

    from work_orders
    inner join work_order_job_mappings
        on work_orders.work_order_id = work_order_job_mappings.work_order_id
    inner join jobs
        on work_order_job_mappings.job_id = jobs.job_id
    where
        work_order_job_mappings.decision = 'match'
        and jobs.status is not null

),

-- in step: the work order's status maps to the job's status (WO Received ->
-- Unscheduled), or holds the job's status words already; else ServiceFusion wins
out_of_step as (

    select mapped_jobs.*

    from mapped_jobs
    where
        mapped_jobs.work_order_status_key is distinct from mapped_jobs.job_status_key
        and not exists (
            select 1 from status_mapping
            where
                lower(trim(status_mapping.propertyware_status)) = mapped_jobs.work_order_status_key
                and lower(trim(status_mapping.servicefusion_status)) = mapped_jobs.job_status_key
        )

),

payload as (

    select
        cast(work_order_id as {{ dbt.type_bigint() }}) as {{ adapter.quote('ID') }},
        job_status as {{ adapter.quote('status') }},
        cast(work_order_id as {{ dbt.type_string() }}) as _sync_key,
        {{ json_object([('status', 'work_order_status')]) }} as _before

    from out_of_step

),

final as (

    select
        {%- for column in payload_columns %}
        {{ column }},
        {%- endfor %}
        _sync_key,
        {{ surrogate_key(payload_columns) }} as _payload_hash,
        _before

    from payload

)

select * from final
