{#-
  The validation after every sync of the dispatch -> Supabase slice (spec "Validation
  after every sync"), transformed models vs the Supabase read-back, one row per
  entity, check and scope:
  - row_count: source rows not deleted and not rejected = target rows not deleted;
    sample ids: legacy ids on one side only.
  - uuid_matches_mapping: every target row's id is the uuid uuid_mappings holds for
    its legacy id.
  - fk_<column>_resolves, per foreign key of the target: every non-null value names a
    row of the parent's read-back.
  - amount_sum, per office (legacy id; `none` when the operation has no case) and
    operation type: the sum of amount equals the source's to the cent, leaving out on
    both sides the rows rejected and the rows held in manual review (open conflicts
    whose strategy is not source_wins), which are reported beside (left_out_*).
  A view: it answers from the latest read-back and build. `reverse-etl` reads it after
  a push and exits non-zero on a failed check, naming entity, figures and sample ids.
-#}

{%- set entities = dispatch_entities() %}
{%- set foreign_keys = [
    ('profiles', 'legacy_user_id', 'office_id', 'offices'),
    ('doctors', 'legacy_doctor_id', 'profile_id', 'profiles'),
    ('doctors', 'legacy_doctor_id', 'office_id', 'offices'),
    ('patients', 'legacy_patient_id', 'office_id', 'offices'),
    ('patients', 'legacy_patient_id', 'profile_id', 'profiles'),
    ('patients', 'legacy_patient_id', 'doctor_id', 'doctors'),
    ('cases', 'legacy_instruction_id', 'patient_id', 'patients'),
    ('cases', 'legacy_instruction_id', 'doctor_id', 'doctors'),
    ('operations', 'legacy_operation_id', 'case_id', 'cases'),
] %}
{%- set sample_size = 10 %}

with

uuid_mappings as (

    select * from {{ ref('uuid_mappings') }}

),

held as (

    select * from {{ ref('sync_conflicts') }}
    where
        is_open
        and strategy != 'source_wins'

),

{% for entity in entities -%}
{%- set table = entity.target_table %}
{%- set key = entity.legacy_key %}
{{ table }}_source_rows as (

    select * from {{ ref(table) }}

),

{{ table }}_read_back as (

    select * from {{ ref('stg_supabase__' ~ table) }}

),

{{ table }}_source_live as (

    select {{ key }} from {{ table }}_source_rows
    where
        rejection_code is null
        and deleted_at is null

),

{{ table }}_target_live as (

    select {{ key }} from {{ table }}_read_back
    where deleted_at is null

),

-- one row per check and legacy id: its part of each figure, and whether it explains a difference
{{ table }}_check_rows as (

    select
        '{{ table }}' as entity,
        'row_count' as check_name,
        cast(null as {{ dbt.type_string() }}) as check_scope,
        coalesce({{ table }}_source_live.{{ key }}, {{ table }}_target_live.{{ key }}) as legacy_id,
        case when {{ table }}_source_live.{{ key }} is null then 0 else 1 end as source_part,
        case when {{ table }}_target_live.{{ key }} is null then 0 else 1 end as target_part,
        ({{ table }}_source_live.{{ key }} is null or {{ table }}_target_live.{{ key }} is null) as is_sample

    from {{ table }}_source_live
    full outer join {{ table }}_target_live
        on {{ table }}_source_live.{{ key }} = {{ table }}_target_live.{{ key }}

    union all

    select
        '{{ table }}' as entity,
        'uuid_matches_mapping' as check_name,
        cast(null as {{ dbt.type_string() }}) as check_scope,
        {{ table }}_read_back.{{ key }} as legacy_id,
        1 as source_part,
        case when {{ table }}_read_back.id = uuid_mappings.uuid then 1 else 0 end as target_part,
        ({{ table }}_read_back.id is distinct from uuid_mappings.uuid) as is_sample

    from {{ table }}_read_back
    left join uuid_mappings
        on
            uuid_mappings.entity_type = '{{ table }}'
            and {{ table }}_read_back.{{ key }} = uuid_mappings.legacy_id

),

{% endfor -%}
{% for table, key, column, parent in foreign_keys -%}
{{ table }}_{{ column }}_check_rows as (

    select
        '{{ table }}' as entity,
        'fk_{{ column }}_resolves' as check_name,
        cast(null as {{ dbt.type_string() }}) as check_scope,
        children.{{ key }} as legacy_id,
        1 as source_part,
        case when parents.id is null then 0 else 1 end as target_part,
        parents.id is null as is_sample

    from {{ table }}_read_back as children
    left join {{ parent }}_read_back as parents
        on children.{{ column }} = parents.id
    where children.{{ column }} is not null

),

{% endfor -%}
-- amounts: each operation's office is its case's patient's office (legacy ids, so a
-- rejected row is attributed too); the target's through the read-back's uuids
source_operations as (

    select
        operations_source_rows.legacy_operation_id,
        operations_source_rows.operation_type,
        operations_source_rows.amount,
        operations_source_rows.deleted_at,
        operations_source_rows.rejection_code,
        patients_source_rows.source_office_id as legacy_office_id,
        held.legacy_id is not null as is_held

    from operations_source_rows
    left join cases_source_rows
        on operations_source_rows.resolved_instruction_id = cases_source_rows.legacy_instruction_id
    left join patients_source_rows
        on cases_source_rows.source_patient_id = patients_source_rows.legacy_patient_id
    left join held
        on
            held.entity = 'operations'
            and operations_source_rows.legacy_operation_id = held.legacy_id

),

-- the rows compared: not deleted, not rejected, not held in manual review
source_compared as (

    select * from source_operations
    where
        deleted_at is null
        and rejection_code is null
        and not is_held

),

source_left_out as (

    select * from source_operations
    where
        deleted_at is null
        and (rejection_code is not null or is_held)

),

target_compared as (

    select
        operations_read_back.legacy_operation_id,
        operations_read_back.operation_type,
        operations_read_back.amount,
        offices_read_back.legacy_office_id

    from operations_read_back
    left join cases_read_back
        on operations_read_back.case_id = cases_read_back.id
    left join patients_read_back
        on cases_read_back.patient_id = patients_read_back.id
    left join offices_read_back
        on patients_read_back.office_id = offices_read_back.id
    left join source_left_out
        on operations_read_back.legacy_operation_id = source_left_out.legacy_operation_id
    where
        operations_read_back.deleted_at is null
        and source_left_out.legacy_operation_id is null

),

-- paired by legacy id: a pair differs when a side is missing or office, type or amount differ
row_pairs as (

    select
        source_compared.legacy_operation_id as source_id,
        source_compared.legacy_office_id as source_office_id,
        source_compared.operation_type as source_type,
        source_compared.amount as source_amount,
        target_compared.legacy_operation_id as target_id,
        target_compared.legacy_office_id as target_office_id,
        target_compared.operation_type as target_type,
        target_compared.amount as target_amount,
        (
            source_compared.legacy_operation_id is null
            or target_compared.legacy_operation_id is null
            or source_compared.legacy_office_id is distinct from target_compared.legacy_office_id
            or source_compared.operation_type is distinct from target_compared.operation_type
            or source_compared.amount is distinct from target_compared.amount
        ) as is_mismatch

    from source_compared
    full outer join target_compared
        on source_compared.legacy_operation_id = target_compared.legacy_operation_id

),

-- each side summed in its own office and type
amount_check_rows as (

    select
        'operations' as entity,
        'amount_sum' as check_name,
        {{ dispatch_amount_scope('source_office_id', 'source_type') }} as check_scope,
        source_id as legacy_id,
        source_amount as source_part,
        0 as target_part,
        is_mismatch as is_sample

    from row_pairs
    where source_id is not null

    union all

    select
        'operations' as entity,
        'amount_sum' as check_name,
        {{ dispatch_amount_scope('target_office_id', 'target_type') }} as check_scope,
        target_id as legacy_id,
        0 as source_part,
        target_amount as target_part,
        is_mismatch as is_sample

    from row_pairs
    where target_id is not null

),

left_out as (

    select
        {{ dispatch_amount_scope('legacy_office_id', 'operation_type') }} as check_scope,
        sum(case when rejection_code is not null then 1 else 0 end) as left_out_rejected,
        sum(case when rejection_code is not null then amount end) as left_out_rejected_amount,
        sum(case when rejection_code is null then 1 else 0 end) as left_out_held,
        sum(case when rejection_code is null then amount end) as left_out_held_amount

    from source_left_out
    group by legacy_office_id, operation_type

),

check_rows as (

    {%- for entity in entities %}

    select * from {{ entity.target_table }}_check_rows

    union all
    {%- endfor %}
    {%- for table, key, column, parent in foreign_keys %}

    select * from {{ table }}_{{ column }}_check_rows

    union all
    {%- endfor %}

    select * from amount_check_rows

    union all

    -- a group whose rows are all left out still reports them
    select
        'operations' as entity,
        'amount_sum' as check_name,
        check_scope,
        null as legacy_id,
        0 as source_part,
        0 as target_part,
        false as is_sample

    from left_out

),

-- every whole-entity check, so that an empty table still reports 0 = 0
expected_checks as (

    {%- for entity in entities %}
    {%- for check in ['row_count', 'uuid_matches_mapping'] %}

    select
        '{{ entity.target_table }}' as entity,
        '{{ check }}' as check_name

    union all
    {%- endfor %}
    {%- endfor %}
    {%- for table, key, column, parent in foreign_keys %}

    select
        '{{ table }}' as entity,
        'fk_{{ column }}_resolves' as check_name
    {%- if not loop.last %}

    union all
    {%- endif %}
    {%- endfor %}

),

figures as (

    select
        entity,
        check_name,
        check_scope,
        cast(coalesce(sum(source_part), 0) as {{ dispatch_type_decimal() }}) as source_value,
        cast(coalesce(sum(target_part), 0) as {{ dispatch_type_decimal() }}) as target_value

    from check_rows
    group by entity, check_name, check_scope

),

all_figures as (

    select * from figures

    union all

    select
        expected_checks.entity,
        expected_checks.check_name,
        cast(null as {{ dbt.type_string() }}) as check_scope,
        cast(0 as {{ dispatch_type_decimal() }}) as source_value,
        cast(0 as {{ dispatch_type_decimal() }}) as target_value

    from expected_checks
    left join figures
        on
            expected_checks.entity = figures.entity
            and expected_checks.check_name = figures.check_name
    where figures.check_name is null

),

ranked_samples as (

    select
        entity,
        check_name,
        check_scope,
        legacy_id,
        row_number() over (
            partition by entity, check_name, check_scope
            order by legacy_id
        ) as sample_rank

    from check_rows
    where
        is_sample
        and legacy_id is not null
    group by entity, check_name, check_scope, legacy_id

),

samples as (

    select
        entity,
        check_name,
        check_scope,
        {{ dbt.listagg(dbt.cast('legacy_id', dbt.type_string()), "','", 'order by legacy_id') }} as sample_ids

    from ranked_samples
    where sample_rank <= {{ sample_size }}
    group by entity, check_name, check_scope

),

final as (

    select
        all_figures.entity,
        all_figures.check_name,
        all_figures.check_scope,
        all_figures.source_value,
        all_figures.target_value,
        samples.sample_ids,
        left_out.left_out_rejected_amount,
        left_out.left_out_held_amount,
        {{ dbt.concat(['all_figures.entity', "':'", 'all_figures.check_name', "':'",
            "coalesce(all_figures.check_scope, 'all')"]) }} as validation_id,
        all_figures.source_value = all_figures.target_value as passed,
        coalesce(left_out.left_out_rejected, 0) as left_out_rejected,
        coalesce(left_out.left_out_held, 0) as left_out_held

    from all_figures
    left join samples
        on
            all_figures.entity = samples.entity
            and all_figures.check_name = samples.check_name
            and all_figures.check_scope is not distinct from samples.check_scope
    left join left_out
        on
            all_figures.check_name = 'amount_sum'
            and all_figures.check_scope = left_out.check_scope

)

select * from final
