-- A group is either new (create) or has a record (update), never both: a row here
-- would make the two passes write the same group twice.
with

properties_to_create as (

    select * from {{ ref('properties_to_create') }}

),

properties_to_update as (

    select * from {{ ref('properties_to_update') }}

),

final as (

    select
        properties_to_create._group_key,
        properties_to_create._sync_key as create_sync_key,
        properties_to_update._sync_key as update_sync_key

    from properties_to_create
    inner join properties_to_update
        on properties_to_create._group_key = properties_to_update._group_key

)

select * from final
