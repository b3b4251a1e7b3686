"""The jobs and schedules of the seeds.

- RDS -> Salesforce (seeds/003, "Census Reverse ETL"): Sync A, creates, every 15
  minutes; Sync B, updates, every 30 minutes. Both read what the same models build,
  so two runs at :00 and :30 would rebuild the same views at once; instead the
  half-hour run does both passes, creates first (as the registry orders them), and
  the runs at :15 and :45 do the creates alone. Creates still run every 15 minutes,
  updates every 30, and no two of these runs overlap.
- The PropertyWare <-> ServiceFusion work-order chain (seeds/000, "Enable
  EventBridge Schedule": `cron(*/30 12-23 ? * 2-6 *)`): every 30 minutes from 12:00
  to 23:30 UTC, Monday to Friday (EventBridge counts weekdays from Sunday = 1, and
  its crons are UTC). The job is the chain's asset graph: both systems' extracts,
  the models of dbt's `workorders` selector, ServiceFusion's create passes and
  PropertyWare's update pass.

Each job selects its push assets with everything upstream (extracts, dbt models,
seeds, snapshots), so a run reads the sources, builds and pushes.
"""

from __future__ import annotations

from typing import Any

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    ScheduleDefinition,
    define_asset_job,
)
from dagster_dbt import build_dbt_asset_selection

from orchestrate.dbt_assets import dbt_models
from orchestrate.push_assets import push_key
from reverse_etl import registry

TIMEZONE = "UTC"
CREATES_ALONE_CRON = "15,45 * * * *"
CREATES_AND_UPDATES_CRON = "0,30 * * * *"
WORKORDER_CHAIN_CRON = "*/30 12-23 * * 1-5"


def _push(destination: str, *passes: str) -> AssetSelection:
    keys = [push_key(s) for s in registry.SYNCS
            if s.destination == destination and s.pass_name in passes]
    return AssetSelection.assets(*keys)


def _with_upstream(selection: AssetSelection) -> AssetSelection:
    # the ledger's dbt sources are outside the graph (not materializable)
    return selection.upstream().materializable()


rds_salesforce_creates = define_asset_job(
    "rds_salesforce_creates",
    selection=_with_upstream(_push("salesforce", "create")),
    description="RDS and the Salesforce read-back, dbt, then the Salesforce create pass.",
    tags={"propsync/slice": "rds_salesforce"},
)
rds_salesforce_creates_and_updates = define_asset_job(
    "rds_salesforce_creates_and_updates",
    selection=_with_upstream(_push("salesforce", "create", "update")),
    description="RDS and the Salesforce read-back, dbt, the create pass, the update pass.",
    tags={"propsync/slice": "rds_salesforce"},
)
workorder_chain = define_asset_job(
    "workorder_chain",
    selection=(
        _with_upstream(_push("servicefusion", "create") | _push("propertyware", "update"))
        # the selector's snapshots and history/error views, as the chain's build
        | build_dbt_asset_selection([dbt_models], dbt_selector="workorders")
    ),
    description="`reverse-etl sync workorders` as assets: extracts, dbt, the pushes.",
    tags={"propsync/slice": "workorders"},
)

JOBS = [
    rds_salesforce_creates,
    rds_salesforce_creates_and_updates,
    workorder_chain,
]


def _schedule(name: str, cron: str, job: Any) -> ScheduleDefinition:
    # Off until someone turns it on (UI or `dagster schedule start`): loading the
    # code location must not start writing to Salesforce.
    return ScheduleDefinition(
        name=name, cron_schedule=cron, job=job, execution_timezone=TIMEZONE,
        default_status=DefaultScheduleStatus.STOPPED,
    )


SCHEDULES = [
    _schedule("salesforce_creates_at_15_and_45", CREATES_ALONE_CRON, rds_salesforce_creates),
    _schedule(
        "salesforce_creates_and_updates_every_30_minutes", CREATES_AND_UPDATES_CRON,
        rds_salesforce_creates_and_updates,
    ),
    _schedule("workorder_chain_working_hours", WORKORDER_CHAIN_CRON, workorder_chain),
]
