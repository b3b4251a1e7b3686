-- depends_on: {{ ref('product_features') }}
{%- set fields = product_property_fields() %}
{%- set feature_fields = fields | selectattr('is_feature') | list %}

with

desired as (

    select * from {{ ref('int_product_properties_desired') }}

),

matches as (

    select * from {{ ref('int_product_property_matches') }}

),

salesforce_records as (

    select * from {{ ref('stg_salesforce__product_properties') }}

),

-- each matched record against its group's values (the comparison of properties_to_update)
record_checks as (

    select
        matches.group_key,
        matches.has_conflicting_match,
        {{ count_changed_fields('desired', 'salesforce_records', fields) }} as changed_field_count,
        {{ count_changed_fields('desired', 'salesforce_records', feature_fields) }}
            as changed_feature_field_count

    from matches
    inner join desired
        on matches.group_key = desired.group_key
    inner join salesforce_records
        on matches.product_property_id = salesforce_records.product_property_id

),

group_checks as (

    select
        group_key,
        count(*) as matched_record_count,
        sum(case when changed_field_count = 0 then 1 else 0 end) as records_in_sync_count,
        sum(case when has_conflicting_match then 1 else 0 end) as conflicting_record_count,
        max(changed_feature_field_count) as max_changed_feature_field_count

    from record_checks
    group by group_key

),

final as (

    select
        desired.group_key,
        desired.sfdc_id,
        desired.primary_property_id,
        desired.member_property_count,
        desired.active_property_count,
        desired.is_active_group,
        desired.has_any_feature_enabled,
        cast(coalesce(group_checks.matched_record_count, 0) as {{ dbt.type_int() }})
            as matched_record_count,
        cast(coalesce(group_checks.records_in_sync_count, 0) as {{ dbt.type_int() }})
            as records_in_sync_count,
        cast(coalesce(group_checks.conflicting_record_count, 0) as {{ dbt.type_int() }})
            as conflicting_record_count,
        group_checks.group_key is not null as is_in_salesforce,
        desired.is_active_group and group_checks.group_key is null as is_missing_in_salesforce,
        desired.is_active_group
        and desired.has_any_feature_enabled
        and group_checks.group_key is null as is_p1_missing,
        -- null when the group has no record: accuracy is measured on matched groups
        case
            when group_checks.group_key is not null
                then group_checks.max_changed_feature_field_count = 0
        end as are_features_accurate

    from desired
    left join group_checks
        on desired.group_key = group_checks.group_key

)

select * from final
