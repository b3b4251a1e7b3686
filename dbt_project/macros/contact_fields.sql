{#-
  Contact fields as ServiceFusion takes them (ZIP codes: zip5 in matching.sql).

  Phone numbers as ServiceFusion accepts them: `555-123-4567` (docs: the spec's
  field mapping, contacts). A number is formattable when its digits are exactly
  10, or 11 starting with 1 (the US country code, dropped); anything else
  (too short, an extension, a foreign number) gives null.
-#}

{#- The digits of a text, everything else removed. -#}
{% macro digits_only(expression) -%}
    {{ return(adapter.dispatch('digits_only', 'propsync')(expression)) }}
{%- endmacro %}

{% macro default__digits_only(expression) -%}
    regexp_replace({{ expression }}, '[^0-9]', '')
{%- endmacro %}

{% macro postgres__digits_only(expression) -%}
    regexp_replace({{ expression }}, '[^0-9]', '', 'g')
{%- endmacro %}


{#- 555-123-4567, or null when the number is not a formattable US number. -#}
{% macro format_us_phone(expression) -%}
    {%- set digits = digits_only(expression) | trim -%}
    {%- set ten = 'case when ' ~ (dbt.length(digits) | trim) ~ ' = 10 then ' ~ digits
        ~ ' when ' ~ (dbt.length(digits) | trim) ~ ' = 11 and left(' ~ digits ~ ", 1) = '1' then "
        ~ (dbt.right(digits, 10) | trim) ~ ' end' -%}
    {{ dbt.concat(['left(' ~ ten ~ ', 3)', "'-'", 'substr(' ~ ten ~ ', 4, 3)', "'-'", dbt.right(ten, 4) | trim]) }}
{%- endmacro %}


{#- True when the text holds something other than blanks. -#}
{% macro is_given(expression) -%}
    coalesce(trim({{ expression }}), '') != ''
{%- endmacro %}

