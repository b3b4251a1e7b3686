{#-
  Migration 2: what the registry-driven pass engine records about a run.

  Runs once (reverse_etl_migrate() skips it when version 2 is recorded), but each
  statement is still written to be harmless when repeated, so that a half-known
  state (a hand-applied fix, a restored dump) cannot wedge the upgrade.
-#}
{% macro reverse_etl_migration_0002_sync_spine() %}
-- The registry's name of the sync (`<destination>.<entity>.<pass>`, e.g.
-- salesforce.properties.create): monitoring groups runs by it, and it is the key
-- of the pass's advisory lock.
alter table reverse_etl.sync_runs add column if not exists sync_name text;

-- Runs recorded before the registry existed get the name their sync has now. Only
-- Product_Property__c had a registry entry with an entity that is not its object
-- name; any other object is named after itself, in lower case.
update reverse_etl.sync_runs
set sync_name = case
    when destination = 'salesforce' and object_name = 'Product_Property__c'
        then 'salesforce.properties.' || pass
    else destination || '.' || lower(object_name) || '.' || pass
end
where sync_name is null;

-- Every writer names its sync from now on; old rows were just backfilled.
alter table reverse_etl.sync_runs alter column sync_name set not null;

create index if not exists sync_runs_by_sync_name
    on reverse_etl.sync_runs (sync_name, started_at);

-- What the data-quality gate did: passed, failed, skipped_by_user, none (the sync
-- has no gate), not_needed (nothing to send, or a dry run), unavailable / error
-- (it could not run). Free text, like sync_records.outcome: the vocabulary is the
-- engine's and is tested by dbt. Null for runs recorded before this migration.
alter table reverse_etl.sync_runs add column if not exists gate text;

-- A revert run points at the run whose writes it undoes.
alter table reverse_etl.sync_runs add column if not exists revert_of uuid
    references reverse_etl.sync_runs (run_id);

-- `abandoned`: a run left `running` by a process that died (its pass lock is free
-- again, so the next pass of the sync marks it). The name is the one Postgres
-- gave the column's check in migration 1.
alter table reverse_etl.sync_runs drop constraint if exists sync_runs_status_check;
alter table reverse_etl.sync_runs add constraint sync_runs_status_check check (
    status in ('running', 'succeeded', 'partial', 'failed', 'blocked', 'abandoned')
);
{% endmacro %}
