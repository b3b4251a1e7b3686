"""One asset per registered sync (destination x object x pass), run by `reverse-etl push`.

Each destination's pass is one multi-asset whose op *is* the command
`reverse-etl push <destination> --pass <pass>`, invoked in-process through its click
command (reverse_etl/cli.py -> engine): the same gate, caps, dry run, ledger and
exit codes, and, for a whole update pass, the destination's post-push validation.
A subset (some of the pass's syncs) adds `--object <entity>` for each, as a user
would. The counts come back from the ledger (reverse_etl.sync_runs), the record the
command keeps of what it did.

Dependencies, from the registry: each sync depends on its sync view's dbt model; on
the sync before it of the same destination and pass (registry order is parents
first: ServiceFusion's parent customers before customers before jobs, Supabase's
offices before profiles ...); and an update on the create of the same object, so a
run that holds both sends the creates first.

Exit codes (docs/commands.md): 0 materializes; 1 (some records rejected, set aside in
reverse_etl.rejected_records) materializes too and fails the asset check
`no_rejected_records` (a warning: the records are recorded, the pass did its job);
anything else fails the step with the command's own one-line error, after
materializing the syncs that finished before it.
"""

# No `from __future__ import annotations`: Dagster reads the op functions' type hints.

import contextlib
import io
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
import typer
from dagster import (
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    Config,
    Failure,
    MaterializeResult,
    multi_asset,
)
from psycopg.rows import dict_row

from common.redaction import redact
from common.settings import ConfigurationError, load_settings
from orchestrate.dbt_assets import model_key
from reverse_etl import registry
from reverse_etl.cli import app as reverse_etl_app
from reverse_etl.registry import Sync

REJECTIONS_CHECK = "no_rejected_records"
# sync_runs statuses of a pass that ran to its end (partial: some rows rejected)
FINISHED = ("succeeded", "partial")


class PushConfig(Config):
    """The flags of `reverse-etl push` a run may set (launchpad or schedule)."""

    dry_run: bool = False
    retry_rejected: bool = False
    skip_gate: bool = False


def push_key(sync: Sync) -> AssetKey:
    return AssetKey(["push", sync.destination, sync.entity, sync.pass_name])


def _previous(sync: Sync) -> Sync | None:
    """The sync before `sync` of the same destination and pass, in registry order."""
    earlier = [
        s for s in registry.SYNCS[: registry.SYNCS.index(sync)]
        if s.destination == sync.destination and s.pass_name == sync.pass_name
    ]
    return earlier[-1] if earlier else None


def _create_of(sync: Sync) -> Sync | None:
    if sync.pass_name != "update":
        return None
    return next(
        (s for s in registry.SYNCS if s.destination == sync.destination
         and s.object_name == sync.object_name and s.entity == sync.entity
         and s.pass_name == "create"),
        None,
    )


def sync_deps(sync: Sync) -> list[AssetKey]:
    deps = [model_key(sync.view)]
    deps += [push_key(s) for s in (_previous(sync), _create_of(sync)) if s is not None]
    return deps


def _spec(sync: Sync) -> AssetSpec:
    gate = f"gate {sync.gate}" if sync.gate else f"no gate ({sync.no_gate_reason})"
    return AssetSpec(
        key=push_key(sync),
        deps=sync_deps(sync),
        group_name=f"push_{sync.destination}",
        kinds={sync.destination},
        description=(
            f"{sync.name}: the {sync.pass_name} pass of {sync.object_name} from "
            f"{sync.view}, keyed on {sync.key}, batches of {sync.batch_size}; {gate}"
        ),
        metadata={"sync": sync.name, "sync_view": sync.view, "key": sync.key},
    )


@dataclass(frozen=True)
class CommandResult:
    exit_code: int
    error_lines: list[str]


def run_push_command(args: Sequence[str]) -> CommandResult:
    """`reverse-etl <args>` in this process: its exit code and what it said on stderr
    (stdout, the progress and summary, goes to the run's log as it is printed)."""
    command = typer.main.get_command(reverse_etl_app)
    captured = io.StringIO()
    with contextlib.redirect_stderr(_Tee(captured, sys.stderr)):
        code = command.main(list(args), prog_name="reverse-etl", standalone_mode=False)
    lines = [line for line in captured.getvalue().splitlines() if line.strip()]
    return CommandResult(int(code or 0), lines)


class _Tee(io.TextIOBase):
    def __init__(self, *streams: Any) -> None:
        self._streams = streams

    def write(self, text: str) -> int:
        for stream in self._streams:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        for stream in self._streams:
            stream.flush()


