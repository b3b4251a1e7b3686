with

source as (

    {{ source_or_empty('rds', 'companies') }}

),

renamed as (

    select
        cast(id as {{ dbt.type_string() }}) as company_id,
        cast(name as {{ dbt.type_string() }}) as company_name,
        cast(updated_at as {{ type_timestamp_tz() }}) as updated_at

    from source

)

select * from renamed
