with

work_order_matches as (

    select * from {{ ref('int_workorders_sync__work_order_matches') }}

),

final as (

    select
        work_order_id,
        work_order_number,
        building_id,
        job_id,
        candidate_job_id,
        decision,
        confidence,
        method

    from work_order_matches

)

select * from final
