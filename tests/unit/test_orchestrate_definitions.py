"""The Dagster code location loads, its graph has the project's real dependencies, its
schedules are the seeds', and the product runs without Dagster.

Expected values are written from the registry, the dbt sources and the seeds, not read
from orchestrate/: an asset key is the schema-qualified relation it stands for
(`sync.properties_to_create` -> sync/properties_to_create), a raw table's key is the
dbt source that reads it (`rds.properties` -> rds/properties).
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from dagster import AssetKey, Definitions

from extract.pipelines import SOURCES
from orchestrate.dbt_assets import PROJECT
from orchestrate.definitions import defs
from orchestrate.push_assets import REJECTIONS_CHECK
from reverse_etl import registry

ROOT = Path(__file__).resolve().parents[2]


def key(path: str) -> AssetKey:
    return AssetKey(path.split("/"))


@pytest.fixture(scope="module")
def graph():  # type: ignore[no-untyped-def]
    return defs.resolve_asset_graph()


def parents(graph, path: str) -> set[str]:  # type: ignore[no-untyped-def]
    return {parent.to_user_string() for parent in graph.get(key(path)).parent_keys}


def test_the_definitions_load_with_their_jobs() -> None:
    Definitions.validate_loadable(defs)
    for job in ("rds_salesforce_creates", "rds_salesforce_creates_and_updates",
                "workorder_chain"):
        assert defs.resolve_job_def(job).name == job


def test_each_dlt_source_table_is_the_asset_its_dbt_source_reads(graph) -> None:  # type: ignore[no-untyped-def]
    for spec in SOURCES.values():
        for table in spec.tables:
            node = graph.get(AssetKey([spec.name, table]))
            assert node.group_name == "extract"
            assert "dlt" in node.kinds
    manifest = json.loads(PROJECT.manifest_path.read_text())
    read = [s for s in manifest["sources"].values() if s["source_name"] in SOURCES]
    assert read, "the dbt project reads no extract source"
    for source in read:
        asset = AssetKey([source["source_name"], source["name"]])
        # a dbt source with no dlt asset behind it would be a dead end in the lineage
        assert graph.has(asset) and graph.get(asset).is_materializable, asset
        assert graph.get(asset).group_name == "extract", asset


def test_every_dbt_model_is_an_asset(graph) -> None:  # type: ignore[no-untyped-def]
    manifest = json.loads(PROJECT.manifest_path.read_text())
    models = [n for n in manifest["nodes"].values() if n["resource_type"] == "model"]
    assert len(models) > 50
    for model in models:
        assert graph.has(AssetKey([model["schema"], model["name"]])), model["unique_id"]


def test_the_rds_salesforce_lineage_runs_from_the_extract_to_both_passes(graph) -> None:  # type: ignore[no-untyped-def]
    chain = [
        "rds/properties",
        "staging/stg_rds__properties",
        "intermediate/rds_properties_enriched",
        "intermediate/properties_aggregated_by_sfdc_id",
        "intermediate/int_product_property_matches",
        "sync/properties_to_update",
        "push/salesforce/properties/update",
    ]
    for upstream, downstream in itertools.pairwise(chain):
        assert upstream in parents(graph, downstream), f"{upstream} -> {downstream}"
    assert "salesforce/product_property" in parents(
        graph, "staging/stg_salesforce__product_properties")
    upstream_of_create = {k.to_user_string() for k in graph.get(key(
        "sync/properties_to_create")).parent_keys}
    assert upstream_of_create & {"intermediate/properties_aggregated_by_sfdc_id",
                                 "intermediate/int_product_property_matches",
                                 "intermediate/int_product_properties_desired"}
    assert parents(graph, "push/salesforce/properties/create") == {"sync/properties_to_create"}
    # the create pass before the update pass
    assert parents(graph, "push/salesforce/properties/update") == {
        "sync/properties_to_update", "push/salesforce/properties/create"}


def test_every_registered_sync_is_an_asset_on_its_sync_view(graph) -> None:  # type: ignore[no-untyped-def]
    for sync in registry.SYNCS:
        path = f"push/{sync.destination}/{sync.entity}/{sync.pass_name}"
        assert sync.view.replace(".", "/") in parents(graph, path), sync.name
        assert graph.get(key(path)).group_name == f"push_{sync.destination}"
    # parents first, as the registry lists them; an update after its object's create
    assert "push/servicefusion/parent_customers/create" in parents(
        graph, "push/servicefusion/customers/create")
    assert "push/servicefusion/customers/create" in parents(
        graph, "push/servicefusion/jobs/create")
    assert "push/supabase/offices/create" in parents(graph, "push/supabase/profiles/create")
    assert parents(graph, "push/supabase/profiles/update") == {
        "sync/supabase_profiles_to_update", "push/supabase/offices/update",
        "push/supabase/profiles/create"}
    assert "push/propertyware/work_orders/update" in {
        k.to_user_string() for k in graph.get_all_asset_keys()}
    checks = {(c.asset_key.to_user_string(), c.name) for c in graph.asset_check_keys}
    assert ("push/salesforce/properties/create", REJECTIONS_CHECK) in checks


def _job_assets(name: str) -> set[str]:
    job = defs.resolve_job_def(name)
    return {k.to_user_string() for k in job.asset_layer.selected_asset_keys}


def test_the_schedules_are_the_seeds() -> None:
    schedules = {s.name: s for s in defs.schedules or []}
    # seeds/003: creates every 15 minutes, updates every 30 (one run at :00 and :30
    # does both, creates first, so the two never rebuild the models at once)
    creates = schedules["salesforce_creates_at_15_and_45"]
    both = schedules["salesforce_creates_and_updates_every_30_minutes"]
    assert (creates.cron_schedule, creates.job_name) == ("15,45 * * * *", "rds_salesforce_creates")
    assert (both.cron_schedule, both.job_name) == (
        "0,30 * * * *", "rds_salesforce_creates_and_updates")
    # seeds/000: EventBridge `cron(*/30 12-23 ? * 2-6 *)`, UTC, weekdays 2-6 = Mon-Fri
    chain = schedules["workorder_chain_working_hours"]
    assert (chain.cron_schedule, chain.job_name) == ("*/30 12-23 * * 1-5", "workorder_chain")
    for schedule in schedules.values():
        assert schedule.execution_timezone == "UTC"

    create_job = _job_assets("rds_salesforce_creates")
    assert {"push/salesforce/properties/create", "rds/properties",
            "salesforce/product_property", "sync/properties_to_create"} <= create_job
    assert "push/salesforce/properties/update" not in create_job
    assert "push/salesforce/properties/update" in _job_assets("rds_salesforce_creates_and_updates")
    chain_job = _job_assets("workorder_chain")
    assert {"push/servicefusion/parent_customers/create", "push/servicefusion/jobs/create",
            "push/propertyware/work_orders/update", "propertyware/work_orders",
            "servicefusion/jobs", "snapshots/snap_work_orders"} <= chain_job
    assert not {k for k in chain_job if k.startswith(("push/salesforce", "push/supabase", "rds/"))}


# Every module of the product imported with Dagster made unimportable. `__main__`
# modules run their command when imported, so they are left out.
_WITHOUT_DAGSTER = textwrap.dedent(
    """
    import importlib, pkgutil, sys
    for name in ("dagster", "dagster_dbt", "dagster_dlt"):
        sys.modules[name] = None  # `import dagster` now raises ImportError
    packages = sys.argv[1:]
    for package in packages:
        module = importlib.import_module(package)
        for info in pkgutil.walk_packages(module.__path__, package + "."):
            if not info.name.endswith("__main__"):
                importlib.import_module(info.name)
    print("imported", packages)
    """
)


def _import_without_dagster(*packages: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _WITHOUT_DAGSTER, *packages], cwd=ROOT,
        capture_output=True, text=True, timeout=240, check=False,
    )


def test_the_product_imports_without_dagster() -> None:
    result = _import_without_dagster("common", "extract", "reverse_etl", "sandbox")
    assert result.returncode == 0, result.stderr[-3000:]
    # the probe does catch an import of Dagster: orchestrate/ itself fails it
    probe = _import_without_dagster("orchestrate")
    assert probe.returncode != 0 and "dagster" in probe.stderr, probe.stderr[-3000:]


def test_loading_the_definitions_leaves_the_pipelines_of_extract_alone(tmp_path: Path) -> None:
    # dagster-dlt wants a dlt pipeline per source at load time; creating it where
    # `python -m extract` keeps its pipelines would write a state file beside theirs.
    env = {**os.environ, "DLT_DATA_DIR": str(tmp_path / "dlt")}
    result = subprocess.run(
        [sys.executable, "-c", "import orchestrate.definitions"], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=240, check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert not (tmp_path / "dlt").exists(), sorted(p.name for p in (tmp_path / "dlt").rglob("*"))
