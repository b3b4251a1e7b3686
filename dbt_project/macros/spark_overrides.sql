{#-
  Spark (and Databricks, whose macros fall back to spark__) implementations of dbt's own
  cross-database macros where dbt-spark's differ from what the models rely on. Root-
  project macros take precedence over the adapter's for the `dbt` namespace, so
  `dbt.listagg(...)` in a model resolves here on Spark and nowhere else.
-#}

{#-
  dbt-spark's listagg ignores `order_by_clause` (it warns), so ids would be listed in
  whatever order the rows arrive. Here the values are collected with their sort key,
  sorted, and joined: `order by <expression> [asc|desc]`, one key, as the models write
  it. Like Postgres' string_agg, null values are skipped and a group with no value
  yields null (array_join alone would give '').
-#}
{% macro spark__listagg(measure, delimiter_text, order_by_clause, limit_num) -%}
    {%- set collected -%}
        collect_list({{ measure }})
    {%- endset -%}
    {%- if order_by_clause -%}
        {%- set parsed = modules.re.match(
            '^\s*order\s+by\s+(.+?)(\s+(asc|desc))?\s*$', order_by_clause, modules.re.IGNORECASE) -%}
        {%- if parsed is none or ',' in parsed.group(1) -%}
            {{ exceptions.raise_compiler_error(
                'spark__listagg: one sort key expected, got: ' ~ order_by_clause) }}
        {%- endif -%}
        {%- set sorted -%}
            transform(
                array_sort(collect_list(
                    case when {{ measure }} is not null
                        then named_struct('sort_key', {{ parsed.group(1) }}, 'value', {{ measure }})
                    end
                )),
                listed -> listed.value
            )
        {%- endset -%}
        {%- set collected = ('reverse(' ~ sorted ~ ')')
            if (parsed.group(3) or '') | lower == 'desc' else sorted -%}
    {%- endif -%}
    {%- if limit_num -%}
        {%- set collected = 'slice(' ~ collected ~ ', 1, ' ~ limit_num ~ ')' -%}
    {%- endif -%}
    case when count({{ measure }}) > 0 then array_join({{ collected }}, {{ delimiter_text }}) end
{%- endmacro %}


{#-
  The dispatch -> Supabase slice's version-5 uuid (macros/dispatch_helpers.sql) on
  Spark: RFC 4122's sha1 of the namespace's 16 bytes and the name's UTF-8 bytes, its
  first 16 bytes with the version (5) and variant (10xx) bits set, the same as Python's
  uuid.uuid5. Every model is rendered when dbt parses the project, so without it no
  Spark build parses, whichever models it selects.
-#}
{% macro spark__dispatch_uuid_v5(namespace_expression, name_expression) -%}
    {%- set digest -%}
        sha1(concat(unhex(replace(cast({{ namespace_expression }} as string), '-', '')),
            encode(cast({{ name_expression }} as string), 'UTF-8')))
    {%- endset -%}
    concat_ws('-',
        substr({{ digest }}, 1, 8),
        substr({{ digest }}, 9, 4),
        concat('5', substr({{ digest }}, 14, 3)),
        concat(
            lower(hex((cast(conv(substr({{ digest }}, 17, 1), 16, 10) as int) & 3) | 8)),
            substr({{ digest }}, 18, 3)),
        substr({{ digest }}, 21, 12))
{%- endmacro %}
