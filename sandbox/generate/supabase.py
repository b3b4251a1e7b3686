"""The Supabase target of the dispatch slice, empty or as the initial migration left it.

`create_supabase` (re)creates the six tables of contracts.md section 7 in schema
`public`. Given the legacy source, it can pre-fill them the way the one-time "initial
migration" did, before the continuous sync existed:

* The migration ran at a cutover time: the `migrated_share` quantile of the source
  rows' `created_at`. Rows created before it are migrated, with RANDOM uuids
  (`gen_random_uuid()`): the product must keep them, or the new app's foreign keys
  break. A migrated child's parents are always migrated: a row whose required parent
  was not migrated is left out, an optional parent that was not migrated is NULL.
* Values follow the spec's rules as of the cutover: treatment phases and the case of an
  operation without instruction come from the instructions migrated with them; an
  operation whose price is not a number, or whose case cannot be found, was not
  migrated (the migration rejected it too).
* A row the legacy app changed after the cutover (source `updated_at` >= cutover) holds
  an older version in the target: an older `updated_at` and one older value (see
  `_STALE`): the first sync sees the source newer, an ordinary update.
* `app_edit_share` of the migrated rows were then edited by the new application
  (values changed, target `updated_at` newer than the source's): the spec's conflicts.

`app_edit` simulates the new application editing target rows later (after a sync).

The copy between the two databases streams each source table once with binary COPY
into temporary tables of the target session; everything else is set-based SQL there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg

from sandbox.generate.dispatch import (
    COLUMNS as SOURCE_COLUMNS,
)
from sandbox.generate.dispatch import (
    FIRST_NAMES,
    LAST_NAMES,
    SqlDraws,
    deferred_constraints,
    sql_ts,
)

# contracts.md section 7, verbatim: the tests compare the created schema with it.
DDL = """
create table offices (id uuid primary key, legacy_office_id integer not null unique, name text not null,
  address text, phone text, timezone text, is_active boolean not null, deleted_at timestamptz,
  created_at timestamptz not null, updated_at timestamptz not null);
create table profiles (id uuid primary key, legacy_user_id integer not null unique, email text not null,
  first_name text, last_name text, role text not null, office_id uuid references offices (id),
  is_active boolean not null, deleted_at timestamptz, created_at timestamptz not null, updated_at timestamptz not null);
create table doctors (id uuid primary key, legacy_doctor_id integer not null unique,
  profile_id uuid not null references profiles (id), office_id uuid references offices (id),
  license_number text, specialty text, deleted_at timestamptz,
  created_at timestamptz not null, updated_at timestamptz not null);
create table patients (id uuid primary key, legacy_patient_id integer not null unique,
  office_id uuid not null references offices (id), profile_id uuid references profiles (id),
  doctor_id uuid references doctors (id), patient_number text not null, first_name text, last_name text,
  birth_date date, status text not null, treatment_phase text not null, legacy_data jsonb not null,
  deleted_at timestamptz, created_at timestamptz not null, updated_at timestamptz not null);
create table cases (id uuid primary key, legacy_instruction_id integer not null unique,
  patient_id uuid not null references patients (id), doctor_id uuid references doctors (id),
  case_type text not null, status text not null, notes text, submitted_at timestamptz, deleted_at timestamptz,
  created_at timestamptz not null, updated_at timestamptz not null);
create table operations (id uuid primary key, legacy_operation_id integer not null unique,
  case_id uuid not null references cases (id), operation_type text not null, amount numeric(12, 2) not null,
  metadata jsonb not null, made_at timestamptz, deleted_at timestamptz,
  created_at timestamptz not null, updated_at timestamptz not null);
