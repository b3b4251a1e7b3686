{#-
  The open PropertyWare work-order statuses (the spec's "Business rules": open
  statuses), as a select of one `status` column, trimmed and lower case.

  Default: the seed pw_open_statuses. Overridable without code, the first
  non-empty of:
    1. the dbt var `pw_open_statuses` (comma-separated text or a list):
       dbt build --vars '{pw_open_statuses: "open,scheduled"}'
    2. the environment variable PW_OPEN_STATUSES (comma-separated):
       PW_OPEN_STATUSES="open,scheduled" dbt build
  An override replaces the whole list; its items are trimmed and lower-cased
  like the statuses they are compared with; blank items are dropped, and an
  override with no item left is no override.

  A model that uses it must also declare the seed, so that the DAG (and the unit
  tests' inputs) do not depend on whether an override is given:
      -- depends_on: {{ ref('pw_open_statuses') }}
-#}
{% macro pw_open_statuses_override() -%}
    {%- set from_var = var('pw_open_statuses', '') -%}
    {%- set from_env = env_var('PW_OPEN_STATUSES', '') -%}
    {%- for candidate in [from_var, from_env] -%}
        {%- if candidate is string -%}
            {%- set items = candidate.split(',') -%}
        {%- elif candidate is iterable -%}
            {%- set items = candidate -%}
        {%- else -%}
            {%- set items = [] -%}
        {%- endif -%}
        {%- set statuses = [] -%}
        {%- for item in items -%}
            {%- set status = (item ~ '') | trim | lower -%}
            {%- if status != '' and status not in statuses -%}
                {%- do statuses.append(status) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- if statuses | length > 0 -%}
            {{ return(statuses) }}
        {%- endif -%}
    {%- endfor -%}
    {{ return(none) }}
{%- endmacro %}


{% macro open_statuses_sql() -%}
    {%- set override = pw_open_statuses_override() -%}
    {%- if override is none -%}
        select {{ normalize_status('status') }} as status
        from {{ ref('pw_open_statuses') }}
    {%- else -%}
        {%- for status in override %}
        select cast({{ dbt.string_literal(status | replace("'", "''")) }} as {{ dbt.type_string() }}) as status
        {%- if not loop.last %}
        union all
        {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}


{#- A status as the rules compare it: trimmed, lower case ('  WO Received ' -> 'wo received'). -#}
{% macro normalize_status(expression) -%}
    lower(trim({{ expression }}))
{%- endmacro %}
