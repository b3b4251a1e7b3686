{#-
  The validation after every sync of the dispatch -> Supabase slice (spec "Validation
  after every sync"), transformed models vs the Supabase read-back, one row per
  entity, check and scope:
  - row_count: source rows not deleted and not rejected = target rows not deleted, both
    without the rows held in manual review (the target keeps the app's version of them,
    a source delete included); sample ids: legacy ids on one side only.
  - uuid_matches_mapping: every target row's id is the uuid uuid_mappings holds for
    its legacy id.
  - fk_<column>_resolves, per foreign key of the target: every non-null value names a
    row of the parent's read-back.
  - amount_sum, per office (legacy id; `none` when the operation has no case) and
    operation type: the sum of amount equals the source's to the cent, leaving out on
    both sides the rows rejected and the rows held in manual review (open conflicts
    whose strategy is not source_wins), deleted or not, reported beside (left_out_*).
  A view: it answers from the latest read-back and build. `reverse-etl` reads it after
  a push and exits non-zero on a failed check, naming entity, figures and sample ids.
  Each check is one aggregate over the tables themselves (no shared materialized step:
  Postgres plans each with the tables' own statistics and unique keys, which keeps it
  to hash joins over key columns on millions of rows).
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

{#- the source operations with their office (legacy ids: a rejected row is attributed too) -#}
{%- set source_operations -%}
    select
        operations.legacy_operation_id,
        operations.operation_type,
        operations.amount,
        operations.deleted_at,
        operations.rejection_code,
        patients.source_office_id as legacy_office_id,
        held.legacy_id is not null as is_held

    from {{ ref('operations') }} as operations
    left join {{ ref('cases') }} as cases
        on operations.resolved_instruction_id = cases.legacy_instruction_id
    left join {{ ref('patients') }} as patients
        on cases.source_patient_id = patients.legacy_patient_id
    left join held
        on
            held.entity = 'operations'
            and operations.legacy_operation_id = held.legacy_id
{%- endset -%}

with

-- rows held in manual review (an open conflict whose strategy is not source_wins): the
-- target keeps the app's version, deletes included, so they are left out of both sides
held as (

    select
        entity,
        legacy_id

    from {{ ref('sync_conflicts') }}
    where
        is_open
        and strategy != 'source_wins'

),

{% for entity in entities -%}
{%- set table = entity.target_table %}
{%- set key = entity.legacy_key %}
{{ table }}_source_live as (

    select source_all.{{ key }} from {{ ref(table) }} as source_all
    left join held
        on
            held.entity = '{{ table }}'
            and source_all.{{ key }} = held.legacy_id
    where
        source_all.rejection_code is null
        and source_all.deleted_at is null
        and held.legacy_id is null

),

{{ table }}_target_live as (

    select target_all.{{ key }} from {{ ref('stg_supabase__' ~ table) }} as target_all
    left join held
        on
            held.entity = '{{ table }}'
            and target_all.{{ key }} = held.legacy_id
    where
        target_all.deleted_at is null
        and held.legacy_id is null

),

{{ table }}_live_keys as (

    select
        {{ table }}_source_live.{{ key }} as source_id,
        {{ table }}_target_live.{{ key }} as target_id

    from {{ table }}_source_live
    full outer join {{ table }}_target_live
        on {{ table }}_source_live.{{ key }} = {{ table }}_target_live.{{ key }}

),

{{ table }}_row_count as (

    select
        '{{ table }}' as entity,
        'row_count' as check_name,
        cast(null as {{ dbt.type_string() }}) as check_scope,
        cast(count(source_id) as {{ dispatch_type_decimal() }}) as source_value,
        cast(count(target_id) as {{ dispatch_type_decimal() }}) as target_value,
        (
            select {{ dispatch_id_list('one_sided.legacy_id') }}
            from (
                select coalesce(source_id, target_id) as legacy_id
                from {{ table }}_live_keys
                where source_id is null or target_id is null
                order by legacy_id
                limit {{ sample_size }}
            ) as one_sided
        ) as sample_ids

    from {{ table }}_live_keys

),

{{ table }}_mapped as (

    select
        target_rows.{{ key }} as legacy_id,
        target_rows.id = uuid_mappings.uuid as is_mapped

    from {{ ref('stg_supabase__' ~ table) }} as target_rows
    left join {{ ref('uuid_mappings') }} as uuid_mappings
        on
            uuid_mappings.entity_type = '{{ table }}'
            and target_rows.{{ key }} = uuid_mappings.legacy_id

),

{{ table }}_uuid_matches_mapping as (

    select
        '{{ table }}' as entity,
        'uuid_matches_mapping' as check_name,
        cast(null as {{ dbt.type_string() }}) as check_scope,
        cast(count(*) as {{ dispatch_type_decimal() }}) as source_value,
        cast(coalesce(sum(case when is_mapped then 1 else 0 end), 0) as {{ dispatch_type_decimal() }}) as target_value,
        (
            select {{ dispatch_id_list('unmapped.legacy_id') }}
            from (
                select legacy_id from {{ table }}_mapped
                where not coalesce(is_mapped, false)
                order by legacy_id
                limit {{ sample_size }}
            ) as unmapped
        ) as sample_ids

    from {{ table }}_mapped

),

{% endfor -%}
{% for table, key, column, parent in foreign_keys -%}
{{ table }}_{{ column }}_keys as (

    select
        children.{{ key }} as legacy_id,
        parents.id is not null as is_resolved

    from {{ ref('stg_supabase__' ~ table) }} as children
    left join {{ ref('stg_supabase__' ~ parent) }} as parents
        on children.{{ column }} = parents.id
    where children.{{ column }} is not null

),

{{ table }}_{{ column }}_resolves as (

    select
        '{{ table }}' as entity,
        'fk_{{ column }}_resolves' as check_name,
        cast(null as {{ dbt.type_string() }}) as check_scope,
        cast(count(*) as {{ dispatch_type_decimal() }}) as source_value,
        cast(coalesce(sum(case when is_resolved then 1 else 0 end), 0) as {{ dispatch_type_decimal() }})
            as target_value,
        (
            select {{ dispatch_id_list('unresolved.legacy_id') }}
            from (
                select legacy_id from {{ table }}_{{ column }}_keys
                where not is_resolved
                order by legacy_id
                limit {{ sample_size }}
            ) as unresolved
        ) as sample_ids

    from {{ table }}_{{ column }}_keys

),

{% endfor -%}
-- amounts: the rows compared are not deleted, not rejected, not held in manual review
source_compared as (

    select * from ({{ source_operations }}) as source_operations
    where
        deleted_at is null
        and rejection_code is null
        and not is_held

),

-- the rows left out of both sides: rejected, or held in manual review (deleted or not)
source_left_out as (

    select * from ({{ source_operations }}) as source_operations
    where rejection_code is not null or is_held

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

-- the target's office through the read-back's uuids; rows left out on the source side
-- are left out here too
target_compared as (

    select
        target_operations.legacy_operation_id,
        target_operations.operation_type,
        target_operations.amount,
        target_offices.legacy_office_id

    from {{ ref('stg_supabase__operations') }} as target_operations
    left join {{ ref('stg_supabase__cases') }} as target_cases
        on target_operations.case_id = target_cases.id
    left join {{ ref('stg_supabase__patients') }} as target_patients
        on target_cases.patient_id = target_patients.id
    left join {{ ref('stg_supabase__offices') }} as target_offices
        on target_patients.office_id = target_offices.id
    left join source_left_out
        on target_operations.legacy_operation_id = source_left_out.legacy_operation_id
    where
        target_operations.deleted_at is null
        and source_left_out.legacy_operation_id is null

),

-- each side summed in its own office and type
source_sums as (

    select
        {{ dispatch_amount_scope('legacy_office_id', 'operation_type') }} as check_scope,
        sum(amount) as source_value

    from source_compared
    group by legacy_office_id, operation_type

),

target_sums as (

    select
        {{ dispatch_amount_scope('legacy_office_id', 'operation_type') }} as check_scope,
        sum(amount) as target_value

    from target_compared
    group by legacy_office_id, operation_type

),

-- a pair differs when a side is missing or its office, type or amount differs
mismatches as (

    select
        source_compared.legacy_operation_id as source_id,
        target_compared.legacy_operation_id as target_id,
        {{ dispatch_amount_scope('source_compared.legacy_office_id', 'source_compared.operation_type') }}
            as source_scope,
        {{ dispatch_amount_scope('target_compared.legacy_office_id', 'target_compared.operation_type') }}
            as target_scope

    from source_compared
    full outer join target_compared
        on source_compared.legacy_operation_id = target_compared.legacy_operation_id
    where
        source_compared.legacy_operation_id is null
        or target_compared.legacy_operation_id is null
        or source_compared.legacy_office_id is distinct from target_compared.legacy_office_id
        or source_compared.operation_type is distinct from target_compared.operation_type
        or source_compared.amount is distinct from target_compared.amount

),

mismatch_ids as (

    select
        source_scope as check_scope,
        source_id as legacy_id

    from mismatches
    where source_id is not null

    union

    select
        target_scope as check_scope,
        target_id as legacy_id

    from mismatches
    where target_id is not null

),

amount_samples as (

    select
        check_scope,
        {{ dispatch_id_list('legacy_id') }} as sample_ids

    from (
        select
            check_scope,
            legacy_id,
            row_number() over (partition by check_scope order by legacy_id) as sample_rank
        from mismatch_ids
    ) as ranked
    where sample_rank <= {{ sample_size }}
    group by check_scope

),

amount_scopes as (

    select check_scope from source_sums
    union
    select check_scope from target_sums
    union
    -- a group whose rows are all left out still reports them
    select check_scope from left_out

),

amount_sum as (

    select
        'operations' as entity,
        'amount_sum' as check_name,
        amount_scopes.check_scope,
        cast(coalesce(source_sums.source_value, 0) as {{ dispatch_type_decimal() }}) as source_value,
        cast(coalesce(target_sums.target_value, 0) as {{ dispatch_type_decimal() }}) as target_value,
        amount_samples.sample_ids

    from amount_scopes
    left join source_sums
        on amount_scopes.check_scope = source_sums.check_scope
    left join target_sums
        on amount_scopes.check_scope = target_sums.check_scope
    left join amount_samples
        on amount_scopes.check_scope = amount_samples.check_scope

),

checks as (

    {%- for entity in entities %}
    {%- for check in ['row_count', 'uuid_matches_mapping'] %}

    select * from {{ entity.target_table }}_{{ check }}

    union all
    {%- endfor %}
    {%- endfor %}
    {%- for table, key, column, parent in foreign_keys %}

    select * from {{ table }}_{{ column }}_resolves

    union all
    {%- endfor %}

    select * from amount_sum

),

final as (

    select
        checks.entity,
        checks.check_name,
        checks.check_scope,
        checks.source_value,
        checks.target_value,
        checks.sample_ids,
        left_out.left_out_rejected_amount,
        left_out.left_out_held_amount,
        {{ dbt.concat(['checks.entity', "':'", 'checks.check_name', "':'",
            "coalesce(checks.check_scope, 'all')"]) }} as validation_id,
        checks.source_value = checks.target_value as passed,
        coalesce(left_out.left_out_rejected, 0) as left_out_rejected,
        coalesce(left_out.left_out_held, 0) as left_out_held

    from checks
    left join left_out
        on
            checks.check_name = 'amount_sum'
            and checks.check_scope = left_out.check_scope

)

select * from final
