{#-
  The twelve sync views of the dispatch -> Supabase slice
  (models/sync/supabase_<table>_to_create / _to_update): one body per pass, the
  table (`entity_type`, a target table of dispatch_entities()) the only difference.
  Their columns are the target table's exactly, in contract order
  (dispatch_target_columns), plus _sync_key (the legacy id as text) and _payload_hash.
-#}

{#- The entry of dispatch_entities() whose entity type is `entity_type`. -#}
{% macro dispatch_entity(entity_type) -%}
    {%- for entity in dispatch_entities() if entity.entity_type == entity_type -%}
        {{- return(entity) -}}
    {%- endfor -%}
    {{- exceptions.raise_compiler_error('unknown dispatch entity type ' ~ entity_type) -}}
{%- endmacro %}


{#-
  The last CTE of both passes: the target columns cast to their types, the sync key and
  the payload hash of the rows of `relation`.
-#}
{% macro supabase_sync_final(entity_type, relation) -%}
{%- set legacy_key = dispatch_entity(entity_type).legacy_key -%}
final as (

    select
        {%- for name, kind in dispatch_target_columns(entity_type) %}
        cast({{ name }} as {{ dispatch_column_type(kind) }}) as {{ name }},
        {%- endfor %}
        cast({{ legacy_key }} as {{ dbt.type_string() }}) as _sync_key,
        {{ dispatch_payload_hash(entity_type) }} as _payload_hash

    from {{ relation }}

)

select * from final
{%- endmacro %}


{#-
  Create pass input of supabase.<entity_type>.create: the pushable rows (not rejected,
  not deleted in the source) whose legacy id the read-back does not hold.
-#}
{% macro supabase_to_create(entity_type) -%}
{%- set legacy_key = dispatch_entity(entity_type).legacy_key -%}
with

source_rows as (

    select * from {{ ref(entity_type) }}
    where
        rejection_code is null
        and deleted_at is null

),

read_back as (

    select * from {{ ref('stg_supabase__' ~ entity_type) }}

),

to_create as (

    select source_rows.*

    from source_rows
    left join read_back
        on source_rows.{{ legacy_key }} = read_back.{{ legacy_key }}
    where read_back.{{ legacy_key }} is null

),

{{ supabase_sync_final(entity_type, 'to_create') }}
{%- endmacro %}


{#-
  Update pass input of supabase.<entity_type>.update: pushable rows the read-back holds
  whose values differ (is distinct from; from our last push when the read-back predates
  it), minus the rows of an open conflict whose strategy is not source_wins
  (sync_conflicts). A source hard delete arrives here as deleted_at.
-#}
{% macro supabase_to_update(entity_type) -%}
{%- set legacy_key = dispatch_entity(entity_type).legacy_key -%}
with

source_rows as (

    select * from {{ ref(entity_type) }}
    where rejection_code is null

),

read_back as (

    select * from {{ ref('stg_supabase__' ~ entity_type) }}

),

last_pushes as (

    select * from {{ ref('int_dispatch__supabase_last_pushes') }}
    where object_name = '{{ entity_type }}'

),

held as (

    select legacy_id from {{ ref('sync_conflicts') }}
    where
        entity = '{{ entity_type }}'
        and is_open
        and strategy != 'source_wins'

),

to_update as (

    select source_rows.*

    from source_rows
    inner join read_back
        on source_rows.{{ legacy_key }} = read_back.{{ legacy_key }}
    left join last_pushes
        on cast(source_rows.{{ legacy_key }} as {{ dbt.type_string() }}) = last_pushes.sync_key
    where
        {{ dispatch_differs_from_target(entity_type, 'source_rows', 'read_back', 'last_pushes') }}
        and source_rows.{{ legacy_key }} not in (select held.legacy_id from held)

),

{{ supabase_sync_final(entity_type, 'to_update') }}
{%- endmacro %}
