{#-
  Target rows of `profiles` (dispatch_user), one per legacy user: columns copied,
  `office_id` the office's uuid. The office is optional: an office that does not
  exist in the source leaves it null (a data-quality warning, not a rejection).
  Incremental: users loaded since the last build, and users of offices whose state
  changed.
-#}
{{ dispatch_target_config('profiles') }}

{#- literals on an incremental build of the table (dispatch_watermark_values) -#}
{%- set since = dispatch_watermark_values(['source_load_id', 'built_at']) %}

{%- set office = dispatch_foreign_key_rules(
    'office_id', 'users', 'offices', 'legacy_office_id', 'office_id', 'dispatch_office', false) %}
{%- set rules = office.orphan + office.parent %}

with

{{ dispatch_previous_ctes() -}}
{{ dispatch_changed_keys_cte('profiles', since, [
    ('office_id', 'offices', 'legacy_office_id'),
]) -}}
users as (

    {{ dispatch_source_rows('profiles') }}

),

offices as (

    select * from {{ ref('offices') }}

),

uuid_mappings as (

    select * from {{ ref('uuid_mappings') }}
    where entity_type = 'profiles'

),

load_ids as (

    select max(dlt_load_id) as source_load_id

    from users

),

transformed as (

    select
        uuid_mappings.uuid as id,
        users.user_id as legacy_user_id,
        users.email,
        users.first_name,
        users.last_name,
        users.user_role as role,  -- noqa: RF04
        case
            when {{ dispatch_parent_resolves('users', 'offices', 'legacy_office_id') }} then offices.id
        end as office_id,
        users.is_active,
        users.deleted_at,
        users.created_at,
        users.updated_at,
        {{ dispatch_rejection_columns(rules) }},
        users.office_id as source_office_id

    from users
    inner join uuid_mappings
        on users.user_id = uuid_mappings.legacy_id
    left join offices
        on users.office_id = offices.legacy_office_id

),

{{ dispatch_target_final('profiles', 'transformed') }}
