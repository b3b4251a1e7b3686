{#-
  Target rows of `offices` (contracts.md section 7), one per legacy office, deleted and
  rejected ones included: columns copied, `id` from uuid_mappings. Offices have no
  foreign key, so none is rejected. Incremental: only offices loaded since the last
  build are computed again.
-#}
{{ dispatch_target_config('offices') }}

{#- literals on an incremental build of the table (dispatch_watermark_values) -#}
{%- set since = dispatch_watermark_values(['source_load_id', 'built_at']) %}

with

{{ dispatch_previous_ctes() -}}
{{ dispatch_changed_keys_cte('offices', since) -}}
offices as (

    {{ dispatch_source_rows('offices') }}

),

uuid_mappings as (

    select * from {{ ref('uuid_mappings') }}
    where entity_type = 'offices'

),

load_ids as (

    select max(dlt_load_id) as source_load_id

    from offices

),

transformed as (

    select
        uuid_mappings.uuid as id,
        offices.office_id as legacy_office_id,
        offices.office_name as name,  -- noqa: RF04
        offices.address,
        offices.phone,
        offices.timezone,  -- noqa: RF04
        offices.is_active,
        offices.deleted_at,
        offices.created_at,
        offices.updated_at,
        {{ dispatch_rejection_columns([]) }}

    from offices
    inner join uuid_mappings
        on offices.office_id = uuid_mappings.legacy_id

),

{{ dispatch_target_final('offices', 'transformed') }}
