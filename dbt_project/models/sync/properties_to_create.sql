-- depends_on: {{ ref('product_features') }}
{%- set fields = product_property_fields() %}
{%- set payload_columns = [adapter.quote('Name'), adapter.quote('Snappt_Property_ID__c')] %}
{%- for field in fields if field.field != 'Name' %}
{%- do payload_columns.append(adapter.quote(field.field)) %}
{%- endfor %}

with

desired as (

    select * from {{ ref('int_product_properties_desired') }}

),

matches as (

    select * from {{ ref('int_product_property_matches') }}

),

matched_groups as (

    select distinct group_key
    from matches
    where is_matched

),

-- groups with an active property that no Salesforce record matches; a group of
-- DISABLED properties only is never created
groups_to_create as (

    select desired.*

    from desired
    left join matched_groups
        on desired.group_key = matched_groups.group_key
    where
        matched_groups.group_key is null
        and desired.active_property_count > 0

),

payload as (

    select
        product_property_name as {{ adapter.quote('Name') }},
        -- the create key: the group's primary RDS id, so no Salesforce id is needed
        primary_property_id as {{ adapter.quote('Snappt_Property_ID__c') }},
        {%- for field in fields if field.field != 'Name' %}
        {{ field.column }} as {{ adapter.quote(field.field) }},
        {%- endfor %}
        primary_property_id as _sync_key,
        group_key as _group_key,
        -- control column: the fields cut to fit (never sent, not in the hash)
        truncated_fields as _truncated_fields

    from groups_to_create

),

final as (

    select
        {%- for column in payload_columns %}
        {{ column }},
        {%- endfor %}
        _sync_key,
        {{ surrogate_key(payload_columns) }} as _payload_hash,
        _group_key,
        _truncated_fields

    from payload

)

select * from final
