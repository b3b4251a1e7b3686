-- Update pass input of supabase.offices.update: pushable rows the read-back holds whose
-- values differ (is distinct from; from our last push when the read-back predates it),
-- minus the rows of an open conflict whose strategy is not source_wins (sync_conflicts).
-- A source hard delete arrives here as deleted_at.
with

source_rows as (

    select * from {{ ref('offices') }}
    where rejection_code is null

),

read_back as (

    select * from {{ ref('stg_supabase__offices') }}

),

last_pushes as (

    select * from {{ ref('int_dispatch__supabase_last_pushes') }}
    where object_name = 'offices'

),

held as (

    select legacy_id from {{ ref('sync_conflicts') }}
    where
        entity = 'offices'
        and is_open
        and strategy != 'source_wins'

),

to_update as (

    select source_rows.*

    from source_rows
    inner join read_back
        on source_rows.legacy_office_id = read_back.legacy_office_id
    left join last_pushes
        on cast(source_rows.legacy_office_id as {{ dbt.type_string() }}) = last_pushes.sync_key
    where
        {{ dispatch_differs_from_target('offices', 'source_rows', 'read_back', 'last_pushes') }}
        and source_rows.legacy_office_id not in (select held.legacy_id from held)

),

final as (

    select
        {%- for name, kind in dispatch_target_columns('offices') %}
        cast({{ name }} as {{ dispatch_column_type(kind) }}) as {{ name }},
        {%- endfor %}
        cast(legacy_office_id as {{ dbt.type_string() }}) as _sync_key,
        {{ dispatch_payload_hash('offices') }} as _payload_hash

    from to_update

)

select * from final
