{#-
  The structure the six target models of the dispatch -> Supabase slice share
  (models/marts/dispatch/{offices,profiles,doctors,patients,cases,operations}.sql):
  their config, the CTEs of an incremental build (watermark, previous version, changed
  keys, changed source rows) and the final CTE with the build columns. What a table
  does with its rows (columns, foreign keys, rejection rules) stays in its model.
  `entity_type` is a target table of dispatch_entities() (macro dispatch_entity, in
  dispatch_sync_views.sql).
-#}

{#-
  The config of a target model: incremental, merged on its legacy key (unique index),
  schema changes fail the build, the slice's pre- and post-hooks.
-#}
{% macro dispatch_target_config(entity_type) -%}
{%- set legacy_key = dispatch_entity(entity_type).legacy_key -%}
{{ config(
    materialized='incremental',
    unique_key=legacy_key,
    incremental_strategy='merge',
    on_schema_change='fail',
    indexes=[{'columns': [legacy_key], 'unique': True}],
    pre_hook="{{ dispatch_model_settings() }}",
    post_hook="{{ dispatch_model_analyze() }}"
) }}
{%- endmacro %}


{#-
  On an incremental build, the CTEs `watermark` (dispatch_watermark_cte) and `previous`
  (the table as the last build left it), each followed by a comma; nothing otherwise.
-#}
{% macro dispatch_previous_ctes() -%}
{%- if is_incremental() -%}
{{ dispatch_watermark_cte() }},

previous as (

    select * from {{ this }}

),

{% endif -%}
{%- endmacro %}


{#-
  On an incremental build, the CTE `changed_keys` (macro dispatch_changed_keys over the
  entity's staging model, `parents` its (foreign key, parent model, parent key) tuples)
  followed by a comma; the body of a `call` block adds union members of the model's own.
  Nothing otherwise.
-#}
{% macro dispatch_changed_keys_cte(entity_type, watermark, parents=[]) -%}
{%- if is_incremental() -%}
{%- set entity = dispatch_entity(entity_type) -%}
changed_keys as (

    {{ dispatch_changed_keys(
        ref(entity.staging_model), entity.source_key, entity.legacy_key, watermark,
        parents
    ) }}
    {%- if caller is defined %}{{ caller() }}{% endif %}

),

{% endif -%}
{%- endmacro %}


{#-
  The body of the CTE of the entity's source rows: its staging model, on an
  incremental build only the rows of changed_keys.
-#}
{% macro dispatch_source_rows(entity_type) -%}
{%- set entity = dispatch_entity(entity_type) -%}
select * from {{ ref(entity.staging_model) }}
    {%- if is_incremental() %}
    where {{ entity.source_key }} in (select changed_keys.changed_key from changed_keys)
    {%- endif %}
{%- endmacro %}


{#-
  The last CTE of a target model and its select: the rows of `relation` with their
  build columns, _state_changed_at (dispatch_state_changed_at), _source_load_id (the
  CTE `load_ids`' latest load id, else the watermark's) and _built_at.
-#}
{% macro dispatch_target_final(entity_type, relation) -%}
{%- set legacy_key = dispatch_entity(entity_type).legacy_key -%}
final as (

    select
        {{ relation }}.*,
        {{ dispatch_state_changed_at(relation, legacy_key) }} as _state_changed_at,
        {%- if is_incremental() %}
        coalesce(
            (select load_ids.source_load_id from load_ids),
            (select watermark.source_load_id from watermark)
        ) as _source_load_id,
        {%- else %}
        coalesce((select load_ids.source_load_id from load_ids), '') as _source_load_id,
        {%- endif %}
        {{ dispatch_run_started_at() }} as _built_at

    from {{ relation }}
    {%- if is_incremental() %}
    left join previous
        on {{ relation }}.{{ legacy_key }} = previous.{{ legacy_key }}
    {%- endif %}

)

select * from final
{%- endmacro %}
