{#-
  Small cross-database helpers the dbt cross-database macros do not cover.
  Each dispatches through adapter.dispatch, so another warehouse is one more
  `<adapter>__` implementation, not a model change.
-#}

{#- The UTC calendar date of a timestamp with time zone, whatever the session time zone. -#}
{% macro utc_date(timestamp_expression) -%}
    {{ return(adapter.dispatch('utc_date', 'propsync')(timestamp_expression)) }}
{%- endmacro %}

{% macro default__utc_date(timestamp_expression) -%}
    cast({{ timestamp_expression }} at time zone 'UTC' as date)
{%- endmacro %}

{% macro postgres__utc_date(timestamp_expression) -%}
    cast(timezone('UTC', {{ timestamp_expression }}) as date)
{%- endmacro %}

{% macro snowflake__utc_date(timestamp_expression) -%}
    cast(convert_timezone('UTC', {{ timestamp_expression }}) as date)
{%- endmacro %}

{% macro bigquery__utc_date(timestamp_expression) -%}
    date({{ timestamp_expression }}, 'UTC')
{%- endmacro %}

{#- Spark (and Databricks): whole days since the epoch, so the session time zone never
    enters (a cast or to_date would read the instant in it). -#}
{% macro spark__utc_date(timestamp_expression) -%}
    date_from_unix_date(cast(floor(unix_seconds({{ timestamp_expression }}) / 86400) as int))
{%- endmacro %}


{#- A timestamp type that keeps the instant (dbt.type_timestamp() is timestamp without time zone on Postgres). -#}
{% macro type_timestamp_tz() -%}
    {{ return(adapter.dispatch('type_timestamp_tz', 'propsync')()) }}
{%- endmacro %}

{% macro default__type_timestamp_tz() -%}
    {{ dbt.type_timestamp() }}
{%- endmacro %}

{% macro postgres__type_timestamp_tz() -%}
    timestamp with time zone
{%- endmacro %}

{% macro snowflake__type_timestamp_tz() -%}
    timestamp_tz
{%- endmacro %}


{#-
  A JSON object from (key, expression) pairs; null values are kept as JSON null,
  dates become "YYYY-MM-DD". Used for the `_before` column of update views.
-#}
{% macro json_object(pairs) -%}
    {{ return(adapter.dispatch('json_object', 'propsync')(pairs)) }}
{%- endmacro %}

{% macro default__json_object(pairs) -%}
    {{ exceptions.raise_compiler_error('json_object is not implemented for ' ~ target.type) }}
{%- endmacro %}

{% macro postgres__json_object(pairs) -%}
    {#- jsonb_build_object takes at most 100 arguments: build chunks of 50 pairs and merge them. -#}
    {%- for chunk in pairs | batch(50) -%}
        jsonb_build_object(
        {%- for key, expression in chunk %}
            {{ dbt.string_literal(key) }}, {{ expression }}{% if not loop.last %},{% endif %}
        {%- endfor %}
        ){% if not loop.last %} || {% endif %}
    {%- endfor -%}
{%- endmacro %}

{#-
  Spark (and Databricks): the text Postgres gives for the jsonb, so a sync view's rows
  are the same on both: keys shorter first, then in byte order, `"key": value` pairs
  joined by ', '. Each value is rendered by to_json, as the only field of a struct
  (`{"v":<value>}`, null kept), and cut out of it.
-#}
{% macro spark__json_object(pairs) -%}
    {%- set keyed = [] -%}
    {%- for key, expression in pairs -%}
        {%- do keyed.append({'key': key, 'size': key | length, 'expression': expression}) -%}
    {%- endfor -%}
    {%- set ordered = keyed | sort(attribute='key', case_sensitive=true) | sort(attribute='size') -%}
    concat('{', concat_ws(', ',
    {%- for pair in ordered %}
        concat({{ dbt.string_literal('"' ~ pair.key ~ '": ') }}, regexp_extract(
            to_json(named_struct('v', {{ pair.expression }}), map('ignoreNullFields', 'false')),
            '(?s)^[{]"v":(.*)[}]$', 1)){% if not loop.last %},{% endif %}
    {%- endfor %}
    ), '}')
{%- endmacro %}

{% macro snowflake__json_object(pairs) -%}
    object_construct_keep_null(
    {%- for key, expression in pairs %}
        {{ dbt.string_literal(key) }}, {{ expression }}{% if not loop.last %},{% endif %}
    {%- endfor %}
    )
{%- endmacro %}


{#-
  A stable md5 of a list of column expressions (the approach of
  dbt_utils.generate_surrogate_key, which we cannot install offline): each value
  cast to text, nulls replaced by a marker, joined with '-'.
-#}
{% macro surrogate_key(expressions) -%}
    {%- set parts = [] -%}
    {%- for expression in expressions -%}
        {%- do parts.append(
            "coalesce(cast(" ~ expression ~ " as " ~ dbt.type_string() ~ "), '_propsync_null_')") -%}
        {%- if not loop.last -%}
            {%- do parts.append("'-'") -%}
        {%- endif -%}
    {%- endfor -%}
    {{ dbt.hash(dbt.concat(parts)) }}
{%- endmacro %}


{#-
  The current time. Models call this instead of dbt.current_timestamp() so that
  unit tests can pin "now" with `overrides: macros: propsync_now: ...`.
-#}
{% macro propsync_now() -%}
    {{ dbt.current_timestamp() }}
{%- endmacro %}
