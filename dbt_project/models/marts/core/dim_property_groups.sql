-- depends_on: {{ ref('product_features') }}
{%- set features = get_product_features() %}

with

property_groups as (

    select * from {{ ref('properties_aggregated_by_sfdc_id') }}

),

group_status as (

    select * from {{ ref('int_property_groups_sync_status') }}

),

final as (

    select
        property_groups.group_key,
        property_groups.sfdc_id,
        property_groups.primary_property_id,
        property_groups.property_name,
        property_groups.company_id,
        property_groups.company_name,
        property_groups.street_address,
        property_groups.city,
        property_groups.state,
        property_groups.postal_code,
        {%- for feature in features %}
        property_groups.{{ feature.feature_column }}_enabled,
        property_groups.{{ feature.feature_column }}_enabled_date,
        {%- endfor %}
        property_groups.has_any_feature_enabled,
        property_groups.is_active_group,
        property_groups.active_property_count,
        property_groups.member_property_count,
        property_groups.contributing_property_ids,
        property_groups.member_property_ids,
        group_status.is_in_salesforce,
        group_status.matched_record_count,
        group_status.is_missing_in_salesforce,
        group_status.are_features_accurate

    from property_groups
    inner join group_status
        on property_groups.group_key = group_status.group_key

)

select * from final
