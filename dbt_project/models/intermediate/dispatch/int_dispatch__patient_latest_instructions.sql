{#-
  The latest instruction of each patient (spec: the greatest created_at, ties broken
  by the greater id), among the instructions the source still holds (not
  hard-deleted). One row per patient id that has, or had, an instruction; a patient
  whose instructions are all gone has a null latest instruction. Read by patients
  (treatment_phase) and operations (the patient's latest case).

  Incremental: only patients with an instruction loaded since the last build, or
  whose latest instruction was loaded again (it may have moved to another patient) or
  deleted, are ranked again. `_changed_at` is the build at which the row's latest
  instruction last changed: the patients and operations of those patients are
  computed again.
-#}
{{ config(
    materialized='incremental',
    unique_key='patient_id',
    incremental_strategy='merge',
    on_schema_change='fail',
    indexes=[{'columns': ['patient_id'], 'unique': True}],
    pre_hook="{{ dispatch_model_settings() }}",
    post_hook="{{ dispatch_model_analyze() }}"
) }}

{#- literals on an incremental build of the table (dispatch_watermark_values) -#}
{%- set since = dispatch_watermark_values(['source_load_id']) %}

with

{% if is_incremental() -%}
watermark as (

    select coalesce(max(_source_load_id), '') as source_load_id

    from {{ this }}

),

previous as (

    select * from {{ this }}

),

{% endif -%}
instructions as (

    select * from {{ ref('stg_dispatch__instructions') }}

),

{% if is_incremental() -%}
changed_instructions as (

    select * from instructions
    where dlt_load_id > {{ since.source_load_id }}

),

-- plain joins, so that Postgres hashes them whatever its estimates
affected_patients as (

    select changed_instructions.patient_id from changed_instructions
    where changed_instructions.patient_id is not null

    union

    -- an instruction loaded again may have left the patient whose latest it was
    select previous.patient_id from previous
    inner join changed_instructions
        on previous.latest_instruction_id = changed_instructions.instruction_id

    union

    -- the latest instruction was hard-deleted
    select previous.patient_id from previous
    inner join instructions
        on previous.latest_instruction_id = instructions.instruction_id
    where instructions.deleted_at is not null

),

load_ids as (

    select max(dlt_load_id) as source_load_id

    from changed_instructions

),

{% else -%}
load_ids as (

    select max(dlt_load_id) as source_load_id

    from instructions

),

{% endif -%}
candidates as (

    select * from instructions
    where
        deleted_at is null
        -- noqa: disable=LT02
        -- (the whitespace-controlled block below renders to nothing on a first build)
        and patient_id is not null
        {%- if is_incremental() %}
        and patient_id in (select affected_patients.patient_id from affected_patients)
        {%- endif %}

),

-- noqa: enable=LT02

ranked as (

    select
        patient_id,
        instruction_id,
        instruction_type,
        created_at,
        row_number() over (
            partition by patient_id
            order by created_at desc, instruction_id desc
        ) as instruction_rank

    from candidates

),

latest as (

    select * from ranked
    where instruction_rank = 1

),

recomputed as (

    select
        {%- if is_incremental() %}
        affected_patients.patient_id,
        {%- else %}
        latest.patient_id,
        {%- endif %}
        latest.instruction_id as latest_instruction_id,
        latest.instruction_type as latest_instruction_type,
        latest.created_at as latest_instruction_created_at

    {%- if is_incremental() %}
    from affected_patients
    left join latest
        on affected_patients.patient_id = latest.patient_id
    {%- else %}
    from latest
    {%- endif %}

),

final as (

    select
        recomputed.*,
        {%- if is_incremental() %}
        case
            when
                previous.patient_id is null
                or (previous.latest_instruction_id is distinct from recomputed.latest_instruction_id)
                or (previous.latest_instruction_type is distinct from recomputed.latest_instruction_type)
                then {{ dispatch_run_started_at() }}
            else previous._changed_at
        end as _changed_at,
        coalesce(
            (select load_ids.source_load_id from load_ids),
            (select watermark.source_load_id from watermark)
        ) as _source_load_id,
        {%- else %}
        {{ dispatch_run_started_at() }} as _changed_at,
        coalesce((select load_ids.source_load_id from load_ids), '') as _source_load_id,
        {%- endif %}
        {{ dispatch_run_started_at() }} as _built_at

    -- noqa: disable=LT02
    -- (the join renders to nothing on a first build)
    from recomputed
    {%- if is_incremental() %}
    left join previous
        on recomputed.patient_id = previous.patient_id
    {%- endif %}
    -- noqa: enable=LT02

)

select * from final
