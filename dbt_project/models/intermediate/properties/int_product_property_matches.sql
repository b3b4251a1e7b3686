with

salesforce_records as (

    select * from {{ ref('stg_salesforce__product_properties') }}

),

properties as (

    select * from {{ ref('rds_properties_enriched') }}

),

property_groups as (

    select * from {{ ref('properties_aggregated_by_sfdc_id') }}

),

-- a record matches the group of ANY member (active or not) named by its
-- Snappt_Property_ID__c, and the group whose sfdc_id is its SF_Property_ID__c
candidates as (

    select
        salesforce_records.product_property_id,
        salesforce_records.snappt_property_id,
        salesforce_records.sf_property_id,
        by_member.group_key as snappt_match_group_key,
        by_sfdc_id.group_key as sfdc_match_group_key

    from salesforce_records
    left join properties as by_member
        on salesforce_records.snappt_property_id = by_member.property_id
    left join property_groups as by_sfdc_id
        on
            salesforce_records.sf_property_id = by_sfdc_id.sfdc_id
            and by_sfdc_id.sfdc_id is not null

),

-- two candidate groups: the Snappt id match wins, and the record is flagged
resolved as (

    select
        product_property_id,
        snappt_property_id,
        sf_property_id,
        snappt_match_group_key,
        sfdc_match_group_key,
        coalesce(snappt_match_group_key, sfdc_match_group_key) as group_key,
        case
            when snappt_match_group_key is not null then 'snappt_property_id'
            when sfdc_match_group_key is not null then 'sf_property_id'
        end as match_method,
        coalesce(snappt_match_group_key <> sfdc_match_group_key, false) as has_conflicting_match

    from candidates

),

final as (

    select
        product_property_id,
        snappt_property_id,
        sf_property_id,
        group_key,
        match_method,
        group_key is not null as is_matched,
        has_conflicting_match,
        snappt_match_group_key,
        sfdc_match_group_key,
        case
            when group_key is not null
                then cast(count(*) over (partition by group_key) as {{ dbt.type_int() }})
        end as group_record_count

    from resolved

)

select * from final
