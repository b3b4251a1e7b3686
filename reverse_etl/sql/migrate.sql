{#-
  The ledger's migrations runner. One text for two readers, as the ledger DDL has
  always been: dbt runs reverse_etl_migrate() on-run-start (reverse_etl/sql and
  reverse_etl/migrations are dbt macro paths) so that the monitoring models can
  read the ledger before the first push, and reverse_etl/ledger.py renders the
  same macros with Jinja (Ledger.migrate()) before its first write.

  Each migration runs once, in version order, inside a DO block that skips it when
  its version is in reverse_etl.schema_migrations and records it when it ran. The
  text is one transaction (the pusher wraps it in one; dbt sends it as a single
  multi-statement query, which Postgres runs as one), so a failing migration
  leaves no trace, and it starts by taking a transaction-level advisory lock so
  that two migrators (two pushes, a push and a dbt build) take turns: the second
  one finds the versions the first recorded and applies nothing.

  Adding a migration: a file reverse_etl/migrations/NNNN_<name>.sql defining the
  macro reverse_etl_migration_NNNN_<name>(), and its line at the end of
  `migrations` below (ledger.py refuses to migrate when the files and this list
  disagree). Its body runs inside plpgsql, so: DDL and DML only (no bare SELECT),
  no transaction control, no CONCURRENTLY. Never edit a migration once applied.
-#}

{% macro reverse_etl_migrate_lock() -%}
select pg_advisory_xact_lock(hashtextextended('reverse_etl.migrate', 0));
{%- endmacro %}

{% macro reverse_etl_migrate() -%}
{%- set migrations = [
    (1, 'initial', reverse_etl_migration_0001_initial),
    (2, 'sync_spine', reverse_etl_migration_0002_sync_spine),
    (3, 'records_without_run_fkey', reverse_etl_migration_0003_records_without_run_fkey),
    (4, 'chain_steps', reverse_etl_migration_0004_chain_steps),
] -%}
{{ reverse_etl_migrate_lock() }}

create schema if not exists reverse_etl;

create table if not exists reverse_etl.schema_migrations (
    version integer primary key,
    name text not null,
    applied_at timestamptz not null default now()
);
{% for version, name, migration in migrations %}
-- reverse_etl migration {{ version }}: {{ name }}
do $reverse_etl_migration_{{ version }}$
begin
    if not exists (select from reverse_etl.schema_migrations where version = {{ version }}) then
{{ migration() }}
        insert into reverse_etl.schema_migrations (version, name, applied_at)
        values ({{ version }}, '{{ name }}', clock_timestamp());
    end if;
end
$reverse_etl_migration_{{ version }}$;
{% endfor %}
{%- endmacro %}
