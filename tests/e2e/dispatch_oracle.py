"""An independent statement of the dispatch -> Supabase rules, in plain Python.

Written from ../shared/spec/dispatch_supabase.md (and the DDL of contracts.md sections 6
and 7), not from the dbt models: if the product and this module agree on a data set,
the rules are implemented as the spec states them, not as the SQL happens to compute
them. It reads the legacy source and the Supabase target *before* a sync and says what
the target must hold after a complete sync (create pass + update pass):

    before = Target.read(supabase_dsn)             # e.g. as the initial migration left it
    expected = expected_target(Source.read(dispatch_dsn), before)
    ... run the sync ...
    assert differences(expected, Target.read(supabase_dsn)) == []

For the next sync, pass the previous result: it says which rows the product pushed (the
baseline of a conflict after a push) and which source keys the warehouse had seen (a
key gone since is a hard delete):

    before = Target.read(supabase_dsn)             # after e.g. sandbox app_edit(...)
    expected = expected_target(Source.read(dispatch_dsn), before, previous=expected)

Readings of the spec where it leaves a choice (the product must agree, or the spec say
otherwise):

* uuid of a legacy id without mapping: `uuid5(NAMESPACES[table], str(legacy_id))`;
  namespaces per *target table*, each `uuid5(NAMESPACE_URL,
  "propsync:dispatch:<table>")` (literals below).
* "Exists in the source" means present in the source now: a hard-deleted row is no
  parent, no instruction of its patient and no candidate for a patient's latest case.
* A hard-deleted row that the warehouse had extracted and the target holds becomes
  its last transformed version with `deleted_at` set (`DELETED`: any timestamp); one
  the warehouse never extracted (deleted before the first sync) is left as it is.
* Amounts: after trimming and removing a *leading* `$` and every `,`, the text must be
  `[+-]?(digits[.digits*] | .digits)`; so `$-12.50` is -12.50 and `-$12.50` is rejected.
  Rounded half away from zero (Decimal ROUND_HALF_UP); |amount| >= 10^10 does not fit
  numeric(12, 2) and is rejected (`amount_out_of_range`).
* Conflicts before our first push of a row: the target differs from the transformed
  source and its updated_at is strictly newer. Equal updated_at with other values (a
  derived value moved: the phase, the latest case) is an ordinary update. After a
  push: the target differs from what we last pushed. Under `source_wins` the source
  row is written (and the conflict still recorded); under `manual_review` or
  `target_wins` the target row stays as the app wrote it.
* A rejected row is never pushed: a target row it would have updated stays as it is.
* Children of a rejected row are rejected ("parent_rejected"), also through an optional
  foreign key; an optional foreign key to a row absent from the source is NULL, with a
  warning.

Rejection reasons (a row may have several; they come in this order): `orphan_<fk
column>` (a required parent absent from the source: `orphan_user_id` of a doctor,
`orphan_office_id` and `orphan_status_id` of a patient, `orphan_patient_id` of a case,
`orphan_instruction_id` of an operation), `parent_rejected`, `unmapped_status`,
`no_case` (operation without instruction whose patient is absent, NULL or has no
instruction), `invalid_price`, `amount_out_of_range`. Warnings: `orphan_<fk column>` of
an optional foreign key set to NULL.
"""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import psycopg
from psycopg.rows import dict_row

Row = dict[str, Any]

ENTITIES: tuple[str, ...] = (
    "offices", "profiles", "doctors", "patients", "cases", "operations",
)
SOURCE_TABLE: dict[str, str] = {
    "offices": "dispatch_office", "profiles": "dispatch_user", "doctors": "dispatch_doctor",
    "patients": "dispatch_patient", "cases": "dispatch_instruction",
    "operations": "dispatch_operation",
}
LEGACY_KEY: dict[str, str] = {
    "offices": "legacy_office_id", "profiles": "legacy_user_id",
    "doctors": "legacy_doctor_id", "patients": "legacy_patient_id",
    "cases": "legacy_instruction_id", "operations": "legacy_operation_id",
}
SOURCE_TABLES: tuple[str, ...] = (*SOURCE_TABLE.values(), "dispatch_patient_status")

