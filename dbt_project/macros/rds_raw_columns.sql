{#-
  The raw tables of the RDS -> Salesforce slice, as dlt lands them
  (`python -m extract rds` -> raw_rds, `python -m extract salesforce` ->
  raw_salesforce; docs/warehouse.md), column by column, for source_or_empty(): a
  warehouse that never extracted RDS or the Salesforce read-back (a work-order-only
  or dispatch-only install) still builds the whole project, these models answering
  no rows instead of failing. The types are dbt's portable names (raw_column_type());
  dlt's text lands as varchar, uuids as text.

  raw_rds: the source columns, then dlt's own. `_rds_deleted` (the hard-delete flag,
  extract/rds.py) is left out: dlt adds it to a table only with its first delete,
  and no model reads it.

  raw_salesforce.product_property: the field order of extract/salesforce.py
  (FIELD_TYPES), whose feature fields come from the seed product_features, like
  stg_salesforce__product_properties' pivots: a feature added to the seed adds its
  two columns (`<enabled field>_c` boolean, `<enabled date field>_c` date) here too.
  They are listed, not read from the seed, because source_or_empty() evaluates this
  for every missing raw table, also in runs that never load the seed.
-#}
{% macro rds_raw_columns() %}
{%- set dlt = [('_dlt_load_id', 'text'), ('_dlt_id', 'text')] -%}
{{- return({
    'rds.companies': [
        ('id', 'text'),
        ('name', 'text'),
        ('updated_at', 'timestamptz'),
    ] + dlt,
    'rds.properties': [
        ('id', 'text'),
        ('company_id', 'text'),
        ('name', 'text'),
        ('street_address', 'text'),
        ('city', 'text'),
        ('state', 'text'),
        ('postal_code', 'text'),
        ('status', 'text'),
        ('sfdc_id', 'text'),
        ('inserted_at', 'timestamptz'),
        ('updated_at', 'timestamptz'),
    ] + dlt,
    'rds.property_features': [
        ('property_id', 'text'),
        ('feature_code', 'text'),
        ('enabled', 'boolean'),
        ('enabled_at', 'timestamptz'),
        ('updated_at', 'timestamptz'),
    ] + dlt,
    'salesforce.product_property': [
        ('id', 'text'),
        ('name', 'text'),
        ('snappt_property_id_c', 'text'),
        ('sf_property_id_c', 'text'),
        ('company_name_c', 'text'),
        ('street_c', 'text'),
        ('city_c', 'text'),
        ('state_c', 'text'),
        ('postal_code_c', 'text'),
        ('fraud_detection_enabled_c', 'boolean'),
        ('fraud_detection_enabled_date_c', 'date'),
        ('income_verification_enabled_c', 'boolean'),
        ('income_verification_enabled_date_c', 'date'),
        ('idv_enabled_c', 'boolean'),
        ('idv_enabled_date_c', 'date'),
        ('rent_verification_enabled_c', 'boolean'),
        ('rent_verification_enabled_date_c', 'date'),
        ('active_property_count_c', 'double precision'),
        ('contributing_property_ids_c', 'text'),
        ('created_date', 'timestamptz'),
        ('last_modified_date', 'timestamptz'),
    ] + dlt,
}) -}}
{% endmacro %}
