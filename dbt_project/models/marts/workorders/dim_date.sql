with

work_orders as (

    select * from {{ ref('stg_propertyware__work_orders') }}

),

work_order_dates as (

    select {{ utc_date('created_at') }} as date_day from work_orders
    union all
    select {{ utc_date('start_date') }} as date_day from work_orders
    union all
    select {{ utc_date('scheduled_end_date') }} as date_day from work_orders
    union all
    select {{ utc_date('completed_date') }} as date_day from work_orders

),

date_bounds as (

    select
        min(date_day) as first_day,
        max(date_day) as last_day

    from work_order_dates

),

-- 0 .. 9999: up to 27 years of days, built portably (no generate_series)
digits as (

    {% for digit in range(10) -%}
    select {{ digit }} as digit
    {% if not loop.last %}union all
    {% endif %}
    {%- endfor %}

),

day_offsets as (

    select ones.digit + 10 * tens.digit + 100 * hundreds.digit + 1000 * thousands.digit as day_offset
    from digits as ones
    cross join digits as tens
    cross join digits as hundreds
    cross join digits as thousands

),

days as (

    select cast({{ dbt.dateadd('day', 'day_offsets.day_offset', 'date_bounds.first_day') }} as date) as date_day
    from date_bounds
    inner join day_offsets
        on day_offsets.day_offset <= {{ dbt.datediff('date_bounds.first_day', 'date_bounds.last_day', 'day') }}

),

final as (

    select
        date_day,
        cast({{ dbt.date_trunc('week', 'date_day') }} as date) as week_start_date,
        cast({{ dbt.date_trunc('month', 'date_day') }} as date) as month_start_date,
        cast({{ dbt.date_trunc('quarter', 'date_day') }} as date) as quarter_start_date,
        cast({{ dbt.date_trunc('year', 'date_day') }} as date) as year_start_date,
        cast(extract(year from date_day) as {{ dbt.type_int() }}) as year_number,
        cast(extract(quarter from date_day) as {{ dbt.type_int() }}) as quarter_number,
        cast(extract(month from date_day) as {{ dbt.type_int() }}) as month_number,
        cast(extract(day from date_day) as {{ dbt.type_int() }}) as day_of_month,
        cast({{ iso_day_of_week('date_day') }} as {{ dbt.type_int() }}) as iso_day_of_week,
        cast({{ day_of_year('date_day') }} as {{ dbt.type_int() }}) as day_of_year,
        {{ iso_day_of_week('date_day') }} in (6, 7) as is_weekend

    from days

)

select * from final
