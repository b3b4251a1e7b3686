with

source as (

    select * from {{ source('reverse_etl', 'sync_records') }}

),

renamed as (

    select
        {{ surrogate_key(['run_id', 'sync_key']) }} as sync_record_id,
        cast(run_id as {{ dbt.type_string() }}) as run_id,
        sync_key,
        destination,
        object_name,
        pass as sync_pass,
        record_id,
        outcome,
        payload,
        before_values,
        payload_hash,
        error_code,
        error_message,
        error_fields,
        recorded_at

    from source

)

select * from renamed
