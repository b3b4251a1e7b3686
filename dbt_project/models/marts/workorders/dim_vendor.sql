with

vendors as (

    select * from {{ ref('stg_propertyware__vendors') }}

),

final as (

    select
        vendor_id,
        vendor_name,
        company_name,
        vendor_type,
        email,
        phone,
        address,
        city,
        state,
        zip,
        is_active

    from vendors

)

select * from final
