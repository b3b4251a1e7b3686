"""The pass semantics every destination must keep, each written once against the harness.

In the style of singer-sdk's standard target tests: the suite knows the engine's
promises (docs/syncs.md), the harness knows the destination. A dry run sends
nothing; a lost response is not a duplicate; a rejection does not stop its batch; a
rerun after the read-back sends nothing; Retry-After is honoured; an expired session
is renewed once; a pass killed mid-way converges when rerun; two identical passes at
once write nothing twice. In-process passes record their HTTP waits instead of
sleeping; the two subprocess tests slow the destination's writes to a second each.
"""

from __future__ import annotations

import signal

import pytest

from reverse_etl.destinations.base import Payload
from reverse_etl.registry import PassName
from tests.conformance.harness import WRITTEN, Bench, Change, Sleeps, finished, reaped

pytestmark = pytest.mark.integration

BOTH_PASSES = pytest.mark.parametrize("pass_name", ["create", "update"])


def test_a_dry_run_sends_nothing(bench: Bench) -> None:
    h = bench.harness
    # Each pass the destination registers (Salesforce: both).
    creates, updates = bench.has_pass("create"), bench.has_pass("update")
    assert creates or updates
    if creates:
        bench.prepare("create", 3)
    # The update view changes a record that exists; the create view's three do not.
    existing = h.payload(10)
    (record_id,) = h.seed([existing])
    if updates:
        h.put_updates(bench.conn, [Change(record_id, existing, h.changed(existing))])
    mark = h.mark()

    results = []
    if creates:
        created = bench.push(bench.sync("create"), dry_run=True)
        assert bench.outcomes(created) == {"would_create": 3}
        results.append(created)
    if updates:
        updated = bench.push(bench.sync("update"), dry_run=True)
        assert bench.outcomes(updated) == {"would_update": 1}
        results.append(updated)

    assert h.requests(mark) == 0, "a dry run sends no request at all, not even for a token"
    assert {result.status for result in results} == {"succeeded"}
    bench.assert_holds_exactly([existing])


@BOTH_PASSES
def test_a_lost_response_after_the_write_is_not_a_duplicate(
    bench: Bench, pass_name: PassName
) -> None:
    h = bench.harness
    sync = bench.sync(pass_name)
    # Two batches and a bit: the fault hits the first, the others are clean.
    rows = 2 * bench.batch_size(sync) + 1
    final: list[Payload] = []
    # Each kind of lost response on records of its own (a fresh range of keys).
    for round_number, kind in enumerate(h.lost_response_faults):
        scenario = bench.prepare(pass_name, rows, start=round_number * rows)
        final += scenario.final
        mark = h.mark()
        h.lose_next_write_response(kind)

        result = bench.push(sync)

        if h.lost_response_aborts:
            # The pass gave up on the lost reply; the write must have been applied
            # (else no duplicate could arise), and the rerun, with no read-back
            # between, must find it rather than write it twice.
            assert (result.status, result.exit_code) == ("failed", 3), (kind, result.error)
            assert set(bench.outcomes(result)) == {"not_sent"}, kind
            assert bench.holding(scenario.final) == bench.batch_size(sync), kind
            result = bench.push(sync)

        assert result.status == "succeeded", (kind, result.error)
        bench.assert_holds_exactly(final)
        outcomes = bench.outcomes(result)
        assert set(outcomes) <= {WRITTEN[pass_name], "already_present"}, (kind, outcomes)
        assert sum(outcomes.values()) == rows, (kind, outcomes)
        # The lost write was sent once more (or looked up instead), and nothing else was.
        assert h.writes(mark) == bench.ideal_writes(sync, rows) + h.lost_write_resends, kind


@BOTH_PASSES
def test_a_rejected_record_does_not_stop_its_batch(bench: Bench, pass_name: PassName) -> None:
    h = bench.harness
    scenario = bench.prepare(pass_name, 5, reject=[3])
    (rejected_key,) = scenario.rejected_keys
    (refused,) = scenario.refused

    result = bench.push(scenario.sync)

    assert (result.status, result.exit_code) == ("partial", 1)
    assert bench.outcomes(result) == {WRITTEN[pass_name]: 4, "rejected": 1}
    # Salesforce: the four others went in the same, single batch; a destination of one
    # record a request sent each once.
    sent = 5 if h.rejection_sent else 4
    assert h.writes() == bench.ideal_writes(scenario.sync, sent), "each batch sent once"
    bench.assert_holds_exactly(scenario.final)
    rows = bench.conn.execute(
        "select sync_key, error_code, error_fields, error_message, payload "
        "from reverse_etl.rejected_records where run_id = %s",
        (result.run_id,),
    ).fetchall()
    assert len(rows) == 1
    sync_key, code, fields, message, payload = rows[0]
    assert (sync_key, code) == (rejected_key, h.rejection_code)
    assert h.rejected_field in (fields or "").split(","), fields
    # What the person fixing the row needs: the destination's words and the bad value.
    assert message
    assert not h.mismatches(payload, {h.rejected_field: refused[h.rejected_field]})

    # After the read-back only the refused row is left; the next pass sets it aside
    # (same payload, same answer) instead of spending a request on it.
    h.read_back(bench.conn, scenario.sync)
    mark = h.mark()
    rerun = bench.push(scenario.sync)
    assert h.requests(mark) == 0
    assert bench.outcomes(rerun) == {"skipped_known_rejection": 1}