def _warehouse_now(dsn: str) -> Any:
    """The warehouse's clock, which stamps the ledger's runs."""
    try:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
            row = conn.execute("select clock_timestamp()").fetchone()
    except psycopg.OperationalError as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else "no answer"
        raise Failure(description=f"the warehouse does not answer: {redact(first)}") from None
    return row[0] if row else None


def _runs_since(dsn: str, names: Sequence[str], since: Any) -> dict[str, dict[str, Any]]:
    """The latest ledger run of each sync started since `since`."""
    with psycopg.connect(dsn, autocommit=True, connect_timeout=10, row_factory=dict_row) as conn:
        exists = conn.execute("select to_regclass('reverse_etl.sync_runs') is not null as e")
        row = exists.fetchone()
        if not row or not row["e"]:
            return {}
        cursor = conn.execute(
            """
            select distinct on (sync_name) *
            from reverse_etl.sync_runs
            where sync_name = any(%s) and started_at >= %s and revert_of is null
            order by sync_name, started_at desc
            """,
            (list(names), since),
        )
        return {row["sync_name"]: row for row in cursor.fetchall()}


def _metadata(run: dict[str, Any]) -> dict[str, Any]:
    return {
        "run_id": str(run["run_id"]),
        "status": run["status"],
        "dry_run": bool(run["dry_run"]),
        "rows_in_view": int(run["rows_in_view"]),
        "created": int(run["created"]),
        "updated": int(run["updated"]),
        "already_present": int(run["already_present"]),
        "rejected": int(run["rejected"]),
        "skipped": int(run["skipped"]),
        "api_requests": int(run["api_requests"]),
    }


def run_pass_assets(
    context: AssetExecutionContext, destination: str, pass_name: str, config: PushConfig
) -> Iterator[Any]:
    syncs = registry.select(destination, pass_name)
    selected = [s for s in syncs if push_key(s) in context.selected_asset_keys]
    args = ["push", destination, "--pass", pass_name]
    if len(selected) < len(syncs):
        for sync in selected:
            args += ["--object", sync.entity]
    args += [flag for flag, on in (("--dry-run", config.dry_run),
                                   ("--retry-rejected", config.retry_rejected),
                                   ("--skip-gate", config.skip_gate)) if on]
    try:
        dsn = load_settings().warehouse.dsn()
    except ConfigurationError as error:
        raise Failure(description=str(error)) from None
    since = _warehouse_now(dsn)
    context.log.info(f"reverse-etl {' '.join(args)}")
    result = run_push_command(args)
    runs = _runs_since(dsn, [s.name for s in selected], since)
    checks = context.selected_asset_check_keys
    for sync in selected:
        run = runs.get(sync.name)
        if run is None or run["status"] not in FINISHED:
            continue  # never started, or stopped: not materialized
        metadata = _metadata(run)
        yield MaterializeResult(asset_key=push_key(sync), metadata=metadata)
        if AssetCheckKey(push_key(sync), REJECTIONS_CHECK) in checks:
            yield AssetCheckResult(
                asset_key=push_key(sync),
                check_name=REJECTIONS_CHECK,
                passed=metadata["rejected"] == 0,
                severity=AssetCheckSeverity.WARN,
                metadata={"rejected": metadata["rejected"]},
                description="`reverse-etl rejected` lists them with code and message",
            )
    if result.exit_code not in (0, 1):
        reason = next((line for line in result.error_lines if line.startswith("error:")),
                      result.error_lines[0] if result.error_lines else "no message")
        raise Failure(
            description=f"reverse-etl {' '.join(args)} exited {result.exit_code}: {reason}",
            metadata={"exit_code": result.exit_code},
        )
    missing = [s.name for s in selected if s.name not in runs]
    if missing:
        # The command succeeded yet left no run on the ledger for these: never silent.
        raise Failure(description=f"no ledger run recorded for {', '.join(missing)}")


def _pass_assets(destination: str, pass_name: str) -> Any:
    syncs = registry.select(destination, pass_name)

    @multi_asset(
        name=f"push_{destination}_{pass_name}",
        specs=[_spec(sync) for sync in syncs],
        check_specs=[
            AssetCheckSpec(REJECTIONS_CHECK, asset=push_key(sync),
                           description="the pass rejected no record")
            for sync in syncs
        ],
        can_subset=True,
        op_tags={"propsync/command": f"reverse-etl push {destination} --pass {pass_name}"},
    )
    def _assets(context: AssetExecutionContext, config: PushConfig) -> Iterator[Any]:
        yield from run_pass_assets(context, destination, pass_name, config)

    return _assets


PUSH_ASSETS = [
    _pass_assets(destination, pass_name)
    for destination in registry.destinations()
    for pass_name in registry.PASSES
    if any(s.destination == destination and s.pass_name == pass_name for s in registry.SYNCS)
]
