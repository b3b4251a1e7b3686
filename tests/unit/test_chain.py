"""The work-order chain's rules that need no service: steps, dependencies, exit code."""

from __future__ import annotations

import pytest

from reverse_etl.chain import (
    STEP_KEYS,
    STEPS,
    Step,
    StepResult,
    UnknownStep,
    WorkOrderChain,
    chain_exit_code,
    select_steps,
)


def _step(key: str) -> Step:
    return next(step for step in STEPS if step.key == key)


def test_the_spec_has_eleven_numbered_steps_and_the_build_between_extracts_and_pushes() -> None:
    assert STEP_KEYS == ("1", "2", "3", "4", "5", "6", "build", "7", "8", "9", "10", "11")
    assert {step.kind for step in STEPS[:6]} == {"extract"}
    assert {step.source for step in STEPS[:6]} == {"propertyware", "servicefusion"}


def test_push_steps_depend_on_what_they_read() -> None:
    # 11 (write-back) reads work orders and jobs, not the customers of step 7.
    assert set(_step("11").depends_on) == {"2", "4", "build"}
    assert "7" in _step("10").depends_on
    assert _step("8").depends_on == ("7",)


def test_select_steps_keeps_chain_order_and_names_unknown_steps() -> None:
    assert [s.key for s in select_steps(["11", "2"])] == ["2", "11"]
    assert select_steps(None) == list(STEPS)
    with pytest.raises(UnknownStep, match="unknown step 12"):
        select_steps(["12"])


def test_a_failed_step_blocks_its_dependants_only() -> None:
    failed = StepResult(_step("3"), "failed", exit_code=3)
    results = {"3": failed, "2": StepResult(_step("2"), "ran"),
               "4": StepResult(_step("4"), "ran"), "build": StepResult(_step("build"), "ran")}
    selected = set(STEP_KEYS)
    assert WorkOrderChain._blocker(_step("7"), selected, results) == (
        "step 3 (fetch customers) failed"
    )
    assert WorkOrderChain._blocker(_step("11"), selected, results) is None


def test_a_dependency_skipped_by_a_flag_does_not_block_but_one_skipped_by_failure_does() -> None:
    by_flag = StepResult(_step("7"), "skipped", detail="ENABLE_SERVICE_FUSION is off")
    by_failure = StepResult(_step("7"), "skipped", detail="step 3 failed", blocked=True)
    selected = set(STEP_KEYS)
    assert WorkOrderChain._blocker(_step("8"), selected, {"7": by_flag}) is None
    assert WorkOrderChain._blocker(_step("8"), selected, {"7": by_failure}) is not None


def test_steps_not_selected_are_taken_as_done() -> None:
    assert WorkOrderChain._blocker(_step("10"), {"10"}, {}) is None


def test_exit_code_is_the_worst_step() -> None:
    ran = StepResult(_step("1"), "ran")
    rejected = StepResult(_step("7"), "ran", rejected=2, exit_code=1)
    blocked = StepResult(_step("10"), "failed", exit_code=4)
    down = StepResult(_step("3"), "failed", exit_code=3)
    assert chain_exit_code([ran]) == 0
    assert chain_exit_code([ran, rejected]) == 1
    assert chain_exit_code([ran, rejected, down]) == 3
    assert chain_exit_code([down, blocked]) == 4
