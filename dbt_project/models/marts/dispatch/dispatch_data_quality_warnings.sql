{#-
  Data-quality warnings (spec "Foreign keys"): one row per pushable row and optional
  foreign key whose legacy value names a parent the source does not hold (missing, or
  hard-deleted while the row is not): the row is pushed with that column null. A view
  over the target models.
-#}
{{ config(materialized='view') }}

{#- (entity, model, legacy key, target column, source column, parent source table) -#}
{%- set optional_keys = [
    ('profiles', 'legacy_user_id', 'office_id', 'source_office_id', 'dispatch_office'),
    ('doctors', 'legacy_doctor_id', 'office_id', 'source_office_id', 'dispatch_office'),
    ('patients', 'legacy_patient_id', 'profile_id', 'source_user_id', 'dispatch_user'),
    ('patients', 'legacy_patient_id', 'doctor_id', 'source_doctor_id', 'dispatch_doctor'),
    ('cases', 'legacy_instruction_id', 'doctor_id', 'source_doctor_id', 'dispatch_doctor'),
] %}

with

{% for entity, key, column, source_column, parent_table in optional_keys -%}
{{ entity }}_{{ column }} as (

    select
        '{{ entity }}' as entity,
        {{ key }} as legacy_id,
        id as uuid,  -- noqa: RF04
        '{{ column }}' as column_name,
        '{{ parent_table }}' as parent_table,
        {{ source_column }} as parent_legacy_id,
        {{ dbt.concat(["'" ~ column ~ ": " ~ parent_table ~ " '", dbt.cast(source_column, dbt.type_string()),
            "' does not exist in the source (or was deleted): pushed as null'"]) }} as warning,
        _built_at as detected_at

    from {{ ref(entity) }}
    where
        rejection_code is null
        and {{ source_column }} is not null
        and {{ column }} is null

),

{% endfor -%}
final as (

    select
        {{ dbt.concat(['entity', "':'", dbt.cast('legacy_id', dbt.type_string()), "':'", 'column_name']) }}
            as warning_id,
        warnings.*

    from (
        {%- for entity, key, column, source_column, parent_table in optional_keys %}
        select * from {{ entity }}_{{ column }}
        {%- if not loop.last %}
        union all
        {%- endif %}
        {%- endfor %}
    ) as warnings

)

select * from final
