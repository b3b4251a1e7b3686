-- the target's columns exactly (macro dispatch_target_columns), cast to the target's types
with

source as (

    {{ source_or_empty('supabase', 'doctors') }}

),

renamed as (

    select
        {%- for name, kind in dispatch_target_columns('doctors') %}
        cast({{ name }} as {{ dispatch_column_type(kind) }}) as {{ name }},
        {%- endfor %}
        cast(_dlt_load_id as {{ dbt.type_string() }}) as dlt_load_id,
        {{ dispatch_dlt_loaded_at('_dlt_load_id') }} as dlt_loaded_at

    from source

)

select * from renamed
