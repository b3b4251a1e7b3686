{#-
  Every transformed row that is not pushed, with its reason (spec "Foreign keys",
  "Operations"): one row per entity and legacy id whose rejection_code is set. A view
  over the six target models, so it always says what the latest build decided.
-#}
{{ config(materialized='view') }}

{%- set entities = dispatch_entities() %}

with

{% for entity in entities -%}
{{ entity.target_table }} as (

    select
        '{{ entity.target_table }}' as entity,
        '{{ entity.source_table }}' as source_table,
        target_rows.{{ entity.legacy_key }} as legacy_id,
        target_rows.id as uuid,  -- noqa: RF04
        target_rows.rejection_code,
        target_rows.rejection_reason,
        target_rows.deleted_at,
        {{ dispatch_row_json(entity.target_table, 'target_rows') }} as rejected_row,
        target_rows._built_at as decided_at

    from {{ ref(entity.target_table) }} as target_rows
    where target_rows.rejection_code is not null

),

{% endfor -%}
final as (

    {%- for entity in entities %}

    select * from {{ entity.target_table }}
    {%- if not loop.last %}

    union all
    {%- endif %}
    {%- endfor %}

)

select * from final