# uuid5(NAMESPACE_URL, f"propsync:dispatch:{table}"); tests check the literals.
NAMESPACE_NAME = "propsync:dispatch:{table}"
NAMESPACES: dict[str, uuid.UUID] = {
    "offices": uuid.UUID("bad25002-f6df-5dba-904d-d3c887b5085f"),
    "profiles": uuid.UUID("9b223250-aa94-5feb-9c75-2c8ab252032c"),
    "doctors": uuid.UUID("79d07112-2b2d-5179-acd0-e74ed6ed1a5f"),
    "patients": uuid.UUID("297afed1-18cf-53cd-8ad7-ba2860e8df1a"),
    "cases": uuid.UUID("03cf4b76-94c3-5db6-b284-88e035e7f9e6"),
    "operations": uuid.UUID("0a1c3f08-6aff-53d8-be74-86a89fba47e0"),
}

# contracts.md section 7, in column order.
TARGET_COLUMNS: dict[str, tuple[str, ...]] = {
    "offices": ("id", "legacy_office_id", "name", "address", "phone", "timezone",
                "is_active", "deleted_at", "created_at", "updated_at"),
    "profiles": ("id", "legacy_user_id", "email", "first_name", "last_name", "role",
                 "office_id", "is_active", "deleted_at", "created_at", "updated_at"),
    "doctors": ("id", "legacy_doctor_id", "profile_id", "office_id", "license_number",
                "specialty", "deleted_at", "created_at", "updated_at"),
    "patients": ("id", "legacy_patient_id", "office_id", "profile_id", "doctor_id",
                 "patient_number", "first_name", "last_name", "birth_date", "status",
                 "treatment_phase", "legacy_data", "deleted_at", "created_at", "updated_at"),
    "cases": ("id", "legacy_instruction_id", "patient_id", "doctor_id", "case_type",
              "status", "notes", "submitted_at", "deleted_at", "created_at", "updated_at"),
    "operations": ("id", "legacy_operation_id", "case_id", "operation_type", "amount",
                   "metadata", "made_at", "deleted_at", "created_at", "updated_at"),
}

# The seed patient_status_map: identity for the five statuses of contracts.md.
STATUS_MAP: dict[str, str] = {
    "new": "new", "in_treatment": "in_treatment", "retention": "retention",
    "completed": "completed", "cancelled": "cancelled",
}
DEFAULT_STRATEGIES: dict[str, str] = {
    "offices": "source_wins", "profiles": "source_wins", "doctors": "source_wins",
    "patients": "source_wins", "cases": "source_wins", "operations": "manual_review",
}
SQUARE_FIELDS: tuple[str, ...] = (
    "sq_order_id", "sq_payment_id", "sq_refund_id", "card_brand", "card_bin", "card_last",
    "office_card", "payment_id",
)
AMOUNT_LIMIT = Decimal("10000000000")  # numeric(12, 2): below 10^10
_CENT = Decimal("0.01")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")


class _Deleted:
    """`deleted_at` of a row hard-deleted in the source: any timestamp, not NULL."""

    def __repr__(self) -> str:
        return "DELETED"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, (_Deleted, datetime))

    def __hash__(self) -> int:
        return 0


DELETED = _Deleted()


def namespace(table: str) -> uuid.UUID:
    """The uuid5 namespace of a target table, derived as NAMESPACES documents."""
    return uuid.uuid5(uuid.NAMESPACE_URL, NAMESPACE_NAME.format(table=table))


def new_uuid(table: str, legacy_id: int) -> uuid.UUID:
    """The uuid of a legacy id without mapping yet."""
    return uuid.uuid5(NAMESPACES[table], str(legacy_id))


