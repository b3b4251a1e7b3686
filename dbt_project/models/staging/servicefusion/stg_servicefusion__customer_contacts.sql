with

contacts as (

    {{ source_or_empty('servicefusion', 'customers__contacts') }}

),

customers as (

    {{ source_or_empty('servicefusion', 'customers') }}

),

phones as (

    {{ source_or_empty('servicefusion', 'customers__contacts__phones') }}

),

emails as (

    {{ source_or_empty('servicefusion', 'customers__contacts__emails') }}

),

-- the first phone and email of each contact, in the API's order
first_phones as (

    select
        _dlt_parent_id as contact_dlt_id,
        nullif(trim(cast(phone as {{ dbt.type_string() }})), '') as phone,
        row_number() over (partition by _dlt_parent_id order by _dlt_list_idx) as phone_rank

    from phones

),

first_emails as (

    select
        _dlt_parent_id as contact_dlt_id,
        nullif(trim(cast(email as {{ dbt.type_string() }})), '') as email,
        row_number() over (partition by _dlt_parent_id order by _dlt_list_idx) as email_rank

    from emails

),

renamed as (

    select
        contacts._dlt_id as customer_contact_id,
        cast(customers.id as {{ dbt.type_bigint() }}) as customer_id,
        cast(contacts._dlt_list_idx as {{ dbt.type_int() }}) as contact_index,
        nullif(trim(cast(contacts.fname as {{ dbt.type_string() }})), '') as first_name,
        nullif(trim(cast(contacts.lname as {{ dbt.type_string() }})), '') as last_name,
        coalesce(contacts.is_primary, false) as is_primary,
        first_phones.phone,
        lower(first_emails.email) as email,
        {{ normalize_name("coalesce(contacts.fname, '') || ' ' || coalesce(contacts.lname, '')") }}
            as normalized_full_name

    from contacts
    inner join customers
        on contacts._dlt_parent_id = customers._dlt_id
    left join first_phones
        on
            contacts._dlt_id = first_phones.contact_dlt_id
            and first_phones.phone_rank = 1
    left join first_emails
        on
            contacts._dlt_id = first_emails.contact_dlt_id
            and first_emails.email_rank = 1

)

select * from renamed
