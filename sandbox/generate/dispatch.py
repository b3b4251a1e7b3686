"""A large, deterministic legacy `dispatch_*` data set for the dispatch -> Supabase slice.

`generate_dispatch` (re)creates the seven tables of contracts.md section 6 in schema
`public` and fills about `rows` rows across them; `mutate_dispatch` applies a day of
legacy changes (updates, inserts, hard deletes) to what is there.

Everything is generated server-side by set-based SQL (`insert ... select ... from
generate_series`), never row by row: 2M rows take seconds, not minutes. The randomness
is a hash of (row id, seed, purpose) (`hashint8extended`), so a seed always gives the
same rows, whatever the server's clock or timezone.

The quirks of the spec that the product must cope with are laid out with *buckets*:
`(id * M + offset) % 1000` is a permutation of the ids of every block of 1,000, so a
quirk owning k of the 1,000 buckets is present exactly k times per 1,000 consecutive
ids, even at 2,000 rows, where a random draw could miss it. See `QUIRK_BUCKETS`.

* `dispatch_operation.price` (text): plain decimals, integers, `$` with thousands
  separators (`$1,234.50`), thousands without `$`, `$-12.50`, negative values (most
  refunds), 3-decimal values whose third decimal is mostly 5 (rounding half away from
  zero: `-0.005`, `' $1,234.565 '`), values padded with spaces, empty strings, blanks
  (spaces only), NULLs, garbage (`N/A`, `12.3.4`, `abc`, ...). Forms whose reading the
  spec leaves open (`-$12.50`, `.5`, tabs, exponents) are never generated.
* Orphans, where the DDL has no foreign key: instructions whose patient or (optional)
  doctor does not exist, operations whose instruction does not exist, operations with a
  NULL instruction_id whose patient has cases, and ones with neither (no patient, a
  missing patient, or a patient without instructions). A missing parent is an id in a
  gap of its table (`id % stride == offset`: rows deleted long ago), so rows that
  `mutate_dispatch` adds later never adopt an orphan.
* Patients without instructions, patients whose latest instruction is a `retainer`,
  pairs of latest instructions with equal `created_at` (the greater id decides),
  completed and cancelled patients; `created_at <= updated_at` everywhere.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg

from sandbox.generate import vocabulary as words

# contracts.md section 6, verbatim: the tests compare the created schema with it.
DDL = """
create table dispatch_office (id serial primary key, name text not null, address text, phone text,
  timezone text, is_active boolean not null default true, created_at timestamptz not null, updated_at timestamptz not null);
create table dispatch_user (id serial primary key, email text not null unique, first_name text, last_name text,
  role text not null check (role in ('admin', 'doctor', 'staff', 'patient')), office_id integer references dispatch_office (id),
  is_active boolean not null default true, created_at timestamptz not null, updated_at timestamptz not null);
create table dispatch_doctor (id serial primary key, user_id integer not null references dispatch_user (id),
  office_id integer references dispatch_office (id), license_number text, specialty text,
  created_at timestamptz not null, updated_at timestamptz not null);
create table dispatch_patient_status (id integer primary key, name text not null);
create table dispatch_patient (id serial primary key, office_id integer not null references dispatch_office (id),
  user_id integer references dispatch_user (id), doctor_id integer references dispatch_doctor (id),
  patient_number text not null, first_name text, last_name text, birth_date date,
  status_id integer not null references dispatch_patient_status (id),
  created_at timestamptz not null, updated_at timestamptz not null);
create table dispatch_instruction (id serial primary key, patient_id integer not null, doctor_id integer,
  type text not null, status text not null, notes text, submitted_at timestamptz,
  created_at timestamptz not null, updated_at timestamptz not null);   -- no FK: orphans exist
create table dispatch_operation (id serial primary key, patient_id integer, instruction_id integer,
  type text not null, price text, sq_order_id text, sq_payment_id text, sq_refund_id text,
  card_brand text, card_bin text, card_last text, office_card boolean, payment_id text,
  made_at timestamptz, created_at timestamptz not null, updated_at timestamptz not null);  -- no FK: orphans exist
