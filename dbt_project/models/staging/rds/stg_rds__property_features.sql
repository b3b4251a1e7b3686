with

source as (

    {{ source_or_empty('rds', 'property_features') }}

),

renamed as (

    select
        {{ surrogate_key(['property_id', 'feature_code']) }} as property_feature_id,
        cast(property_id as {{ dbt.type_string() }}) as property_id,
        cast(feature_code as {{ dbt.type_string() }}) as feature_code,
        cast(enabled as {{ dbt.type_boolean() }}) as is_enabled,
        cast(enabled_at as {{ type_timestamp_tz() }}) as enabled_at,
        cast(updated_at as {{ type_timestamp_tz() }}) as updated_at

    from source

)

select * from renamed
