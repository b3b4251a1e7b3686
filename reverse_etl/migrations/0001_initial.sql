{#-
  Migration 1: the ledger as the pusher created it before migrations existed
  (the macro reverse_etl_ledger_ddl() of reverse_etl/sql/ledger.sql), verbatim.
  Every statement is idempotent, so on a warehouse made by that version it finds
  the tables in place, changes nothing and is recorded as applied: that is the
  baseline the later migrations start from. Never edit an applied migration; add
  the next one (reverse_etl/sql/migrate.sql explains how).
-#}
{% macro reverse_etl_migration_0001_initial() %}
create schema if not exists reverse_etl;

create table if not exists reverse_etl.sync_runs (
    run_id uuid primary key,
    destination text not null,
    object_name text not null,
    sync_view text not null,
    pass text not null check (pass in ('create', 'update')),
    dry_run boolean not null,
    started_at timestamptz not null,
    finished_at timestamptz,
    status text not null check (status in ('running', 'succeeded', 'partial', 'failed', 'blocked')),
    rows_in_view integer not null default 0,
    created integer not null default 0,
    updated integer not null default 0,
    already_present integer not null default 0,
    rejected integer not null default 0,
    skipped integer not null default 0,
    api_requests integer not null default 0,
    error text
);

create table if not exists reverse_etl.sync_records (
    run_id uuid not null references reverse_etl.sync_runs (run_id),
    sync_key text not null,
    destination text not null,
    object_name text not null,
    pass text not null,
    record_id text,
    outcome text not null,
    payload jsonb not null,
    before_values jsonb,
    payload_hash text not null,
    error_code text,
    error_message text,
    error_fields text,
    recorded_at timestamptz not null default now(),
    primary key (run_id, sync_key)
);

create table if not exists reverse_etl.rejected_records (
    run_id uuid not null references reverse_etl.sync_runs (run_id),
    sync_key text not null,
    destination text not null,
    object_name text not null,
    pass text not null,
    payload jsonb not null,
    payload_hash text not null,
    error_code text not null,
    error_message text,
    error_fields text,
    rejected_at timestamptz not null default now(),
    primary key (run_id, sync_key)
);

-- The pusher looks up earlier outcomes of a record by its key on every pass.
create index if not exists sync_records_by_key
    on reverse_etl.sync_records (destination, object_name, pass, sync_key);

create index if not exists rejected_records_lookup
    on reverse_etl.rejected_records (destination, object_name, pass, sync_key, payload_hash);
{% endmacro %}
