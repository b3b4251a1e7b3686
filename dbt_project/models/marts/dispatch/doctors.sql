{#-
  Target rows of `doctors`, one per legacy doctor: `profile_id` the uuid of the
  doctor's user (required: a user that does not exist in the source rejects the
  doctor), `office_id` the office's uuid (optional: null and a data-quality warning
  when the office does not exist). Incremental: doctors loaded since the last build,
  and doctors of users or offices whose state changed.
-#}
{{ dispatch_target_config('doctors') }}

{#- literals on an incremental build of the table (dispatch_watermark_values) -#}
{%- set since = dispatch_watermark_values(['source_load_id', 'built_at']) %}

{%- set profile = dispatch_foreign_key_rules(
    'profile_id', 'doctors', 'profiles', 'legacy_user_id', 'user_id', 'dispatch_user', true) %}
{%- set office = dispatch_foreign_key_rules(
    'office_id', 'doctors', 'offices', 'legacy_office_id', 'office_id', 'dispatch_office', false) %}
{%- set rules = profile.orphan + office.orphan + profile.parent + office.parent %}

with

{{ dispatch_previous_ctes() -}}
{{ dispatch_changed_keys_cte('doctors', since, [
    ('user_id', 'profiles', 'legacy_user_id'),
    ('office_id', 'offices', 'legacy_office_id'),
]) -}}
doctors as (

    {{ dispatch_source_rows('doctors') }}

),

profiles as (

    select * from {{ ref('profiles') }}

),

offices as (

    select * from {{ ref('offices') }}

),

uuid_mappings as (

    select * from {{ ref('uuid_mappings') }}
    where entity_type = 'doctors'

),

load_ids as (

    select max(dlt_load_id) as source_load_id

    from doctors

),

transformed as (

    select
        uuid_mappings.uuid as id,
        doctors.doctor_id as legacy_doctor_id,
        case
            when {{ dispatch_parent_resolves('doctors', 'profiles', 'legacy_user_id') }} then profiles.id
        end as profile_id,
        case
            when {{ dispatch_parent_resolves('doctors', 'offices', 'legacy_office_id') }} then offices.id
        end as office_id,
        doctors.license_number,
        doctors.specialty,
        doctors.deleted_at,
        doctors.created_at,
        doctors.updated_at,
        {{ dispatch_rejection_columns(rules) }},
        doctors.user_id as source_user_id,
        doctors.office_id as source_office_id

    from doctors
    inner join uuid_mappings
        on doctors.doctor_id = uuid_mappings.legacy_id
    left join profiles
        on doctors.user_id = profiles.legacy_user_id
    left join offices
        on doctors.office_id = offices.legacy_office_id

),

{{ dispatch_target_final('doctors', 'transformed') }}
