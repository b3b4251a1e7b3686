{#-
  Target rows of `cases`, one per legacy instruction (spec "Transformations"):
  `case_type` from type, `status`, `notes`, `submitted_at`, `patient_id` the patient's
  uuid (required: an instruction whose patient does not exist in the source, or is
  rejected, is rejected), `doctor_id` the doctor's uuid (optional: null and a
  data-quality warning when the doctor does not exist; a rejected doctor rejects it).
  Incremental: instructions loaded since the last build, and instructions of patients
  or doctors whose state changed.
-#}
{{ config(
    materialized='incremental',
    unique_key='legacy_instruction_id',
    incremental_strategy='merge',
    on_schema_change='fail',
    indexes=[{'columns': ['legacy_instruction_id'], 'unique': True}],
    pre_hook="{{ dispatch_model_settings() }}",
    post_hook="{{ dispatch_model_analyze() }}"
) }}

{#- literals on an incremental build of the table (dispatch_watermark_values) -#}
{%- set since = dispatch_watermark_values(['source_load_id', 'built_at']) %}

{%- set patient = dispatch_foreign_key_rules(
    'patient_id', 'instructions', 'patients', 'legacy_patient_id', 'patient_id', 'dispatch_patient', true) %}
{%- set doctor = dispatch_foreign_key_rules(
    'doctor_id', 'instructions', 'doctors', 'legacy_doctor_id', 'doctor_id', 'dispatch_doctor', false) %}
{%- set rules = patient.orphan + doctor.orphan + patient.parent + doctor.parent %}

with

{% if is_incremental() -%}
{{ dispatch_watermark_cte() }},

previous as (

    select * from {{ this }}

),

changed_keys as (

    {{ dispatch_changed_keys(
        ref('stg_dispatch__instructions'), 'instruction_id', 'legacy_instruction_id', since,
        [
            ('patient_id', 'patients', 'legacy_patient_id'),
            ('doctor_id', 'doctors', 'legacy_doctor_id'),
        ]
    ) }}

),

{% endif -%}
instructions as (

    select * from {{ ref('stg_dispatch__instructions') }}
    {%- if is_incremental() %}
    where instruction_id in (select changed_keys.changed_key from changed_keys)
    {%- endif %}

),

patients as (

    select * from {{ ref('patients') }}

),

doctors as (

    select * from {{ ref('doctors') }}

),

uuid_mappings as (

    select * from {{ ref('uuid_mappings') }}
    where entity_type = 'cases'

),

load_ids as (

    select max(dlt_load_id) as source_load_id

    from instructions

),

transformed as (

    select
        uuid_mappings.uuid as id,
        instructions.instruction_id as legacy_instruction_id,
        case
            when {{ dispatch_parent_resolves('instructions', 'patients', 'legacy_patient_id') }} then patients.id
        end as patient_id,
        case
            when {{ dispatch_parent_resolves('instructions', 'doctors', 'legacy_doctor_id') }} then doctors.id
        end as doctor_id,
        instructions.instruction_type as case_type,
        instructions.instruction_status as status,
        instructions.notes,
        instructions.submitted_at,
        instructions.deleted_at,
        instructions.created_at,
        instructions.updated_at,
        {{ dispatch_rejection_columns(rules) }},
        instructions.patient_id as source_patient_id,
        instructions.doctor_id as source_doctor_id

    from instructions
    inner join uuid_mappings
        on instructions.instruction_id = uuid_mappings.legacy_id
    left join patients
        on instructions.patient_id = patients.legacy_patient_id
    left join doctors
        on instructions.doctor_id = doctors.legacy_doctor_id

),

final as (

    select
        transformed.*,
        {{ dispatch_state_changed_at('transformed', 'legacy_instruction_id') }} as _state_changed_at,
        {%- if is_incremental() %}
        coalesce(load_ids.source_load_id, watermark.source_load_id) as _source_load_id,
        {%- else %}
        coalesce(load_ids.source_load_id, '') as _source_load_id,
        {%- endif %}
        {{ dispatch_run_started_at() }} as _built_at

    from transformed
    cross join load_ids
    {%- if is_incremental() %}
    cross join watermark
    left join previous
        on transformed.legacy_instruction_id = previous.legacy_instruction_id
    {%- endif %}

)

select * from final
