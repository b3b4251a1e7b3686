-- Create pass input of supabase.profiles.create: the target table's columns exactly, in
-- contract order (macro dispatch_target_columns), plus _sync_key and _payload_hash.
with

source_rows as (

    select * from {{ ref('profiles') }}
    where
        rejection_code is null
        and deleted_at is null

),

read_back as (

    select * from {{ ref('stg_supabase__profiles') }}

),

to_create as (

    select source_rows.*

    from source_rows
    left join read_back
        on source_rows.legacy_user_id = read_back.legacy_user_id
    where read_back.legacy_user_id is null

),

final as (

    select
        {%- for name, kind in dispatch_target_columns('profiles') %}
        cast({{ name }} as {{ dispatch_column_type(kind) }}) as {{ name }},
        {%- endfor %}
        cast(legacy_user_id as {{ dbt.type_string() }}) as _sync_key,
        {{ dispatch_payload_hash('profiles') }} as _payload_hash

    from to_create

)

select * from final
