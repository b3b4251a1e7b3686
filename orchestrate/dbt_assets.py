"""Every dbt model, seed and snapshot of the project as an asset (dagster-dbt).

`@dbt_assets` reads the project's manifest; dbt's data and unit tests become asset
checks. A dbt source keeps dagster-dbt's key, `[<source>, <table>]`, which is the key
of the dlt asset that lands that table (orchestrate/dlt_assets.py), so lineage runs
from the extract through every model to the sync views. The pusher's ledger
(`reverse_etl.*` sources) stays outside the graph: the push assets write it, and the
monitoring models that read it would otherwise close a cycle.

The manifest lives in `target/dagster/` (not dbt's own `target/`, which a `dbt build`
from the shell rewrites) and is parsed again whenever a dbt file is newer than it.
"""

# No `from __future__ import annotations`: Dagster reads the op functions' type hints.

import json
import os
import shutil
import sys
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from dagster import AssetExecutionContext, AssetKey
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    dbt_assets,
    get_asset_key_for_model,
)

PROJECT_DIR = Path(__file__).resolve().parents[1]
TARGET_PATH = Path("target") / "dagster"
# What the manifest is made of: a change to any of these parses the project again.
DBT_INPUTS = ("dbt_project.yml", "selectors.yml", "dbt_project", "reverse_etl/sql",
              "reverse_etl/migrations")
# dbt invocations whose folder (manifest, run results, log) is kept for a look after
KEPT_RUNS = 10


def dbt_executable() -> str:
    """The dbt of this interpreter's environment (the venv's), else the one on PATH."""
    beside = Path(sys.executable).with_name("dbt")
    if beside.exists():
        return str(beside)
    return shutil.which("dbt") or "dbt"


def _newest_input(root: Path) -> float:
    newest = 0.0
    for name in DBT_INPUTS:
        path = root / name
        if path.is_file():
            newest = max(newest, path.stat().st_mtime)
        elif path.is_dir():
            for _folder, _subfolders, files in os.walk(path):
                for file in files:
                    newest = max(newest, (Path(_folder) / file).stat().st_mtime)
    return newest


def dbt_project() -> DbtProject:
    """The project, with a manifest no older than its files (`dbt parse` if needed).

    `dbt parse` needs a profile but no connection: profiles.yml (written by `make
    install`), else profiles.yml.example, whose values all come from PG* variables.
    """
    profiles_dir = PROJECT_DIR
    if not (PROJECT_DIR / "profiles.yml").exists():
        profiles_dir = PROJECT_DIR / "target" / "dagster-profile"
        profiles_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy(PROJECT_DIR / "profiles.yml.example", profiles_dir / "profiles.yml")
    project = DbtProject(
        project_dir=PROJECT_DIR, target_path=TARGET_PATH, profiles_dir=profiles_dir
    )
    manifest = project.manifest_path
    if not manifest.exists() or manifest.stat().st_mtime < _newest_input(PROJECT_DIR):
        project.preparer.prepare(project)
    return project


class LayerTranslator(DagsterDbtTranslator):
    """dagster-dbt's keys; each node grouped by its layer (staging, intermediate,
    marts, sync, monitoring; seeds and snapshots by their kind)."""

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] in ("seed", "snapshot"):
            return f"dbt_{dbt_resource_props['resource_type']}s"
        fqn = dbt_resource_props.get("fqn") or []
        return f"dbt_{fqn[1]}" if len(fqn) > 2 else "dbt"


PROJECT = dbt_project()
TRANSLATOR = LayerTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


@dbt_assets(
    manifest=PROJECT.manifest_path,
    project=PROJECT,
    dagster_dbt_translator=TRANSLATOR,
    name="dbt_build",
    op_tags={"propsync/command": "dbt build"},
)
def dbt_models(context: AssetExecutionContext, dbt: DbtCliResource) -> Iterator[Any]:
    """`dbt build` of the selected models, seeds and snapshots, with their tests."""
    # Each invocation writes a manifest (megabytes) to its own folder: under
    # target/dagster/runs, the last few kept, never in dbt's own target/.
    runs = PROJECT_DIR / TARGET_PATH / "runs"
    prune_runs(runs, keep=KEPT_RUNS - 1)
    target = runs / f"{context.run.run_id[:8]}-{uuid.uuid4().hex[:6]}"
    yield from dbt.cli(["build"], context=context, target_path=target).stream()


def prune_runs(runs: Path, keep: int) -> None:
    """Remove all but the `keep` newest invocation folders of `runs`."""
    if not runs.is_dir():
        return
    folders = sorted((p for p in runs.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
    for folder in folders[: max(0, len(folders) - keep)]:
        shutil.rmtree(folder, ignore_errors=True)


def dbt_resource() -> DbtCliResource:
    return DbtCliResource(project_dir=PROJECT, dbt_executable=dbt_executable())


def dbt_source_tables(source_name: str) -> tuple[str, ...]:
    """The tables of dbt source `source_name`, as the manifest lists them."""
    manifest = json.loads(PROJECT.manifest_path.read_text(encoding="utf-8"))
    return tuple(
        node["name"] for node in manifest["sources"].values()
        if node["source_name"] == source_name
    )


def model_key(relation: str) -> AssetKey:
    """The asset of a schema-qualified dbt relation (`sync.properties_to_create`)."""
    return get_asset_key_for_model([dbt_models], relation.rsplit(".", 1)[-1])
