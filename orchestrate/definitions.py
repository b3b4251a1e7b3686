"""The code location: `dagster dev -m orchestrate.definitions` (docs/orchestrate.md)."""

from __future__ import annotations

from dagster import Definitions

from orchestrate.dbt_assets import dbt_models, dbt_resource
from orchestrate.dlt_assets import EXTRACT_ASSETS
from orchestrate.push_assets import PUSH_ASSETS
from orchestrate.schedules import JOBS, SCHEDULES

defs = Definitions(
    assets=[*EXTRACT_ASSETS, dbt_models, *PUSH_ASSETS],
    jobs=JOBS,
    schedules=SCHEDULES,
    resources={"dbt": dbt_resource()},
)