"""  # noqa: E501

# Parents before children (the foreign-key order of the push).
TABLES: tuple[str, ...] = ("offices", "profiles", "doctors", "patients", "cases", "operations")
SOURCE_TABLE = {
    "offices": "dispatch_office", "profiles": "dispatch_user", "doctors": "dispatch_doctor",
    "patients": "dispatch_patient", "cases": "dispatch_instruction",
    "operations": "dispatch_operation",
}
LEGACY_KEY = {
    "offices": "legacy_office_id", "profiles": "legacy_user_id", "doctors": "legacy_doctor_id",
    "patients": "legacy_patient_id", "cases": "legacy_instruction_id",
    "operations": "legacy_operation_id",
}
# The temporary table of the migrated rows of each target table (see `_MIGRATE`).
_MIGRATED = {
    "offices": "_m_office", "profiles": "_m_user", "doctors": "_m_doctor",
    "patients": "_m_patient", "cases": "_m_instruction", "operations": "_m_operation",
}

# Identity for the five contract statuses, like the product's seed `patient_status_map`.
STATUS_MAP = {"new": "new", "in_treatment": "in_treatment", "retention": "retention",
              "completed": "completed", "cancelled": "cancelled"}

# The price rule of the spec: trimmed; NULL, empty or blank is 0.00; a leading `$` and
# the thousands separators removed; then an optionally signed decimal number.
_PRICE_TEXT = (
    "case when price is null or btrim(price) = '' then '0'"
    " else replace(regexp_replace(btrim(price), '^\\$', ''), ',', '') end"
)
_NUMBER = "'^[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)$'"

_MIGRATE = f"""
create temp table _m_office as
  select s.*, gen_random_uuid() as uuid from _src_dispatch_office s;
create temp table _m_user as
  select s.*, gen_random_uuid() as uuid, o.uuid as office_uuid
  from _src_dispatch_user s left join _m_office o on o.id = s.office_id;
create temp table _m_doctor as
  select s.*, gen_random_uuid() as uuid, u.uuid as profile_uuid, o.uuid as office_uuid
  from _src_dispatch_doctor s join _m_user u on u.id = s.user_id
  left join _m_office o on o.id = s.office_id;
create temp table _m_patient as
  select s.*, gen_random_uuid() as uuid, o.uuid as office_uuid, u.uuid as profile_uuid,
         d.uuid as doctor_uuid, st.name as status
  from _src_dispatch_patient s
  join _m_office o on o.id = s.office_id
  join _src_dispatch_patient_status st on st.id = s.status_id
  left join _m_user u on u.id = s.user_id
  left join _m_doctor d on d.id = s.doctor_id;
create temp table _m_instruction as
  select s.*, gen_random_uuid() as uuid, p.uuid as patient_uuid, d.uuid as doctor_uuid
  from _src_dispatch_instruction s join _m_patient p on p.id = s.patient_id
  left join _m_doctor d on d.id = s.doctor_id;
create temp table _m_latest as
  select distinct on (patient_id) patient_id, uuid, type
  from _m_instruction order by patient_id, created_at desc, id desc;
create temp table _m_operation as
  select s.*, gen_random_uuid() as uuid, coalesce(c.uuid, l.uuid) as case_uuid,
         round(s.price_text::numeric, 2) as amount
  from (select o.*, {_PRICE_TEXT} as price_text from _src_dispatch_operation o) s
  left join _m_instruction c on c.id = s.instruction_id
  left join _m_latest l on s.instruction_id is null and l.patient_id = s.patient_id
  where s.price_text ~ {_NUMBER} and coalesce(c.uuid, l.uuid) is not null
    and abs(round(s.price_text::numeric, 2)) < 10000000000;