# -- the value rules -----------------------------------------------------------------------


class InvalidPrice(ValueError):
    """A price that is not a number once cleaned: the row is rejected."""


def parse_amount(price: str | None) -> Decimal:
    """`price` text -> amount, by the spec's rule (see the module's docstring).

    Raises InvalidPrice for anything that is not a number after the cleaning.
    """
    if price is None:
        return Decimal("0.00")
    text = price.strip()
    if not text:
        return Decimal("0.00")
    if text.startswith("$"):
        text = text[1:]
    text = text.replace(",", "")
    if not _NUMBER.fullmatch(text):
        raise InvalidPrice(price)
    try:
        value = Decimal(text)
    except InvalidOperation as error:  # pragma: no cover - the pattern admits numbers only
        raise InvalidPrice(price) from error
    # ROUND_HALF_UP rounds the absolute value half up: half away from zero.
    return value.quantize(_CENT, rounding=ROUND_HALF_UP)


def latest(instructions: Iterable[Row]) -> Row | None:
    """The latest instruction: greatest created_at, ties broken by the greater id."""
    return max(instructions, key=lambda i: (i["created_at"], i["id"]), default=None)


def treatment_phase(status_name: str, instructions: Iterable[Row]) -> str:
    """The first rule that applies: completed, not_started, retention, active."""
    if status_name == "completed":
        return "completed"
    last = latest(instructions)
    if last is None:
        return "not_started"
    if last["type"] == "retainer":
        return "retention"
    return "active"


# -- reading both sides ---------------------------------------------------------------------


@dataclass
class Source:
    """The legacy tables: source table name -> id -> row."""

    tables: dict[str, dict[int, Row]]

    @classmethod
    def read(cls, dsn: str) -> Source:
        tables: dict[str, dict[int, Row]] = {}
        with psycopg.connect(dsn, row_factory=dict_row) as conn:
            for table in SOURCE_TABLES:
                rows = conn.execute(f"select * from public.{table}").fetchall()
                tables[table] = {int(row["id"]): dict(row) for row in rows}
        return cls(tables)

    @classmethod
    def of(cls, **tables: Iterable[Row]) -> Source:
        """A hand-made source: `Source.of(dispatch_office=[...], ...)`; tables not given
        are empty, `dispatch_patient_status` defaults to the five of contracts.md."""
        data = {table: {int(r["id"]): dict(r) for r in tables.get(table, ())}
                for table in SOURCE_TABLES}
        if "dispatch_patient_status" not in tables:
            data["dispatch_patient_status"] = {
                sid: {"id": sid, "name": name} for sid, name in
                ((1, "new"), (2, "in_treatment"), (3, "retention"), (4, "completed"),
                 (5, "cancelled"))
            }
        return cls(data)


@dataclass
class Target:
    """The Supabase tables: target table -> legacy id -> row."""

    tables: dict[str, dict[int, Row]]

    @classmethod
    def read(cls, dsn: str) -> Target:
        tables: dict[str, dict[int, Row]] = {}
        with psycopg.connect(dsn, row_factory=dict_row) as conn:
            for table in ENTITIES:
                rows = conn.execute(f"select * from public.{table}").fetchall()
                tables[table] = {int(row[LEGACY_KEY[table]]): dict(row) for row in rows}
        return cls(tables)

    @classmethod
    def of(cls, **tables: Iterable[Row]) -> Target:
        return cls({table: {int(r[LEGACY_KEY[table]]): dict(r) for r in tables.get(table, ())}
                    for table in ENTITIES})

    @classmethod
    def empty(cls) -> Target:
        return cls({table: {} for table in ENTITIES})


# -- the expected result ----------------------------------------------------------------------


@dataclass(frozen=True)
class Conflict:
    """A target row the new app changed: both versions, and what decided it."""

    entity: str
    legacy_id: int
    uuid: uuid.UUID
    strategy: str
    source_version: Row
    target_version: Row
    baseline: str  # "target" (never pushed: updated_at decided) or "last_push"


