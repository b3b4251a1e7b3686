{#-
  Target rows of `patients`, one per legacy patient (spec "Transformations"):
  - `office_id` (required), `profile_id` (from user_id) and `doctor_id` (optional):
    the parents' uuids; a required parent that does not exist rejects the patient, an
    optional one becomes null (a data-quality warning); a rejected parent rejects it.
  - `status`: the name of its dispatch_patient_status mapped through the seed
    patient_status_map; an unknown status id or an unmapped name rejects the patient.
  - `treatment_phase`, first rule that applies: completed when the (legacy) status is
    completed; not_started without an instruction; retention when the latest
    instruction (int_dispatch__patient_latest_instructions) is a retainer; else active.
  - `legacy_data`: legacy_id, source_table (dispatch_patient), original_status_id.
  Incremental: patients loaded since the last build, patients of offices, profiles
  or doctors whose state changed, patients whose status name or mapped status changed
  (the status table and the seed are compared, not their load ids), and patients whose
  latest instruction changed.
-#}
{{ dispatch_target_config('patients') }}

{#- literals on an incremental build of the table (dispatch_watermark_values) -#}
{%- set since = dispatch_watermark_values(['source_load_id', 'built_at']) %}

{%- set office = dispatch_foreign_key_rules(
    'office_id', 'patients', 'offices', 'legacy_office_id', 'office_id', 'dispatch_office', true) %}
{%- set profile = dispatch_foreign_key_rules(
    'profile_id', 'patients', 'profiles', 'legacy_user_id', 'user_id', 'dispatch_user', false) %}
{%- set doctor = dispatch_foreign_key_rules(
    'doctor_id', 'patients', 'doctors', 'legacy_doctor_id', 'doctor_id', 'dispatch_doctor', false) %}
{#- the status is required too: a status id the source does not hold is an orphan -#}
{%- set status_orphan = {
    'when': 'statuses.patient_status_id is null',
    'code': 'orphan_status_id',
    'reason': dbt.concat(["'status_id: dispatch_patient_status '",
                          dbt.cast('patients.status_id', dbt.type_string()),
                          "' does not exist in the source'"])} %}
{%- set unmapped = {
    'when': 'status_map.legacy_status is null',
    'code': 'unmapped_status',
    'reason': dbt.concat(["'status: '", "coalesce(statuses.status_name, 'null')",
                          "' has no row in the seed patient_status_map'"])} %}
{%- set rules = office.orphan + [status_orphan] + office.parent + profile.parent + doctor.parent + [unmapped] %}

with

{{ dispatch_previous_ctes() -}}
all_statuses as (

    select * from {{ ref('stg_dispatch__patient_statuses') }}

),

latest_instructions as (

    select * from {{ ref('int_dispatch__patient_latest_instructions') }}

),

-- a status the source no longer holds does not exist
statuses as (

    select * from all_statuses
    where deleted_at is null

),

status_map as (

    select * from {{ ref('patient_status_map') }}

),

{% call dispatch_changed_keys_cte('patients', since, [
    ('office_id', 'offices', 'legacy_office_id'),
    ('user_id', 'profiles', 'legacy_user_id'),
    ('doctor_id', 'doctors', 'legacy_doctor_id'),
]) %}

    union

    -- the status table is replaced whole by every extract (its load id says nothing):
    -- a patient is computed again when its status name or its mapped status changed
    select previous.legacy_patient_id as changed_key
    from previous
    left join statuses
        on previous.source_status_id = statuses.patient_status_id
    left join status_map
        on statuses.status_name = status_map.legacy_status
    where
        previous.source_status_name is distinct from statuses.status_name
        or previous.status is distinct from status_map.target_status

    union

    -- the latest instruction changed (the phase may follow)
    select latest_instructions.patient_id as changed_key
    from latest_instructions
    where latest_instructions._changed_at > {{ since.built_at }}

{%- endcall -%}
patients as (

    {{ dispatch_source_rows('patients') }}

),

offices as (

    select * from {{ ref('offices') }}

),

profiles as (

    select * from {{ ref('profiles') }}

),

doctors as (

    select * from {{ ref('doctors') }}

),

uuid_mappings as (

    select * from {{ ref('uuid_mappings') }}
    where entity_type = 'patients'

),

load_ids as (

    select max(dlt_load_id) as source_load_id

    from patients

),

joined as (

    select
        uuid_mappings.uuid as id,
        patients.patient_id as legacy_patient_id,
        case
            when {{ dispatch_parent_resolves('patients', 'offices', 'legacy_office_id') }} then offices.id
        end as office_id,
        case
            when {{ dispatch_parent_resolves('patients', 'profiles', 'legacy_user_id') }} then profiles.id
        end as profile_id,
        case
            when {{ dispatch_parent_resolves('patients', 'doctors', 'legacy_doctor_id') }} then doctors.id
        end as doctor_id,
        patients.patient_number,
        patients.first_name,
        patients.last_name,
        patients.birth_date,
        status_map.target_status as status,
        case
            -- the legacy status name: the phase keeps its meaning when the seed renames statuses
            when statuses.status_name = 'completed' then 'completed'
            when latest_instructions.latest_instruction_id is null then 'not_started'
            when latest_instructions.latest_instruction_type = 'retainer' then 'retention'
            else 'active'
        end as treatment_phase,
        {{ json_object([
            ('legacy_id', 'patients.patient_id'),
            ('source_table', "'dispatch_patient'"),
            ('original_status_id', 'patients.status_id'),
        ]) }} as legacy_data,
        patients.deleted_at,
        patients.created_at,
        patients.updated_at,
        {{ dispatch_rejection_columns(rules) }},
        patients.office_id as source_office_id,
        patients.user_id as source_user_id,
        patients.doctor_id as source_doctor_id,
        patients.status_id as source_status_id,
        statuses.status_name as source_status_name,
        latest_instructions.latest_instruction_id

    from patients
    inner join uuid_mappings
        on patients.patient_id = uuid_mappings.legacy_id
    left join offices
        on patients.office_id = offices.legacy_office_id
    left join profiles
        on patients.user_id = profiles.legacy_user_id
    left join doctors
        on patients.doctor_id = doctors.legacy_doctor_id
    left join statuses
        on patients.status_id = statuses.patient_status_id
    left join status_map
        on statuses.status_name = status_map.legacy_status
    left join latest_instructions
        on patients.patient_id = latest_instructions.patient_id

),

{{ dispatch_target_final('patients', 'joined') }}
