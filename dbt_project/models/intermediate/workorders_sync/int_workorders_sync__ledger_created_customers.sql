{{ config(materialized='view') }}

with

sync_records as (

    select * from {{ ref('stg_reverse_etl__sync_records') }}

),

sync_runs as (

    select * from {{ ref('stg_reverse_etl__sync_runs') }}

),

customers as (

    select * from {{ ref('stg_servicefusion__customers') }}

),

-- customers the pusher created (or found present) in ServiceFusion, by account
-- number: a view, so a customer created minutes ago is seen without a rebuild
created as (

    select
        sync_records.sync_key as account_number,
        cast(sync_records.record_id as {{ dbt.type_bigint() }}) as servicefusion_customer_id,
        sync_runs.sync_name,
        sync_records.recorded_at,
        row_number() over (
            partition by sync_records.sync_key
            order by sync_records.recorded_at desc
        ) as record_rank

    from sync_records
    inner join sync_runs
        on sync_records.run_id = sync_runs.run_id
    where
        sync_runs.sync_name in ('servicefusion.customers.create', 'servicefusion.parent_customers.create')
        and not coalesce(sync_runs.is_dry_run, false)
        and sync_records.outcome in ('created', 'already_present')
        and sync_records.record_id is not null

),

final as (

    select
        created.account_number,
        created.servicefusion_customer_id,
        created.sync_name,
        created.recorded_at,
        customers.customer_id is not null as is_in_read_back

    from created
    left join customers
        on created.servicefusion_customer_id = customers.customer_id
    where created.record_rank = 1

)

select * from final
