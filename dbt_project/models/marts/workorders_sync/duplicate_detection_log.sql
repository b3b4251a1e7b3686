with

customer_mappings as (

    select * from {{ ref('customer_mappings') }}

),

work_order_job_mappings as (

    select * from {{ ref('work_order_job_mappings') }}

),

decisions as (

    select
        pw_entity as entity,
        pw_id,
        cast(candidate_customer_id as {{ dbt.type_string() }}) as candidate_id,
        confidence as score,
        decision,
        method

    from customer_mappings

    union all

    select
        'work_order' as entity,
        work_order_id as pw_id,
        cast(candidate_job_id as {{ dbt.type_string() }}) as candidate_id,
        confidence as score,
        decision,
        method

    from work_order_job_mappings

),

final as (

    select
        entity || ':' || cast(pw_id as {{ dbt.type_string() }}) as decision_id,
        entity,
        pw_id,
        candidate_id,
        score,
        decision,
        method,
        case
            when method = 'none' then 'no candidate: create'
            else
                'best candidate ' || candidate_id || ' by ' || method || ' scored '
                || cast(score as {{ dbt.type_string() }}) || ': ' || decision
        end as reason

    from decisions

)

select * from final
