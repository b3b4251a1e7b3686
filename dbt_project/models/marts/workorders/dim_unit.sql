with

units as (

    select * from {{ ref('stg_propertyware__units') }}

),

final as (

    select
        unit_id,
        building_id,
        unit_name,
        address,
        address2,
        city,
        state,
        zip,
        {{ zip5('zip') }} as zip5,
        is_active,
        -- 1 = the building's first unit (ServiceFusion's primary location)
        row_number() over (partition by building_id order by unit_id) as unit_rank

    from units

)

select * from final
