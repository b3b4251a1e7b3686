-- Create pass input of supabase.operations.create: the target table's columns exactly, in
-- contract order (macro dispatch_target_columns), plus _sync_key and _payload_hash.
with

source_rows as (

    select * from {{ ref('operations') }}
    where
        rejection_code is null
        and deleted_at is null

),

read_back as (

    select * from {{ ref('stg_supabase__operations') }}

),

to_create as (

    select source_rows.*

    from source_rows
    left join read_back
        on source_rows.legacy_operation_id = read_back.legacy_operation_id
    where read_back.legacy_operation_id is null

),

final as (

    select
        {%- for name, kind in dispatch_target_columns('operations') %}
        cast({{ name }} as {{ dispatch_column_type(kind) }}) as {{ name }},
        {%- endfor %}
        cast(legacy_operation_id as {{ dbt.type_string() }}) as _sync_key,
        {{ dispatch_payload_hash('operations') }} as _payload_hash

    from to_create

)

select * from final
