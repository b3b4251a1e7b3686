{{ config(pre_hook=create_matching_extensions()) }}

with

work_orders as (

    select * from {{ ref('fct_work_orders') }}

),

jobs as (

    select * from {{ ref('stg_servicefusion__jobs') }}

),

building_matches as (

    select * from {{ ref('int_workorders_sync__building_matches') }}

),

rules as (

    select * from {{ ref('match_rules') }}
    where rule_set = 'default'

),

-- the cross-system id: the job's po_number is the work order number
po_candidates as (

    select
        work_orders.work_order_id,
        jobs.job_id,
        cast(1 as {{ dbt.type_numeric() }}) as candidate_score,
        'po_number' as candidate_method

    from work_orders
    inner join jobs
        on cast(work_orders.work_order_number as {{ dbt.type_string() }}) = jobs.po_number

),

-- the temporal match: jobs of the building's (matched) customer created within the
-- window of the work order, scored by the similarity of the normalized descriptions
temporal_candidates as (

    select
        work_orders.work_order_id,
        jobs.job_id,
        {{ name_similarity('work_orders.description', 'jobs.description') }} as candidate_score,
        'temporal_description' as candidate_method

    from work_orders
    cross join rules
    inner join building_matches
        on work_orders.building_id = building_matches.building_id
    inner join jobs
        on building_matches.servicefusion_customer_id = jobs.customer_id
    where
        jobs.created_at >= {{ dbt.dateadd('hour', '-1 * rules.job_window_hours', 'work_orders.created_at') }}
        and jobs.created_at <= {{ dbt.dateadd('hour', 'rules.job_window_hours', 'work_orders.created_at') }}

),

candidates as (

    select * from po_candidates
    union all
    select * from temporal_candidates

),

ranked as (

    select
        *,
        row_number() over (
            partition by work_order_id
            order by
                candidate_score desc,
                case when candidate_method = 'po_number' then 0 else 1 end asc,
                job_id asc
        ) as candidate_rank

    from candidates

),

best as (

    select * from ranked
    where candidate_rank = 1

),

final as (

    select
        work_orders.work_order_id,
        work_orders.work_order_number,
        work_orders.building_id,
        best.job_id as candidate_job_id,
        cast(coalesce(best.candidate_score, 0) as {{ dbt.type_numeric() }}) as confidence,
        coalesce(best.candidate_method, 'none') as method,  -- noqa: RF04
        {{ match_decision('coalesce(best.candidate_score, 0)') }} as decision,
        case when coalesce(best.candidate_score, 0) >= rules.match_threshold then best.job_id end as job_id

    from work_orders
    cross join rules
    left join best
        on work_orders.work_order_id = best.work_order_id

)

select * from final
