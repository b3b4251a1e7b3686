{#-
  The last payload the pusher wrote to each Supabase row: per target table and sync
  key (the legacy id as text), the latest reverse_etl.sync_records row of a real
  (not dry) supabase run whose outcome is created or updated, with its payload hash.
  sync_conflicts compares the read-back's hash with it ("changed since our last push").

  Incremental, so that a build reads what the pusher wrote since the last one, not the
  whole ledger: only the records of the supabase runs still running, or finished
  after the previous build's read (less a minute: a run's finish commits a moment
  after its finished_at), are read, through the ledger's primary key (run_id,
  sync_key). A run read while it was running is read again once finished.
-#}
{{ config(
    materialized='incremental',
    unique_key=['object_name', 'sync_key'],
    incremental_strategy='merge',
    on_schema_change='fail',
    indexes=[{'columns': ['object_name', 'sync_key'], 'unique': True}],
    pre_hook="{{ dispatch_model_settings(nested_loops=true) }}",
    post_hook="{{ dispatch_model_analyze() }}"
) }}

with

{% if is_incremental() -%}
watermark as (

    select
        coalesce(
            max(_read_at), cast('1900-01-01 00:00:00+00:00' as {{ type_timestamp_tz() }})
        ) as read_at

    from {{ this }}

),

previous as (

    select * from {{ this }}

),

{% endif -%}
supabase_runs as (

    select * from {{ ref('stg_reverse_etl__sync_runs') }}
    where
        destination = 'supabase'
        and not coalesce(is_dry_run, false)

),

sync_runs as (

    select * from supabase_runs
    {%- if is_incremental() %}
    where
        finished_at is null
        or finished_at > {{ dbt.dateadd('minute', -1, '(select watermark.read_at from watermark)') }}
    {%- endif %}

),

-- The ledger itself, not stg_reverse_etl__sync_records: that view casts run_id to
-- text, which hides the primary key (run_id, sync_key) from this run filter.
sync_records as (

    select * from {{ source('reverse_etl', 'sync_records') }}
    where
        run_id in (select cast(sync_runs.run_id as {{ dispatch_type_uuid() }}) from sync_runs)
        and destination = 'supabase'
        and outcome in ('created', 'updated')

),

ranked as (

    select
        object_name,
        sync_key,
        cast(run_id as {{ dbt.type_string() }}) as run_id,
        outcome,
        payload_hash,
        recorded_at,
        row_number() over (
            partition by object_name, sync_key
            order by recorded_at desc, run_id desc
        ) as push_rank

    from sync_records

),

latest as (

    select * from ranked
    where push_rank = 1

),

{% if is_incremental() -%}
-- an older record read again (its run finished near the last build) changes nothing
newer as (

    select latest.* from latest
    left join previous
        on
            latest.object_name = previous.object_name
            and latest.sync_key = previous.sync_key
    where
        previous.sync_key is null
        or latest.recorded_at >= previous.recorded_at

),

{% else -%}
newer as (

    select * from latest

),

{% endif -%}
final as (

    select
        object_name,
        sync_key,
        run_id,
        outcome,
        payload_hash,
        recorded_at,
        {{ propsync_now() }} as _read_at

    from newer

)

select * from final
