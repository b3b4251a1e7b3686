-- Salesforce stores an empty text as null, so the sync views must emit null, never
-- '': an empty string would differ from the read-back forever and be re-sent on
-- every run. Checks every text field of both views.
{%- set text_fields = [] %}
{%- for field in ['Name', 'Company_Name__c', 'Street__c', 'City__c', 'State__c',
                  'Postal_Code__c', 'Contributing_Property_IDs__c'] %}
{%- do text_fields.append(adapter.quote(field)) %}
{%- endfor %}

with

properties_to_create as (

    select * from {{ ref('properties_to_create') }}

),

properties_to_update as (

    select * from {{ ref('properties_to_update') }}

),

final as (

    select
        'create' as sync_pass,
        _sync_key

    from properties_to_create
    where '' in ({{ text_fields | join(', ') }})

    union all

    select
        'update' as sync_pass,
        _sync_key

    from properties_to_update
    where '' in ({{ text_fields | join(', ') }})

)

select * from final
