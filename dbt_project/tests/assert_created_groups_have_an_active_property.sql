-- A group of DISABLED properties only is never created in Salesforce.
with

properties_to_create as (

    select * from {{ ref('properties_to_create') }}

),

final as (

    select
        _sync_key,
        {{ adapter.quote('Active_Property_Count__c') }} as active_property_count

    from properties_to_create
    where
        {{ adapter.quote('Active_Property_Count__c') }} < 1
        or {{ adapter.quote('Contributing_Property_IDs__c') }} is null

)

select * from final
