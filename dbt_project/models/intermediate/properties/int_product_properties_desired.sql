-- depends_on: {{ ref('product_features') }}
{%- set features = get_product_features() %}
{#- every value cut to fit its Salesforce field goes through fit_to_length, which
    lists it here for truncated_fields (macros/fit_to_length.sql) -#}
{%- set cuts = [] %}

with

property_groups as (

    select * from {{ ref('properties_aggregated_by_sfdc_id') }}

),

-- Salesforce's shape of each group: Name holds at most 80 characters (a longer
-- name is cut, else Salesforce rejects the record, and the cut is reported in
-- truncated_fields), an empty text is stored as null, dates are UTC calendar
-- dates, the id list has no spaces
final as (

    select
        group_key,
        sfdc_id,
        primary_property_id,
        nullif({{ fit_to_length('property_name', 80, 'Name', cuts) }}, '') as product_property_name,
        nullif(company_name, '') as company_name,
        nullif(street_address, '') as street,
        nullif(city, '') as city,
        nullif(state, '') as state,
        nullif(postal_code, '') as postal_code,
        {%- for feature in features %}
        {{ feature.feature_column }}_enabled,
        {{ feature.feature_column }}_enabled_date,
        {%- endfor %}
        active_property_count,
        contributing_property_ids,
        member_property_count,
        is_active_group,
        has_any_feature_enabled,
        -- after every fit_to_length call: it reads the list they filled
        {{ truncated_fields(cuts) }} as truncated_fields

    from property_groups

)

select * from final