def _tables() -> dict[str, dict[int, Any]]:
    return {table: {} for table in ENTITIES}


def _sets() -> dict[str, set[int]]:
    return {table: set() for table in ENTITIES}


@dataclass
class Expected:
    """What the target must hold after the sync, and why.

    `rows`: every target row after the sync, per table and legacy id (a deleted row's
    `deleted_at` is `DELETED`). `model`: the transformed source rows (pushable ones,
    deleted ones included). `pushed`: what the product last wrote of each row, this
    sync or an earlier one (the baseline of the next sync's conflicts).
    """

    rows: dict[str, dict[int, Row]] = field(default_factory=_tables)
    model: dict[str, dict[int, Row]] = field(default_factory=_tables)
    rejected: dict[str, dict[int, tuple[str, ...]]] = field(default_factory=_tables)
    warnings: dict[str, dict[int, tuple[str, ...]]] = field(default_factory=_tables)
    conflicts: dict[str, dict[int, Conflict]] = field(default_factory=_tables)
    created: dict[str, set[int]] = field(default_factory=_sets)
    updated: dict[str, set[int]] = field(default_factory=_sets)
    unchanged: dict[str, set[int]] = field(default_factory=_sets)
    deleted: dict[str, set[int]] = field(default_factory=_sets)
    pushed: dict[str, dict[int, Row]] = field(default_factory=_tables)
    mapping: dict[str, dict[int, uuid.UUID]] = field(default_factory=_tables)
    source_ids: dict[str, set[int]] = field(default_factory=_sets)
    operation_office: dict[int, int] = field(default_factory=dict)
    strategies: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_STRATEGIES))

    def held(self, table: str) -> set[int]:
        """Legacy ids of conflicts whose strategy keeps the target row."""
        return {legacy for legacy, c in self.conflicts[table].items()
                if c.strategy != "source_wins"}


def same(a: Mapping[str, Any], b: Mapping[str, Any], table: str, *,
         with_id: bool = False) -> bool:
    """Whether two versions of a target row hold the same values (the `id` only with
    `with_id`; DELETED equals any timestamp)."""
    columns = TARGET_COLUMNS[table] if with_id else TARGET_COLUMNS[table][1:]
    return all(_equal(a.get(column), b.get(column)) for column in columns)


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, _Deleted) or isinstance(b, _Deleted):
        return a is not None and b is not None
    return bool(a == b)