"""

# What an older version of a row (the legacy app changed it after the cutover) held:
# one value per table, besides its older updated_at.
_STALE = {
    "offices": {"name": "split_part(m.name, ' - ', 1)"},
    "profiles": {"last_name": "{last}"},
    "doctors": {"specialty": "'general dentistry'"},
    "patients": {"first_name": "{first}"},
    "cases": {"status": "'submitted'"},
    "operations": {"amount": "round(m.amount * 0.9, 2)"},
}

# The target columns of each table, as the migration computes them from `m` (the
# migrated row) and `l` (the patient's latest migrated instruction).
_VALUES = {
    "offices": {
        "name": "m.name", "address": "m.address", "phone": "m.phone",
        "timezone": "m.timezone", "is_active": "m.is_active",
    },
    "profiles": {
        "email": "m.email", "first_name": "m.first_name", "last_name": "m.last_name",
        "role": "m.role", "office_id": "m.office_uuid", "is_active": "m.is_active",
    },
    "doctors": {
        "profile_id": "m.profile_uuid", "office_id": "m.office_uuid",
        "license_number": "m.license_number", "specialty": "m.specialty",
    },
    "patients": {
        "office_id": "m.office_uuid", "profile_id": "m.profile_uuid",
        "doctor_id": "m.doctor_uuid", "patient_number": "m.patient_number",
        "first_name": "m.first_name", "last_name": "m.last_name",
        "birth_date": "m.birth_date",
        "status": "(" + "case m.status " + " ".join(
            f"when '{k}' then '{v}'" for k, v in STATUS_MAP.items()) + " end)",
        "treatment_phase": (
            "(case when m.status = 'completed' then 'completed'"
            " when l.patient_id is null then 'not_started'"
            " when l.type = 'retainer' then 'retention' else 'active' end)"
        ),
        "legacy_data": ("jsonb_build_object('legacy_id', m.id, 'source_table',"
                        " 'dispatch_patient', 'original_status_id', m.status_id)"),
    },
    "cases": {
        "patient_id": "m.patient_uuid", "doctor_id": "m.doctor_uuid", "case_type": "m.type",
        "status": "m.status", "notes": "m.notes", "submitted_at": "m.submitted_at",
    },
    "operations": {
        "case_id": "m.case_uuid", "operation_type": "m.type", "amount": "m.amount",
        "metadata": ("jsonb_build_object('legacy_id', m.id, 'sq_order_id', m.sq_order_id,"
                     " 'sq_payment_id', m.sq_payment_id, 'sq_refund_id', m.sq_refund_id,"
                     " 'card_brand', m.card_brand, 'card_bin', m.card_bin,"
                     " 'card_last', m.card_last, 'office_card', m.office_card,"
                     " 'payment_id', m.payment_id)"),
        "made_at": "m.made_at",
    },
}

# What the new application changes in a row it edits (a conflict for the sync).
APP_EDITS = {
    "offices": "name = t.name || ' (Downtown)'",
    "profiles": "last_name = coalesce(t.last_name, '') || ' (app)'",
    "doctors": "license_number = coalesce(t.license_number, 'DDS') || '-APP'",
    "patients": "first_name = coalesce(t.first_name, '') || ' (app)'",
    "cases": "notes = coalesce(t.notes, '') || ' [edited in the app]'",
    "operations": ("amount = case when t.legacy_operation_id % 2 = 0 then t.amount + 10.00"
                   " else t.amount end, metadata = case when t.legacy_operation_id % 2 = 1"
                   " then t.metadata || jsonb_build_object('card_last', '0000')"
                   " else t.metadata end"),
}


@dataclass(frozen=True)
class GeneratedSupabase:
    """What `create_supabase` wrote: rows per table, how many of them hold an older
    version (`stale`), the legacy ids the new app edited, the cutover and seconds."""

    seed: int
    cutover: datetime | None
    migrated: dict[str, int]
    stale: dict[str, int]
    app_edited: dict[str, list[int]]
    seconds: float


@dataclass(frozen=True)
class AppEdits:
    """The legacy ids of the target rows `app_edit` changed, per table."""

    edited: dict[str, list[int]]

    @property
    def total(self) -> int:
        return sum(len(ids) for ids in self.edited.values())


def _cutover(source: psycopg.Connection, share: float) -> datetime | None:
    """The time before which `share` of the source rows were created (None: all)."""
    if share >= 1:
        return None
    union = " union all ".join(
        f"select created_at from {table}" for table in SOURCE_TABLE.values()
    )
    row = source.execute(
        f"select percentile_disc({share!r}) within group (order by created_at)"
        f" from ({union}) s"
    ).fetchone()
    if row is None or row[0] is None:
        raise ValueError("the dispatch source is empty: run generate_dispatch first")
    moment: datetime = row[0]
    return moment


def _copy_source(source: psycopg.Connection, target: psycopg.Connection,
                 cutover: datetime | None) -> None:
    """Stream the source rows created before the cutover into temporary tables."""
    for table, columns in SOURCE_COLUMNS.items():
        names = ", ".join(name for name, _ in columns)
        target.execute(
            f"create temp table _src_{table} ("
            + ", ".join(f"{name} {kind}" for name, kind in columns) + ")"
        )
        where = ""
        if cutover is not None and any(name == "created_at" for name, _ in columns):
            where = f" where created_at < {sql_ts(cutover)}"
        with source.cursor().copy(
            f"copy (select {names} from {table}{where}) to stdout (format binary)"
        ) as out, target.cursor().copy(
            f"copy _src_{table} ({names}) from stdin (format binary)"
        ) as into:
            for block in out:
                into.write(block)
        target.execute(f"create index on _src_{table} (id)")
        target.execute(f"analyze _src_{table}")


def _insert_migrated(conn: psycopg.Connection, r: SqlDraws,
                     cutover: datetime | None) -> tuple[dict[str, int], dict[str, int]]:
    migrated: dict[str, int] = {}
    stale: dict[str, int] = {}
    stale_names = {
        "{last}": r.pick("m.id", "stale_last", LAST_NAMES),
        "{first}": r.pick("m.id", "stale_first", FIRST_NAMES),
    }
    for table in TABLES:
        values = dict(_VALUES[table])
        is_stale = "false" if cutover is None else f"m.updated_at >= {sql_ts(cutover)}"
        for column, older in _STALE[table].items():
            older = stale_names.get(older, older)
            values[column] = f"case when {is_stale} then {older} else {values[column]} end"
        # An older version was last saved between the row's creation and the cutover.
        updated = "m.updated_at" if cutover is None else (
            f"case when {is_stale} then m.created_at + (({sql_ts(cutover)} - m.created_at)"
            f" * {r.u('m.id', 'stale_at_' + table)}) else m.updated_at end"
        )
        latest = " left join _m_latest l on l.patient_id = m.id" if table == "patients" else ""
        conn.execute(f"""
            insert into {table} (id, {LEGACY_KEY[table]}, {", ".join(values)}, deleted_at,
                                 created_at, updated_at)
            select m.uuid, m.id, {", ".join(values.values())}, null, m.created_at, {updated}
            from {_MIGRATED[table]} m{latest}
        """)
        counts = conn.execute(
            f"select count(*), count(*) filter (where {is_stale}) from {_MIGRATED[table]} m"
        ).fetchone()
        migrated[table], stale[table] = (int(counts[0]), int(counts[1])) if counts else (0, 0)
    return migrated, stale


def _edit_migrated(conn: psycopg.Connection, r: SqlDraws, share: float) -> dict[str, list[int]]:
    """The new app's edits of migrated rows: updated_at after the source's (a conflict
    as the spec defines it before our first push)."""
    edited: dict[str, list[int]] = {}
    for table in TABLES:
        key = LEGACY_KEY[table]
        rows = conn.execute(f"""
            update {table} t
            set {APP_EDITS[table]},
                updated_at = greatest(t.updated_at, m.updated_at) + interval '1 hour'
                             + {r.u('m.id', 'app_' + table)} * interval '30 days'
            from {_MIGRATED[table]} m
            where m.id = t.{key} and {r.u('m.id', 'app_pick_' + table)} < {share!r}
            returning t.{key}
        """).fetchall()
        edited[table] = sorted(int(row[0]) for row in rows)
    return edited


def create_supabase(
    dsn: str,
    *,
    source_dsn: str | None = None,
    migrated_share: float = 0.0,
    app_edit_share: float = 0.0,
    seed: int = 7,
) -> GeneratedSupabase:
    """Drop and recreate the Supabase tables of contracts.md section 7 in `public`.

    With `source_dsn` and `migrated_share` > 0, pre-fill them as the initial migration
    left them (see the module's docstring), then let the new app edit `app_edit_share`
    of the migrated rows. The uuids are random (as the migration's were); the choice of
    rows, the older versions and the edits depend only on the source and the seed.
    """
    for name, value in (("migrated_share", migrated_share), ("app_edit_share", app_edit_share)):
        if not 0 <= value <= 1:
            raise ValueError(f"{name} must be between 0 and 1 (got {value})")
    if (migrated_share > 0 or app_edit_share > 0) and source_dsn is None:
        raise ValueError("a migrated share or app edits need the source (source_dsn)")
    if app_edit_share > 0 and migrated_share == 0:
        raise ValueError("the new app can only edit migrated rows: give a migrated share")
    started = datetime.now(UTC)
    r = SqlDraws(seed)
    cutover: datetime | None = None
    migrated = {table: 0 for table in TABLES}
    stale = {table: 0 for table in TABLES}
    edited: dict[str, list[int]] = {table: [] for table in TABLES}
    with psycopg.connect(dsn) as conn:
        _session(conn)
        conn.execute("drop table if exists " + ", ".join(reversed(TABLES)) + " cascade")
        conn.execute(DDL)
        if source_dsn is not None and migrated_share > 0:
            with psycopg.connect(source_dsn) as source:
                _session(source)
                cutover = _cutover(source, migrated_share)
                _copy_source(source, conn, cutover)
            conn.execute(_MIGRATE)
            with deferred_constraints(conn, TABLES, kinds="fpu"):
                migrated, stale = _insert_migrated(conn, r, cutover)
                if app_edit_share > 0:
                    edited = _edit_migrated(conn, r, app_edit_share)
        conn.commit()
        conn.execute("analyze " + ", ".join(TABLES))
        conn.commit()
    seconds = (datetime.now(UTC) - started).total_seconds()
    return GeneratedSupabase(seed, cutover, migrated, stale, edited, seconds)


def app_edit(dsn: str, share: float, seed: int = 7) -> AppEdits:
    """The new application edits about `share` of the live target rows of every table
    (values as in `APP_EDITS`, updated_at an hour to a week later than it was).

    For tests after a sync: the rows now differ from what the sync last pushed, the
    spec's conflicts. The same target state and seed edit the same rows.
    """
    if not 0 < share <= 1:
        raise ValueError(f"share must be in (0, 1] (got {share})")
    r = SqlDraws(seed, salt=1)
    edited: dict[str, list[int]] = {}
    with psycopg.connect(dsn) as conn:
        _session(conn)
        for table in TABLES:
            key = LEGACY_KEY[table]
            rows = conn.execute(f"""
                update {table} t
                set {APP_EDITS[table]},
                    updated_at = t.updated_at + interval '1 hour'
                                 + {r.u('t.' + key, 'later_' + table)} * interval '7 days'
                where t.deleted_at is null and {r.u('t.' + key, 'edit_' + table)} < {share!r}
                returning t.{key}
            """).fetchall()
            edited[table] = sorted(int(row[0]) for row in rows)
        conn.commit()
    return AppEdits(edited)


def _session(conn: psycopg.Connection) -> None:
    # UTC: interval arithmetic on timestamptz follows the session's timezone (DST).
    # The migration's temporary tables live in the session's own buffers: the default
    # 8MB would spill them to disk (temp_buffers must be set before their first use).
    conn.execute("set search_path to public")
    conn.execute("set timezone to 'UTC'")
    conn.execute("set work_mem to '128MB'")
    conn.execute("set temp_buffers to '512MB'")


__all__ = [
    "APP_EDITS",
    "DDL",
    "LEGACY_KEY",
    "SOURCE_TABLE",
    "STATUS_MAP",
    "TABLES",
    "AppEdits",
    "GeneratedSupabase",
    "app_edit",
    "create_supabase",
]
