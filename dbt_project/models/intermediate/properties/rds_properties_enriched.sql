-- depends_on: {{ ref('product_features') }}
{%- set features = get_product_features() %}

with

properties as (

    select * from {{ ref('stg_rds__properties') }}

),

companies as (

    select * from {{ ref('stg_rds__companies') }}

),

property_features as (

    select * from {{ ref('stg_rds__property_features') }}

),

-- one column pair per feature of the seed; codes not in the seed are ignored
features_pivoted as (

    select
        property_id,
        {%- for feature in features %}
        {{ dbt.bool_or("feature_code = '" ~ feature.feature_code ~ "' and is_enabled") }}
            as {{ feature.feature_column }}_enabled,
        max(case when feature_code = '{{ feature.feature_code }}' then enabled_at end)
            as {{ feature.feature_column }}_enabled_at,
        {%- endfor %}
        max(updated_at) as features_updated_at

    from property_features
    group by property_id

),

final as (

    select
        properties.property_id,
        -- a property with a null sfdc_id is a group of its own
        case
            when properties.sfdc_id is not null
                then {{ dbt.concat(["'sfdc:'", "properties.sfdc_id"]) }}
            else {{ dbt.concat(["'property:'", "properties.property_id"]) }}
        end as group_key,
        properties.sfdc_id,
        properties.property_name,
        properties.company_id,
        companies.company_name,
        properties.street_address,
        properties.city,
        properties.state,
        properties.postal_code,
        properties.property_status,
        properties.is_active,
        {%- for feature in features %}
        coalesce(features_pivoted.{{ feature.feature_column }}_enabled, false)
            as {{ feature.feature_column }}_enabled,
        features_pivoted.{{ feature.feature_column }}_enabled_at,
        {%- endfor %}
        features_pivoted.features_updated_at,
        properties.inserted_at,
        properties.updated_at

    from properties
    left join companies
        on properties.company_id = companies.company_id
    left join features_pivoted
        on properties.property_id = features_pivoted.property_id

)

select * from final
