{#- Calendar parts dbt's cross-database macros do not cover (dim_date). -#}

{#- ISO day of week: 1 = Monday .. 7 = Sunday. -#}
{% macro iso_day_of_week(date_expression) -%}
    {{ return(adapter.dispatch('iso_day_of_week', 'propsync')(date_expression)) }}
{%- endmacro %}

{% macro default__iso_day_of_week(date_expression) -%}
    extract(dayofweekiso from {{ date_expression }})
{%- endmacro %}

{% macro postgres__iso_day_of_week(date_expression) -%}
    extract(isodow from {{ date_expression }})
{%- endmacro %}

{% macro bigquery__iso_day_of_week(date_expression) -%}
    mod(extract(dayofweek from {{ date_expression }}) + 5, 7) + 1
{%- endmacro %}


{#- Day of the year, 1 .. 366. -#}
{% macro day_of_year(date_expression) -%}
    {{ return(adapter.dispatch('day_of_year', 'propsync')(date_expression)) }}
{%- endmacro %}

{% macro default__day_of_year(date_expression) -%}
    extract(dayofyear from {{ date_expression }})
{%- endmacro %}

{% macro postgres__day_of_year(date_expression) -%}
    extract(doy from {{ date_expression }})
{%- endmacro %}
