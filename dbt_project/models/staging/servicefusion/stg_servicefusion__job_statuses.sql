with

source as (

    {{ source_or_empty('servicefusion', 'job_statuses') }}

),

renamed as (

    select
        cast(id as {{ dbt.type_bigint() }}) as job_status_id,
        nullif(trim(cast(code as {{ dbt.type_string() }})), '') as status_code,
        nullif(trim(cast(name as {{ dbt.type_string() }})), '') as status_name,
        lower(trim(cast(name as {{ dbt.type_string() }}))) as status_key,
        nullif(trim(cast(category as {{ dbt.type_string() }})), '') as status_category,
        coalesce(is_custom, false) as is_custom

    from source

)

select * from renamed
