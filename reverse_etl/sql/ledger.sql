{#-
  The pusher's ledger. One text for two readers: dbt runs this macro on-run-start
  (this folder is one of dbt's macro paths) so that the monitoring models can read
  the ledger before the first push, and reverse_etl/ledger.py renders the same
  macro with Jinja before its first write. Every statement is idempotent.
-#}
{% macro reverse_etl_ledger_ddl() %}
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
