{#-
  How far the incremental models that may write nothing on a build have compared:
  one row per (model, watermark), written by the pre-hook of the model it serves
  (dispatch_record_watermarks), in that model's transaction, never by this select.
  sync_conflicts writes a row only for a conflict, so the greatest _built_at of its
  own rows stays where the last conflict left it, and each build would compare every
  row rebuilt since; its watermark here moves on with every build that compared.
  A full refresh empties it: the next build of those models compares everything.
-#}
{{ config(
    materialized='incremental',
    unique_key='watermark_id',
    incremental_strategy='merge',
    on_schema_change='fail'
) }}

with

recorded as (

    select
        cast(null as {{ dbt.type_string() }}) as watermark_id,
        cast(null as {{ dbt.type_string() }}) as model_name,
        cast(null as {{ dbt.type_string() }}) as watermark_name,
        cast(null as {{ dbt.type_string() }}) as watermark_value,
        cast(null as {{ type_timestamp_tz() }}) as recorded_at

),

final as (

    select * from recorded
    where 1 = 0

)

select * from final