"""  # noqa: E501

# Parents before children: the order of loading; deletion goes the other way.
TABLES: tuple[str, ...] = (
    "dispatch_office", "dispatch_user", "dispatch_doctor", "dispatch_patient_status",
    "dispatch_patient", "dispatch_instruction", "dispatch_operation",
)

# The columns of each table as the DDL declares them, for copying a table's rows to
# another database (the Supabase generator's initial migration).
COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "dispatch_office": (
        ("id", "integer"), ("name", "text"), ("address", "text"), ("phone", "text"),
        ("timezone", "text"), ("is_active", "boolean"), ("created_at", "timestamptz"),
        ("updated_at", "timestamptz"),
    ),
    "dispatch_user": (
        ("id", "integer"), ("email", "text"), ("first_name", "text"), ("last_name", "text"),
        ("role", "text"), ("office_id", "integer"), ("is_active", "boolean"),
        ("created_at", "timestamptz"), ("updated_at", "timestamptz"),
    ),
    "dispatch_doctor": (
        ("id", "integer"), ("user_id", "integer"), ("office_id", "integer"),
        ("license_number", "text"), ("specialty", "text"), ("created_at", "timestamptz"),
        ("updated_at", "timestamptz"),
    ),
    "dispatch_patient_status": (("id", "integer"), ("name", "text")),
    "dispatch_patient": (
        ("id", "integer"), ("office_id", "integer"), ("user_id", "integer"),
        ("doctor_id", "integer"), ("patient_number", "text"), ("first_name", "text"),
        ("last_name", "text"), ("birth_date", "date"), ("status_id", "integer"),
        ("created_at", "timestamptz"), ("updated_at", "timestamptz"),
    ),
    "dispatch_instruction": (
        ("id", "integer"), ("patient_id", "integer"), ("doctor_id", "integer"),
        ("type", "text"), ("status", "text"), ("notes", "text"),
        ("submitted_at", "timestamptz"), ("created_at", "timestamptz"),
        ("updated_at", "timestamptz"),
    ),
    "dispatch_operation": (
        ("id", "integer"), ("patient_id", "integer"), ("instruction_id", "integer"),
        ("type", "text"), ("price", "text"), ("sq_order_id", "text"),
        ("sq_payment_id", "text"), ("sq_refund_id", "text"), ("card_brand", "text"),
        ("card_bin", "text"), ("card_last", "text"), ("office_card", "boolean"),
        ("payment_id", "text"), ("made_at", "timestamptz"), ("created_at", "timestamptz"),
        ("updated_at", "timestamptz"),
    ),
}

PATIENT_STATUSES: tuple[tuple[int, str], ...] = (
    (1, "new"), (2, "in_treatment"), (3, "retention"), (4, "completed"), (5, "cancelled"),
)
INSTRUCTION_TYPES: tuple[str, ...] = ("aligner", "refinement", "retainer", "consultation")
INSTRUCTION_STATUSES: tuple[str, ...] = (
    "draft", "submitted", "in_progress", "shipped", "completed", "cancelled",
)
OPERATION_TYPES: tuple[str, ...] = ("payment", "refund", "adjustment")
GARBAGE_PRICES: tuple[str, ...] = ("N/A", "12.3.4", "abc", "TBD", "n/a", "1.2.3")

# Timestamps are anchored at fixed dates, never at the clock (determinism). Offices
# open in 2018, everything else is created between HISTORY_START and SNAPSHOT_AT.
HISTORY_START = datetime(2019, 1, 1, tzinfo=UTC)
SNAPSHOT_AT = datetime(2026, 1, 5, tzinfo=UTC)
MIN_ROWS = 1000

# Missing ids ("deleted long ago") of the tables whose rows orphans point at:
# id % stride == offset. The offset depends on the seed.
GAP_STRIDE = {"dispatch_doctor": 10, "dispatch_patient": 97, "dispatch_instruction": 89}

# Buckets (of 1,000) owned by each quirk; a row's bucket is `SqlDraws.bucket(id, name)`.
QUIRK_BUCKETS: dict[str, dict[str, tuple[int, int]]] = {
    "price": {
        "null": (0, 30), "empty": (30, 50), "blank": (50, 60), "garbage": (60, 66),
        "dollar_thousands": (66, 86), "dollar": (86, 106), "thousands": (106, 116),
        "dollar_negative": (116, 119), "minus_half_cent": (119, 120),
        "half_cent": (120, 121), "padded_dollar_half": (121, 122),
        "three_decimals_half": (122, 142), "three_decimals": (142, 150),
        "padded": (150, 160), "integer": (160, 190),
    },
    "operation_link": {
        "orphan_instruction": (0, 10), "null_instruction_patient_with_cases": (10, 90),
        "no_patient": (90, 94), "missing_patient": (94, 97),
        "patient_without_instructions": (97, 100),
    },
    "instruction_patient": {"orphan_patient": (0, 10)},
    "instruction_doctor": {"orphan_doctor": (0, 10), "no_doctor": (10, 100)},
    "latest_tie": {"tie": (0, 50)},
    "patient_status": {
        "new": (0, 80), "in_treatment": (80, 580), "retention": (580, 730),
        "completed": (730, 930), "cancelled": (930, 1000),
    },
}

# One multiplier per bucket name (odd, not a multiple of 5: a permutation mod 1000),
# distinct so that two quirks do not always fall on the same rows.
_BUCKET_MULTIPLIERS = {
    "price": 7919, "operation_link": 6007, "instruction_patient": 3571,
    "instruction_doctor": 2903, "latest_tie": 4219, "patient_status": 5653,
    "operation_patient": 8887, "user_role": 1009, "user_office": 7333,
    "doctor_office": 9473, "notes": 2411, "card": 3761, "first_name": 6101,
    "last_name": 4651,
}

FIRST_NAMES: tuple[str, ...] = (
    "Emma", "Liam", "Olivia", "Noah", "Ava", "Mateo", "Sophia", "Lucas", "Isabella", "Ethan",
    "Mia", "Mason", "Amelia", "Logan", "Harper", "Elijah", "Evelyn", "James", "Abigail",
    "Benjamin", "Emily", "Daniel", "Ella", "Henry", "Aria", "Jackson", "Chloe", "Sebastian",
    "Zoey", "Aiden", "Nora", "Samuel", "Lily", "David", "Hannah", "Joseph", "Layla", "Wei",
    "Priya", "José", "Zoë", "Mary Ann",
)
LAST_NAMES: tuple[str, ...] = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis",
    "Rodriguez", "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas",
    "Taylor", "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris",
    "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson", "Nguyen", "Patel", "Kim", "O'Brien",
    "Smith-Jones", "García", "Müller", "de la Cruz", "McDonald", "D'Angelo",
)
OFFICE_BRANDS: tuple[str, ...] = (
    "Bright Smiles", "Straight Line", "Align Right", "Family", "Premier", "Gentle Touch",
    "Sunrise", "Metro", "Lakeside", "Summit", "Harbor", "Evergreen",
)
EMAIL_DOMAINS: tuple[str, ...] = (
    "gmail.com", "yahoo.com", "outlook.com", "icloud.com", "hotmail.com", "aol.com",
)
SPECIALTIES: tuple[str, ...] = (
    "orthodontics", "orthodontics", "orthodontics", "orthodontics", "orthodontics",
    "orthodontics", "orthodontics", "general dentistry", "general dentistry",
    "pediatric dentistry",
)
NOTES: tuple[str, ...] = (
    "Upper arch only", "Both arches", "Patient reports discomfort on tray 3",
    "Refinement after tray 14", "IPR 0.2mm between 3-4", "Attachments on 13, 23",
    "Check fit at next visit", "Rush order", "Lost retainer, replacement requested",
    "Upper arch only.\nRecheck in 6 weeks", "Doctor's note: \"mild crowding\"",
    "Night-time wear only", "Bite ramp on 11, 21", "Tray 8 cracked; reprint",
)
CARD_BRANDS: tuple[str, ...] = (
    "VISA", "VISA", "VISA", "VISA", "VISA", "VISA", "VISA", "VISA", "VISA",
    "MASTERCARD", "MASTERCARD", "MASTERCARD", "MASTERCARD", "MASTERCARD", "MASTERCARD",
    "AMERICAN_EXPRESS", "AMERICAN_EXPRESS", "AMERICAN_EXPRESS", "DISCOVER",
)
TIMEZONE_OF_STATE = {
    "TX": "America/Chicago", "AZ": "America/Phoenix", "CO": "America/Denver",
    "ID": "America/Boise", "IL": "America/Chicago", "TN": "America/Chicago",
    "AL": "America/Chicago", "MN": "America/Chicago", "MO": "America/Chicago",
    "WI": "America/Chicago", "OK": "America/Chicago", "NV": "America/Los_Angeles",
    "CA": "America/Los_Angeles", "WA": "America/Los_Angeles", "OR": "America/Los_Angeles",
    "UT": "America/Denver", "NM": "America/Denver", "KY": "America/Kentucky/Louisville",
}


# -- SQL building blocks ------------------------------------------------------------------


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _array(values: Sequence[str]) -> str:
    return "array[" + ", ".join(_quote(v) for v in values) + "]::text[]"


def sql_ts(moment: datetime) -> str:
    return f"timestamptz '{moment.isoformat()}'"


def _crc(name: str) -> int:
    return zlib.crc32(name.encode())


class SqlDraws:
    """SQL expressions of deterministic pseudo-randomness for one seed.

    Every draw names its purpose, so two draws of one row are independent and adding a
    draw never shifts the others (as a sequential random generator would).
    """

    def __init__(self, seed: int, salt: int = 0) -> None:
        self.seed = seed
        self.salt = salt

    def _key(self, name: str) -> int:
        return (self.seed * 1_000_003 + self.salt * 7_919 + _crc(name)) % (1 << 62)

    def h(self, expr: str, name: str) -> str:
        """A uniform integer in [0, 2^31)."""
        return f"(hashint8extended(({expr})::bigint, {self._key(name)}) & 2147483647)"

    def u(self, expr: str, name: str) -> str:
        """A uniform float in [0, 1)."""
        return f"({self.h(expr, name)}::float8 / 2147483648.0)"

    def pick(self, expr: str, name: str, values: Sequence[str]) -> str:
        return f"({_array(values)})[1 + {self.h(expr, name)} % {len(values)}]"

    def bucket(self, expr: str, name: str) -> str:
        """The row's bucket in [0, 1000): each value once per 1,000 consecutive ids."""
        offset = (self.seed * 7 + self.salt * 13 + _crc(name)) % 1000
        return f"((({expr})::bigint * {_BUCKET_MULTIPLIERS[name]} + {offset}) % 1000)"

    def within(self, expr: str, name: str, quirk: str) -> str:
        low, high = QUIRK_BUCKETS[name][quirk]
        return f"({self.bucket(expr, name)} between {low} and {high - 1})"


def _gap_offset(seed: int, table: str) -> int:
    stride = GAP_STRIDE[table]
    return 1 + (seed * 31 + _crc(table)) % (stride - 1)


