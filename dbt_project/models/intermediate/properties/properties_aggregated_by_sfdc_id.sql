-- depends_on: {{ ref('product_features') }}
{%- set features = get_product_features() %}

with

properties as (

    select * from {{ ref('rds_properties_enriched') }}

),

-- rank 1 = the primary: the most recently updated ACTIVE member, smallest id on a
-- tie; in a group without an active member, the most recently updated member
ranked as (

    select
        *,
        row_number() over (
            partition by group_key
            order by
                case when is_active then 0 else 1 end,
                updated_at desc,
                property_id asc
        ) as metadata_rank

    from properties

),

metadata as (

    select
        group_key,
        property_id as metadata_property_id,
        is_active as is_metadata_property_active,
        property_name,
        company_id,
        company_name,
        street_address,
        city,
        state,
        postal_code

    from ranked
    where metadata_rank = 1

),

-- only ACTIVE members contribute; a feature's date counts only where it is enabled
rolled_up as (

    select
        group_key,
        max(sfdc_id) as sfdc_id,
        count(*) as member_property_count,
        sum(case when is_active then 1 else 0 end) as active_property_count,
        {{ dbt.listagg("case when is_active then property_id end", "','", "order by property_id") }}
            as contributing_property_ids,
        {{ dbt.listagg("property_id", "','", "order by property_id") }} as member_property_ids,
        {%- for feature in features %}
        coalesce({{ dbt.bool_or("is_active and " ~ feature.feature_column ~ "_enabled") }}, false)
            as {{ feature.feature_column }}_enabled,
        min(
            case
                when is_active and {{ feature.feature_column }}_enabled
                    then {{ feature.feature_column }}_enabled_at
            end
        ) as {{ feature.feature_column }}_enabled_at,
        {%- endfor %}
        max(updated_at) as last_updated_at

    from properties
    group by group_key

),

final as (

    select
        rolled_up.group_key,
        rolled_up.sfdc_id,
        case
            when metadata.is_metadata_property_active then metadata.metadata_property_id
        end as primary_property_id,
        metadata.metadata_property_id,
        metadata.property_name,
        metadata.company_id,
        metadata.company_name,
        metadata.street_address,
        metadata.city,
        metadata.state,
        metadata.postal_code,
        {%- for feature in features %}
        rolled_up.{{ feature.feature_column }}_enabled,
        rolled_up.{{ feature.feature_column }}_enabled_at,
        {{ utc_date("rolled_up." ~ feature.feature_column ~ "_enabled_at") }}
            as {{ feature.feature_column }}_enabled_date,
        {%- endfor %}
        (
            {%- for feature in features %}
            rolled_up.{{ feature.feature_column }}_enabled
            {%- if not loop.last %} or{% endif %}
            {%- endfor %}
        ) as has_any_feature_enabled,
        cast(rolled_up.active_property_count as {{ dbt.type_int() }}) as active_property_count,
        cast(rolled_up.member_property_count as {{ dbt.type_int() }}) as member_property_count,
        rolled_up.active_property_count > 0 as is_active_group,
        rolled_up.contributing_property_ids,
        rolled_up.member_property_ids,
        rolled_up.last_updated_at

    from rolled_up
    inner join metadata
        on rolled_up.group_key = metadata.group_key

)

select * from final
