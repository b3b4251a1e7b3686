{{ config(materialized='view') }}

with

building_matches as (

    select * from {{ ref('int_workorders_sync__building_matches') }}

),

ledger_created as (

    select * from {{ ref('int_workorders_sync__ledger_created_customers') }}

),

-- the ServiceFusion customer of each building: the matched read-back customer,
-- else the one the pusher created for its account number (ledger, live)
final as (

    select
        building_matches.building_id,
        building_matches.account_number,
        coalesce(building_matches.servicefusion_customer_id, ledger_created.servicefusion_customer_id)
            as servicefusion_customer_id,
        case
            when building_matches.servicefusion_customer_id is not null then 'read_back'
            else 'ledger'
        end as customer_id_source

    from building_matches
    left join ledger_created
        on building_matches.account_number = ledger_created.account_number
    where
        building_matches.servicefusion_customer_id is not null
        or ledger_created.servicefusion_customer_id is not null

)

select * from final
