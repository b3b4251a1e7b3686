{%- set payload_columns = ['customer_name', 'account_number', 'private_notes'] %}

with

portfolio_matches as (

    select * from {{ ref('int_workorders_sync__portfolio_matches') }}

),

customers as (

    select * from {{ ref('stg_servicefusion__customers') }}

),

ledger_created as (

    select * from {{ ref('int_workorders_sync__ledger_created_customers') }}

),

-- portfolios to create: decision create, no customer with the account number in
-- the read-back, none created by the pusher since
to_create as (

    select portfolio_matches.*

    from portfolio_matches
    left join customers
        on portfolio_matches.account_number = customers.account_number
    left join ledger_created
        on portfolio_matches.account_number = ledger_created.account_number
    where
        portfolio_matches.decision = 'create'
        and customers.customer_id is null
        and ledger_created.account_number is null

),

payload as (

    select
        customer_name_to_create as customer_name,
        account_number,
        account_number as _sync_key,
        truncated_fields as _truncated_fields,
        -- the full name, when customer_name had to be cut to 45 characters
        case when truncated_fields is not null then portfolio_name end as private_notes

    from to_create

),

final as (

    select
        {%- for column in payload_columns %}
        {{ column }},
        {%- endfor %}
        _sync_key,
        {{ surrogate_key(payload_columns) }} as _payload_hash,
        _truncated_fields

    from payload

)

select * from final
