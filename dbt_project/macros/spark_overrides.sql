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
