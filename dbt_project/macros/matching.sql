{#-
  Matching helpers of the PropertyWare <-> ServiceFusion dedup
  (/work/shared/spec/propertyware_servicefusion.md, "Deduplication" and "Match
  scores"). String similarity stays in SQL: Levenshtein comes from Postgres'
  fuzzystrmatch extension (created by create_matching_extensions(), from
  on-run-start and the scoring models' pre_hook) and from the builtin
  `levenshtein` elsewhere (Spark, Databricks, Snowflake, DuckDB).
-#}

{#-
  `create extension if not exists fuzzystrmatch` on Postgres, nothing elsewhere.
  Safe when several models (threads) run it at once: the race's duplicate error
  is swallowed. Called from on-run-start (unit tests need it before any model is
  built) and from the scoring models' pre_hook.
-#}
{% macro create_matching_extensions() -%}
    {%- if target.type == 'postgres' -%}
        do $$ begin create extension if not exists fuzzystrmatch;
        exception when unique_violation or duplicate_object then null; end $$
    {%- endif -%}
{%- endmacro %}


{#- Every match of a regular expression replaced (Postgres needs the 'g' flag). -#}
{% macro regexp_replace_all(expression, pattern, replacement) -%}
    {{ return(adapter.dispatch('regexp_replace_all', 'propsync')(expression, pattern, replacement)) }}
{%- endmacro %}

{% macro default__regexp_replace_all(expression, pattern, replacement) -%}
    regexp_replace({{ expression }}, '{{ pattern }}', '{{ replacement }}')
{%- endmacro %}

{% macro postgres__regexp_replace_all(expression, pattern, replacement) -%}
    regexp_replace({{ expression }}, '{{ pattern }}', '{{ replacement }}', 'g')
{%- endmacro %}


{#- Lower case, punctuation removed, whitespace collapsed and trimmed; '' for null. -#}
{% macro normalize_name(expression) -%}
    trim({{ regexp_replace_all(
        regexp_replace_all('lower(coalesce(' ~ expression ~ ", ''))", '[^a-z0-9[:space:]]', ''),
        '[[:space:]]+', ' ') }})
{%- endmacro %}


{#-
  The address form of the spec: street and street2 combined, lower case, `#` ->
  unit, punctuation stripped, street -> st, avenue -> ave, suite / unit / apt ->
  unit, whitespace collapsed. The word replacements work on the space-padded
  text with dbt.replace, so they are whole words on every adapter. ZIP codes are
  compared apart (zip5).
-#}
{% macro normalize_address(street, street2) -%}
    {%- set combined = "coalesce(" ~ street ~ ", '') || ' ' || coalesce(" ~ street2 ~ ", '')" -%}
    {%- set hashes = "replace(lower(" ~ combined ~ "), '#', ' unit ')" -%}
    {%- set words = "' ' || " ~ regexp_replace_all(
        regexp_replace_all(hashes, '[^a-z0-9[:space:]]', ''), '[[:space:]]+', ' ') ~ " || ' '" -%}
    {%- set state = namespace(text=words) -%}
    {%- for word, short in [('street', 'st'), ('avenue', 'ave'), ('suite', 'unit'), ('apt', 'unit')] -%}
        {#- twice: a word right after a replaced one lost its leading space to the first pass -#}
        {%- set state.text = "replace(replace(" ~ state.text ~ ", ' " ~ word ~ " ', ' " ~ short ~ " '), ' "
            ~ word ~ " ', ' " ~ short ~ " ')" -%}
    {%- endfor -%}
    trim({{ regexp_replace_all(state.text, '[[:space:]]+', ' ') }})
{%- endmacro %}


{#- The first five digits of a postal code; null when it has none. -#}
{% macro zip5(expression) -%}
    nullif(left({{ regexp_replace_all('coalesce(' ~ expression ~ ", '')", '[^0-9]', '') }}, 5), '')
{%- endmacro %}


{#- Levenshtein distance of two texts (Postgres: at most 255 characters each, so both are cut there). -#}
{% macro levenshtein(left_expression, right_expression) -%}
    {{ return(adapter.dispatch('levenshtein', 'propsync')(left_expression, right_expression)) }}
{%- endmacro %}

{% macro default__levenshtein(left_expression, right_expression) -%}
    levenshtein({{ left_expression }}, {{ right_expression }})
{%- endmacro %}

{% macro postgres__levenshtein(left_expression, right_expression) -%}
    levenshtein(left({{ left_expression }}, 255), left({{ right_expression }}, 255))
{%- endmacro %}


{#-
  Name similarity of the spec: 1 - levenshtein(a, b) / greatest(len(a), len(b))
  on normalized names, 1 for two empty names; numeric, six decimals.
-#}
{% macro name_similarity(left_expression, right_expression) -%}
    {%- set left_name = normalize_name(left_expression) -%}
    {%- set right_name = normalize_name(right_expression) -%}
    cast(case
        when greatest({{ dbt.length(left_name) }}, {{ dbt.length(right_name) }}) = 0 then 1
        else 1 - cast({{ levenshtein(left_name, right_name) }} as {{ dbt.type_numeric() }})
            / greatest({{ dbt.length(left_name) }}, {{ dbt.length(right_name) }})
    end as {{ dbt.type_numeric() }})
{%- endmacro %}


{#- match (>= match threshold), review (>= review threshold) or create. -#}
{% macro match_decision(score, rules_alias='rules') -%}
    case
        when {{ score }} >= {{ rules_alias }}.match_threshold then 'match'
        when {{ score }} >= {{ rules_alias }}.review_threshold then 'review'
        else 'create'
    end
{%- endmacro %}


{#- A JSON array of `expression` over the group, ordered by `order_by`; [] when empty. -#}
{% macro json_array_agg(expression, order_by) -%}
    {{ return(adapter.dispatch('json_array_agg', 'propsync')(expression, order_by)) }}
{%- endmacro %}

{% macro default__json_array_agg(expression, order_by) -%}
    to_json(collect_list({{ expression }}))
{%- endmacro %}

{% macro postgres__json_array_agg(expression, order_by) -%}
    coalesce(jsonb_agg({{ expression }} order by {{ order_by }}), cast('[]' as jsonb))
{%- endmacro %}
