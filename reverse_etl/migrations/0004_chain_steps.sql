{#-
  Migration 4: the runs of a chain of steps (`reverse-etl sync workorders`).

  A chain run is extracts, a dbt build and push passes in dependency order; each
  step is one row of chain_steps with what it did: ran / skipped / failed, its
  records, its requests and its waits on each API's rate limit. The passes a push
  step ran are ordinary sync_runs rows, listed by id, so `reverse-etl runs show`
  explains any of them. monitoring.sync_history reads these tables.
-#}
{% macro reverse_etl_migration_0004_chain_steps() %}
create table if not exists reverse_etl.chain_runs (
    chain_run_id uuid primary key,
    chain text not null,
    dry_run boolean not null,
    status text not null,
    started_at timestamptz not null,
    finished_at timestamptz,
    exit_code integer
);

create table if not exists reverse_etl.chain_steps (
    chain_run_id uuid not null references reverse_etl.chain_runs (chain_run_id),
    step text not null,
    step_name text not null,
    status text not null,
    records integer not null default 0,
    rejected integer not null default 0,
    api_requests jsonb not null default '{}'::jsonb,
    rate_wait_s jsonb not null default '{}'::jsonb,
    started_at timestamptz not null,
    duration_s double precision not null,
    detail text,
    sync_run_ids uuid[] not null default '{}',
    primary key (chain_run_id, step)
);
{% endmacro %}
