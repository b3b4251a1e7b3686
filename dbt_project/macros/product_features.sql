{#-
  The product features, read from the seed `product_features` at compile time.

  Every pivot of the project (RDS features to columns, the Salesforce read-back
  fields, the sync views' field lists, the accuracy checks) loops over this list,
  so a new feature is one CSV row: no model changes.

  Returns a list of dicts: feature_code, feature_column, salesforce_enabled_field,
  salesforce_enabled_date_field, ordered by feature_code. At parse time (execute
  is false) it returns an empty list; dbt only needs the refs then.

  The seed is located through the graph (not `ref()`, which points at fixtures
  inside unit tests; there the graph is empty and the configured seed schema is
  used). The seed must therefore be
  loaded before anything is compiled: `dbt build` does it (the seed is upstream of
  every model that calls this), and `dbt seed` does it for `sqlfluff lint`.
  Every value is validated because it becomes an identifier in the SQL.
-#}
{% macro get_product_features() %}
    {%- if not execute -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set graph_nodes = graph.get('nodes') or {} -%}
    {%- set seed_nodes = graph_nodes.values()
        | selectattr('resource_type', 'equalto', 'seed')
        | selectattr('package_name', 'equalto', project_name)
        | selectattr('name', 'equalto', 'product_features')
        | list -%}
    {%- if seed_nodes | length == 1 -%}
        {%- set location = {
            'database': seed_nodes[0].database,
            'schema': seed_nodes[0].schema,
            'identifier': seed_nodes[0].alias} -%}
    {%- else -%}
        {#- Unit tests compile without the graph: use the seed's configured
            schema (dbt_project.yml, seeds: +schema: staging). -#}
        {%- set location = {
            'database': target.database,
            'schema': generate_schema_name('staging', none) | trim,
            'identifier': 'product_features'} -%}
    {%- endif -%}
    {%- set relation = adapter.get_relation(
        database=location.database, schema=location.schema, identifier=location.identifier) -%}
    {%- if relation is none -%}
        {{ exceptions.raise_compiler_error(
            'seed product_features is not loaded in schema ' ~ location.schema
            ~ ': run `dbt seed` (or `dbt build`) before compiling or linting the models') }}
    {%- endif -%}
    {%- set query -%}
        select feature_code, feature_column, salesforce_enabled_field, salesforce_enabled_date_field
        from {{ relation }}
        order by feature_code
    {%- endset -%}
    {%- set result = run_query(query) -%}
    {%- set features = [] -%}
    {%- for row in result.rows -%}
        {%- set feature = {
            'feature_code': row[0],
            'feature_column': row[1],
            'salesforce_enabled_field': row[2],
            'salesforce_enabled_date_field': row[3],
        } -%}
        {%- if not modules.re.match('^[a-z][a-z0-9_]*$', feature.feature_code ~ '')
            or not modules.re.match('^[a-z][a-z0-9_]*$', feature.feature_column ~ '') -%}
            {{ exceptions.raise_compiler_error(
                'product_features: feature_code and feature_column must be snake_case, got '
                ~ feature.feature_code ~ ' / ' ~ feature.feature_column) }}
        {%- endif -%}
        {%- for field in [feature.salesforce_enabled_field, feature.salesforce_enabled_date_field] -%}
            {%- if not modules.re.match('^[A-Za-z][A-Za-z0-9_]*__c$', field ~ '') -%}
                {{ exceptions.raise_compiler_error(
                    'product_features: not a Salesforce custom field name: ' ~ field) }}
            {%- endif -%}
        {%- endfor -%}
        {%- do features.append(feature) -%}
    {%- endfor -%}
    {{ return(features) }}
{% endmacro %}


{#-
  The column a Salesforce custom field lands in, in raw_salesforce.product_property:
  lower-cased, `__c` -> `_c` (Contributing_Property_IDs__c ->
  contributing_property_ids_c), the rule of extract/salesforce.py (docs/warehouse.md).
-#}
{% macro salesforce_raw_column(field_name) -%}
    {{ return((field_name | lower) | replace('__c', '_c')) }}
{%- endmacro %}


{#-
  The mapped fields of Product_Property__c: the payload of both sync views (plus
  Snappt_Property_ID__c on create and Id on update). `column` is the snake_case
  name the field has in both stg_salesforce__product_properties (what Salesforce
  holds) and int_product_properties_desired (what it should hold), so the sync
  views compare and rename by looping over this one list. `is_feature` marks the
  fields that feature accuracy is measured on.
-#}
{% macro product_property_fields() %}
    {%- set fields = [
        {'field': 'Name', 'column': 'product_property_name', 'is_feature': false},
        {'field': 'Company_Name__c', 'column': 'company_name', 'is_feature': false},
        {'field': 'Street__c', 'column': 'street', 'is_feature': false},
        {'field': 'City__c', 'column': 'city', 'is_feature': false},
        {'field': 'State__c', 'column': 'state', 'is_feature': false},
        {'field': 'Postal_Code__c', 'column': 'postal_code', 'is_feature': false},
    ] -%}
    {%- for feature in get_product_features() -%}
        {%- do fields.append({
            'field': feature.salesforce_enabled_field,
            'column': feature.feature_column ~ '_enabled',
            'is_feature': true}) -%}
        {%- do fields.append({
            'field': feature.salesforce_enabled_date_field,
            'column': feature.feature_column ~ '_enabled_date',
            'is_feature': true}) -%}
    {%- endfor -%}
    {%- do fields.append({'field': 'Active_Property_Count__c', 'column': 'active_property_count', 'is_feature': false}) -%}
    {%- do fields.append({'field': 'Contributing_Property_IDs__c', 'column': 'contributing_property_ids', 'is_feature': false}) -%}
    {{ return(fields) }}
{% endmacro %}


{#-
  The number of fields (of `fields`, a product_property_fields() list) whose value
  differs between two relations with the same snake_case columns. Null-safe
  (`is distinct from`); both sides are typed alike upstream (dates as dates,
  empty text as null), so a difference is a real one.
-#}
{% macro count_changed_fields(desired_alias, current_alias, fields) -%}
    (
    {%- for field in fields %}
        case when {{ desired_alias }}.{{ field.column }} is distinct from {{ current_alias }}.{{ field.column }} then 1 else 0 end
        {%- if not loop.last %} +{% endif %}
    {%- endfor %}
    )
{%- endmacro %}
