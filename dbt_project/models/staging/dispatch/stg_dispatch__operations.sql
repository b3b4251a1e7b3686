with

source as (

    {{ source_or_empty('dispatch', 'dispatch_operation') }}

),

renamed as (

    select
        cast(id as {{ dbt.type_int() }}) as operation_id,
        cast(patient_id as {{ dbt.type_int() }}) as patient_id,
        cast(instruction_id as {{ dbt.type_int() }}) as instruction_id,
        cast(type as {{ dbt.type_string() }}) as operation_type,
        -- text as the legacy app stores it: parsed in the operations model
        cast(price as {{ dbt.type_string() }}) as price,
        cast(sq_order_id as {{ dbt.type_string() }}) as sq_order_id,
        cast(sq_payment_id as {{ dbt.type_string() }}) as sq_payment_id,
        cast(sq_refund_id as {{ dbt.type_string() }}) as sq_refund_id,
        cast(card_brand as {{ dbt.type_string() }}) as card_brand,
        cast(card_bin as {{ dbt.type_string() }}) as card_bin,
        cast(card_last as {{ dbt.type_string() }}) as card_last,
        cast(office_card as {{ dbt.type_boolean() }}) as office_card,
        cast(payment_id as {{ dbt.type_string() }}) as payment_id,
        cast(made_at as {{ type_timestamp_tz() }}) as made_at,
        cast(created_at as {{ type_timestamp_tz() }}) as created_at,
        cast(updated_at as {{ type_timestamp_tz() }}) as updated_at,
        cast(_dispatch_deleted_at as {{ type_timestamp_tz() }}) as deleted_at,
        cast(_dlt_load_id as {{ dbt.type_string() }}) as dlt_load_id

    from source

)

select * from renamed
