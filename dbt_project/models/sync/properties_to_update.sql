-- depends_on: {{ ref('product_features') }}
{%- set fields = product_property_fields() %}
{%- set payload_columns = [adapter.quote('Id')] %}
{%- set before_pairs = [] %}
{%- for field in fields %}
{%- do payload_columns.append(adapter.quote(field.field)) %}
{%- do before_pairs.append((field.field, 'salesforce_records.' ~ field.column)) %}
{%- endfor %}

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

-- every matched record gets its group's values, but only where at least one
-- mapped field differs from what Salesforce holds now (null-safe comparison;
-- dates as dates, empty text already null on both sides)
changed_records as (

    select
        salesforce_records.product_property_id as {{ adapter.quote('Id') }},
        {%- for field in fields %}
        desired.{{ field.column }} as {{ adapter.quote(field.field) }},
        {%- endfor %}
        salesforce_records.product_property_id as _sync_key,
        matches.group_key as _group_key,
        {{ json_object(before_pairs) }} as _before,
        -- control column: the fields cut to fit (never sent, not in the hash)
        desired.truncated_fields as _truncated_fields

    from matches
    inner join desired
        on matches.group_key = desired.group_key
    inner join salesforce_records
        on matches.product_property_id = salesforce_records.product_property_id
    where {{ count_changed_fields('desired', 'salesforce_records', fields) }} > 0

),

final as (

    select
        {%- for column in payload_columns %}
        {{ column }},
        {%- endfor %}
        _sync_key,
        {{ surrogate_key(payload_columns) }} as _payload_hash,
        _group_key,
        _before,
        _truncated_fields

    from changed_records

)

select * from final
