-- A create's key (Snappt_Property_ID__c, the unique External ID) must not be one
-- Salesforce already holds: such a record names a member of the group, so the
-- group is matched and belongs to the update pass. A row here is a create that
-- Salesforce would answer with DUPLICATE_VALUE while the group's record stays
-- stale. Compared with the read-back as the models see it (staging).
with

properties_to_create as (

    select * from {{ ref('properties_to_create') }}

),

salesforce_records as (

    select * from {{ ref('stg_salesforce__product_properties') }}

),

final as (

    select
        properties_to_create._sync_key,
        properties_to_create._group_key,
        salesforce_records.product_property_id

    from properties_to_create
    inner join salesforce_records
        on properties_to_create.{{ adapter.quote('Snappt_Property_ID__c') }} = salesforce_records.snappt_property_id

)

select * from final
