-- depends_on: {{ ref('product_features') }}
{%- set features = get_product_features() %}

with

properties as (

    select * from {{ ref('rds_properties_enriched') }}

),

property_groups as (

    select * from {{ ref('properties_aggregated_by_sfdc_id') }}

),

final as (

    select
        properties.property_id,
        properties.group_key,
        properties.sfdc_id,
        properties.property_name,
        properties.company_id,
        properties.company_name,
        properties.street_address,
        properties.city,
        properties.state,
        properties.postal_code,
        properties.property_status,
        properties.is_active,
        coalesce(properties.property_id = property_groups.primary_property_id, false)
            as is_group_primary,
        {%- for feature in features %}
        properties.{{ feature.feature_column }}_enabled,
        properties.{{ feature.feature_column }}_enabled_at,
        {%- endfor %}
        properties.inserted_at,
        properties.updated_at

    from properties
    inner join property_groups
        on properties.group_key = property_groups.group_key

)

select * from final
