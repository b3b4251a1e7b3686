with

statuses as (

    select * from {{ ref('int_work_order_statuses') }}

),

final as (

    select
        status_key,
        is_open,
        servicefusion_status,
        is_mapped

    from statuses

)

select * from final
