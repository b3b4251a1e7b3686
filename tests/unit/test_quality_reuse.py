"""Several syncs of one gate in one command check the suite's raw tables once."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import pytest

from common.settings import Settings
from reverse_etl import quality, registry


def test_a_second_sync_of_the_gate_checks_only_its_own_bound(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    checked: list[list[str]] = []

    def validate(
        settings: Settings, name: str, gate: str, tables: Sequence[quality.TableChecks]
    ) -> tuple[int, list[str]]:
        checked.append([t.table for t in tables])
        failures = (
            ["raw_dispatch.dispatch_office: office id is unique"]
            if any(t.table.startswith("raw_") for t in tables)
            else []
        )
        return sum(len(t.checks) for t in tables), failures

    monkeypatch.setattr(quality, "_validate", validate)
    monkeypatch.setattr(quality, "_precheck", lambda settings, tables: ([], None))
    settings = Settings.from_env({"QUALITY_GX_ROOT": str(tmp_path)})
    offices, profiles = (registry.by_name(f"supabase.{t}.create") for t in ("offices", "profiles"))

    with quality.suite_results_reused():
        first = quality.run_gate(settings, offices, max_rows=10)
        second = quality.run_gate(settings, profiles, max_rows=10)
    alone = quality.run_gate(settings, profiles, max_rows=10)

    suite_tables = len(quality.suite("dispatch").tables)
    assert len(checked) == 4
    assert len(checked[0]) == suite_tables  # the suite once, within the block
    assert checked[1:3] == [[offices.view], [profiles.view]]  # then each sync's bound
    assert len(checked[3]) == suite_tables + 1  # outside it, the whole suite again
    # The suite's failure blocks every sync it covers, not only the first.
    assert not first.ok and not second.ok and not alone.ok
    assert second.failures == first.failures
    # Both count the suite's expectations and their own bound's.
    counted = [re.search(r"of (\d+) expectations", s.summary) for s in (first, second)]
    assert counted[0] and counted[1] and counted[0][1] == counted[1][1]
