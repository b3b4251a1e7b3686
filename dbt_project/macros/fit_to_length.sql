{#-
  Values cut to fit a destination field, and the record of which were cut
  (docs/warehouse.md, "Sync views": the control column `_truncated_fields`).

  A destination refuses a text longer than its field (Salesforce:
  STRING_TOO_LONG), so the models cut such a value; the cut must not be silent.
  One rule in one place: a model cuts a value only through fit_to_length, which
  returns the cut expression AND appends the field to `cuts`, a list the model
  owns; truncated_fields(cuts), rendered after every cut of the model, turns the
  list into the comma-joined names of the fields whose value was cut in the row.
  A field cannot be cut without being reported.

      {%- set cuts = [] %}
      select
          {{ fit_to_length('property_name', 80, 'Name', cuts) }} as product_property_name,
          {{ truncated_fields(cuts) }} as truncated_fields

  Lengths are in characters, as destinations count them (dbt.length is
  character_length on every adapter dbt supports).
-#}
{% macro fit_to_length(expression, max_length, field, cuts) -%}
    {#- The name lands in a comma-joined list and in a string literal: keep it plain. -#}
    {%- if not modules.re.match('^[A-Za-z][A-Za-z0-9_]*$', field ~ '') -%}
        {{ exceptions.raise_compiler_error('fit_to_length: not a field name: ' ~ field) }}
    {%- endif -%}
    {%- if not (max_length is integer and max_length > 0) -%}
        {{ exceptions.raise_compiler_error(
            'fit_to_length: the length of ' ~ field ~ ' must be a positive integer') }}
    {%- endif -%}
    {%- do cuts.append({'field': field, 'expression': expression, 'max_length': max_length}) -%}
    {{ return(adapter.dispatch('fit_to_length', 'propsync')(expression, max_length)) }}
{%- endmacro %}

{#- `left` exists on Postgres, Snowflake, BigQuery, Redshift, Databricks and Spark. -#}
{% macro default__fit_to_length(expression, max_length) -%}
    left({{ expression }}, {{ max_length }})
{%- endmacro %}


{#-
  The destination fields of `cuts` (fit_to_length's list) whose value is longer
  than its field in this row, comma-joined without spaces in the order they were
  cut; null when none was. The uncut expression is measured, so a value of
  exactly the field's length is not reported.

  Portable: each field contributes ',<field>' or '', the pieces are concatenated
  (dbt.concat) and the leading comma is dropped with dbt.right; an empty result
  is null.
-#}
{% macro truncated_fields(cuts) -%}
    {%- if cuts | length == 0 -%}
        cast(null as {{ dbt.type_string() }})
    {%- else -%}
        {%- set pieces = [] -%}
        {%- for cut in cuts -%}
            {%- do pieces.append(
                'case when ' ~ (dbt.length(cut.expression) | trim) ~ ' > ' ~ cut.max_length
                ~ ' then ' ~ dbt.string_literal(',' ~ cut.field) ~ " else '' end") -%}
        {%- endfor -%}
        {%- set joined = 'nullif(' ~ ((dbt.concat(pieces) | trim) if pieces | length > 1 else pieces[0]) ~ ", '')" -%}
        cast({{ dbt.right(joined, (dbt.length(joined) | trim) ~ ' - 1') | trim }} as {{ dbt.type_string() }})
    {%- endif -%}
{%- endmacro %}