class _Transform:
    """The spec's rules applied to one source state."""

    def __init__(self, source: Source, mapping: dict[str, dict[int, uuid.UUID]]) -> None:
        self.src = source.tables
        self.mapping = mapping
        self.model: dict[str, dict[int, Row]] = _tables()
        self.rejected: dict[str, dict[int, tuple[str, ...]]] = _tables()
        self.warnings: dict[str, dict[int, tuple[str, ...]]] = _tables()
        self.operation_office: dict[int, int] = {}
        self.instructions_of: dict[int, list[Row]] = defaultdict(list)
        for instruction in self.src["dispatch_instruction"].values():
            self.instructions_of[instruction["patient_id"]].append(instruction)

    def uuid(self, table: str, legacy_id: int) -> uuid.UUID:
        known = self.mapping[table].get(legacy_id)
        if known is None:
            known = self.mapping[table][legacy_id] = new_uuid(table, legacy_id)
        return known

    def parent(self, table: str, legacy_id: int | None, column: str, *, required: bool,
               reasons: list[str], warnings: list[str]) -> uuid.UUID | None:
        """The parent's uuid, or None; records why a row cannot have it."""
        if legacy_id is None:
            if required:
                reasons.append(f"orphan_{column}")
            return None
        if legacy_id not in self.src[SOURCE_TABLE[table]]:
            (reasons if required else warnings).append(f"orphan_{column}")
            return None
        if legacy_id in self.rejected[table]:
            reasons.append("parent_rejected")
            return None
        return self.uuid(table, legacy_id)

    def keep(self, table: str, legacy_id: int, row: Row, reasons: list[str],
             warnings: list[str]) -> None:
        self.uuid(table, legacy_id)
        if warnings:
            self.warnings[table][legacy_id] = tuple(warnings)
        if reasons:
            self.rejected[table][legacy_id] = tuple(dict.fromkeys(reasons))
            return
        self.model[table][legacy_id] = row

    def base(self, table: str, s: Row) -> Row:
        return {"id": self.uuid(table, s["id"]), LEGACY_KEY[table]: s["id"]}

    def stamps(self, s: Row) -> Row:
        return {"deleted_at": None, "created_at": s["created_at"],
                "updated_at": s["updated_at"]}

    def run(self) -> None:
        for s in self.src["dispatch_office"].values():
            row = {**self.base("offices", s), "name": s["name"], "address": s["address"],
                   "phone": s["phone"], "timezone": s["timezone"],
                   "is_active": s["is_active"], **self.stamps(s)}
            self.keep("offices", s["id"], row, [], [])
        for s in self.src["dispatch_user"].values():
            reasons: list[str] = []
            warnings: list[str] = []
            office = self.parent("offices", s["office_id"], "office_id", required=False,
                                 reasons=reasons, warnings=warnings)
            row = {**self.base("profiles", s), "email": s["email"],
                   "first_name": s["first_name"], "last_name": s["last_name"],
                   "role": s["role"], "office_id": office, "is_active": s["is_active"],
                   **self.stamps(s)}
            self.keep("profiles", s["id"], row, reasons, warnings)
        for s in self.src["dispatch_doctor"].values():
            reasons, warnings = [], []
            profile = self.parent("profiles", s["user_id"], "user_id", required=True,
                                  reasons=reasons, warnings=warnings)
            office = self.parent("offices", s["office_id"], "office_id", required=False,
                                 reasons=reasons, warnings=warnings)
            row = {**self.base("doctors", s), "profile_id": profile, "office_id": office,
                   "license_number": s["license_number"], "specialty": s["specialty"],
                   **self.stamps(s)}
            self.keep("doctors", s["id"], row, reasons, warnings)
        self.patients()
        self.cases()
        self.operations()

    def patients(self) -> None:
        statuses = self.src["dispatch_patient_status"]
        for s in self.src["dispatch_patient"].values():
            reasons: list[str] = []
            warnings: list[str] = []
            office = self.parent("offices", s["office_id"], "office_id", required=True,
                                 reasons=reasons, warnings=warnings)
            profile = self.parent("profiles", s["user_id"], "user_id", required=False,
                                  reasons=reasons, warnings=warnings)
            doctor = self.parent("doctors", s["doctor_id"], "doctor_id", required=False,
                                 reasons=reasons, warnings=warnings)
            status_row = statuses.get(s["status_id"])
            status_name = status_row["name"] if status_row else None
            status = STATUS_MAP.get(status_name) if status_name is not None else None
            if status_row is None:
                reasons.append("orphan_status_id")
            elif status is None:
                reasons.append("unmapped_status")
            row = {
                **self.base("patients", s), "office_id": office, "profile_id": profile,
                "doctor_id": doctor, "patient_number": s["patient_number"],
                "first_name": s["first_name"], "last_name": s["last_name"],
                "birth_date": s["birth_date"], "status": status,
                "treatment_phase": treatment_phase(status_name or "",
                                                   self.instructions_of.get(s["id"], [])),
                "legacy_data": {"legacy_id": s["id"], "source_table": "dispatch_patient",
                                "original_status_id": s["status_id"]},
                **self.stamps(s),
            }
            self.keep("patients", s["id"], row, reasons, warnings)

    def cases(self) -> None:
        for s in self.src["dispatch_instruction"].values():
            reasons: list[str] = []
            warnings: list[str] = []
            patient = self.parent("patients", s["patient_id"], "patient_id", required=True,
                                  reasons=reasons, warnings=warnings)
            doctor = self.parent("doctors", s["doctor_id"], "doctor_id", required=False,
                                 reasons=reasons, warnings=warnings)
            row = {**self.base("cases", s), "patient_id": patient, "doctor_id": doctor,
                   "case_type": s["type"], "status": s["status"], "notes": s["notes"],
                   "submitted_at": s["submitted_at"], **self.stamps(s)}
            self.keep("cases", s["id"], row, reasons, warnings)

    def case_of(self, s: Row, reasons: list[str]) -> tuple[uuid.UUID | None, int | None]:
        """(case uuid, legacy instruction id) of an operation, or None with the reason."""
        instructions = self.src["dispatch_instruction"]
        if s["instruction_id"] is not None:
            instruction_id: int = s["instruction_id"]
            if instruction_id not in instructions:
                reasons.append("orphan_instruction_id")
                return None, None
        else:
            patient_id = s["patient_id"]
            if patient_id is None or patient_id not in self.src["dispatch_patient"]:
                reasons.append("no_case")
                return None, None
            if patient_id in self.rejected["patients"]:
                reasons.append("parent_rejected")
                return None, None
            last = latest(self.instructions_of.get(patient_id, []))
            if last is None:
                reasons.append("no_case")
                return None, None
            instruction_id = last["id"]
        if instruction_id in self.rejected["cases"]:
            reasons.append("parent_rejected")
            return None, None
        return self.uuid("cases", instruction_id), instruction_id

    def operations(self) -> None:
        for s in self.src["dispatch_operation"].values():
            reasons: list[str] = []
            case, instruction_id = self.case_of(s, reasons)
            amount: Decimal | None = None
            try:
                amount = parse_amount(s["price"])
            except InvalidPrice:
                reasons.append("invalid_price")
            if amount is not None and abs(amount) >= AMOUNT_LIMIT:
                reasons.append("amount_out_of_range")
            metadata: dict[str, Any] = {"legacy_id": s["id"]}
            metadata.update({name: s[name] for name in SQUARE_FIELDS})
            row = {**self.base("operations", s), "case_id": case,
                   "operation_type": s["type"], "amount": amount, "metadata": metadata,
                   "made_at": s["made_at"], **self.stamps(s)}
            if instruction_id is not None:
                patient = self.src["dispatch_instruction"][instruction_id]["patient_id"]
                office = self.src["dispatch_patient"].get(patient, {}).get("office_id")
                if office is not None:
                    self.operation_office[s["id"]] = office
            self.keep("operations", s["id"], row, reasons, [])


