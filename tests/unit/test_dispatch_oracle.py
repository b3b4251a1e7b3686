"""The dispatch -> Supabase oracle's rules on small hand-made cases.

Every expected value here is worked out by hand from ../shared/spec/dispatch_supabase.md,
not computed by the oracle, so that the oracle the e2e tests trust is itself checked.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from tests.e2e.dispatch_oracle import (
    DEFAULT_STRATEGIES,
    DELETED,
    NAMESPACES,
    InvalidPrice,
    Source,
    Target,
    amount_sums,
    differences,
    expected_target,
    live_counts,
    namespace,
    new_uuid,
    parse_amount,
    treatment_phase,
)

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def office(id: int, **values: Any) -> dict[str, Any]:
    return {"id": id, "name": f"Office {id}", "address": "1 Main St", "phone": None,
            "timezone": "America/Chicago", "is_active": True, "created_at": T0,
            "updated_at": T0, **values}


def user(id: int, office_id: int | None = 1, **values: Any) -> dict[str, Any]:
    return {"id": id, "email": f"u{id}@example.com", "first_name": "Ann", "last_name": "Lee",
            "role": "staff", "office_id": office_id, "is_active": True, "created_at": T0,
            "updated_at": T0, **values}


def doctor(id: int, user_id: int, office_id: int | None = 1) -> dict[str, Any]:
    return {"id": id, "user_id": user_id, "office_id": office_id, "license_number": "DDS-1",
            "specialty": "orthodontics", "created_at": T0, "updated_at": T0}


def patient(id: int, status_id: int = 2, office_id: int = 1, **values: Any) -> dict[str, Any]:
    return {"id": id, "office_id": office_id, "user_id": None, "doctor_id": None,
            "patient_number": f"P-{id}", "first_name": "Sam", "last_name": "Kim",
            "birth_date": None, "status_id": status_id, "created_at": T0, "updated_at": T0,
            **values}


def instruction(id: int, patient_id: int, type: str = "aligner", created_at: datetime = T0,
                **values: Any) -> dict[str, Any]:
    return {"id": id, "patient_id": patient_id, "doctor_id": None, "type": type,
            "status": "submitted", "notes": None, "submitted_at": None,
            "created_at": created_at, "updated_at": created_at, **values}


def operation(id: int, instruction_id: int | None = None, patient_id: int | None = None,
              price: str | None = "10.00", **values: Any) -> dict[str, Any]:
    return {"id": id, "patient_id": patient_id, "instruction_id": instruction_id,
            "type": "payment", "price": price, "sq_order_id": None, "sq_payment_id": None,
            "sq_refund_id": None, "card_brand": None, "card_bin": None, "card_last": None,
            "office_card": None, "payment_id": None, "made_at": None, "created_at": T0,
            "updated_at": T0, **values}


def u5(table: str, legacy_id: int) -> uuid.UUID:
    return uuid.uuid5(NAMESPACES[table], str(legacy_id))


# -- amounts ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("price", "amount"), [
    (" $1,234.565 ", "1234.57"),   # trim, $, separator, half a cent away from zero
    ("-0.005", "-0.01"),           # half away from zero, not half to even nor towards +inf
    ("0.005", "0.01"),
    ("-2.675", "-2.68"),           # a binary float would say -2.67
    ("12.344", "12.34"),
    ("$-12.50", "-12.50"),         # the sign after the leading $
    ("1,234", "1234.00"),
    ("$85.00", "85.00"),
    ("12", "12.00"),
    ("+5.5", "5.50"),
    (".5", "0.50"),
    (None, "0.00"),
    ("", "0.00"),
    ("   ", "0.00"),
])
def test_prices_become_amounts(price: str | None, amount: str) -> None:
    assert parse_amount(price) == Decimal(amount)
    assert str(parse_amount(price)) == amount


@pytest.mark.parametrize("price", ["12.3.4", "N/A", "abc", "-$12.50", "$", "1e3", "12-", "--1"])
def test_garbage_prices_are_rejected_not_zeroed(price: str) -> None:
    with pytest.raises(InvalidPrice):
        parse_amount(price)


# -- uuids and phases ---------------------------------------------------------------------------


def test_namespaces_are_the_documented_derivation() -> None:
    for table, value in NAMESPACES.items():
        assert namespace(table) == value
        assert value == uuid.uuid5(uuid.NAMESPACE_URL, f"propsync:dispatch:{table}")
    assert len(set(NAMESPACES.values())) == 6
    assert new_uuid("patients", 42) == uuid.uuid5(NAMESPACES["patients"], "42")
    assert new_uuid("patients", 42) != new_uuid("cases", 42)


def test_treatment_phase_first_rule_that_applies() -> None:
    retainer = instruction(1, 1, "retainer")
    assert treatment_phase("completed", [retainer]) == "completed"
    assert treatment_phase("completed", []) == "completed"
    assert treatment_phase("in_treatment", []) == "not_started"
    assert treatment_phase("in_treatment", [retainer]) == "retention"
    assert treatment_phase("new", [instruction(1, 1, "refinement")]) == "active"
    # The latest is the greatest created_at, whatever the ids say...
    older_retainer = instruction(9, 1, "retainer", created_at=T0 - DAY)
    assert treatment_phase("in_treatment", [instruction(2, 1), older_retainer]) == "active"
    # ... and on equal created_at the greater id.
    tie_high = [instruction(3, 1, "aligner"), instruction(4, 1, "retainer")]
    tie_low = [instruction(5, 1, "retainer"), instruction(6, 1, "aligner")]
    assert treatment_phase("in_treatment", tie_high) == "retention"
    assert treatment_phase("in_treatment", tie_low) == "active"


# -- a first sync into an empty target ----------------------------------------------------------


def small_source() -> Source:
    return Source.of(
        dispatch_office=[office(1), office(2)],
        dispatch_user=[user(1), user(2, office_id=None), user(3, office_id=2)],
        dispatch_doctor=[doctor(1, 1), doctor(2, 99)],           # user 99 does not exist
        dispatch_patient=[
            patient(1, doctor_id=1, user_id=2),                   # in_treatment
            patient(2, doctor_id=2),                              # its doctor is rejected
            patient(3, status_id=4, office_id=2),                 # completed, no instruction
            patient(4, status_id=1),                              # new, no instruction
        ],
        dispatch_instruction=[
            instruction(10, 1, "aligner"),
            instruction(11, 1, "retainer"),                       # same created_at, greater id
            instruction(12, 404),                                 # patient 404 does not exist
            instruction(13, 1, "refinement", created_at=T0 - DAY, doctor_id=77),
            instruction(14, 2),                                   # patient 2 is rejected
        ],
        dispatch_operation=[
            operation(100, 10, 1, " $1,234.565 ", sq_order_id="ORD1", card_last="0042",
                      office_card=False),
            operation(101, None, 1, "-0.005", type="refund"),    # the patient's latest case
            operation(102, None, 4, ""),                         # patient without instruction
            operation(103, None, None, None),                    # neither
            operation(104, 999, 1, "5"),                         # instruction 999 is gone
            operation(105, 12, 404, "5"),                        # its case is rejected
            operation(106, 10, 1, "12.3.4"),
            operation(107, 999, None, "N/A"),                    # two reasons
            operation(108, None, 2, "1"),                        # patient rejected
            operation(109, None, 404, "1"),                      # patient absent
            operation(110, 13, 1, "$-7.25", type="adjustment"),
        ],
    )


def test_first_sync_of_new_rows() -> None:
    expected = expected_target(small_source(), Target.empty())

    assert expected.created["offices"] == {1, 2}
    assert expected.created["profiles"] == {1, 2, 3}
    assert expected.created["doctors"] == {1}
    assert expected.rejected["doctors"] == {2: ("orphan_user_id",)}
    assert expected.created["patients"] == {1, 3, 4}
    assert expected.rejected["patients"] == {2: ("parent_rejected",)}
    assert expected.created["cases"] == {10, 11, 13}
    assert expected.rejected["cases"] == {12: ("orphan_patient_id",), 14: ("parent_rejected",)}
    assert expected.warnings["cases"] == {13: ("orphan_doctor_id",)}
    assert expected.created["operations"] == {100, 101, 110}
    assert expected.rejected["operations"] == {
        102: ("no_case",), 103: ("no_case",), 104: ("orphan_instruction_id",),
        105: ("parent_rejected",), 106: ("invalid_price",),
        107: ("orphan_instruction_id", "invalid_price"), 108: ("parent_rejected",),
        109: ("no_case",),
    }
    assert expected.conflicts == {t: {} for t in DEFAULT_STRATEGIES}

    rows = expected.rows
    assert rows["profiles"][2]["office_id"] is None
    assert rows["profiles"][3]["office_id"] == u5("offices", 2)
    assert rows["doctors"][1]["profile_id"] == u5("profiles", 1)
    assert rows["patients"][1] == {
        "id": u5("patients", 1), "legacy_patient_id": 1, "office_id": u5("offices", 1),
        "profile_id": u5("profiles", 2), "doctor_id": u5("doctors", 1),
        "patient_number": "P-1", "first_name": "Sam", "last_name": "Kim", "birth_date": None,
        "status": "in_treatment", "treatment_phase": "retention",
        "legacy_data": {"legacy_id": 1, "source_table": "dispatch_patient",
                        "original_status_id": 2},
        "deleted_at": None, "created_at": T0, "updated_at": T0,
    }
    assert (rows["patients"][3]["status"], rows["patients"][3]["treatment_phase"]) == (
        "completed", "completed")
    assert (rows["patients"][4]["status"], rows["patients"][4]["treatment_phase"]) == (
        "new", "not_started")
    assert rows["cases"][13]["doctor_id"] is None
    assert rows["cases"][13]["case_type"] == "refinement"
    assert rows["cases"][10]["patient_id"] == u5("patients", 1)

    assert rows["operations"][100] == {
        "id": u5("operations", 100), "legacy_operation_id": 100, "case_id": u5("cases", 10),
        "operation_type": "payment", "amount": Decimal("1234.57"),
        "metadata": {"legacy_id": 100, "sq_order_id": "ORD1", "sq_payment_id": None,
                     "sq_refund_id": None, "card_brand": None, "card_bin": None,
                     "card_last": "0042", "office_card": False, "payment_id": None},
        "made_at": None, "deleted_at": None, "created_at": T0, "updated_at": T0,
    }
    # instruction_id NULL: the patient's latest case is 11 (tie on created_at, greater id).
    assert rows["operations"][101]["case_id"] == u5("cases", 11)
    assert rows["operations"][101]["amount"] == Decimal("-0.01")
    assert rows["operations"][110]["amount"] == Decimal("-7.25")

    assert live_counts(expected) == {"offices": 2, "profiles": 3, "doctors": 1,
                                     "patients": 3, "cases": 3, "operations": 3}
    assert amount_sums(expected) == {(1, "payment"): Decimal("1234.57"),
                                     (1, "refund"): Decimal("-0.01"),
                                     (1, "adjustment"): Decimal("-7.25")}


# -- rows the initial migration wrote -----------------------------------------------------------


MIGRATED = {table: uuid.uuid4() for table in ("o1", "p1", "c10", "c11", "op100")}


def migrated_target(**changes: dict[str, Any]) -> Target:
    """The initial migration's rows of office 1, patient 1, cases 10 and 11 and
    operation 100 of `small_source`, with random uuids, as the spec transforms them;
    `changes` edit a row per table name."""
    office_row = {"id": MIGRATED["o1"], "legacy_office_id": 1, "name": "Office 1",
                  "address": "1 Main St", "phone": None, "timezone": "America/Chicago",
                  "is_active": True, "deleted_at": None, "created_at": T0, "updated_at": T0}
    patient_row = {
        "id": MIGRATED["p1"], "legacy_patient_id": 1, "office_id": MIGRATED["o1"],
        "profile_id": u5("profiles", 2), "doctor_id": u5("doctors", 1),
        "patient_number": "P-1", "first_name": "Sam", "last_name": "Kim", "birth_date": None,
        "status": "in_treatment", "treatment_phase": "retention",
        "legacy_data": {"legacy_id": 1, "source_table": "dispatch_patient",
                        "original_status_id": 2},
        "deleted_at": None, "created_at": T0, "updated_at": T0,
    }
    case_rows = [{
        "id": MIGRATED[f"c{n}"], "legacy_instruction_id": n, "patient_id": MIGRATED["p1"],
        "doctor_id": None, "case_type": kind, "status": "submitted", "notes": None,
        "submitted_at": None, "deleted_at": None, "created_at": T0, "updated_at": T0,
    } for n, kind in ((10, "aligner"), (11, "retainer"))]
    operation_row = {
        "id": MIGRATED["op100"], "legacy_operation_id": 100, "case_id": MIGRATED["c10"],
        "operation_type": "payment", "amount": Decimal("1234.57"),
        "metadata": {"legacy_id": 100, "sq_order_id": "ORD1", "sq_payment_id": None,
                     "sq_refund_id": None, "card_brand": None, "card_bin": None,
                     "card_last": "0042", "office_card": False, "payment_id": None},
        "made_at": None, "deleted_at": None, "created_at": T0, "updated_at": T0,
    }
    rows = {"offices": [office_row], "patients": [patient_row], "cases": case_rows,
            "operations": [operation_row]}
    for table, values in changes.items():
        rows[table][0] = {**rows[table][0], **values}
    return Target.of(**rows)


def test_migrated_rows_keep_their_uuids_and_children_point_at_them() -> None:
    before = migrated_target()
    expected = expected_target(small_source(), before)
    for table, legacy in (("offices", 1), ("patients", 1), ("cases", 10), ("cases", 11),
                          ("operations", 100)):
        assert legacy in expected.unchanged[table]
        assert expected.rows[table][legacy] == before.tables[table][legacy]
    assert expected.created["offices"] == {2}
    assert expected.mapping["patients"][1] == MIGRATED["p1"]
    assert expected.rows["profiles"][1]["office_id"] == MIGRATED["o1"]
    assert expected.rows["cases"][13]["patient_id"] == MIGRATED["p1"]
    assert expected.rows["operations"][101]["case_id"] == MIGRATED["c11"]
    assert expected.rows["operations"][110]["case_id"] == u5("cases", 13)
    # A new row of an entity with migrated rows still gets its uuid5.
    assert expected.rows["patients"][4]["id"] == u5("patients", 4)


def test_conflicts_before_the_first_push_are_decided_by_updated_at() -> None:
    later = T0 + DAY
    before = migrated_target(
        operations={"amount": Decimal("1244.57"), "updated_at": later},  # new app, newer
        patients={"first_name": "Samuel", "updated_at": later},         # new app, newer
        cases={"status": "draft", "updated_at": T0 - DAY},               # legacy app newer
        offices={"name": "Office One"},                                  # same updated_at
    )
    expected = expected_target(small_source(), before)

    # Financial data is never overwritten: the row stays as the new app wrote it.
    conflict = expected.conflicts["operations"][100]
    assert (conflict.strategy, conflict.baseline) == ("manual_review", "target")
    assert conflict.target_version["amount"] == Decimal("1244.57")
    assert conflict.source_version["amount"] == Decimal("1234.57")
    assert expected.rows["operations"][100] == before.tables["operations"][100]
    assert 100 not in expected.pushed["operations"]
    assert expected.held("operations") == {100}
    assert (1, "payment") not in amount_sums(expected)

    # source_wins: recorded as a conflict, and the source's version is written.
    assert expected.conflicts["patients"][1].strategy == "source_wins"
    assert expected.rows["patients"][1]["first_name"] == "Sam"
    assert expected.rows["patients"][1]["id"] == MIGRATED["p1"]
    assert 1 in expected.updated["patients"]

    # The source is newer (or as new): an ordinary update, no conflict.
    assert 10 not in expected.conflicts["cases"]
    assert expected.rows["cases"][10]["status"] == "submitted"
    assert 1 not in expected.conflicts["offices"]
    assert expected.rows["offices"][1]["name"] == "Office 1"

    kept = expected_target(small_source(), before, strategies={"patients": "target_wins"})
    assert kept.rows["patients"][1]["first_name"] == "Samuel"


def test_a_derived_value_moving_is_an_update() -> None:
    """A new instruction changes the patient's phase; the patient row's updated_at stays."""
    source = small_source()
    source.tables["dispatch_instruction"][15] = instruction(15, 1, "aligner",
                                                            created_at=T0 + DAY)
    expected = expected_target(source, migrated_target())
    assert expected.rows["patients"][1]["treatment_phase"] == "active"
    assert expected.rows["patients"][1]["updated_at"] == T0
    assert 1 in expected.updated["patients"] and not expected.conflicts["patients"]
    assert expected.rows["operations"][101]["case_id"] == u5("cases", 15)


# -- the next sync ------------------------------------------------------------------------------


def pushed_target(expected: Any) -> Target:
    """The target as a sync that did what `expected` says left it."""
    return Target.of(**{table: list(rows.values()) for table, rows in expected.rows.items()})


def test_after_a_push_the_baseline_is_what_was_pushed() -> None:
    first = expected_target(small_source(), Target.empty())
    target = pushed_target(first)
    # The new app edits two rows after the push, with an OLDER updated_at than the
    # source's: after a push, only the values count.
    target.tables["operations"][100] = {**target.tables["operations"][100],
                                        "amount": Decimal("1.00"), "updated_at": T0 - DAY}
    target.tables["patients"][1] = {**target.tables["patients"][1], "last_name": "Park"}
    second = expected_target(small_source(), target, previous=first)
    assert second.conflicts["operations"][100].baseline == "last_push"
    assert second.rows["operations"][100]["amount"] == Decimal("1.00")
    assert second.conflicts["patients"][1].baseline == "last_push"
    assert second.rows["patients"][1]["last_name"] == "Kim"
    assert second.unchanged["operations"] == {101, 110}
    assert not second.created["operations"] and not second.updated["cases"]


def test_hard_deletes_become_deleted_at_only_for_rows_seen_before() -> None:
    first = expected_target(small_source(), Target.empty())
    target = pushed_target(first)
    source = small_source()
    del source.tables["dispatch_operation"][110]
    del source.tables["dispatch_instruction"][13]
    del source.tables["dispatch_patient"][4]
    second = expected_target(source, target, previous=first)
    assert second.deleted["operations"] == {110}
    assert second.deleted["cases"] == {13}
    assert second.deleted["patients"] == {4}
    row = second.rows["cases"][13]
    assert row["deleted_at"] is DELETED
    assert {k: v for k, v in row.items() if k != "deleted_at"} == {
        k: v for k, v in first.rows["cases"][13].items() if k != "deleted_at"}
    assert live_counts(second)["cases"] == 2
    assert (1, "adjustment") not in amount_sums(second)

    # The product's row carries a real timestamp: that matches DELETED.
    after = pushed_target(second)
    stamp = T0 + 2 * DAY
    for table, legacy in (("operations", 110), ("cases", 13), ("patients", 4)):
        after.tables[table][legacy] = {**after.tables[table][legacy], "deleted_at": stamp}
    assert differences(second, after) == []
    after.tables["cases"][13] = {**after.tables["cases"][13], "deleted_at": None}
    assert differences(second, after) == [
        "cases 13: deleted_at expected DELETED, found None"]

    # A migrated row deleted in the source before the first extract: never seen, kept.
    before = migrated_target()
    source = small_source()
    del source.tables["dispatch_operation"][100]
    untouched = expected_target(source, before)
    assert untouched.rows["operations"][100] == before.tables["operations"][100]
    assert not untouched.deleted["operations"]


def test_a_row_rejected_now_is_not_pushed_and_its_target_row_stays() -> None:
    first = expected_target(small_source(), Target.empty())
    target = pushed_target(first)
    source = small_source()
    source.tables["dispatch_operation"][100] = {
        **source.tables["dispatch_operation"][100], "price": "abc", "updated_at": T0 + DAY}
    second = expected_target(source, target, previous=first)
    assert second.rejected["operations"][100] == ("invalid_price",)
    assert second.rows["operations"][100] == first.rows["operations"][100]
    assert 100 not in second.updated["operations"]


def test_differences_name_missing_extra_and_changed_rows() -> None:
    expected = expected_target(small_source(), Target.empty())
    actual = pushed_target(expected)
    del actual.tables["offices"][2]
    actual.tables["operations"][101] = {**actual.tables["operations"][101],
                                        "amount": Decimal("0.00")}
    actual.tables["cases"][12] = {"legacy_instruction_id": 12}
    assert differences(expected, actual) == [
        "offices 2: missing from the target",
        "cases 12: not expected in the target",
        "operations 101: amount expected Decimal('-0.01'), found Decimal('0.00')",
    ]