def _gaps_up_to(top: int, stride: int, offset: int) -> int:
    return 0 if top < offset else (top - offset) // stride + 1


def _ids_for(count: int, stride: int, offset: int) -> int:
    """The smallest top id holding `count` rows besides the gaps, itself not a gap (so
    that the pick `x + is_gap(x)` of `_Layout.real` never leaves the table)."""
    top = count
    while top - _gaps_up_to(top, stride, offset) < count or top % stride == offset:
        top += 1
    return top


@dataclass(frozen=True)
class _Layout:
    """Sizes and gaps of one generated data set."""

    seed: int
    offices: int
    users: int
    doctor_top: int
    patient_top: int
    instruction_top: int
    operations: int
    gap: dict[str, int]
    users_per_doctor: int

    @classmethod
    def of(cls, rows: int, seed: int) -> _Layout:
        offices = max(3, round(rows * 3 / 100_000))
        users = max(20, round(rows * 0.06))
        doctors = max(4, round(rows * 0.005))
        patients = round(rows * 0.10)
        instructions = round(rows * 0.25)
        gap = {table: _gap_offset(seed, table) for table in GAP_STRIDE}
        doctor_top = _ids_for(doctors, GAP_STRIDE["dispatch_doctor"], gap["dispatch_doctor"])
        patient_top = _ids_for(
            patients, GAP_STRIDE["dispatch_patient"], gap["dispatch_patient"])
        instruction_top = _ids_for(
            instructions, GAP_STRIDE["dispatch_instruction"], gap["dispatch_instruction"])
        operations = rows - offices - users - doctors - patients - instructions - 5
        return cls(seed, offices, users, doctor_top, patient_top, instruction_top,
                   operations, gap, max(2, users // doctor_top))

    def is_gap(self, expr: str, table: str) -> str:
        return f"((({expr}) % {GAP_STRIDE[table]}) = {self.gap[table]})"

    def real(self, hexpr: str, top: str | int, table: str) -> str:
        """An existing id of `table` in [1, top] (top <= the table's top id): a uniform
        draw moved off a gap to the next id, which is never a gap (stride >= 2)."""
        x = f"(1 + {hexpr} % ({top}))"
        return f"({x} + {self.is_gap(x, table)}::int)"

    def missing(self, hexpr: str, table: str) -> str:
        """An id inside `table`'s range that does not exist (a gap)."""
        stride, offset = GAP_STRIDE[table], self.gap[table]
        top = {"dispatch_doctor": self.doctor_top, "dispatch_patient": self.patient_top,
               "dispatch_instruction": self.instruction_top}[table]
        slots = max(1, (top - offset) // stride + 1)
        return f"({offset} + {stride} * ({hexpr} % {slots}))"


def _interval(seconds_expr: str) -> str:
    return f"(({seconds_expr}) * interval '1 second')"


def _span_seconds(start: datetime, end: datetime) -> int:
    return int((end - start).total_seconds())


# -- the price column ------------------------------------------------------------------------


def _price_sql(r: SqlDraws, row: str, cents: str, negative: str) -> str:
    """The legacy `price` text of a row, quirks included (see QUIRK_BUCKETS["price"]).

    `cents` is a bigint expression of the amount in cents (> 0), `negative` a boolean
    expression: refunds are mostly stored as negative values.
    """
    b = r.bucket(row, "price")
    plain = f"to_char(({cents}) / 100.0, 'FM9999999990.00')"
    big = f"(100000 + ({cents}) % 900000)"  # 1,000.00 .. 9,999.99: has a separator
    mills = f"({cents}) * 10 + {r.h(row, 'price_mills')} % 10"
    three = f"to_char(({mills}) / 1000.0, 'FM9999990.000')"
    half = f"to_char((({cents}) * 10 + 5) / 1000.0, 'FM9999990.000')"
    sign = f"(case when {negative} then '-' else '' end)"
    blank = r.pick(row, "price_blank", (" ", "  ", "    "))

    def in_(quirk: str) -> str:
        low, high = QUIRK_BUCKETS["price"][quirk]
        return f"{b} between {low} and {high - 1}"

    garbage_low = QUIRK_BUCKETS["price"]["garbage"][0]
    return f"""(case
      when {in_("null")} then null
      when {in_("empty")} then ''
      when {in_("blank")} then {blank}
      when {in_("garbage")} then ({_array(GARBAGE_PRICES)})[1 + ({b} - {garbage_low})]
      when {in_("dollar_thousands")} then '$' || to_char({big} / 100.0, 'FM9,999,990.00')
      when {in_("dollar")} then '$' || to_char(({cents}) / 100.0, 'FM9,999,990.00')
      when {in_("thousands")} then {sign} || to_char({big} / 100.0, 'FM9,999,990.00')
      when {in_("dollar_negative")} then '$-' || {plain}
      when {in_("minus_half_cent")} then '-0.005'
      when {in_("half_cent")} then '0.005'
      when {in_("padded_dollar_half")} then ' $1,234.565 '
      when {in_("three_decimals_half")} then {sign} || {half}
      when {in_("three_decimals")} then {sign} || {three}
      when {in_("padded")} then ' ' || {sign} || {plain} || ' '
      when {in_("integer")} then {sign} || (({cents}) / 100)::text
      else {sign} || {plain}
    end)"""


def _cents_sql(r: SqlDraws, row: str) -> str:
    # Most payments are a few hundred dollars; some are whole treatment plans.
    return (f"(case when {r.u(row, 'price_big')} < 0.1 then 100000 + {r.h(row, 'price_c1')}"
            f" % 600000 else 1500 + {r.h(row, 'price_c2')} % 60000 end)")


def _square_columns(r: SqlDraws, row: str, kind: str) -> str:
    """sq_order_id .. payment_id of an operation of type `kind` (an SQL expression)."""
    def token(name: str, width: int) -> str:
        return (f"upper(lpad(to_hex({r.h(row, name + '1')}), 8, '0')"
                f" || lpad(to_hex({r.h(row, name + '2')}), 8, '0'))::varchar({width})")

    card = r.bucket(row, "card")
    no_card = f"{card} < 60"
    return f"""
      case when {r.u(row, 'sq_order_null')} < 0.15 then null else {token('sq_order', 16)} end,
      case when {kind} <> 'refund' and {r.u(row, 'sq_pay_null')} >= 0.1
           then {token('sq_payment', 16)} end,
      case when {kind} = 'refund' then {token('sq_refund', 16)} end,
      case when {no_card} then null else {r.pick(row, 'card_brand', CARD_BRANDS)} end,
      case when {no_card} then null else lpad(({r.h(row, 'card_bin')} % 1000000)::text, 6, '0')
      end,
      case when {no_card} then null else lpad(({r.h(row, 'card_last')} % 10000)::text, 4, '0')
      end,
      case when {r.u(row, 'office_card')} < 0.1 then null
           else {r.u(row, 'office_card_v')} < 0.15 end,
      case when {r.u(row, 'payment_id_null')} < 0.3 then null
           else 'PAY-' || lpad(({r.h(row, 'payment_id')} % 100000000)::text, 8, '0') end"""


# -- generation ------------------------------------------------------------------------------


@dataclass(frozen=True)
class GeneratedDispatch:
    """What `generate_dispatch` wrote: rows per table (in the database) and seconds."""

    seed: int
    counts: dict[str, int]
    seconds: float

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _offices_sql(lay: _Layout, r: SqlDraws) -> str:
    cities = [c for c, _, _ in words.CITIES]
    states = [s for _, s, _ in words.CITIES]
    zips = [z for _, _, z in words.CITIES]
    tz = [TIMEZONE_OF_STATE.get(s, "America/New_York") for s in states]
    city = f"1 + {r.h('g', 'office_city')} % {len(cities)}"
    # Offices open in the year before the history starts, one every few days.
    opened = f"({sql_ts(HISTORY_START)} - {_interval(f'({lay.offices} - g + 1) * 86400 * 5')})"
    return f"""
    insert into dispatch_office (id, name, address, phone, timezone, is_active, created_at,
                                 updated_at)
    select g,
      {r.pick('g', 'office_brand', OFFICE_BRANDS)} || ' Orthodontics - ' || ({_array(cities)})[c],
      case when {r.u('g', 'office_addr_null')} < 0.1 then null else
        (100 + {r.h('g', 'office_no')} % 9800)::text || ' '
        || {r.pick('g', 'office_street', words.STREET_NAMES)} || ' '
        || {r.pick('g', 'office_suffix', words.STREET_SUFFIXES)} || ', ' || ({_array(cities)})[c]
        || ', ' || ({_array(states)})[c] || ' ' || ({_array(zips)})[c]
        || lpad(({r.h('g', 'office_zip')} % 100)::text, 2, '0') end,
      case when {r.u('g', 'office_phone_null')} < 0.1 then null else
        '(' || (200 + {r.h('g', 'office_area')} % 700)::text || ') 555-'
        || lpad(({r.h('g', 'office_line')} % 10000)::text, 4, '0') end,
      case when {r.u('g', 'office_tz_null')} < 0.1 then null else ({_array(tz)})[c] end,
      g % 11 <> 0,
      created, {_updated(r, 'created', 'g', 'office_upd', 0.0)}
    from (select g, {city} as c, {opened} as created
          from generate_series(1::bigint, {lay.offices}) g) s
    """


def _position_created(r: SqlDraws, top: int, name: str) -> str:
    """created_at growing with the id (a serial key), plus up to a day of jitter."""
    span = _span_seconds(HISTORY_START, SNAPSHOT_AT)
    position = _interval(f"(g - 1)::float8 / {top} * {span} * 0.97")
    jitter = _interval(f"{r.u('g', name)} * 86400")
    return f"({sql_ts(HISTORY_START)} + {position} + {jitter})"


def _updated(r: SqlDraws, created: str, row: str, name: str, unchanged: float) -> str:
    """updated_at: equal to created_at for a share `unchanged` of the rows, else later."""
    later = _interval(
        f"{r.u(row, name + '_by')} * extract(epoch from {sql_ts(SNAPSHOT_AT)} - {created})")
    return (f"({created} + case when {r.u(row, name)} < {unchanged} then interval '0'"
            f" else {later} end)")


def _users_sql(lay: _Layout, r: SqlDraws) -> str:
    k = lay.users_per_doctor
    role = r.bucket("g", "user_role")
    first = r.pick("g", "user_first", FIRST_NAMES)
    last = r.pick("g", "user_last", LAST_NAMES)
    return f"""
    insert into dispatch_user (id, email, first_name, last_name, role, office_id, is_active,
                               created_at, updated_at)
    select g,
      lower(regexp_replace(coalesce(first, 'user') || '.' || coalesce(last, 'x'), '[^A-Za-z.]',
            '', 'g')) || g || '@' || {r.pick('g', 'user_domain', EMAIL_DOMAINS)},
      first, last,
      case when g % {k} = 0 and g / {k} <= {lay.doctor_top} then 'doctor'
           when {role} < 30 then 'admin' when {role} < 230 then 'staff' else 'patient' end,
      case when {r.bucket('g', 'user_office')} < 50 then null
           else 1 + {r.h('g', 'user_office_id')} % {lay.offices} end,
      {r.u('g', 'user_active')} >= 0.04,
      created, {_updated(r, 'created', 'g', 'user_upd', 0.55)}
    from (select g, {_position_created(r, lay.users, 'user_created')} as created,
            case when {r.bucket('g', 'first_name')} < 10 then null else {first} end as first,
            case when {r.bucket('g', 'last_name')} < 10 then null else {last} end as last
          from generate_series(1::bigint, {lay.users}) g) s
    """


def _doctors_sql(lay: _Layout, r: SqlDraws) -> str:
    k = lay.users_per_doctor
    return f"""
    insert into dispatch_doctor (id, user_id, office_id, license_number, specialty, created_at,
                                 updated_at)
    select g, g * {k},
      case when {r.bucket('g', 'doctor_office')} < 50 then null
           else coalesce(user_office, 1 + {r.h('g', 'doctor_office_id')} % {lay.offices}) end,
      case when {r.u('g', 'license_null')} < 0.03 then null
           else 'DDS-' || lpad(({r.h('g', 'license')} % 1000000)::text, 6, '0') end,
      case when {r.u('g', 'specialty_null')} < 0.05 then null
           else {r.pick('g', 'specialty', SPECIALTIES)} end,
      created, {_updated(r, 'created', 'g', 'doctor_upd', 0.5)}
    from (select g, u.office_id as user_office,
            u.created_at + {_interval(f"{r.u('g', 'doctor_created')} * 5 * 86400")} as created
          from generate_series(1::bigint, {lay.doctor_top}) g
          join dispatch_user u on u.id = g * {k}
          where not {lay.is_gap('g', 'dispatch_doctor')}) s
    """


def _patients_sql(lay: _Layout, r: SqlDraws) -> str:
    status = r.bucket("g", "patient_status")
    ranges = QUIRK_BUCKETS["patient_status"]
    status_case = " ".join(
        f"when {status} < {ranges[name][1]} then {sid}" for sid, name in PATIENT_STATUSES
    )
    # Parents are drawn among the older rows (ids up to the patient's position), as a
    # serial key would have them.
    older_users = f"greatest(1, g * {lay.users} / {lay.patient_top})"
    older_doctors = (f"least({lay.doctor_top},"
                     f" greatest(1, g * {lay.doctor_top} / {lay.patient_top}))")
    doctor = lay.real(r.h("g", "patient_doctor"), older_doctors, "dispatch_doctor")
    return f"""
    insert into dispatch_patient (id, office_id, user_id, doctor_id, patient_number, first_name,
                                  last_name, birth_date, status_id, created_at, updated_at)
    select g,
      1 + {r.h('g', 'patient_office')} % {lay.offices},
      case when {r.u('g', 'patient_user')} < 0.35
           then 1 + {r.h('g', 'patient_user_id')} % {older_users} end,
      case when {r.u('g', 'patient_doctor_null')} < 0.12 then null else {doctor} end,
      'P-' || lpad(g::text, 7, '0'),
      case when {r.bucket('g', 'first_name')} < 10 then null
           else {r.pick('g', 'patient_first', FIRST_NAMES)} end,
      case when {r.bucket('g', 'last_name')} < 15 then null
           else {r.pick('g', 'patient_last', LAST_NAMES)} end,
      case when {r.u('g', 'birth_null')} < 0.03 then null
           else date '1955-01-01' + ({r.h('g', 'birth')} % 22000)::int end,
      case {status_case} end,
      created, {_updated(r, 'created', 'g', 'patient_upd', 0.45)}
    from (select g, {_position_created(r, lay.patient_top, 'patient_created')} as created
          from generate_series(1::bigint, {lay.patient_top}) g
          where not {lay.is_gap('g', 'dispatch_patient')}) s
    """


def _instructions_sql(lay: _Layout, r: SqlDraws, first: int, last: int) -> str:
    """Instructions with ids first..last, the gaps left out, for patients drawn among all."""
    patient = lay.real(r.h("g", "instr_patient"), lay.patient_top, "dispatch_patient")
    doctor_b = r.bucket("g", "instruction_doctor")
    doctors = QUIRK_BUCKETS["instruction_doctor"]
    kinds = r.u("g", "instr_type")
    states = r.u("g", "instr_status")
    notes = r.bucket("g", "notes")
    return f"""
    insert into dispatch_instruction (id, patient_id, doctor_id, type, status, notes,
                                      submitted_at, created_at, updated_at)
    select g,
      case when {r.within('g', 'instruction_patient', 'orphan_patient')}
           then {lay.missing(r.h('g', 'instr_orphan'), 'dispatch_patient')} else pid end,
      case when {doctor_b} < {doctors['orphan_doctor'][1]}
             then {lay.missing(r.h('g', 'instr_orphan_doctor'), 'dispatch_doctor')}
           when {doctor_b} < {doctors['no_doctor'][1]} then null
           else coalesce(patient_doctor,
                         {lay.real(r.h('g', 'instr_doctor'), lay.doctor_top, 'dispatch_doctor')})
      end,
      case when {kinds} < 0.45 then 'aligner' when {kinds} < 0.65 then 'refinement'
           when {kinds} < 0.85 then 'retainer' else 'consultation' end,
      status,
      case when {notes} < 400 then null when {notes} < 430 then ''
           else {r.pick('g', 'notes_text', NOTES)} end,
      case when status = 'draft' then null
           else created + {_interval(f"{r.u('g', 'submitted')} * 3 * 86400")} end,
      created, {_updated(r, 'created', 'g', 'instr_upd', 0.5)}
    from (
      select g, pid, p.doctor_id as patient_doctor,
        case when {states} < 0.10 then 'draft' when {states} < 0.30 then 'submitted'
             when {states} < 0.55 then 'in_progress' when {states} < 0.75 then 'shipped'
             when {states} < 0.95 then 'completed' else 'cancelled' end as status,
        p.created_at + {_interval(f"{r.u('g', 'instr_created')} * 0.98 * extract(epoch from"
                                  f" {sql_ts(SNAPSHOT_AT)} - p.created_at)")} as created
      from (select g, {patient} as pid from generate_series({first}::bigint, {last}) g
            where not {lay.is_gap('g', 'dispatch_instruction')}) picks
      join dispatch_patient p on p.id = picks.pid
    ) s
    """


def _ties_sql(r: SqlDraws) -> str:
    """Give the two latest instructions of some patients the same created_at.

    Half of the pairs have the retainer on the greater id (the patient is in
    `retention`), half on the smaller one (`active`): only "ties broken by the greater
    id" gets both right.
    """
    tie = r.within("p.id", "latest_tie", "tie")
    return f"""
    with ranked as (
      select i.id, i.patient_id, i.created_at,
             row_number() over (partition by i.patient_id
                                order by i.created_at desc, i.id desc) as rank
      from dispatch_instruction i join dispatch_patient p on p.id = i.patient_id
      where {tie} and p.status_id <> 4
    ), pairs as (
      select patient_id, max(created_at) as at, max(id) as high, min(id) as low
      from ranked where rank <= 2 group by patient_id having count(*) = 2
    )
    update dispatch_instruction i
    set created_at = pairs.at,
        updated_at = greatest(i.updated_at, pairs.at),
        submitted_at = case when i.submitted_at is null then null else pairs.at end,
        type = case when (i.id = pairs.high) = (pairs.patient_id % 2 = 0)
                    then 'retainer' else 'aligner' end
    from pairs where i.id in (pairs.high, pairs.low)
    """


def _operations_sql(lay: _Layout, r: SqlDraws, first: int, last: int) -> str:
    """Operations with ids first..last, linked as QUIRK_BUCKETS["operation_link"] says."""
    link = r.bucket("g", "operation_link")
    ranges = QUIRK_BUCKETS["operation_link"]
    instruction = lay.real(r.h("g", "op_instruction"), lay.instruction_top,
                           "dispatch_instruction")
    kind = r.u("g", "op_type")
    cents = _cents_sql(r, "g")
    negative = (f"(kind = 'refund' and {r.u('g', 'op_neg')} < 0.8"
                f" or kind = 'adjustment' and {r.u('g', 'op_neg')} < 0.4)")
    return f"""
    with lonely as (
      select coalesce(array_agg(p.id order by p.id), '{{}}') as ids
      from dispatch_patient p
      where not exists (select 1 from dispatch_instruction i where i.patient_id = p.id)
    )
    insert into dispatch_operation (id, patient_id, instruction_id, type, price, sq_order_id,
      sq_payment_id, sq_refund_id, card_brand, card_bin, card_last, office_card, payment_id,
      made_at, created_at, updated_at)
    select g,
      case when link < {ranges['null_instruction_patient_with_cases'][1]} then i_patient
           when link < {ranges['no_patient'][1]} then null
           when link < {ranges['missing_patient'][1]}
             then {lay.missing(r.h('g', 'op_missing_patient'), 'dispatch_patient')}
           when link < {ranges['patient_without_instructions'][1]}
             then lonely.ids[1 + {r.h('g', 'op_lonely')} % greatest(1, cardinality(lonely.ids))]
           when {r.bucket('g', 'operation_patient')} < 30 then null
           else i_patient end,
      case when link < {ranges['orphan_instruction'][1]}
             then {lay.missing(r.h('g', 'op_orphan'), 'dispatch_instruction')}
           when link < {ranges['patient_without_instructions'][1]} then null
           else iid end,
      kind,
      {_price_sql(r, 'g', cents, negative)},
      {_square_columns(r, 'g', 'kind')},
      case when {r.u('g', 'made_null')} < 0.03 then null
           else created - {_interval(f"{r.u('g', 'made')} * 2 * 86400")} end,
      created, {_updated(r, 'created', 'g', 'op_upd', 0.7)}
    from (
      select g, {link} as link, i.id as iid, i.patient_id as i_patient,
        case when {kind} < 0.80 then 'payment' when {kind} < 0.92 then 'refund'
             else 'adjustment' end as kind,
        i.created_at + {_interval(f"{r.u('g', 'op_created')} * 0.9 * extract(epoch from"
                                  f" {sql_ts(SNAPSHOT_AT)} - i.created_at)")} as created
      from (select g, {instruction} as x from generate_series({first}::bigint, {last}) g) picks
      join dispatch_instruction i on i.id = picks.x
    ) s cross join lonely
    """


def _set_sequences(conn: psycopg.Connection) -> None:
    for table in TABLES:
        if table == "dispatch_patient_status":
            continue
        conn.execute(
            f"select setval(pg_get_serial_sequence('{table}', 'id'),"
            f" greatest(coalesce((select max(id) from {table}), 0), 1))"
        )


def _counts(conn: psycopg.Connection) -> dict[str, int]:
    counts: dict[str, int] = {}
    for table in TABLES:
        row = conn.execute(f"select count(*) from {table}").fetchone()
        counts[table] = int(row[0]) if row else 0
    return counts


def _session(conn: psycopg.Connection) -> None:
    # UTC: interval arithmetic on timestamptz follows the session's timezone (DST), and
    # the rows must not depend on it. More work_mem keeps the joins of the big inserts
    # in memory on the small default of the embedded cluster.
    conn.execute("set search_path to public")
    conn.execute("set timezone to 'UTC'")
    conn.execute("set work_mem to '128MB'")


@contextmanager
def deferred_constraints(conn: psycopg.Connection, tables: Sequence[str],
                         kinds: str = "f") -> Iterator[None]:
    """Drop the constraints of `tables` (schema `public`) of the given kinds (`f`
    foreign keys, `p` primary keys, `u` unique) for a bulk load, then add them back with
    their names and definitions: the same DDL afterwards.

    Checking each row's parents one by one costs more than the inserts; adding a
    constraint back validates every row in one join (and builds an index in one sort).
    On an error the transaction is left to roll back, which restores them too.
    """
    rows = conn.execute(
        """
        select c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid), c.contype
        from pg_constraint c join pg_namespace n on n.oid = c.connamespace
        where c.contype = any(%s) and n.nspname = 'public'
          and c.conrelid::regclass::text = any(%s)
        -- foreign keys go first and come back last: they need the keys they reference
        order by c.contype = 'f' desc, c.conrelid::regclass::text, c.conname
        """,
        (list(kinds), list(tables)),
    ).fetchall()
    for table, name, _, _ in rows:
        conn.execute(f'alter table {table} drop constraint "{name}"')
    yield
    for table, name, definition, _ in reversed(rows):
        conn.execute(f'alter table {table} add constraint "{name}" {definition}')


def generate_dispatch(dsn: str, rows: int = 20_000, seed: int = 7) -> GeneratedDispatch:
    """Drop and recreate the `dispatch_*` tables of contracts.md section 6 in `public`,
    filled with about `rows` rows in total (same seed, same rows).

    Shares: offices 3 per 100,000 rows (at least 3), users 6 %, doctors 0.5 %, patients
    10 %, instructions 25 %, the 5 patient statuses, operations the rest.
    """
    if rows < MIN_ROWS:
        raise ValueError(f"rows must be at least {MIN_ROWS} (got {rows})")
    started = datetime.now(UTC)
    lay = _Layout.of(rows, seed)
    r = SqlDraws(seed)
    with psycopg.connect(dsn) as conn:
        _session(conn)
        conn.execute(
            "drop table if exists " + ", ".join(reversed(TABLES)) + " cascade"
        )
        conn.execute(DDL)
        with deferred_constraints(conn, TABLES):
            conn.execute(
                "insert into dispatch_patient_status (id, name) values "
                + ", ".join(f"({sid}, {_quote(name)})" for sid, name in PATIENT_STATUSES)
            )
            conn.execute(_offices_sql(lay, r))
            conn.execute(_users_sql(lay, r))
            conn.execute(_doctors_sql(lay, r))
            conn.execute(_patients_sql(lay, r))
            conn.execute(_instructions_sql(lay, r, 1, lay.instruction_top))
            conn.execute(_ties_sql(r))
            conn.execute(_operations_sql(lay, r, 1, lay.operations))
        _set_sequences(conn)
        conn.commit()
        # Planner statistics now, so the first extract does not plan on an empty guess.
        conn.execute("analyze " + ", ".join(TABLES))
        conn.commit()
        counts = _counts(conn)
    seconds = (datetime.now(UTC) - started).total_seconds()
    return GeneratedDispatch(seed, counts, seconds)


# -- changes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DispatchChanges:
    """What `mutate_dispatch` did. Every updated or inserted row has updated_at >= `at`.

    `phase_changes` counts the instructions changed or added so that their patient's
    treatment phase moves while the patient row itself (and its updated_at) does not.
    """

    at: datetime
    updated: dict[str, int]
    inserted: dict[str, int]
    deleted: dict[str, list[int]] = field(repr=False)
    phase_changes: int
    seconds: float

    @property
    def touched(self) -> int:
        return (sum(self.updated.values()) + sum(self.inserted.values())
                + sum(len(ids) for ids in self.deleted.values()))


# Share of the touched rows per kind of change and table.
_UPDATE_SHARE = {
    "dispatch_office": 0.005, "dispatch_user": 0.06, "dispatch_doctor": 0.015,
    "dispatch_patient": 0.10, "dispatch_instruction": 0.14, "dispatch_operation": 0.18,
}
_PHASE_SHARE = 0.06  # instructions of latest rank flipped to / from retainer
_INSERT_SHARE = {
    "dispatch_user": 0.01, "dispatch_patient": 0.03, "dispatch_instruction": 0.08,
    "dispatch_operation": 0.18,
}
_DELETE_SHARE = {
    "dispatch_operation": 0.07, "dispatch_instruction": 0.04, "dispatch_patient": 0.015,
}


def _stamp(r: SqlDraws, row: str, at: datetime, name: str) -> str:
    """A change time in the hour after `at`, per row."""
    return f"({sql_ts(at)} + {_interval(f'{r.u(row, name)} * 3600')})"


def _sample(r: SqlDraws, table: str, count: int, size: int, name: str) -> str:
    """A predicate choosing about `count` of the `size` rows of `table` (by id)."""
    share = min(1.0, count / size) if size else 0.0
    return f"{r.u(f'{table}.id', name)} < {share!r}"


def _ids_array(table: str, where: str = "true") -> str:
    return f"(select coalesce(array_agg(id order by id), '{{}}') from {table} where {where})"


def _apply_updates(conn: psycopg.Connection, r: SqlDraws, at: datetime, counts: dict[str, int],
                   touched: int) -> dict[str, int]:
    def n(table: str) -> int:
        # Offices and doctors are few: a day changes a handful, never all of them.
        wanted = round(touched * _UPDATE_SHARE[table])
        return max(1, min(wanted, math.ceil(0.05 * counts[table])))

    def run(table: str, assignments: str, name: str) -> int:
        stamp = _stamp(r, f"{table}.id", at, name + "_at")
        cur = conn.execute(
            f"update {table} set {assignments}, updated_at = {stamp}"
            f" where {_sample(r, table, n(table), counts[table], name)}"
        )
        return cur.rowcount

    row = "dispatch_office.id"
    office = run("dispatch_office", f"""phone = '(' || (200 + {r.h(row, 'm_area')} % 700)::text
        || ') 555-' || lpad(({r.h(row, 'm_line')} % 10000)::text, 4, '0')""", "m_office")
    row = "dispatch_user.id"
    user = run("dispatch_user", f"""
        last_name = case when {r.u(row, 'm_user_kind')} < 0.5
                         then {r.pick(row, 'm_user_last', LAST_NAMES)} else last_name end,
        email = case when {r.u(row, 'm_user_kind')} >= 0.5
                     then split_part(email, '@', 1) || '@'
                          || {r.pick(row, 'm_user_domain', EMAIL_DOMAINS)} else email end,
        is_active = case when {r.u(row, 'm_user_active')} < 0.1 then not is_active
                         else is_active end""", "m_user")
    row = "dispatch_doctor.id"
    doctor = run("dispatch_doctor", f"""
        specialty = {r.pick(row, 'm_specialty', SPECIALTIES)},
        license_number = 'DDS-' || lpad(({r.h(row, 'm_license')} % 1000000)::text, 6, '0')""",
                 "m_doctor")
    row = "dispatch_patient.id"
    patient = run("dispatch_patient", f"""
        status_id = case when {r.u(row, 'm_status_kind')} < 0.6
                         then least(status_id + 1, 5) else status_id end,
        last_name = case when {r.u(row, 'm_status_kind')} >= 0.6
                         then {r.pick(row, 'm_patient_last', LAST_NAMES)} else last_name end""",
                  "m_patient")
    row = "dispatch_instruction.id"
    instruction = run("dispatch_instruction", f"""
        status = case status when 'draft' then 'submitted' when 'submitted' then 'in_progress'
                             when 'in_progress' then 'shipped' when 'shipped' then 'completed'
                             else status end,
        submitted_at = case when status = 'draft' then {sql_ts(at)} else submitted_at end,
        notes = case when {r.u(row, 'm_notes')} < 0.3
                     then {r.pick(row, 'm_notes_text', NOTES)} else notes end""", "m_instr")
    row = "dispatch_operation.id"
    garbage = _array(GARBAGE_PRICES)
    # A garbage price gets corrected (the row becomes pushable); others are re-priced,
    # keeping the legacy app's habit of formatting some with `$` and separators.
    # A refund keeps its minus, after the `$` (`$-12.50`): `-$12.50` is a form the spec
    # leaves open, which the generators never write.
    sign = "(case when type = 'refund' and price like any(array['-%', '$-%']) then '-' else '' end)"
    new_price = (f"case when {r.u(row, 'm_price_fmt')} < 0.2 then '$' || {sign} || "
                 f"to_char(({_cents_sql(r, row)}) / 100.0, 'FM9,999,990.00') else {sign} || "
                 f"to_char(({_cents_sql(r, row)}) / 100.0, 'FM9999999990.00') end")
    operation = run("dispatch_operation", f"""
        price = case when btrim(price) = any({garbage}) or {r.u(row, 'm_price')} < 0.6
                     then {new_price} else price end,
        card_last = case when card_last is not null and {r.u(row, 'm_price')} >= 0.6
                         then lpad(({r.h(row, 'm_card_last')} % 10000)::text, 4, '0')
                         else card_last end""", "m_op")
    return {"dispatch_office": office, "dispatch_user": user, "dispatch_doctor": doctor,
            "dispatch_patient": patient, "dispatch_instruction": instruction,
            "dispatch_operation": operation}


def _apply_phase_changes(conn: psycopg.Connection, r: SqlDraws, at: datetime,
                         counts: dict[str, int], touched: int) -> int:
    """Flip the latest instruction of untouched, not completed patients to or from
    `retainer`: their phase moves (retention <-> active), their own row does not."""
    patients = counts["dispatch_patient"]
    wanted = round(touched * _PHASE_SHARE)
    share = min(1.0, wanted / patients) if patients else 0.0
    # The patients are drawn first: only their instructions are sorted for the latest.
    cur = conn.execute(f"""
        with chosen as (
          select p.id from dispatch_patient p
          where p.status_id <> 4 and p.updated_at < {sql_ts(at)}
            and {r.u('p.id', 'm_phase')} < {share!r}
        ), latest as (
          select distinct on (i.patient_id) i.id
          from dispatch_instruction i join chosen on chosen.id = i.patient_id
          order by i.patient_id, i.created_at desc, i.id desc
        )
        update dispatch_instruction i
        set type = case when i.type = 'retainer' then 'aligner' else 'retainer' end,
            updated_at = {_stamp(r, 'i.id', at, 'm_phase_at')}
        from latest
        where i.id = latest.id and i.updated_at < {sql_ts(at)}
    """)
    return cur.rowcount


def _sequence_top(conn: psycopg.Connection, table: str) -> int:
    row = conn.execute(
        f"select last_value from {table}_id_seq"
    ).fetchone()
    return int(row[0]) if row else 0


def _apply_inserts(conn: psycopg.Connection, r: SqlDraws, at: datetime, counts: dict[str, int],
                   touched: int) -> dict[str, int]:
    def n(table: str) -> int:
        return max(1, round(touched * _INSERT_SHARE[table]))

    inserted: dict[str, int] = {}
    offices = _ids_array("dispatch_office")
    doctors = _ids_array("dispatch_doctor")

    base = _sequence_top(conn, "dispatch_user")
    first = r.pick("g", "n_user_first", FIRST_NAMES)
    last = r.pick("g", "n_user_last", LAST_NAMES)
    cur = conn.execute(f"""
        insert into dispatch_user (id, email, first_name, last_name, role, office_id,
                                   is_active, created_at, updated_at)
        select g, lower(regexp_replace(first || '.' || last, '[^A-Za-z.]', '', 'g')) || g
                  || '@' || {r.pick('g', 'n_user_domain', EMAIL_DOMAINS)},
               first, last,
               case when {r.u('g', 'n_user_role')} < 0.2 then 'staff' else 'patient' end,
               o.ids[1 + {r.h('g', 'n_user_office')} % cardinality(o.ids)], true, at, at
        from (select g, {first} as first, {last} as last, {_stamp(r, 'g', at, 'n_user_at')} as at
              from generate_series({base + 1}::bigint, {base + n('dispatch_user')}) g) s
        cross join (select {offices} as ids) o
    """)
    inserted["dispatch_user"] = cur.rowcount

    base = _sequence_top(conn, "dispatch_patient")
    cur = conn.execute(f"""
        insert into dispatch_patient (id, office_id, user_id, doctor_id, patient_number,
          first_name, last_name, birth_date, status_id, created_at, updated_at)
        select g, o.ids[1 + {r.h('g', 'n_pat_office')} % cardinality(o.ids)],
               case when {r.u('g', 'n_pat_user')} < 0.3
                    then u.ids[1 + {r.h('g', 'n_pat_user_id')} % cardinality(u.ids)] end,
               d.ids[1 + {r.h('g', 'n_pat_doctor')} % cardinality(d.ids)],
               'P-' || lpad(g::text, 7, '0'),
               {r.pick('g', 'n_pat_first', FIRST_NAMES)}, {r.pick('g', 'n_pat_last', LAST_NAMES)},
               date '1985-01-01' + ({r.h('g', 'n_birth')} % 12000)::int, 1, at, at
        from (select g, {_stamp(r, 'g', at, 'n_pat_at')} as at
              from generate_series({base + 1}::bigint, {base + n('dispatch_patient')}) g) s
        cross join (select {offices} as ids) o cross join (select {doctors} as ids) d
        cross join (select {_ids_array('dispatch_user')} as ids) u
    """)
    inserted["dispatch_patient"] = cur.rowcount

    # New instructions: a first one for some untouched patients without any (their
    # phase leaves not_started, their row stays as it is), the others for patients drawn
    # among all (new ones included) whose instructions this change set did not touch.
    base = _sequence_top(conn, "dispatch_instruction")
    wanted = n("dispatch_instruction")
    firsts = max(1, wanted // 4)
    kinds = r.u("g", "n_instr_type")
    instruction_values = f"""
        case when {kinds} < 0.4 then 'aligner' when {kinds} < 0.6 then 'refinement'
             when {kinds} < 0.9 then 'retainer' else 'consultation' end,
        'submitted', case when {r.u('g', 'n_notes')} < 0.5 then null
                          else {r.pick('g', 'n_notes_text', NOTES)} end,
        at, at, at"""
    cur = conn.execute(f"""
        with lonely as (
          select coalesce(array_agg(p.id order by p.id), '{{}}') as ids
          from dispatch_patient p
          where p.status_id <> 4 and p.updated_at < {sql_ts(at)}
            and not exists (select 1 from dispatch_instruction i where i.patient_id = p.id)
        )
        insert into dispatch_instruction (id, patient_id, doctor_id, type, status, notes,
                                          submitted_at, created_at, updated_at)
        select g, pid, d.ids[1 + {r.h('g', 'n_instr_doctor')} % cardinality(d.ids)],
               {instruction_values}
        from (select distinct on (pid) g, pid, at from (
                select g, lonely.ids[1 + {r.h('g', 'n_lonely')} % cardinality(lonely.ids)] as pid,
                       {_stamp(r, 'g', at, 'n_instr_at')} as at
                from generate_series({base + 1}::bigint, {base + firsts}) g cross join lonely
                where cardinality(lonely.ids) > 0) s0 order by pid, g) s
        cross join (select {doctors} as ids) d
    """)
    first_instructions = cur.rowcount
    base += firsts
    cur = conn.execute(f"""
        insert into dispatch_instruction (id, patient_id, doctor_id, type, status, notes,
                                          submitted_at, created_at, updated_at)
        select g, pid, d.ids[1 + {r.h('g', 'n_instr_doctor')} % cardinality(d.ids)],
               {instruction_values}
        from (select g, p.ids[1 + {r.h('g', 'n_instr_patient')} % cardinality(p.ids)] as pid,
                     {_stamp(r, 'g', at, 'n_instr_at')} as at
              from generate_series({base + 1}::bigint, {base + wanted - firsts}) g
              cross join (select {_ids_array('dispatch_patient', f'''not exists (
                  select 1 from dispatch_instruction i where i.patient_id = dispatch_patient.id
                  and i.updated_at >= {sql_ts(at)})''')} as ids) p) s
        cross join (select {doctors} as ids) d
    """)
    inserted["dispatch_instruction"] = first_instructions + cur.rowcount
    inserted["_phase"] = first_instructions
    conn.execute(
        "select setval('dispatch_instruction_id_seq',"
        " greatest((select max(id) from dispatch_instruction), last_value)) "
        "from dispatch_instruction_id_seq"
    )

    # New operations: children of existing instructions (old and new), some with only
    # the patient; their prices carry every quirk, as the legacy app writes them.
    base = _sequence_top(conn, "dispatch_operation")
    wanted = n("dispatch_operation")
    kind = r.u("g", "n_op_type")
    cents = _cents_sql(r, "g")
    negative = f"(kind = 'refund' and {r.u('g', 'n_op_neg')} < 0.8)"
    cur = conn.execute(f"""
        insert into dispatch_operation (id, patient_id, instruction_id, type, price, sq_order_id,
          sq_payment_id, sq_refund_id, card_brand, card_bin, card_last, office_card, payment_id,
          made_at, created_at, updated_at)
        select g, i.patient_id,
               case when {r.u('g', 'n_op_link')} < 0.1 then null else i.id end,
               kind, {_price_sql(r, 'g', cents, negative)}, {_square_columns(r, 'g', 'kind')},
               at, at, at
        from (select g, x.ids[1 + {r.h('g', 'n_op_instr')} % cardinality(x.ids)] as iid,
                     case when {kind} < 0.8 then 'payment' when {kind} < 0.92 then 'refund'
                          else 'adjustment' end as kind,
                     {_stamp(r, 'g', at, 'n_op_at')} as at
              from generate_series({base + 1}::bigint, {base + wanted}) g
              cross join (select {_ids_array('dispatch_instruction')} as ids) x) s
        join dispatch_instruction i on i.id = s.iid
    """)
    inserted["dispatch_operation"] = cur.rowcount
    _set_sequences(conn)
    return inserted


def _apply_deletes(conn: psycopg.Connection, r: SqlDraws, at: datetime, counts: dict[str, int],
                   touched: int) -> dict[str, list[int]]:
    """Hard deletes of rows nothing depends on and that this change set did not touch.

    An instruction is kept while an operation names it, or while an operation without
    instruction names its patient (its case could be the patient's latest).
    """
    before = sql_ts(at)

    def n(table: str) -> int:
        return round(touched * _DELETE_SHARE[table])

    deleted: dict[str, list[int]] = {}
    rows = conn.execute(f"""
        delete from dispatch_operation
        where updated_at < {before}
          and {_sample(r, 'dispatch_operation', n('dispatch_operation'),
                       counts['dispatch_operation'], 'd_op')}
        returning id
    """).fetchall()
    deleted["dispatch_operation"] = sorted(int(row[0]) for row in rows)
    rows = conn.execute(f"""
        with free as (
          select i.id from dispatch_instruction i
          where i.updated_at < {before}
            and not exists (select 1 from dispatch_operation o where o.instruction_id = i.id)
            and not exists (select 1 from dispatch_operation o
                            where o.instruction_id is null and o.patient_id = i.patient_id)
        ), ranked as (
          select id, row_number() over (order by {r.h('id', 'd_instr')}, id) as rank from free
        )
        delete from dispatch_instruction i using ranked
        where i.id = ranked.id and ranked.rank <= {n('dispatch_instruction')}
        returning i.id
    """).fetchall()
    deleted["dispatch_instruction"] = sorted(int(row[0]) for row in rows)
    # Few patients have nothing attached: draw among those only.
    rows = conn.execute(f"""
        with free as (
          select p.id from dispatch_patient p
          where p.updated_at < {before}
            and not exists (select 1 from dispatch_instruction i where i.patient_id = p.id)
            and not exists (select 1 from dispatch_operation o where o.patient_id = p.id)
        ), ranked as (
          select id, row_number() over (order by {r.h('id', 'd_patient')}, id) as rank from free
        )
        delete from dispatch_patient p using ranked
        where p.id = ranked.id and ranked.rank <= {n('dispatch_patient')}
        returning p.id
    """).fetchall()
    deleted["dispatch_patient"] = sorted(int(row[0]) for row in rows)
    return deleted


def mutate_dispatch(dsn: str, share: float = 0.01, seed: int = 7) -> DispatchChanges:
    """Apply a day of legacy changes touching about `share` of the rows.

    Updates bump the row's own updated_at (patients, instructions, operations, users,
    doctors, offices); some instructions flip to or from `retainer` so that a patient's
    treatment phase changes while the patient row does not, and some patients without
    instructions get a first one. Inserts take new ids after the sequences and include
    children of existing parents. Hard deletes remove operations, and instructions and
    patients nothing depends on. The same state and seed give the same changes; a
    second call draws other rows (the salt is the time of the last change).
    """
    if not 0 < share <= 0.5:
        raise ValueError(f"share must be in (0, 0.5] (got {share})")
    started = datetime.now(UTC)
    with psycopg.connect(dsn) as conn:
        _session(conn)
        counts = _counts(conn)
        latest = conn.execute(
            "select max(m) from (" + " union all ".join(
                f"select max(updated_at) as m from {t}" for t in TABLES
                if t != "dispatch_patient_status") + ") s"
        ).fetchone()
        if latest is None or latest[0] is None:
            raise ValueError("the dispatch tables are empty: run generate_dispatch first")
        last_change: datetime = latest[0]
        # Changes happen in the hour starting a minute after the last one, so an
        # incremental extract on updated_at sees exactly them.
        at = last_change.replace(microsecond=0) + timedelta(minutes=1)
        r = SqlDraws(seed, salt=int(last_change.timestamp()))
        total = sum(v for t, v in counts.items() if t != "dispatch_patient_status")
        touched = max(40, round(share * total))
        updated = _apply_updates(conn, r, at, counts, touched)
        phase = _apply_phase_changes(conn, r, at, counts, touched)
        updated["dispatch_instruction"] += phase
        inserted = _apply_inserts(conn, r, at, counts, touched)
        phase += inserted.pop("_phase")
        deleted = _apply_deletes(conn, r, at, counts, touched)
        conn.commit()
    seconds = (datetime.now(UTC) - started).total_seconds()
    return DispatchChanges(at, updated, inserted, deleted, phase, seconds)


__all__ = [
    "COLUMNS",
    "DDL",
    "GARBAGE_PRICES",
    "INSTRUCTION_TYPES",
    "OPERATION_TYPES",
    "PATIENT_STATUSES",
    "QUIRK_BUCKETS",
    "TABLES",
    "DispatchChanges",
    "GeneratedDispatch",
    "deferred_constraints",
    "generate_dispatch",
    "mutate_dispatch",
]
