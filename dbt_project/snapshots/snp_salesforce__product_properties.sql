{% snapshot snp_salesforce__product_properties %}

{#- config (timestamp strategy on last_modified_date) in _snapshots.yml. Through
    source_or_empty(): a warehouse without raw_salesforce snapshots no rows. -#}
{{ source_or_empty('salesforce', 'product_property') }}

{% endsnapshot %}
