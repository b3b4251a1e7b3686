with

source as (

    {{ source_or_empty('servicefusion', 'job_categories') }}

),

renamed as (

    select
        cast(id as {{ dbt.type_bigint() }}) as job_category_id,
        nullif(trim(cast(name as {{ dbt.type_string() }})), '') as category_name,
        lower(trim(cast(name as {{ dbt.type_string() }}))) as category_key

    from source

)

select * from renamed
