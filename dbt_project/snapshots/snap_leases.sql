{% snapshot snap_leases %}

{#- config (check strategy, columns, valid_from / valid_to) in _snapshots.yml -#}
select
    lease_id,
    building_id,
    unit_id,
    lease_name,
    lease_status,
    primary_contact_id,
    start_date,
    end_date,
    move_in_date,
    move_out_date,
    is_active,
    tenant_count

from {{ ref('fct_leases') }}

{% endsnapshot %}
