{% snapshot snp_rds__properties %}

{#- config (timestamp strategy on updated_at) in _snapshots.yml. Through
    source_or_empty(): a warehouse without raw_rds snapshots no rows. -#}
{{ source_or_empty('rds', 'properties') }}

{% endsnapshot %}
