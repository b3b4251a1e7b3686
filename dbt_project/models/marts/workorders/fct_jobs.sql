with

jobs as (

    select * from {{ ref('stg_servicefusion__jobs') }}

),

job_mappings as (

    select * from {{ ref('work_order_job_mappings') }}

),

-- a job is PropertyWare's when a work order matched it (po_number or the 48 h
-- rule); two work orders on one job keep the first
matched_work_orders as (

    select
        job_id,
        min(work_order_id) as work_order_id,
        count(*) as matched_work_order_count

    from job_mappings
    where decision = 'match' and job_id is not null
    group by job_id

),

final as (

    select
        jobs.job_id,
        jobs.job_number,
        jobs.customer_id,
        jobs.customer_name,
        jobs.po_number,
        matched_work_orders.work_order_id,
        jobs.status,
        jobs.status_key,
        jobs.description,
        jobs.category,
        jobs.street_1,
        jobs.street_2,
        jobs.city,
        jobs.state_prov,
        jobs.postal_code,
        jobs.location_name,
        jobs.created_at,
        jobs.updated_at,
        matched_work_orders.work_order_id is not null as is_from_propertyware,
        coalesce(matched_work_orders.matched_work_order_count, 0) as matched_work_order_count

    from jobs
    left join matched_work_orders
        on jobs.job_id = matched_work_orders.job_id

)

select * from final
