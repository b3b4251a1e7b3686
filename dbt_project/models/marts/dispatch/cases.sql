{#-
  Target rows of `cases`, one per legacy instruction (spec "Transformations"):
  `case_type` from type, `status`, `notes`, `submitted_at`, `patient_id` the patient's
  uuid (required: an instruction whose patient does not exist in the source, or is
  rejected, is rejected), `doctor_id` the doctor's uuid (optional: null and a
  data-quality warning when the doctor does not exist; a rejected doctor rejects it).
  Incremental: instructions loaded since the last build, and instructions of patients
  or doctors whose state changed.
-#}
{{ dispatch_target_config('cases') }}

{#- literals on an incremental build of the table (dispatch_watermark_values) -#}
{%- set since = dispatch_watermark_values(['source_load_id', 'built_at']) %}

{%- set patient = dispatch_foreign_key_rules(
    'patient_id', 'instructions', 'patients', 'legacy_patient_id', 'patient_id', 'dispatch_patient', true) %}
{%- set doctor = dispatch_foreign_key_rules(
    'doctor_id', 'instructions', 'doctors', 'legacy_doctor_id', 'doctor_id', 'dispatch_doctor', false) %}
{%- set rules = patient.orphan + doctor.orphan + patient.parent + doctor.parent %}

with

{{ dispatch_previous_ctes() -}}
{{ dispatch_changed_keys_cte('cases', since, [
    ('patient_id', 'patients', 'legacy_patient_id'),
    ('doctor_id', 'doctors', 'legacy_doctor_id'),
]) -}}
instructions as (

    {{ dispatch_source_rows('cases') }}

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

{{ dispatch_target_final('cases', 'transformed') }}
