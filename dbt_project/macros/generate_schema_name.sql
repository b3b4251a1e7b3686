{#-
  Custom schema names are used exactly as given (docs/warehouse.md, "Schemas"): a model
  configured with `schema: sync` lands in `sync`, not `<target schema>_sync`.
  Nodes without a custom schema land in the target schema (`staging`).
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema | trim }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
