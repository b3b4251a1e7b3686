{#-
  Salesforce semantics are applied here, once: an empty text is a null
  (Salesforce stores '' as null) and a checkbox is never null (false).
  The feature fields come from the seed product_features.
-#}
-- depends_on: {{ ref('product_features') }}
{%- set features = get_product_features() %}

with

source as (

    {{ source_or_empty('salesforce', 'product_property') }}

),

renamed as (

    select
        cast(id as {{ dbt.type_string() }}) as product_property_id,
        nullif(cast(name as {{ dbt.type_string() }}), '') as product_property_name,
        nullif(cast(snappt_property_id_c as {{ dbt.type_string() }}), '') as snappt_property_id,
        nullif(cast(sf_property_id_c as {{ dbt.type_string() }}), '') as sf_property_id,
        nullif(cast(company_name_c as {{ dbt.type_string() }}), '') as company_name,
        nullif(cast(street_c as {{ dbt.type_string() }}), '') as street,
        nullif(cast(city_c as {{ dbt.type_string() }}), '') as city,
        nullif(cast(state_c as {{ dbt.type_string() }}), '') as state,
        nullif(cast(postal_code_c as {{ dbt.type_string() }}), '') as postal_code,
        {%- for feature in features %}
        coalesce(
            cast({{ salesforce_raw_column(feature.salesforce_enabled_field) }} as {{ dbt.type_boolean() }}),
            false
        ) as {{ feature.feature_column }}_enabled,
        cast({{ salesforce_raw_column(feature.salesforce_enabled_date_field) }} as date)
            as {{ feature.feature_column }}_enabled_date,
        {%- endfor %}
        cast(active_property_count_c as {{ dbt.type_int() }}) as active_property_count,
        nullif(cast(contributing_property_ids_c as {{ dbt.type_string() }}), '') as contributing_property_ids,
        cast(created_date as {{ type_timestamp_tz() }}) as created_at,
        cast(last_modified_date as {{ type_timestamp_tz() }}) as last_modified_at

    from source

)

select * from renamed