def expected_target(
    source: Source,
    before: Target,
    previous: Expected | None = None,
    strategies: Mapping[str, str] | None = None,
) -> Expected:
    """The target after a complete sync of `source` into `before` (see the module).

    `previous` is the result of the sync before this one (None for the first sync).
    `strategies` overrides DEFAULT_STRATEGIES per table.
    """
    chosen = {**DEFAULT_STRATEGIES, **(strategies or {})}
    mapping: dict[str, dict[int, uuid.UUID]] = {
        table: dict(previous.mapping[table]) if previous else {} for table in ENTITIES
    }
    for table in ENTITIES:
        for legacy, row in before.tables[table].items():
            mapping[table].setdefault(legacy, row["id"])
    transform = _Transform(source, mapping)
    transform.run()

    result = Expected(mapping=mapping, rejected=transform.rejected,
                      warnings=transform.warnings, strategies=chosen,
                      operation_office=transform.operation_office)
    result.model = transform.model
    for table in ENTITIES:
        result.source_ids[table] = set(source.tables[SOURCE_TABLE[table]])
        result.pushed[table] = dict(previous.pushed[table]) if previous else {}
        if previous is None:
            continue
        # Keys the warehouse had seen and the source no longer holds: hard deletes.
        for legacy in previous.source_ids[table] - result.source_ids[table]:
            last = previous.model[table].get(legacy)
            if last is not None and legacy in before.tables[table]:
                result.model[table][legacy] = {**last, "deleted_at": DELETED}
                result.deleted[table].add(legacy)

    for table in ENTITIES:
        final = result.rows[table] = dict(before.tables[table])
        for legacy, model in result.model[table].items():
            target = before.tables[table].get(legacy)
            if target is None:
                if model["deleted_at"] is DELETED:
                    continue
                final[legacy] = model
                result.created[table].add(legacy)
                result.pushed[table][legacy] = model
                continue
            if same(model, target, table):
                result.unchanged[table].add(legacy)
                continue
            last_push = result.pushed[table].get(legacy)
            if last_push is not None:
                conflict, baseline = not same(last_push, target, table), "last_push"
            else:
                conflict, baseline = target["updated_at"] > model["updated_at"], "target"
            if conflict:
                result.conflicts[table][legacy] = Conflict(
                    table, legacy, target["id"], chosen[table], model, target, baseline)
                if chosen[table] != "source_wins":
                    continue
            final[legacy] = {**model, "id": target["id"]}
            result.updated[table].add(legacy)
            result.pushed[table][legacy] = final[legacy]
    return result


