-- depends_on: {{ ref('pw_open_statuses') }}
with

work_orders as (

    select * from {{ ref('stg_propertyware__work_orders') }}

),

status_mapping as (

    select * from {{ ref('work_order_status_mapping') }}

),

-- the seed pw_open_statuses, or the override (var / PW_OPEN_STATUSES)
open_statuses as (

    {{ open_statuses_sql() }}

),

mapped_statuses as (

    select
        {{ normalize_status('propertyware_status') }} as status_key,
        -- a blank cell of the seed is no job status
        nullif(trim(servicefusion_status), '') as servicefusion_status

    from status_mapping

),

-- every status that can be looked up: the mapping's, the open list's and every one a work order has
status_keys as (

    select status_key from mapped_statuses
    union
    select status as status_key from open_statuses
    union
    select {{ normalize_status('status') }} as status_key
    from work_orders
    where status is not null

),

final as (

    select
        status_keys.status_key,
        coalesce(status_keys.status_key in (select open_statuses.status from open_statuses), false) as is_open,
        -- only an open status creates a job; a status opened by an override but not mapped has none
        case
            when status_keys.status_key in (select open_statuses.status from open_statuses)
                then mapped_statuses.servicefusion_status
        end as servicefusion_status,
        mapped_statuses.status_key is not null as is_mapped

    from status_keys
    left join mapped_statuses
        on status_keys.status_key = mapped_statuses.status_key

)

select * from final
