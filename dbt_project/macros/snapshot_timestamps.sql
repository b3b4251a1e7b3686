{#-
  Snapshot time as timestamp WITH time zone on Postgres. dbt-postgres uses
  `now()::timestamp without time zone`, which mixes with our sources'
  timestamptz `updated_at` columns (dbt warns about it, and a hard-delete
  invalidation would be written in the session's local time). Root-project
  macros take precedence over the adapter's.
-#}
{% macro postgres__snapshot_get_time() -%}
    {{ current_timestamp() }}
{%- endmacro %}

{% macro postgres__snapshot_string_as_time(timestamp) -%}
    {%- set result = "'" ~ timestamp ~ "'::timestamp with time zone" -%}
    {{ return(result) }}
{%- endmacro %}
