{#-
  Target rows of `operations`, one per legacy operation (spec "Transformations"):
  - `operation_type` from type; `amount` numeric(12, 2) from the text `price`:
    trimmed; null, empty or blank is 0.00; a leading `$` and the thousands separators
    removed; an optionally signed decimal number is rounded to 2 places half away from
    zero; anything else rejects the row (invalid_price), as does an amount beyond
    numeric(12, 2) (amount_out_of_range). Never silently zeroed.
  - `case_id`: the case of instruction_id (an instruction the source does not hold:
    orphan_instruction_id); when instruction_id is null, the latest case of the patient
    (int_dispatch__patient_latest_instructions), which must exist in the source (a
    rejected patient: parent_rejected; no patient, or one without instruction:
    no_case); a rejected case rejects the row (parent_rejected).
  - `metadata`: legacy_id and every Square field with its source value.
  Incremental: operations loaded since the last build, operations of cases whose state
  changed, and operations without instruction_id of patients whose state or latest
  case changed.
-#}
{{ dispatch_target_config('operations') }}

{#- literals on an incremental build of the table (dispatch_watermark_values) -#}
{%- set since = dispatch_watermark_values(['source_load_id', 'built_at']) %}

{%- set square_fields = ['sq_order_id', 'sq_payment_id', 'sq_refund_id', 'card_brand', 'card_bin',
    'card_last', 'office_card', 'payment_id'] %}
{%- set metadata_pairs = [('legacy_id', 'resolved.operation_id')] %}
{%- for field in square_fields %}
{%- do metadata_pairs.append((field, 'resolved.' ~ field)) %}
{%- endfor %}
{#- the price between single quotes ('''' is a quote in SQL) -#}
{%- set quoted_price = dbt.concat(["''''", 'resolved.price', "''''"]) %}
{%- set case_named = dbt.concat(["'instruction_id: dispatch_instruction '",
    dbt.cast('resolved.instruction_id', dbt.type_string())]) %}
{%- set patient_named = dbt.concat(["'patient_id: dispatch_patient '",
    dbt.cast('resolved.patient_id', dbt.type_string())]) %}
{%- set patient_resolves = dispatch_parent_resolves('resolved', 'patients', 'legacy_patient_id') %}
{%- set case_resolves = dispatch_parent_resolves('resolved', 'cases', 'legacy_instruction_id') %}
{#- first that applies; without instruction_id the case is the patient's latest -#}
{%- set rules = [
        {'when': 'resolved.instruction_id is not null and not ' ~ case_resolves,
         'code': 'orphan_instruction_id',
         'reason': "case when cases.legacy_instruction_id is null then "
            ~ dbt.concat([case_named, "' does not exist in the source'"]) ~ " else "
            ~ dbt.concat([case_named, "' was deleted in the source'"]) ~ " end"},
        {'when': 'resolved.instruction_id is null and ' ~ patient_resolves
            ~ ' and patients.rejection_code is not null',
         'code': 'parent_rejected',
         'reason': dbt.concat([patient_named, "' is rejected (children of rejected rows are rejected in turn)'"])},
        {'when': 'resolved.instruction_id is null and not (' ~ patient_resolves ~ ' and ' ~ case_resolves ~ ')',
         'code': 'no_case',
         'reason': "case when resolved.patient_id is null then 'no instruction_id and no patient_id'"
            ~ " when not " ~ patient_resolves ~ " then "
            ~ dbt.concat(["'no instruction_id, and '", patient_named, "' does not exist in the source'"])
            ~ " else " ~ dbt.concat(["'no instruction_id, and '", patient_named, "' has no instruction'"]) ~ " end"},
        {'when': case_resolves ~ ' and cases.rejection_code is not null',
         'code': 'parent_rejected',
         'reason': dbt.concat(["'case: dispatch_instruction '",
            dbt.cast('resolved.resolved_instruction_id', dbt.type_string()),
            "' is rejected (children of rejected rows are rejected in turn)'"])},
        {'when': 'not resolved.is_price_empty and not resolved.is_price_number',
         'code': 'invalid_price',
         'reason': dbt.concat(["'price '", quoted_price, "' is not a decimal number'"])},
        {'when': 'abs(resolved.rounded_amount) >= 10000000000',
         'code': 'amount_out_of_range',
         'reason': dbt.concat(["'price '", quoted_price, "' is beyond numeric(12, 2)'"])},
    ] %}

with

{{ dispatch_previous_ctes() -}}
latest_instructions as (

    select * from {{ ref('int_dispatch__patient_latest_instructions') }}

),

cases as (

    select * from {{ ref('cases') }}

),

patients as (

    select * from {{ ref('patients') }}

),

{% if is_incremental() -%}
changed_patients as (

    select latest_instructions.patient_id from latest_instructions
    where latest_instructions._changed_at > {{ since.built_at }}

    union

    select cases.source_patient_id as patient_id from cases
    where cases._state_changed_at > {{ since.built_at }}

    union

    select patients.legacy_patient_id as patient_id from patients
    where patients._state_changed_at > {{ since.built_at }}

),

{% endif -%}
{% call dispatch_changed_keys_cte('operations', since, [
    ('instruction_id', 'cases', 'legacy_instruction_id'),
]) %}

    union

    -- without instruction_id the case is the patient's latest: computed again when the
    -- patient's latest instruction, one of its cases or the patient itself changed
    select fallbacks.operation_id as changed_key
    from {{ ref('stg_dispatch__operations') }} as fallbacks
    inner join changed_patients
        on fallbacks.patient_id = changed_patients.patient_id
    where fallbacks.instruction_id is null

{%- endcall -%}
operations as (

    {{ dispatch_source_rows('operations') }}

),

uuid_mappings as (

    select * from {{ ref('uuid_mappings') }}
    where entity_type = 'operations'

),

prices as (

    select
        operations.*,
        {{ dispatch_price_trimmed('operations.price') }} as price_trimmed

    from operations

),

parsed as (

    select
        prices.*,
        prices.price_trimmed = '' as is_price_empty,
        {{ dispatch_is_decimal_number(dispatch_price_cleaned('prices.price_trimmed')) }} as is_price_number,
        {{ dispatch_price_cleaned('prices.price_trimmed') }} as price_cleaned

    from prices

),

resolved as (

    select
        parsed.*,
        -- the latest instruction is joined only when instruction_id is null
        coalesce(parsed.instruction_id, latest_instructions.latest_instruction_id) as resolved_instruction_id,
        case
            when parsed.is_price_empty then 0
            when parsed.is_price_number
                then {{ dispatch_round_half_away_from_zero(
                    dbt.cast('parsed.price_cleaned', dispatch_type_decimal())) }}
        end as rounded_amount

    from parsed
    left join latest_instructions
        on
            parsed.patient_id = latest_instructions.patient_id
            and parsed.instruction_id is null

),

-- read from `resolved`, which it therefore materializes: the parsed price and the
-- resolved case are computed once per row, not again in every expression using them
load_ids as (

    select max(dlt_load_id) as source_load_id

    from resolved

),

transformed as (

    select
        uuid_mappings.uuid as id,
        resolved.operation_id as legacy_operation_id,
        case
            when {{ dispatch_parent_resolves('resolved', 'cases', 'legacy_instruction_id') }} then cases.id
        end as case_id,
        resolved.operation_type,
        case
            when abs(resolved.rounded_amount) < 10000000000
                then cast(resolved.rounded_amount as {{ dispatch_type_amount() }})
        end as amount,
        {{ json_object(metadata_pairs) }} as metadata,
        resolved.made_at,
        resolved.deleted_at,
        resolved.created_at,
        resolved.updated_at,
        {{ dispatch_rejection_columns(rules) }},
        resolved.patient_id as source_patient_id,
        resolved.instruction_id as source_instruction_id,
        resolved.resolved_instruction_id,
        resolved.price as source_price

    from resolved
    inner join uuid_mappings
        on resolved.operation_id = uuid_mappings.legacy_id
    left join cases
        on resolved.resolved_instruction_id = cases.legacy_instruction_id
    left join patients
        on
            resolved.patient_id = patients.legacy_patient_id
            and resolved.instruction_id is null

),

{{ dispatch_target_final('operations', 'transformed') }}
