{{ config(pre_hook=create_matching_extensions()) }}
{%- set cuts = [] %}

with

portfolios as (

    select * from {{ ref('dim_portfolio') }}

),

customers as (

    select * from {{ ref('stg_servicefusion__customers') }}

),

rules as (

    select * from {{ ref('match_rules') }}
    where rule_set = 'default'

),

-- every customer is a candidate parent: 1.0 for the cross-system account number,
-- else the name similarity
candidates as (

    select
        portfolios.portfolio_id,
        customers.customer_id,
        customers.customer_name,
        case
            when customers.account_number = 'PW-P-' || cast(portfolios.portfolio_id as {{ dbt.type_string() }})
                then 1
            else {{ name_similarity('portfolios.portfolio_name', 'customers.customer_name') }}
        end as candidate_score,
        case
            when customers.account_number = 'PW-P-' || cast(portfolios.portfolio_id as {{ dbt.type_string() }})
                then 'account_number'
            else 'name'
        end as candidate_method

    from portfolios
    cross join customers

),

ranked as (

    select
        *,
        row_number() over (
            partition by portfolio_id
            order by
                candidate_score desc,
                case when candidate_method = 'account_number' then 0 else 1 end asc,
                customer_id asc
        ) as candidate_rank

    from candidates

),

best as (

    select * from ranked
    where candidate_rank = 1

),

decided as (

    select
        portfolios.portfolio_id,
        portfolios.portfolio_name,
        'PW-P-' || cast(portfolios.portfolio_id as {{ dbt.type_string() }}) as account_number,
        best.customer_id as candidate_customer_id,
        best.customer_name as candidate_customer_name,
        cast(coalesce(best.candidate_score, 0) as {{ dbt.type_numeric() }}) as confidence,
        coalesce(best.candidate_method, 'none') as method,  -- noqa: RF04
        {{ match_decision('coalesce(best.candidate_score, 0)') }} as decision,
        {{ fit_to_length('portfolios.portfolio_name', 45, 'customer_name', cuts) }} as customer_name_to_create,
        {{ truncated_fields(cuts) }} as truncated_fields

    from portfolios
    cross join rules
    left join best
        on portfolios.portfolio_id = best.portfolio_id

),

final as (

    select
        *,
        case when decision = 'match' then candidate_customer_id end as servicefusion_customer_id,
        -- the parent_customer a building customer names: the matched parent's name,
        -- or the name the parent create view sends
        case
            when decision = 'match' then candidate_customer_name
            when decision = 'create' then customer_name_to_create
        end as parent_customer_name

    from decided

)

select * from final
