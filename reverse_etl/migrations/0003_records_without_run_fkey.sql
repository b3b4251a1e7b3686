{#-
  Migration 3: sync_records.run_id no longer has a foreign key to sync_runs.

  The key's per-row check (an RI trigger query for every record) was the largest
  single cost of writing a batch: on the 2-core reference machine the server took
  about 10 us per record with it and 7.6 us without, and a million-row pass writes
  a million records. The reference is still sound without it: the only writer is
  Ledger.record_batch, whose run row is committed by open_run before any record,
  nothing deletes runs, and dbt's relationships test on the source
  (_reverse_etl__sources.yml) keeps checking it on every build.
  rejected_records keeps its key: it takes a few rows per batch.
-#}
{% macro reverse_etl_migration_0003_records_without_run_fkey() %}
alter table reverse_etl.sync_records drop constraint if exists sync_records_run_id_fkey;
{% endmacro %}
