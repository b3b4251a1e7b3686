"""The sync registry: every sync the pusher can run, declared once.

A sync is one pass (create or update) of one object of one destination, fed by
one dbt sync view. Its entry says everything the CLI, the engine, the gate and
`reverse-etl health` need to know about it; nothing else in the pusher names a
destination, an object or a view. A new destination is a module implementing
`Destination` (destinations/), its sync views (dbt) and its entries here.

Safety caps (`SAFE_MODE`): a pass refuses to start when it would write more rows
than `max_rows` (default: `SAFE_MODE_MAX_CREATES` / `SAFE_MODE_MAX_UPDATES`), or
more than `max_share` of the records the destination holds now, counted in its
read-back table (`destination_table`). The share applies only once the
destination holds records: a first load into an empty object is bounded by the
count alone.

Every sync names the data-quality gate that runs before a real push, or says why
it has none (`no_gate_reason`); an entry with neither is refused at import.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from common.settings import Settings

PassName = Literal["create", "update"]
PASSES: tuple[PassName, ...] = ("create", "update")


@dataclass(frozen=True)
class Sync:
    destination: str
    object_name: str
    entity: str  # the plural noun of the sync's name: `salesforce.properties.create`
    pass_name: PassName
    view: str  # schema-qualified dbt sync view
    key: str  # the destination field that identifies a row: external id or record Id
    batch_size: int
    destination_table: str | None = None  # read-back of the destination's records
    max_rows: int | None = None  # None: the SAFE_MODE_MAX_<PASS>S setting
    max_share: float | None = None  # of the destination's records; None: no share cap
    gate: str | None = None  # a suite of reverse_etl/quality.py
    no_gate_reason: str | None = None

    def __post_init__(self) -> None:
        if self.pass_name not in PASSES:
            raise ValueError(f"{self.name}: unknown pass {self.pass_name!r}")
        if (self.gate is None) == (self.no_gate_reason is None):
            raise ValueError(f"{self.name}: name a gate or say why it has none, not both")
        if self.batch_size < 1:
            raise ValueError(f"{self.name}: batch_size must be positive")
        if self.max_share is not None and not self.max_share > 0:
            raise ValueError(f"{self.name}: max_share must be positive")

    @property
    def name(self) -> str:
        return f"{self.destination}.{self.entity}.{self.pass_name}"

    def max_rows_for(self, settings: Settings) -> int:
        if self.max_rows is not None:
            return self.max_rows
        safety = settings.safety
        return safety.safe_mode_max_creates if self.pass_name == "create" else (
            safety.safe_mode_max_updates
        )

    def cap_label(self, settings: Settings) -> str:
        """The count cap and where a user raises it."""
        if self.max_rows is not None:
            return f"max_rows={self.max_rows} of the registry entry {self.name}"
        variable = (
            "SAFE_MODE_MAX_CREATES" if self.pass_name == "create" else "SAFE_MODE_MAX_UPDATES"
        )
        return f"{variable}={self.max_rows_for(settings)}"


# In dependency order: a destination's passes run in this order (parents first).
SYNCS: tuple[Sync, ...] = (
    Sync(
        destination="salesforce",
        object_name="Product_Property__c",
        entity="properties",
        pass_name="create",
        view="sync.properties_to_create",
        key="Snappt_Property_ID__c",
        batch_size=200,  # the sObject Collections limit
        destination_table="raw_salesforce.product_property",
        # Production: ~1,081 missing of ~9,000 records; twice the destination's
        # size in one pass is a runaway join, not a backlog.
        max_share=2.0,
        gate="rds_salesforce",
    ),
    Sync(
        destination="salesforce",
        object_name="Product_Property__c",
        entity="properties",
        pass_name="update",
        view="sync.properties_to_update",
        key="Id",
        batch_size=200,
        destination_table="raw_salesforce.product_property",
        # An update view holds at most one row per record it matched, so more rows
        # than records means a fan-out in the models.
        max_share=1.0,
        gate="rds_salesforce",
    ),
    # PropertyWare <-> ServiceFusion work orders. ServiceFusion has no update API:
    # create passes only, one record a request (no batch create). Parents first: a
    # building's customer names its portfolio's parent customer.
    Sync(
        destination="servicefusion",
        object_name="customers",
        entity="parent_customers",
        pass_name="create",
        view="sync.servicefusion_parent_customers_to_create",
        key="account_number",
        batch_size=1,  # one POST a record; each is on the ledger before the next
        destination_table="raw_servicefusion.customers",
        # One parent customer per portfolio. A share of what ServiceFusion holds
        # says nothing here (an account starts with few customers, or many of other
        # clients); a count does: at 0.5 requests/s, 1,000 creates are half an hour
        # of the API's budget, far beyond a real portfolio list.
        max_rows=1000,
        gate="workorders",
    ),
    Sync(
        destination="servicefusion",
        object_name="customers",
        entity="customers",
        pass_name="create",
        view="sync.servicefusion_customers_to_create",
        key="account_number",
        batch_size=1,
        destination_table="raw_servicefusion.customers",
        # One customer per building, and the first load creates most of them, so
        # the bound is a count (see parent customers), not a share.
        max_rows=1000,
        gate="workorders",
    ),
    Sync(
        destination="servicefusion",
        object_name="jobs",
        entity="jobs",
        pass_name="create",
        view="sync.servicefusion_jobs_to_create",
        key="po_number",
        batch_size=1,
        destination_table="raw_servicefusion.jobs",
        # Open work orders without a job: on a first load they can outnumber the
        # jobs ServiceFusion holds, so no share; 1,000 is hours of the API's budget
        # and far more open work orders than a day brings.
        max_rows=1000,
        gate="workorders",
    ),
    # Legacy dispatch -> Supabase: one sync per target table and pass, parents before
    # children (the target's foreign keys). Set-based writes, 10,000 rows a batch.
    # Creates: a first load writes the whole legacy database, so the only bound is a
    # count far beyond its size. Updates: a day changes a few percent; half of a
    # table at once is a rule gone wrong, not the legacy app at work.
    *(
        Sync(
            destination="supabase",
            object_name=table,
            entity=table,
            pass_name=pass_name,
            view=f"sync.supabase_{table}_to_{pass_name}",
            key="id",
            batch_size=10_000,
            destination_table=f"raw_supabase.{table}",
            max_rows=10_000_000 if pass_name == "create" else None,
            max_share=None if pass_name == "create" else 0.5,
            gate="dispatch",
        )
        for pass_name in PASSES
        for table in ("offices", "profiles", "doctors", "patients", "cases", "operations")
    ),
    Sync(
        destination="propertyware",
        object_name="work_orders",
        entity="work_orders",
        pass_name="update",
        view="sync.propertyware_work_orders_to_update",
        key="ID",
        batch_size=50,  # one updateWorkOrder a record; one existence read per batch
        destination_table="raw_propertyware.work_orders",
        # Only work orders whose job status moved since the last run: half of all
        # work orders changing status at once is a status-mapping error, not a day.
        max_share=0.5,
        gate="workorders",
    ),
)


@dataclass(frozen=True)
class Validation:
    """What a destination's whole update pass is checked against afterwards: the
    monitoring model holding one row per check, and the extract that reads the
    destination back before the model is read."""

    model: str
    read_back: str
    # The model's checks read at once, one connection per group (check names; the
    # checks no group names form the last): a model of many independent aggregates
    # is one query per core instead of one for all. Empty: one query.
    check_groups: tuple[frozenset[str], ...] = ()


# Destinations validated after their update pass (reverse_etl/validation.py).
VALIDATIONS: dict[str, Validation] = {
    "supabase": Validation(
        model="monitoring.dispatch_validation",
        read_back="supabase",
        # about half of the work each, at 2M rows (12 and 14 s, 25 s in one query)
        check_groups=(frozenset({"amount_sum", "uuid_matches_mapping"}),),
    ),
}


class UnknownSync(ValueError):
    """Bad usage (exit 2): the message says what exists."""

    exit_code = 2


def destinations() -> tuple[str, ...]:
    return tuple(dict.fromkeys(sync.destination for sync in SYNCS))


def by_name(name: str) -> Sync:
    for sync in SYNCS:
        if sync.name == name:
            return sync
    raise UnknownSync(f"unknown sync {name!r}; registered: {', '.join(s.name for s in SYNCS)}")


def select(
    destination: str, pass_name: str, objects: Iterable[str] | None = None
) -> list[Sync]:
    """The syncs of one destination and pass, in registry order.

    `objects` narrows them to some objects or entities (`Product_Property__c` or
    `properties`).
    """
    if pass_name not in PASSES:
        raise UnknownSync(f"unknown pass {pass_name!r} (use create or update)")
    if destination not in destinations():
        raise UnknownSync(
            f"no sync is registered for destination {destination!r}; "
            f"registered: {', '.join(destinations())}"
        )
    chosen = [s for s in SYNCS if s.destination == destination and s.pass_name == pass_name]
    if objects is not None:
        wanted = set(objects)
        chosen = [s for s in chosen if s.object_name in wanted or s.entity in wanted]
        if not chosen:
            raise UnknownSync(
                f"{destination} has no {pass_name} sync for {', '.join(sorted(wanted))}"
            )
    return chosen


__all__ = [
    "PASSES",
    "SYNCS",
    "VALIDATIONS",
    "PassName",
    "Sync",
    "UnknownSync",
    "Validation",
    "by_name",
    "destinations",
    "select",
]
