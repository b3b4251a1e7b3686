{#-
  Helpers of the legacy dispatch -> Supabase slice (/work/shared/spec/dispatch_supabase.md,
  docs/dispatch_supabase.md). Anything adapter-specific dispatches through
  adapter.dispatch with a Postgres implementation, so another warehouse is one more
  `<adapter>__` macro, not a model change.
-#}

{#-
  `create extension if not exists "uuid-ossp"` on Postgres (uuid_generate_v5 for the
  deterministic uuids of uuid_mappings), nothing elsewhere. Safe when run by several
  threads at once: the race's duplicate error is swallowed. Called from on-run-start
  (unit tests need it before any model is built) and from uuid_mappings' pre_hook.
-#}
{% macro dispatch_create_extensions() -%}
    {%- if target.type == 'postgres' -%}
        do $$ begin create extension if not exists "uuid-ossp";
        exception when unique_violation or duplicate_object then null; end $$
    {%- endif -%}
{%- endmacro %}


{#-
  The six target tables in foreign-key order, with their source table, their legacy
  key column and the namespace of their version-5 uuids (the var
  dispatch_uuid_namespaces of dbt_project.yml, the one place they are written).
  The entity type of uuid_mappings, sync_conflicts, ... is the target table's name.
-#}
{% macro dispatch_entities() %}
{%- set namespaces = var('dispatch_uuid_namespaces') -%}
{%- set entities = [
    {'entity_type': 'offices', 'source_table': 'dispatch_office', 'legacy_key': 'legacy_office_id',
     'staging_model': 'stg_dispatch__offices', 'source_key': 'office_id'},
    {'entity_type': 'profiles', 'source_table': 'dispatch_user', 'legacy_key': 'legacy_user_id',
     'staging_model': 'stg_dispatch__users', 'source_key': 'user_id'},
    {'entity_type': 'doctors', 'source_table': 'dispatch_doctor', 'legacy_key': 'legacy_doctor_id',
     'staging_model': 'stg_dispatch__doctors', 'source_key': 'doctor_id'},
    {'entity_type': 'patients', 'source_table': 'dispatch_patient', 'legacy_key': 'legacy_patient_id',
     'staging_model': 'stg_dispatch__patients', 'source_key': 'patient_id'},
    {'entity_type': 'cases', 'source_table': 'dispatch_instruction', 'legacy_key': 'legacy_instruction_id',
     'staging_model': 'stg_dispatch__instructions', 'source_key': 'instruction_id'},
    {'entity_type': 'operations', 'source_table': 'dispatch_operation', 'legacy_key': 'legacy_operation_id',
     'staging_model': 'stg_dispatch__operations', 'source_key': 'operation_id'},
] -%}
{%- for entity in entities -%}
    {%- do entity.update({'target_table': entity['entity_type'],
                          'namespace': namespaces[entity['entity_type']]}) -%}
{%- endfor -%}
{{- return(entities) -}}
{% endmacro %}


{#-
  The columns of each target table, in the order of contracts.md section 7, with the
  kind that decides their type (dispatch_column_type) and their text form in the
  payload hash (dispatch_hash_text). The sync views, the read-back staging and the
  comparisons all loop over this one list.
-#}
{% macro dispatch_target_columns(entity_type) %}
{%- set stamps = [('deleted_at', 'timestamptz'), ('created_at', 'timestamptz'), ('updated_at', 'timestamptz')] -%}
{%- set tables = {
    'offices': [
        ('id', 'uuid'), ('legacy_office_id', 'integer'), ('name', 'text'), ('address', 'text'),
        ('phone', 'text'), ('timezone', 'text'), ('is_active', 'boolean'),
    ],
    'profiles': [
        ('id', 'uuid'), ('legacy_user_id', 'integer'), ('email', 'text'), ('first_name', 'text'),
        ('last_name', 'text'), ('role', 'text'), ('office_id', 'uuid'), ('is_active', 'boolean'),
    ],
    'doctors': [
        ('id', 'uuid'), ('legacy_doctor_id', 'integer'), ('profile_id', 'uuid'), ('office_id', 'uuid'),
        ('license_number', 'text'), ('specialty', 'text'),
    ],
    'patients': [
        ('id', 'uuid'), ('legacy_patient_id', 'integer'), ('office_id', 'uuid'), ('profile_id', 'uuid'),
        ('doctor_id', 'uuid'), ('patient_number', 'text'), ('first_name', 'text'), ('last_name', 'text'),
        ('birth_date', 'date'), ('status', 'text'), ('treatment_phase', 'text'), ('legacy_data', 'json'),
    ],
    'cases': [
        ('id', 'uuid'), ('legacy_instruction_id', 'integer'), ('patient_id', 'uuid'), ('doctor_id', 'uuid'),
        ('case_type', 'text'), ('status', 'text'), ('notes', 'text'), ('submitted_at', 'timestamptz'),
    ],
    'operations': [
        ('id', 'uuid'), ('legacy_operation_id', 'integer'), ('case_id', 'uuid'), ('operation_type', 'text'),
        ('amount', 'amount'), ('metadata', 'json'), ('made_at', 'timestamptz'),
    ],
} -%}
{{- return(tables[entity_type] + stamps) -}}
{% endmacro %}


{#- The warehouse type of a target column kind (contracts.md section 7). -#}
{% macro dispatch_column_type(kind) -%}
    {%- if kind == 'uuid' -%}{{ dispatch_type_uuid() }}
    {%- elif kind == 'integer' -%}{{ dbt.type_int() }}
    {%- elif kind == 'text' -%}{{ dbt.type_string() }}
    {%- elif kind == 'boolean' -%}{{ dbt.type_boolean() }}
    {%- elif kind == 'timestamptz' -%}{{ type_timestamp_tz() }}
    {%- elif kind == 'date' -%}date
    {%- elif kind == 'json' -%}{{ dispatch_type_json() }}
    {%- elif kind == 'amount' -%}{{ dispatch_type_amount() }}
    {%- else -%}{{ exceptions.raise_compiler_error('unknown dispatch column kind ' ~ kind) }}
    {%- endif -%}
{%- endmacro %}


{#- The data_type a contract names for a column kind (what the adapter reports). -#}
{% macro dispatch_contract_type(kind) -%}
    {%- if target.type == 'postgres' -%}
        {{- {'uuid': 'uuid', 'integer': 'integer', 'text': 'text', 'boolean': 'boolean',
             'timestamptz': 'timestamp with time zone', 'date': 'date', 'json': 'jsonb',
             'amount': 'numeric(12,2)'}[kind] -}}
    {%- else -%}
        {{- dispatch_column_type(kind) -}}
    {%- endif -%}
{%- endmacro %}


{% macro dispatch_type_uuid() -%}
    {{ return(adapter.dispatch('dispatch_type_uuid', 'propsync')()) }}
{%- endmacro %}

{% macro default__dispatch_type_uuid() -%}
    {{ dbt.type_string() }}
{%- endmacro %}

{% macro postgres__dispatch_type_uuid() -%}
    uuid
{%- endmacro %}


{% macro dispatch_type_json() -%}
    {{ return(adapter.dispatch('dispatch_type_json', 'propsync')()) }}
{%- endmacro %}

{% macro default__dispatch_type_json() -%}
    {{ dbt.type_string() }}
{%- endmacro %}

{% macro postgres__dispatch_type_json() -%}
    jsonb
{%- endmacro %}

{% macro snowflake__dispatch_type_json() -%}
    variant
{%- endmacro %}

{% macro bigquery__dispatch_type_json() -%}
    json
{%- endmacro %}


{#- numeric(12, 2), the target's money type. -#}
{% macro dispatch_type_amount() -%}
    {{ return(adapter.dispatch('dispatch_type_amount', 'propsync')()) }}
{%- endmacro %}

{% macro default__dispatch_type_amount() -%}
    numeric(12, 2)
{%- endmacro %}

{% macro snowflake__dispatch_type_amount() -%}
    number(12, 2)
{%- endmacro %}


{#-
  The version-5 uuid of `name_expression` (text) in the namespace `namespace_expression`
  (a uuid as text: a literal or a column): uuid-ossp's uuid_generate_v5 on Postgres,
  the same as Python's uuid.uuid5(UUID(namespace), name).
-#}
{% macro dispatch_uuid_v5(namespace_expression, name_expression) -%}
    {{ return(adapter.dispatch('dispatch_uuid_v5', 'propsync')(namespace_expression, name_expression)) }}
{%- endmacro %}

{% macro default__dispatch_uuid_v5(namespace_expression, name_expression) -%}
    {{ exceptions.raise_compiler_error('dispatch_uuid_v5 is not implemented for ' ~ target.type) }}
{%- endmacro %}

{% macro postgres__dispatch_uuid_v5(namespace_expression, name_expression) -%}
    uuid_generate_v5(cast({{ namespace_expression }} as uuid), {{ name_expression }})
{%- endmacro %}

{% macro snowflake__dispatch_uuid_v5(namespace_expression, name_expression) -%}
    uuid_string({{ namespace_expression }}, {{ name_expression }})
{%- endmacro %}

{#-
  dispatch_uuid_v5 on Spark: RFC 4122's sha1 of the namespace's 16 bytes and the
  name's UTF-8 bytes, its first 16 bytes with the version (5) and variant (10xx) bits
  set, the same as Python's uuid.uuid5. Every model is rendered when dbt parses the project, so without it no
  Spark build parses, whichever models it selects.
-#}
{% macro spark__dispatch_uuid_v5(namespace_expression, name_expression) -%}
    {%- set digest -%}
        sha1(concat(unhex(replace(cast({{ namespace_expression }} as string), '-', '')),
            encode(cast({{ name_expression }} as string), 'UTF-8')))
    {%- endset -%}
    concat_ws('-',
        substr({{ digest }}, 1, 8),
        substr({{ digest }}, 9, 4),
        concat('5', substr({{ digest }}, 14, 3)),
        concat(
            lower(hex((cast(conv(substr({{ digest }}, 17, 1), 16, 10) as int) & 3) | 8)),
            substr({{ digest }}, 18, 3)),
        substr({{ digest }}, 21, 12))
{%- endmacro %}


{#- True when the text matches the regular expression (POSIX classes allowed). -#}
{% macro dispatch_regexp_like(expression, pattern) -%}
    {{ return(adapter.dispatch('dispatch_regexp_like', 'propsync')(expression, pattern)) }}
{%- endmacro %}

{% macro default__dispatch_regexp_like(expression, pattern) -%}
    regexp_like({{ expression }}, '{{ pattern }}')
{%- endmacro %}

{% macro postgres__dispatch_regexp_like(expression, pattern) -%}
    ({{ expression }} ~ '{{ pattern }}')
{%- endmacro %}

{% macro bigquery__dispatch_regexp_like(expression, pattern) -%}
    regexp_contains({{ expression }}, r'{{ pattern }}')
{%- endmacro %}

{% macro spark__dispatch_regexp_like(expression, pattern) -%}
    ({{ expression }} rlike '{{ pattern }}')
{%- endmacro %}


{#- Leading and trailing whitespace (spaces, tabs, newlines) removed. -#}
{% macro dispatch_trim_whitespace(expression) -%}
    {{ regexp_replace_all(expression, '^[[:space:]]+|[[:space:]]+$', '') }}
{%- endmacro %}


{#-
  The text form of a value in a payload hash, the same whatever the session's time
  zone or DateStyle: the sync views' `_payload_hash` (computed when the pusher reads
  them) and the read-back's hash (computed at build time) must agree to the character.
  Timestamps are UTC ISO-8601 with microseconds, dates YYYY-MM-DD, json its canonical
  text (jsonb), others their plain cast.
-#}
{% macro dispatch_hash_text(expression, kind) -%}
    {{ return(adapter.dispatch('dispatch_hash_text', 'propsync')(expression, kind)) }}
{%- endmacro %}

{% macro default__dispatch_hash_text(expression, kind) -%}
    cast({{ expression }} as {{ dbt.type_string() }})
{%- endmacro %}

{% macro postgres__dispatch_hash_text(expression, kind) -%}
    {%- if kind == 'timestamptz' -%}
        to_char(timezone('UTC', {{ expression }}), 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
    {%- elif kind == 'date' -%}
        to_char({{ expression }}, 'YYYY-MM-DD')
    {%- else -%}
        cast({{ expression }} as text)
    {%- endif -%}
{%- endmacro %}


{#-
  `_payload_hash` of a target row: surrogate_key over every column of the target
  table, in contract order, each in its hash text form. `relation_alias` prefixes the
  columns (e.g. 'read_back.').
-#}
{% macro dispatch_payload_hash(entity_type, relation_alias='') -%}
    {%- set expressions = [] -%}
    {%- for name, kind in dispatch_target_columns(entity_type) -%}
        {%- do expressions.append(dispatch_hash_text(relation_alias ~ name, kind)) -%}
    {%- endfor -%}
    {{ surrogate_key(expressions) }}
{%- endmacro %}


{#-
  True when any target column differs between two relations (`is distinct from`,
  nulls compared as values). The legacy key is the join key and is left out.
-#}
{% macro dispatch_row_differs(entity_type, left_alias, right_alias) -%}
    {%- set comparisons = [] -%}
    {%- for name, kind in dispatch_target_columns(entity_type) -%}
        {%- if not name.startswith('legacy_') -%}
            {%- do comparisons.append(left_alias ~ '.' ~ name ~ ' is distinct from ' ~ right_alias ~ '.' ~ name) -%}
        {%- endif -%}
    {%- endfor -%}
    ({{ comparisons | join('\n        or ') }})
{%- endmacro %}


{#- A JSON object of a row's target columns (sync_conflicts' source and target versions). -#}
{% macro dispatch_row_json(entity_type, relation_alias) -%}
    {%- set pairs = [] -%}
    {%- for name, kind in dispatch_target_columns(entity_type) -%}
        {%- do pairs.append((name, relation_alias ~ '.' ~ name)) -%}
    {%- endfor -%}
    {{ json_object(pairs) }}
{%- endmacro %}


{#-
  Incremental watermarks. Every incremental model of the slice stores `_built_at` (the
  dbt invocation's run_started_at, the same for every model of one build: this macro,
  which unit tests override) on the rows it writes, and `_source_load_id` (the
  greatest dlt load id of the raw rows it has read). A build reads again the raw rows
  of later loads (`_dlt_load_id` greater than the stored one: dlt load ids are the
  load's start time, so they grow with time and compare as text) and the parent rows
  whose state changed after its last build. It assumes, as the chains do, that no
  extract is loading while dbt builds (a load half committed when a model reads it
  would be skipped by the next build).
-#}
{% macro dispatch_run_started_at() -%}
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}+00:00' as {{ type_timestamp_tz() }})
{%- endmacro %}


{#-
  The watermark of an incremental model: by name (`names`, control columns `_<name>`),
  the greatest dlt load id it has read and the time of its last build (a time before
  any build, or '', when it holds no row yet or was built before the column existed).
-#}
{% macro dispatch_watermark_cte(names=['source_load_id', 'built_at']) -%}
    {%- set selected = [] -%}
    {%- for name in names -%}
        {%- set column = '_' ~ name -%}
        {%- set lowest = "cast('1900-01-01 00:00:00+00:00' as " ~ type_timestamp_tz() ~ ")"
            if name == 'built_at' else "''" -%}
        {#- a table built before the column existed: the lowest watermark -#}
        {%- set value = 'coalesce(max(' ~ column ~ '), ' ~ lowest ~ ')'
            if dispatch_this_has_column(column) else lowest -%}
        {%- do selected.append(value ~ ' as ' ~ name) -%}
    {%- endfor -%}
watermark as (

    select
        {{ selected | join(',\n        ') }}

    from {{ this }}

)
{%- endmacro %}


{#-
  Whether `this` has `column`: false only for a real table built before the column
  existed (a unit test's `this` is its fixture; a first build has no table).
-#}
{% macro dispatch_this_has_column(column) -%}
    {%- set is_table = model.resource_type != 'unit_test' and this is not none -%}
    {%- if execute and is_incremental() and is_table and load_relation(this) is not none -%}
        {%- set present = adapter.get_columns_in_relation(this) | map(attribute='name') | map('lower') | list -%}
        {{- return(column in present) -}}
    {%- endif -%}
    {{- return(true) -}}
{%- endmacro %}


{#-
  The watermark values as SQL expressions, by name (source_load_id, built_at,
  dispatch_load_id, supabase_load_id, built_db_at, built_at_epoch). On an incremental
  build of a real table they are literals read from it first: Postgres then estimates
  `dlt_load_id > '<literal>'` from the column's statistics (a handful of rows) and
  fetches the changed rows by index, where a subquery's value would be an unknown
  matching a third of the table, and every join would scan whole tables. Elsewhere (a
  unit test's `this` is a fixture) they read the CTE `watermark`.
-#}
{% macro dispatch_watermark_values(names) -%}
    {%- set aggregates = {
        'source_load_id': "coalesce(max(_source_load_id), '')",
        'dispatch_load_id': "coalesce(max(_dispatch_load_id), '')",
        'supabase_load_id': "coalesce(max(_supabase_load_id), '')",
        'built_at': "cast(coalesce(max(_built_at), cast('1900-01-01 00:00:00+00:00' as "
            ~ type_timestamp_tz() ~ ")) as " ~ dbt.type_string() ~ ")",
        'built_db_at': "cast(coalesce(max(_built_db_at), cast('1900-01-01 00:00:00+00:00' as "
            ~ type_timestamp_tz() ~ ")) as " ~ dbt.type_string() ~ ")",
        'built_at_epoch': "cast(coalesce(" ~ dbt.datediff("cast('1970-01-01 00:00:00+00:00' as "
            ~ type_timestamp_tz() ~ ")", "max(_built_at)", "second") ~ ", 0) as " ~ dbt.type_string() ~ ")",
    } -%}
    {%- set timestamps = ['built_at', 'built_db_at'] -%}
    {%- set values = {} -%}
    {#- a unit test's `this` is its fixture, not a table -#}
    {%- set is_table = model.resource_type != 'unit_test' and this is not none -%}
    {%- if execute and is_incremental() and is_table and load_relation(this) is not none -%}
        {%- set selected = [] -%}
        {%- for name in names -%}
            {%- set column = '_built_at' if name == 'built_at_epoch' else '_' ~ name -%}
            {#- a table built before the column existed: the lowest watermark -#}
            {%- set aggregate = aggregates[name] if dispatch_this_has_column(column)
                else aggregates[name] | replace('max(' ~ column ~ ')', 'null') -%}
            {%- do selected.append(aggregate ~ ' as ' ~ name) -%}
        {%- endfor -%}
        {%- set query -%}
            select {{ selected | join(', ') }} from {{ this }}
        {%- endset -%}
        {%- set row = run_query(query).rows[0] -%}
        {%- for name in names -%}
            {%- if name in timestamps -%}
                {%- do values.update({name: "cast('" ~ row[name] ~ "' as " ~ type_timestamp_tz() ~ ")"}) -%}
            {%- else -%}
                {%- do values.update({name: "'" ~ row[name] ~ "'"}) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- else -%}
        {%- for name in names -%}
            {%- do values.update({name: '(select watermark.' ~ name ~ ' from watermark)'}) -%}
        {%- endfor -%}
    {%- endif -%}
    {{- return(values) -}}
{%- endmacro %}


{#-
  The watermarks `names` (built_at, supabase_load_id) of `model_name` as recorded in
  int_dispatch__build_watermarks (dispatch_record_watermarks), for a model whose own
  rows do not tell how far it compared. On an incremental build they are literals read
  first (as dispatch_watermark_values'); in a unit test, subqueries over its fixture.
  One never recorded is the lowest: the build compares everything.
-#}
{% macro dispatch_recorded_watermarks(model_name, names) -%}
    {%- set watermarks = ref('int_dispatch__build_watermarks') -%}
    {%- set lowest_time = "'1900-01-01 00:00:00+00:00'" -%}
    {%- set values = {} -%}
    {%- if model.resource_type == 'unit_test' -%}
        {%- for name in names -%}
            {%- set recorded -%}
                (select max(recorded.watermark_value) from {{ watermarks }} as recorded
                where recorded.model_name = '{{ model_name }}' and recorded.watermark_name = '{{ name }}')
            {%- endset -%}
            {%- if name == 'built_at' -%}
                {%- do values.update({name: 'cast(coalesce(' ~ recorded ~ ', ' ~ lowest_time ~ ') as '
                    ~ type_timestamp_tz() ~ ')'}) -%}
            {%- else -%}
                {%- do values.update({name: 'coalesce(' ~ recorded ~ ", '')"}) -%}
            {%- endif -%}
        {%- endfor -%}
        {{- return(values) -}}
    {%- endif -%}
    {%- set recorded = {} -%}
    {%- if execute and is_incremental() and load_relation(watermarks) is not none -%}
        {%- set query -%}
            select watermark_name, watermark_value from {{ watermarks }}
            where model_name = '{{ model_name }}'
        {%- endset -%}
        {%- for row in run_query(query).rows -%}
            {%- do recorded.update({row[0]: row[1]}) -%}
        {%- endfor -%}
    {%- endif -%}
    {%- for name in names -%}
        {%- if name == 'built_at' -%}
            {%- set value = "'" ~ recorded[name] ~ "'" if recorded.get(name) else lowest_time -%}
            {%- do values.update({name: 'cast(' ~ value ~ ' as ' ~ type_timestamp_tz() ~ ')'}) -%}
        {%- else -%}
            {%- do values.update({name: "'" ~ recorded.get(name, '') ~ "'"}) -%}
        {%- endif -%}
    {%- endfor -%}
    {{- return(values) -}}
{%- endmacro %}


{#-
  Pre-hook of a model served by int_dispatch__build_watermarks: records, in the
  model's own transaction (rolled back with it when the build fails), how far this
  build compares: `expressions` maps a watermark name to a SQL expression of its text
  value, taken before the model's select runs (so never beyond what it sees; a row
  loaded in between is compared again next time, not skipped). The watermarks the
  build reads (dispatch_recorded_watermarks) were read at its compilation, before.
  Nothing while that table does not exist yet (the model then compares everything).
-#}
{% macro dispatch_record_watermarks(model_name, expressions) -%}
    {%- set watermarks = ref('int_dispatch__build_watermarks') -%}
    {%- if execute and load_relation(watermarks) is not none -%}
        delete from {{ watermarks }} where model_name = '{{ model_name }}';
        insert into {{ watermarks }} (watermark_id, model_name, watermark_name, watermark_value, recorded_at)
        {%- for name, expression in expressions.items() %}
        select '{{ model_name }}:{{ name }}', '{{ model_name }}', '{{ name }}', {{ expression }}, {{ propsync_now() }}
        {%- if not loop.last %}
        union all
        {%- endif %}
        {%- endfor %}
    {%- endif -%}
{%- endmacro %}


{#- The start of this dbt invocation as text, as dispatch_run_started_at() writes it. -#}
{% macro dispatch_run_started_at_text() -%}
    '{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}+00:00'
{%- endmacro %}


{#- The newest dlt load id of the Supabase read-back, '' when it holds no row. -#}
{% macro dispatch_read_back_load_id() -%}
    (select coalesce(max(read_back_loads.dlt_load_id), '') from (
        {%- for entity in dispatch_entities() %}
        select max(dlt_load_id) as dlt_load_id from {{ ref('stg_supabase__' ~ entity.target_table) }}
        {%- if not loop.last %}
        union all
        {%- endif %}
        {%- endfor %}
    ) as read_back_loads)
{%- endmacro %}


{#-
  The keys an incremental build computes again, as union members (each a plain join,
  so that Postgres hashes them whatever its estimates; an `in (subquery)` under an `or`
  can fall back to a nested scan): the raw rows loaded since the last build, the rows
  whose delete mark was set or cleared without a new load id, and the rows whose
  parent (`parents`: (foreign key column, parent model, parent key) tuples) changed
  state after the last build. `relation` is the staging model, `source_key` its key,
  `legacy_key` the model's; `watermark` comes from dispatch_watermark_values().
-#}
{% macro dispatch_changed_keys(relation, source_key, legacy_key, watermark, parents=[]) -%}
    select changed_rows.{{ source_key }} as changed_key
    from {{ relation }} as changed_rows
    where changed_rows.dlt_load_id > {{ watermark.source_load_id }}

    union

    -- a delete mark set without a new load id
    select marked.{{ source_key }} as changed_key
    from {{ relation }} as marked
    inner join {{ this }} as previous_marks
        on marked.{{ source_key }} = previous_marks.{{ legacy_key }}
    where
        marked.deleted_at is not null
        and previous_marks.deleted_at is null

    union

    -- a delete mark cleared (the key is back in the source)
    select unmarked.{{ source_key }} as changed_key
    from {{ relation }} as unmarked
    inner join {{ this }} as previous_marks
        on unmarked.{{ source_key }} = previous_marks.{{ legacy_key }}
    where
        unmarked.deleted_at is null
        and previous_marks.deleted_at is not null
    {%- for foreign_key, parent_model, parent_key in parents %}

    union

    -- the parent's state (present, deleted, rejected) changed after the last build
    select children.{{ source_key }} as changed_key
    from {{ relation }} as children
    inner join {{ ref(parent_model) }} as changed_parents
        on children.{{ foreign_key }} = changed_parents.{{ parent_key }}
    where changed_parents._state_changed_at > {{ watermark.built_at }}
    {%- endfor %}
{%- endmacro %}


{#-
  A parent row "exists" for a child (spec "Foreign keys"): the source holds it, i.e. it
  is in the parent model and not hard-deleted, unless the child was hard-deleted too
  (a delete carried to both keeps its foreign key).
-#}
{% macro dispatch_parent_resolves(child_alias, parent_alias, parent_key) -%}
    ({{ parent_alias }}.{{ parent_key }} is not null
        and ({{ parent_alias }}.deleted_at is null or {{ child_alias }}.deleted_at is not null))
{%- endmacro %}


{#-
  rejection_code and rejection_reason from an ordered list of rules (first that
  applies), each a dict: when (SQL condition), code (text), reason (SQL text expression).
-#}
{% macro dispatch_rejection_columns(rules) -%}
    {%- if rules | length == 0 -%}
        cast(null as {{ dbt.type_string() }}) as rejection_code,
        cast(null as {{ dbt.type_string() }}) as rejection_reason
    {%- else -%}
        case
            {%- for rule in rules %}
            when {{ rule.when }} then '{{ rule.code }}'
            {%- endfor %}
        end as rejection_code,
        case
            {%- for rule in rules %}
            when {{ rule.when }} then {{ rule.reason }}
            {%- endfor %}
        end as rejection_reason
    {%- endif -%}
{%- endmacro %}


{#-
  The rules of one foreign key (codes as the spec's oracle names them): a required one
  whose parent the source does not hold is an orphan (`orphan_<source column>`,
  rejected), one whose parent is rejected is rejected in turn (`parent_rejected`), for
  required and optional keys alike. An optional orphan is not a rejection: the column
  becomes null and dispatch_data_quality_warnings reports it. Returns
  {'orphan': [...], 'parent': [...]}: models list every orphan rule before every
  parent rule (dispatch_rejection_columns takes the first that applies).
-#}
{% macro dispatch_foreign_key_rules(column, child_alias, parent_alias, parent_key, source_fk, source_table, required) -%}
    {%- set resolves = dispatch_parent_resolves(child_alias, parent_alias, parent_key) -%}
    {%- set named = dbt.concat(["'" ~ source_fk ~ ": " ~ source_table ~ " '",
                                dbt.cast(child_alias ~ '.' ~ source_fk, dbt.type_string())]) -%}
    {%- set rules = {'orphan': [], 'parent': []} -%}
    {%- if required -%}
        {%- do rules.orphan.append({
            'when': 'not ' ~ resolves,
            'code': 'orphan_' ~ source_fk,
            'reason': "case when " ~ child_alias ~ "." ~ source_fk ~ " is null then '" ~ source_fk ~ " is null'"
                ~ " when " ~ parent_alias ~ "." ~ parent_key ~ " is null then "
                ~ dbt.concat([named, "' does not exist in the source'"]) ~ " else "
                ~ dbt.concat([named, "' was deleted in the source'"]) ~ " end",
        }) -%}
    {%- endif -%}
    {%- do rules.parent.append({
        'when': resolves ~ ' and ' ~ parent_alias ~ '.rejection_code is not null',
        'code': 'parent_rejected',
        'reason': dbt.concat([named, "' is rejected (children of rejected rows are rejected in turn)'"]),
    }) -%}
    {{- return(rules) -}}
{%- endmacro %}


{#-
  `_state_changed_at` of a row: this build's time when the row is new or its state as
  its children see it changed (deleted or not, rejected or not), else the time it had.
  Expects the previous version joined as `previous` on incremental builds.
-#}
{% macro dispatch_state_changed_at(alias, legacy_key) -%}
    {%- if is_incremental() -%}
    case
        when
            previous.{{ legacy_key }} is null
            or (previous.deleted_at is null) != ({{ alias }}.deleted_at is null)
            or (previous.rejection_code is null) != ({{ alias }}.rejection_code is null)
            then {{ dispatch_run_started_at() }}
        else previous._state_changed_at
    end
    {%- else -%}
    {{ dispatch_run_started_at() }}
    {%- endif -%}
{%- endmacro %}


{#- An exact decimal type of any precision (the price before it is rounded). -#}
{% macro dispatch_type_decimal() -%}
    {{ return(adapter.dispatch('dispatch_type_decimal', 'propsync')()) }}
{%- endmacro %}

{% macro default__dispatch_type_decimal() -%}
    {{ dbt.type_numeric() }}
{%- endmacro %}

{% macro postgres__dispatch_type_decimal() -%}
    numeric
{%- endmacro %}


{#-
  The legacy price (text) as the spec reads it: trimmed (any whitespace); a leading
  `$` and every `,` removed. What is then an optionally signed decimal number
  (digits with at most one point: 12, 12.5, 12., .5) is an amount; empty is 0.00.
-#}
{% macro dispatch_price_trimmed(price) -%}
    {{ dispatch_trim_whitespace('coalesce(' ~ price ~ ", '')") }}
{%- endmacro %}

{% macro dispatch_price_cleaned(trimmed) -%}
    {{ dbt.replace(regexp_replace_all(trimmed, '^[$]', ''), "','", "''") }}
{%- endmacro %}

{% macro dispatch_is_decimal_number(expression) -%}
    {{ dispatch_regexp_like(expression, '^[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)$') }}
{%- endmacro %}


{#- Rounded to 2 places, half away from zero (whatever the adapter's round() does). -#}
{% macro dispatch_round_half_away_from_zero(expression) -%}
    (sign({{ expression }}) * floor(abs({{ expression }}) * 100 + 0.5) / 100)
{%- endmacro %}


{#- The scope of an amount check: `office <legacy office id> / <operation type>`, `none` when unknown. -#}
{% macro dispatch_amount_scope(office, operation_type) -%}
    {{ dbt.concat(["'office '", "coalesce(" ~ dbt.cast(office, dbt.type_string()) ~ ", 'none')", "' / '",
        "coalesce(" ~ operation_type ~ ", 'none')"]) }}
{%- endmacro %}


{#-
  When dlt began the load that wrote a raw row: dlt's load id is that moment's Unix
  time as text (e.g. 1717000000.123456).
-#}
{% macro dispatch_dlt_loaded_at(load_id) -%}
    {{ return(adapter.dispatch('dispatch_dlt_loaded_at', 'propsync')(load_id)) }}
{%- endmacro %}

{% macro default__dispatch_dlt_loaded_at(load_id) -%}
    to_timestamp(cast({{ load_id }} as {{ dbt.type_float() }}))
{%- endmacro %}

{% macro postgres__dispatch_dlt_loaded_at(load_id) -%}
    to_timestamp(cast({{ load_id }} as double precision))
{%- endmacro %}


{#-
  The read-back of a row cannot show a push made after it was read: the pusher writes
  the legacy row's updated_at, often older than what the incremental read-back already
  reached, so a pushed row may not be read again. Such a read-back is stale, and the
  target is taken to hold what we last pushed (its payload hash). `read_back_alias` has
  dlt_loaded_at, `push_alias` the row of int_dispatch__supabase_last_pushes.
-#}
{% macro dispatch_read_back_is_stale(read_back_alias, push_alias) -%}
    coalesce({{ push_alias }}.recorded_at > {{ read_back_alias }}.dlt_loaded_at, false)
{%- endmacro %}


{#-
  True when the transformed row differs from what the target holds: from its read-back,
  or, when that read-back is stale, from our last push (payload hashes).
-#}
{% macro dispatch_differs_from_target(entity_type, source_alias, read_back_alias, push_alias) -%}
    case
        when {{ dispatch_read_back_is_stale(read_back_alias, push_alias) }}
            then {{ dispatch_payload_hash(entity_type, source_alias ~ '.') }} != {{ push_alias }}.payload_hash
        else {{ dispatch_row_differs(entity_type, source_alias, read_back_alias) }}
    end
{%- endmacro %}


{#-
  Pre-hook of the slice's incremental models, on Postgres, for the model's transaction:
  - no JIT compilation: an incremental build reads few rows through queries whose
    estimated cost is that of whole tables, and Postgres would spend seconds compiling
    each (measured: 3-4 s a model on 2M rows, most of its time);
  - no nested loops (unless `nested_loops`): the statistics of a raw table loaded a
    moment ago say nothing of its new load, so a filter on the load id can be
    estimated at one row when it matches millions (a read-back loaded whole, a first
    load); a nested loop planned on that estimate runs for hours, a hash join is linear
    whatever the count. The ledger read keeps them: it fetches a few runs' records by
    the ledger's primary key.
-#}
{% macro dispatch_model_settings(nested_loops=false) -%}
    {%- if target.type == 'postgres' -%}
        set local jit = off;
        {%- if not nested_loops %}
        set local enable_nestloop = off;
        {%- endif %}
    {%- endif -%}
{%- endmacro %}


{#- Post-hook of the slice's incremental models: fresh statistics for the next build's plans. -#}
{% macro dispatch_model_analyze() -%}
    {%- if target.type == 'postgres' -%}
        analyze {{ this }}
    {%- endif -%}
{%- endmacro %}


{#- Ids joined by ',' in ascending order (the validation's sample ids). -#}
{% macro dispatch_id_list(expression) -%}
    {{ dbt.listagg(dbt.cast(expression, dbt.type_string()), "','", 'order by ' ~ expression) }}
{%- endmacro %}