@BOTH_PASSES
def test_a_rerun_after_the_read_back_sends_nothing(bench: Bench, pass_name: PassName) -> None:
    h = bench.harness
    size = bench.batch_size(bench.sync(pass_name))
    scenario = bench.prepare(pass_name, size + 1)
    first = bench.push(scenario.sync)
    assert first.status == "succeeded", first.error
    assert bench.outcomes(first) == {WRITTEN[pass_name]: scenario.rows}

    h.read_back(bench.conn, scenario.sync)
    mark = h.mark()
    rerun = bench.push(scenario.sync)

    assert h.requests(mark) == 0, "nothing left to write: not even a token request"
    assert (rerun.status, rerun.rows_in_view, rerun.api_requests) == ("succeeded", 0, 0)
    bench.assert_holds_exactly(scenario.final)


@BOTH_PASSES
def test_a_429_with_retry_after_is_honoured(bench: Bench, pass_name: PassName) -> None:
    h = bench.harness
    bench.require("throttle")
    scenario = bench.prepare(pass_name, 3)
    mark = h.mark()
    retry_after = h.throttle_next_write()
    sleeps = Sleeps()

    result = bench.push(scenario.sync, sleeps=sleeps)

    assert result.status == "succeeded", result.error
    assert sleeps and max(sleeps) >= retry_after, f"waits {sleeps}, Retry-After {retry_after}"
    # The throttled request was not applied: its batch is written once, by its retry.
    assert h.writes(mark) == bench.ideal_writes(scenario.sync, 3) + 1
    assert bench.outcomes(result) == {WRITTEN[pass_name]: 3}
    bench.assert_holds_exactly(scenario.final)


@BOTH_PASSES
def test_an_expired_session_is_renewed_once(bench: Bench, pass_name: PassName) -> None:
    h = bench.harness
    bench.require("expired_session")
    size = bench.batch_size(bench.sync(pass_name))
    scenario = bench.prepare(pass_name, 2 * size + 1)
    mark = h.mark()

    def expire_before_the_second_batch(index: int) -> None:
        if index == 1:
            h.expire_session()

    result = bench.push(scenario.sync, hook=expire_before_the_second_batch)

    assert result.status == "succeeded", result.error
    assert h.tokens(mark) == 2, "the first session, and exactly one renewal"
    # The batch refused with the stale session is sent again, once.
    assert h.writes(mark) == bench.ideal_writes(scenario.sync, scenario.rows) + 1
    assert bench.outcomes(result) == {WRITTEN[pass_name]: scenario.rows}
    bench.assert_holds_exactly(scenario.final)


def test_a_pass_killed_mid_way_converges_when_rerun(bench: Bench) -> None:
    sync = bench.sync("create")
    size = bench.batch_size(sync)
    scenario = bench.prepare("create", 4 * size)

    # Slowed to a write a second, the pass is killed once its first batch is on the
    # ledger, long before its last.
    killed = bench.cli_push(sync, slow=True)
    with reaped(killed):
        bench.wait_until(
            lambda: bench.recorded(sync) > 0 or killed.poll() is not None,
            timeout_s=30,
            what="the first batch on the ledger",
        )
        assert killed.poll() is None, "the pass ended before it could be killed: not slowed?"
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=10)
    assert killed.returncode == -signal.SIGKILL
    recorded_when_killed = bench.recorded(sync)
    assert 0 < recorded_when_killed < scenario.rows, "killed mid-pass"
    # The server drops the dead client's session, and with it the pass lock, as soon
    # as it notices the closed socket; the rerun would otherwise be refused (exit 3).
    bench.wait_until(lambda: bench.advisory_locks() == 0, 10, "the killed pass's lock")

    # The same command again, at full speed, on the same view (no read-back between).
    rerun = bench.cli_push(sync)
    with reaped(rerun):
        status, stdout, stderr = finished(rerun)
    assert status == 0, stdout + stderr

    bench.assert_holds_exactly(scenario.final)
    runs = bench.conn.execute(
        "select run_id, status from reverse_etl.sync_runs order by started_at"
    ).fetchall()
    assert [run_status for _, run_status in runs] == ["abandoned", "succeeded"], (
        "the rerun, holding the lock, marks the dead pass's run instead of leaving it running"
    )
    last = bench.conn.execute(
        "select outcome, count(*) from reverse_etl.sync_records where run_id = %s group by 1",
        (runs[1][0],),
    ).fetchall()
    # What the killed pass wrote (recorded or in flight) is found, not written again.
    assert dict(last).keys() <= {"created", "already_present"}
    assert sum(count for _, count in last) == scenario.rows
    assert dict(last).get("already_present", 0) >= recorded_when_killed


def test_two_identical_passes_at_once_write_nothing_twice(bench: Bench) -> None:
    h = bench.harness
    sync = bench.sync("create")
    size = bench.batch_size(sync)
    # Slowed, the first pass holds its lock for three seconds or more: far longer than
    # the two processes take to start, so the second always finds it held.
    scenario = bench.prepare("create", 3 * size)

    first, second = bench.cli_push(sync, slow=True), bench.cli_push(sync, slow=True)
    with reaped(first, second):
        results = [finished(first), finished(second)]

    statuses = sorted(status for status, _, _ in results)
    assert statuses == [0, 3], results
    (_, _, refusal) = next(r for r in results if r[0] == 3)
    lines = refusal.strip().splitlines()
    assert len(lines) == 1, refusal
    assert sync.name in lines[0] and "running" in lines[0], lines[0]
    bench.assert_holds_exactly(scenario.final)
    # The refused pass sent nothing: one session, and each batch once.
    assert h.tokens() == 1
    assert h.writes() == bench.ideal_writes(sync, scenario.rows)
