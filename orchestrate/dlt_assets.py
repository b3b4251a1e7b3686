"""One Dagster asset per raw table, one multi-asset per dlt source of `python -m extract`.

The specs come from dagster-dlt (`@dlt_assets` and a `DagsterDltTranslator`), keyed
`[<source>, <table>]`: the key dagster-dbt gives the dbt source of that raw table, so
each staging model's asset depends on the table dlt lands. A source's real resources
open their connections when they are built (sql_table reflects its table, the
Salesforce source needs its client credentials), so the decorator is given a
*declared* source: one resource per raw table the source fills
(`extract.pipelines.SOURCES`), built without touching any system. A run then calls
`extract.pipelines.extract_source`, the code of `python -m extract <source>`: the
same incremental state (the same pipeline folder), fast path, delete markers and
one-line errors, not a second way of running dlt.
"""

# No `from __future__ import annotations`: Dagster reads the op functions' type hints.

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dlt
from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    Failure,
    MaterializeResult,
    MetadataValue,
)
from dagster_dlt import DagsterDltTranslator, dlt_assets
from dagster_dlt.translator import DltResourceTranslatorData
from dlt.extract import DltSource

from common.settings import ConfigurationError, load_settings
from extract.pipelines import SOURCES, ExtractError, SourceSpec, dlt_data_dir, extract_source
from orchestrate.dbt_assets import dbt_source_tables

GROUP = "extract"


def raw_table_key(source: str, table: str) -> AssetKey:
    """A raw table's asset key: dagster-dbt's key of the dbt source that reads it."""
    return AssetKey([source, table])


class RawTableTranslator(DagsterDltTranslator):
    """dagster-dlt's spec of a resource, keyed as the dbt source of its table."""

    def get_asset_spec(self, data: DltResourceTranslatorData) -> AssetSpec:
        spec = super().get_asset_spec(data)
        resource = data.resource
        assert resource is not None
        source = SOURCES[resource.source_name]
        return spec.replace_attributes(
            key=raw_table_key(source.name, resource.name),
            # the systems it reads are outside the graph; nothing upstream to wait for
            deps=[],
            group_name=GROUP,
            description=(
                f"{source.dataset}.{resource.name}, landed by `python -m extract "
                f"{source.name}` (dlt pipeline {source.pipeline_name}, {source.disposition})"
            ),
        ).merge_attributes(metadata={"dataset": source.dataset, "source": source.name})


def landed_tables(spec: SourceSpec) -> tuple[str, ...]:
    """The raw tables a source fills: its own, and the nested tables dlt unpacks from
    them (`leases__tenants`) that the dbt sources read."""
    nested = [
        table for table in dbt_source_tables(spec.name)
        if table not in spec.tables and any(table.startswith(f"{t}__") for t in spec.tables)
    ]
    return (*spec.tables, *nested)


def declared_source(spec: SourceSpec) -> DltSource:
    """The tables of `spec` as a dlt source whose resources read nothing: the shape
    dagster-dlt builds its specs from, never run."""

    def _declared() -> Iterator[Any]:
        yield from ()

    @dlt.source(name=spec.name, max_table_nesting=0)
    def _tables() -> Any:
        return [dlt.resource(_declared, name=table) for table in landed_tables(spec)]

    return _tables()


# dlt.pipeline() writes a state file into its folder: a declared pipeline gets a
# folder of its own, never the one of the pipelines that run (DLT_DATA_DIR), whose
# incremental state a run restores.
DECLARED_PIPELINES_DIR = Path(tempfile.gettempdir()) / "propsync-dagster-declared-pipelines"


def declared_pipeline(spec: SourceSpec) -> Any:
    """The pipeline `python -m extract` runs (its name, warehouse kind and dataset),
    for dagster-dlt to read the assets' kinds from; never run."""
    return dlt.pipeline(
        pipeline_name=spec.pipeline_name,
        destination="postgres",
        dataset_name=spec.dataset,
        pipelines_dir=str(DECLARED_PIPELINES_DIR),
        progress=None,
    )


def _extract_results(context: AssetExecutionContext, spec: SourceSpec) -> Iterator[Any]:
    try:
        settings = load_settings()
    except ConfigurationError as error:
        raise Failure(description=f"{spec.name}: {error}") from None
    # as `python -m extract` does: dlt's files in the project, no usage data sent
    os.environ.setdefault("DLT_DATA_DIR", str(dlt_data_dir()))
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    try:
        result = extract_source(spec.name, settings)
    except ExtractError as error:
        raise Failure(
            description=str(error), metadata={"exit_code": error.exit_code}
        ) from None
    context.log.info(
        f"{spec.name}: {result.total} rows {result.disposition} into {spec.dataset} "
        f"in {result.seconds:.1f} s"
    )
    api = {name: vars(usage) for name, usage in result.api.items()}
    # dlt loads a source's tables in one package: the whole source ran; report the
    # tables the run selected.
    selected = context.selected_asset_keys
    for table in landed_tables(spec):
        key = raw_table_key(spec.name, table)
        if key not in selected:
            continue
        metadata: dict[str, Any] = {
            "seconds": round(result.seconds, 3),
            "resources": ", ".join(result.resources),
            "api": MetadataValue.json(api),
        }
        if table in result.rows:  # extract counts a source's own tables, not nested ones
            metadata["rows_loaded"] = result.rows[table]
            metadata["rows_deleted"] = result.deleted.get(table, 0)
        yield MaterializeResult(asset_key=key, metadata=metadata)


def _source_assets(spec: SourceSpec) -> Any:
    @dlt_assets(
        dlt_source=declared_source(spec),
        dlt_pipeline=declared_pipeline(spec),
        name=f"extract_{spec.name}",
        dagster_dlt_translator=RawTableTranslator(),
        op_tags={"propsync/command": f"python -m extract {spec.name}"},
    )
    def _assets(context: AssetExecutionContext) -> Iterator[Any]:
        yield from _extract_results(context, spec)

    return _assets


# Every source of `python -m extract`: rds, dispatch, supabase and salesforce
# (read-backs), propertyware, servicefusion.
EXTRACT_ASSETS = [_source_assets(spec) for spec in SOURCES.values()]