# -- checks -------------------------------------------------------------------------------------


def differences(expected: Expected, actual: Target, limit: int = 20) -> list[str]:
    """Readable differences between the expected rows and the target's (at most `limit`)."""
    found: list[str] = []
    for table in ENTITIES:
        want, have = expected.rows[table], actual.tables[table]
        for legacy in sorted(want.keys() - have.keys()):
            found.append(f"{table} {legacy}: missing from the target")
        for legacy in sorted(have.keys() - want.keys()):
            found.append(f"{table} {legacy}: not expected in the target")
        for legacy in sorted(want.keys() & have.keys()):
            w, h = want[legacy], have[legacy]
            columns = [c for c in TARGET_COLUMNS[table] if not _equal(w.get(c), h.get(c))]
            if columns:
                found.append(f"{table} {legacy}: " + ", ".join(
                    f"{c} expected {w.get(c)!r}, found {h.get(c)!r}" for c in columns))
        if len(found) >= limit:
            break
    return found[:limit]


def amount_sums(expected: Expected) -> dict[tuple[int, str], Decimal]:
    """Sum of the source amounts per (legacy office id, operation type) that the
    validation compares with the target: pushable, live rows not held for review."""
    sums: dict[tuple[int, str], Decimal] = defaultdict(lambda: Decimal("0.00"))
    held = expected.held("operations")
    for legacy, row in expected.model["operations"].items():
        if row["deleted_at"] is not None or legacy in held:
            continue
        office = expected.operation_office.get(legacy)
        if office is not None:
            sums[(office, row["operation_type"])] += row["amount"]
    return dict(sums)


def live_counts(expected: Expected) -> dict[str, int]:
    """Rows per target table after the sync whose deleted_at is NULL."""
    return {table: sum(1 for row in rows.values() if row["deleted_at"] is None)
            for table, rows in expected.rows.items()}


__all__ = [
    "DEFAULT_STRATEGIES",
    "DELETED",
    "ENTITIES",
    "LEGACY_KEY",
    "NAMESPACES",
    "SOURCE_TABLE",
    "STATUS_MAP",
    "TARGET_COLUMNS",
    "Conflict",
    "Expected",
    "InvalidPrice",
    "Source",
    "Target",
    "amount_sums",
    "differences",
    "expected_target",
    "latest",
    "live_counts",
    "namespace",
    "new_uuid",
    "parse_amount",
    "same",
    "treatment_phase",
]
