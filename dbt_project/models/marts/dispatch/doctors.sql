{#-
  Target rows of `doctors`, one per legacy doctor: `profile_id` the uuid of the
  doctor's user (required: a user that does not exist in the source rejects the
  doctor), `office_id` the office's uuid (optional: null and a data-quality warning
  when the office does not exist). Incremental: doctors loaded since the last build,
  and doctors of users or offices whose state changed.
-#}
{{ config(
    materialized='incremental',
    unique_key='legacy_doctor_id',
    incremental_strategy='merge',
    on_schema_change='fail',
    indexes=[{'columns': ['legacy_doctor_id'], 'unique': True}],
    pre_hook="{{ dispatch_model_settings() }}",
    post_hook="{{ dispatch_model_analyze() }}"
) }}

{#- literals on an incremental build of the table (dispatch_watermark_values) -#}
{%- set since = dispatch_watermark_values(['source_load_id', 'built_at']) %}

{%- set profile = dispatch_foreign_key_rules(
    'profile_id', 'doctors', 'profiles', 'legacy_user_id', 'user_id', 'dispatch_user', true) %}
{%- set office = dispatch_foreign_key_rules(
    'office_id', 'doctors', 'offices', 'legacy_office_id', 'office_id', 'dispatch_office', false) %}
{%- set rules = profile.orphan + office.orphan + profile.parent + office.parent %}

with

{% if is_incremental() -%}
{{ dispatch_watermark_cte() }},

previous as (

    select * from {{ this }}

),

changed_keys as (

    {{ dispatch_changed_keys(
        ref('stg_dispatch__doctors'), 'doctor_id', 'legacy_doctor_id', since,
        [
            ('user_id', 'profiles', 'legacy_user_id'),
            ('office_id', 'offices', 'legacy_office_id'),
        ]
    ) }}

),

{% endif -%}
doctors as (

    select * from {{ ref('stg_dispatch__doctors') }}
    {%- if is_incremental() %}
    where doctor_id in (select changed_keys.changed_key from changed_keys)
    {%- endif %}

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

final as (

    select
        transformed.*,
        {{ dispatch_state_changed_at('transformed', 'legacy_doctor_id') }} as _state_changed_at,
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
        on transformed.legacy_doctor_id = previous.legacy_doctor_id
    {%- endif %}

)

select * from final
