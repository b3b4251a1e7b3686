"""ServiceFusion data that overlaps a generated PropertyWare data set, case by case.

`generate_servicefusion(pw, seed=S)` gives the customers (parents, building customers
with locations and contacts, other clients of the dispatcher) and jobs a ServiceFusion
account holds before the product's first run, in the simulator's fixture shape
(`sandbox.servicefusion_admin.ServiceFusionAdmin.load_customers` / `load_jobs`: the
API's create bodies plus `id`, `number`, `created_at`, `updated_at`). Each overlap
with PropertyWare is one case of the dedup rules of
/work/shared/spec/propertyware_servicefusion.md ("Deduplication", "Match scores"), and
`expected` names, by case, the PropertyWare IDs (portfolios, buildings, work orders:
PropertyWare IDs are unique across kinds) that the product must treat that way:

- `parent_exact`: the portfolio's parent customer, made by the old bridge
  (`account_number` `PW-P-<portfolio ID>`); `parent_name_match`: a parent the
  dispatcher typed by hand, the portfolio's name in other case/punctuation, no account
  number (name similarity 1.0); `parent_absent`: no parent yet (to create).
- `customer_exact`: building customers made by the old bridge (`PW-B-<building ID>`,
  the parent as `parent_customer`, one location per unit and the active tenants as
  contacts, as the product sends them): score 1.0.
- `customer_auto`: a customer at the building's address (written differently:
  `Avenue`/`Street`, case, punctuation, ZIP+4) whose name differs only by case,
  punctuation or one letter: 0.6 + 0.4 x similarity >= 0.95, an automatic match.
- `customer_review`: the same address, a name with larger edits (`Apartments` ->
  `Apts`, a dropped word): similarity in [0.5, 0.875), score in [0.80, 0.95), review.
- `customer_far`: a customer with the building's name (or nearly) at another address:
  score <= 0.4, so the building's customer is created.
- `customer_absent`: no ServiceFusion customer at all (created).
- `job_exact_in_step` / `job_exact_status_differs`: open work orders of
  `customer_exact` buildings that the old bridge made a job for (`po_number` = the
  work-order number); the job's status maps to the work order's (nothing to write
  back), or a technician moved it on (`On Site` while the work order says
  `Scheduled`: the write-back sets the work order's status).
  `job_wo_received_in_step`: the `WO Received` work order whose job is still
  `Unscheduled` (in step; also listed in `job_exact_in_step`).
- `job_temporal_match`: a work order with no `po_number` job, but a job of the same
  customer created within 48 h of it with a near-identical description (matched by the
  temporal rule); `job_temporal_outside`: the same, the job created outside the window
  (not a match: the job is created).

`unrelated` lists the ServiceFusion ids of the dispatcher's other clients (they match
no building). `scores` holds, per PropertyWare ID of every case, the best score the
spec's formula gives (computed here by `customer_score`, `parent_score`, `job_score`);
`candidates` the ServiceFusion id of the record that score belongs to. The generator
checks the whole score matrix (every building against every customer, every open work
order against every job) and raises AssertionError if a case leaves its band or a
record matches a building or work order it was not made for.

The same PropertyWare data and seed give the same records, ids included; nothing
depends on the clock (times are relative to the PropertyWare generator's AS_OF).
"""

from __future__ import annotations

import datetime as dt
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sandbox.generate.propertyware import (
    AS_OF,
    FIRST_NAMES,
    LAST_NAMES,
    GeneratedPropertyWare,
    normalize_status,
)
from sandbox.generate.vocabulary import CITIES, COMPANY_FIRST, STREET_NAMES, STREET_SUFFIXES

CUSTOMER_NAME_MAX = 45
FIRST_CUSTOMER_ID = 1_000_001
FIRST_JOB_ID = 5_000_001
FIRST_JOB_NUMBER = 1001

AUTO_MATCH = 0.95
REVIEW = 0.80
ADDRESS_WEIGHT, NAME_WEIGHT = 0.6, 0.4
JOB_WINDOW = dt.timedelta(hours=48)

# Shares of the buildings per case (at least one of each when there are enough).
EXACT_SHARE, AUTO_SHARE, REVIEW_SHARE, FAR_SHARE = 0.2, 0.1, 0.1, 0.1

# The spec's default status mapping: PropertyWare status (trimmed, lower case) ->
# the ServiceFusion status a job is created with.
STATUS_ON_CREATE: dict[str, str] = {
    "unscheduled": "Unscheduled", "open": "Unscheduled", "wo received": "Unscheduled",
    "scheduled": "Scheduled", "scheduled outside sf": "Scheduled",
    "dispatched": "Dispatched", "delayed": "Delayed", "on the way": "On The Way",
    "on site": "On Site", "started": "Started", "paused": "Paused", "resumed": "Resumed",
    "partially completed": "Partially Completed", "awaiting parts": "Awaiting Parts",
}
# Where a technician has taken a job since the bridge created it.
STATUS_LATER: dict[str, str] = {
    "Unscheduled": "Scheduled", "Scheduled": "On Site", "Dispatched": "On The Way",
    "Delayed": "Dispatched", "On The Way": "On Site", "On Site": "Started",
    "Started": "Completed", "Paused": "Resumed", "Resumed": "Completed",
    "Partially Completed": "Completed", "Awaiting Parts": "Started",
}
# PropertyWare work-order category -> a ServiceFusion job category (/job-categories).
CATEGORY: dict[str, str] = {
    "Plumbing": "Plumbing", "HVAC": "HVAC", "Electrical": "Electrical",
    "Appliance": "Appliance Repair", "General Maintenance": "General Maintenance",
    "Pest Control": "Pest Control", "Landscaping": "Landscaping", "Make Ready": "Make Ready",
    "Safety": "Inspection",
}
OTHER_CLIENT_KINDS = ("Dental Clinic", "Auto Body", "Family Diner", "Veterinary Hospital",
                      "Self Storage", "Fitness Center", "Print Shop", "Bakery")
OTHER_JOB_PROBLEMS = ("Walk-in cooler not cooling", "Roof leak over lobby",
                      "Replace ballast in warehouse", "Backflow test", "Grease trap service",
                      "Thermostat replacement", "Quarterly HVAC maintenance")
NEAR_ABBREVIATIONS = {
    "apartments": "Apts", "apartment": "Apt", "townhomes": "Townhms", "residences": "Res",
    "village": "Vlg", "commons": "Cmns", "terrace": "Ter", "gardens": "Gdns",
    "crossing": "Xing", "station": "Sta", "landing": "Lndg", "court": "Ct", "manor": "Mnr",
    "place": "Pl", "lofts": "Lfts", "flats": "Flts", "homes": "Hms",
}

CASES = (
    "parent_exact", "parent_name_match", "parent_absent",
    "customer_exact", "customer_auto", "customer_review", "customer_far", "customer_absent",
    "job_exact_in_step", "job_exact_status_differs", "job_wo_received_in_step",
    "job_temporal_match", "job_temporal_outside",
)


# -- the spec's normalizations and scores ---------------------------------------------

_PUNCTUATION = re.compile(r"[^\w\s]|_")
_ADDRESS_WORDS = {"street": "st", "avenue": "ave", "suite": "unit", "unit": "unit",
                  "apt": "unit"}


def normalize_name(name: str | None, punctuation: str = "") -> str:
    """Lower case, punctuation removed (or replaced by `punctuation`), whitespace
    collapsed."""
    text = _PUNCTUATION.sub(punctuation, (name or "").lower())
    return " ".join(text.split())


def normalize_address(street: str | None, street_2: str | None = None,
                      punctuation: str = "") -> str:
    """The spec's address form: lower case, `#` -> unit, punctuation removed, street ->
    st, avenue -> ave, suite/unit/apt -> unit, whitespace collapsed."""
    text = " ".join(part for part in (street, street_2) if part).lower().replace("#", " unit ")
    words = _PUNCTUATION.sub(punctuation, text).split()
    return " ".join(_ADDRESS_WORDS.get(word, word) for word in words)


def zip5(postal_code: str | None) -> str:
    return re.sub(r"\D", "", postal_code or "")[:5]


def levenshtein(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, start=1):
        current = [i]
        for j, char_b in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1,
                               previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


def similarity(a: str | None, b: str | None, punctuation: str = "") -> float:
    """1 - levenshtein / greatest length, on normalized names (1.0 for two empty ones)."""
    left, right = normalize_name(a, punctuation), normalize_name(b, punctuation)
    longest = max(len(left), len(right))
    return 1.0 if longest == 0 else 1 - levenshtein(left, right) / longest


def _same_address(building: dict[str, Any], customer: dict[str, Any], punctuation: str
                  ) -> bool:
    wanted = (normalize_address(building["address"], building.get("address2"), punctuation),
              zip5(building["zip"]))
    return any(
        (normalize_address(location["street_1"], location.get("street_2"), punctuation),
         zip5(location.get("postal_code"))) == wanted
        for location in customer.get("locations") or []
    )


def customer_score(building: dict[str, Any], customer: dict[str, Any],
                   punctuation: str = "") -> float:
    """The spec's score of a ServiceFusion customer as the customer of a building."""
    if customer.get("account_number") == f"PW-B-{building['ID']}":
        return 1.0
    address = 1.0 if _same_address(building, customer, punctuation) else 0.0
    return ADDRESS_WEIGHT * address + NAME_WEIGHT * similarity(
        building["name"], customer["customer_name"], punctuation)


def parent_score(portfolio: dict[str, Any], customer: dict[str, Any],
                 punctuation: str = "") -> float:
    if customer.get("account_number") == f"PW-P-{portfolio['ID']}":
        return 1.0
    return similarity(portfolio["name"], customer["customer_name"], punctuation)


def _moment(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def job_score(work_order: dict[str, Any], customer_id: int | None, job: dict[str, Any],
              punctuation: str = "") -> float:
    """The spec's score of a job for a work order whose building is mapped to
    `customer_id` (None: not mapped, so only the po_number can match)."""
    if job.get("po_number") == str(work_order["number"]):
        return 1.0
    if customer_id is None or job["customer_name"] != str(customer_id):
        return 0.0
    if abs(_moment(job["created_at"]) - _moment(work_order["createdDate"])) > JOB_WINDOW:
        return 0.0
    return similarity(work_order["description"], job.get("description"), punctuation)


# -- the result -------------------------------------------------------------------------


@dataclass
class GeneratedServiceFusion:
    customers: list[dict[str, Any]] = field(default_factory=list)
    jobs: list[dict[str, Any]] = field(default_factory=list)
    # case (CASES) -> PropertyWare IDs (portfolio, building or work order), sorted.
    expected: dict[str, list[int]] = field(default_factory=dict)
    # PropertyWare ID of every case -> the best score by the spec's formula.
    scores: dict[int, float] = field(default_factory=dict)
    # PropertyWare ID -> the ServiceFusion id (customer or job) the score belongs to.
    candidates: dict[int, int] = field(default_factory=dict)
    # Work orders of job_exact_status_differs -> (work-order status, job status).
    status_changes: dict[int, tuple[str, str]] = field(default_factory=dict)
    # ServiceFusion ids of the dispatcher's other clients.
    unrelated: list[int] = field(default_factory=list)

    def fixture(self) -> dict[str, list[dict[str, Any]]]:
        """What the simulator's admin API loads: customers first (parents before their
        children), then jobs."""
        return {"customers": self.customers, "jobs": self.jobs}

    def counts(self) -> dict[str, int]:
        return {"customers": len(self.customers), "jobs": len(self.jobs),
                **{case: len(ids) for case, ids in self.expected.items()}}


def _iso(moment: dt.datetime) -> str:
    return moment.replace(microsecond=0).isoformat()


def _fit(name: str) -> tuple[str, str | None]:
    """A name cut to ServiceFusion's 45 characters, and the full one for private_notes."""
    if len(name) <= CUSTOMER_NAME_MAX:
        return name, None
    return name[:CUSTOMER_NAME_MAX].rstrip(), f"Full name: {name}"


def _in_band(low: float, high: float, *scores: float) -> bool:
    return all(low <= score < high for score in scores)


class _Generator:
    def __init__(self, pw: GeneratedPropertyWare, seed: int) -> None:
        self.pw = pw
        self.rng = random.Random(f"servicefusion:{seed}")
        self.out = GeneratedServiceFusion(expected={case: [] for case in CASES})
        self.next_customer = FIRST_CUSTOMER_ID
        self.next_job = FIRST_JOB_ID
        self.next_number = FIRST_JOB_NUMBER
        self.building_by_id = {b["ID"]: b for b in pw.buildings}
        self.units_by_building: dict[int, list[dict[str, Any]]] = {}
        for unit in pw.units:
            self.units_by_building.setdefault(unit["buildingID"], []).append(unit)
        self.unit_by_id = {u["ID"]: u for u in pw.units}
        self.contact_by_id = {c["ID"]: c for c in pw.contacts}
        self.portfolio_by_id = {p["ID"]: p for p in pw.portfolios}
        self.parent_name: dict[int, str] = {}
        self.customer_of: dict[int, int] = {}  # building ID -> customer id (mapped ones)
        corrupt = {i for ids in pw.corrupted.values() for i in ids}
        # Open work orders whose unit is one of their building's own: the only ones
        # the product turns into jobs routed to a unit (the rest are building-level
        # or invalid; neither makes a good fixture).
        self.open_orders = [
            w for w in pw.work_orders
            if normalize_status(w["status"]) in STATUS_ON_CREATE and w["ID"] not in corrupt
        ]
        self.used_addresses = {
            (normalize_address(b["address"], b.get("address2")), zip5(b["zip"]))
            for b in pw.buildings
        }

    # ids and small values

    def customer_id(self) -> int:
        self.next_customer += 1
        return self.next_customer - 1

    def job_ids(self) -> tuple[int, str]:
        self.next_job += 1
        self.next_number += 1
        return self.next_job - 1, str(self.next_number - 1)

    def moment(self, days_back_max: int, days_back_min: int = 0) -> dt.datetime:
        minutes = self.rng.randint(days_back_min * 1440, days_back_max * 1440)
        return AS_OF - dt.timedelta(minutes=minutes)

    def phone(self) -> str:
        return f"{self.rng.randint(201, 989)}-555-{self.rng.randint(100, 9999):04d}"

    def person(self, contact_type: str | None = None) -> dict[str, Any]:
        first, last = self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES)
        person: dict[str, Any] = {
            "fname": first, "lname": last,
            "phones": [{"phone": self.phone(), "type": "Office"}],
            "emails": [{"email": f"{first}.{last}@example.net".lower()}],
        }
        if contact_type:
            person["contact_type"] = contact_type
        return person

    def free_address(self) -> tuple[str, str, str, str]:
        """(street, city, state, zip) of no building."""
        while True:
            city, state, zip3 = self.rng.choice(CITIES)
            street = (f"{self.rng.randint(10, 9899)} {self.rng.choice(STREET_NAMES)} "
                      f"{self.rng.choice(STREET_SUFFIXES)}")
            postal = f"{zip3}{self.rng.randint(0, 99):02d}"
            key = (normalize_address(street), postal)
            if key not in self.used_addresses:
                self.used_addresses.add(key)
                return street, city, state, postal

    def add_customer(self, body: dict[str, Any], created: dt.datetime) -> int:
        customer_id = self.customer_id()
        updated = min(AS_OF, created + dt.timedelta(days=self.rng.randint(0, 90)))
        self.out.customers.append({"id": customer_id, **body, "created_at": _iso(created),
                                   "updated_at": _iso(updated)})
        return customer_id

    # customers as the product (and the old bridge) send them

    def bridge_parent(self, portfolio: dict[str, Any]) -> None:
        name, notes = _fit(portfolio["name"])
        body = {"customer_name": name, "account_number": f"PW-P-{portfolio['ID']}",
                "private_notes": notes}
        self.parent_name[portfolio["ID"]] = name
        customer_id = self.add_customer(body, self.moment(900, 600))
        self.case("parent_exact", portfolio["ID"], 1.0, customer_id)

    def bridge_customer(self, building: dict[str, Any]) -> None:
        name, notes = _fit(building["name"])
        units = self.units_by_building.get(building["ID"], [])
        locations = [
            {"street_1": u["address"], "street_2": u["address2"], "city": u["city"],
             "state_prov": u["state"], "postal_code": zip5(u["zip"]), "nickname": u["name"],
             "is_primary": index == 0}
            for index, u in enumerate(units)
        ]
        body = {"customer_name": name, "account_number": f"PW-B-{building['ID']}",
                "parent_customer": self.parent_name[building["portfolioID"]],
                "private_notes": notes, "locations": locations,
                "contacts": self.tenants(building)}
        # Before every work order (the generator's are at most 400 days old).
        customer_id = self.add_customer(body, self.moment(600, 450))
        self.customer_of[building["ID"]] = customer_id
        self.case("customer_exact", building["ID"], 1.0, customer_id)

    def tenants(self, building: dict[str, Any]) -> list[dict[str, Any]]:
        contacts: list[dict[str, Any]] = []
        for lease in self.pw.leases:
            if lease["buildingID"] != building["ID"] or not lease["active"]:
                continue
            for tenant_id in lease["tenantIDs"]:
                tenant = self.contact_by_id[tenant_id]
                contact: dict[str, Any] = {"fname": tenant["firstName"],
                                           "lname": tenant["lastName"]}
                phone = tenant["mobilePhone"] or tenant["homePhone"] or tenant["workPhone"]
                if phone:
                    contact["phones"] = [{"phone": phone}]
                if tenant["email"]:
                    contact["emails"] = [{"email": tenant["email"]}]
                contacts.append(contact)
        return contacts

    # customers the dispatcher typed in by hand

    def street_variant(self, street: str) -> str:
        words = street.split()
        suffix = words[-1].lower()
        if suffix == "st":
            words[-1] = self.rng.choice(("Street", "Street.", "ST"))
        elif suffix == "ave":
            words[-1] = self.rng.choice(("Avenue", "Ave.", "AVENUE"))
        else:
            words[-1] = words[-1] + "."
        text = " ".join(words)
        return text.upper() if self.rng.random() < 0.3 else text

    def handmade(self, building: dict[str, Any], name: str, same_address: bool) -> int:
        if same_address:
            street = self.street_variant(building["address"])
            city, state = building["city"], building["state"]
            postal = building["zip"][:5]
            if self.rng.random() < 0.5:
                postal += f"-{self.rng.randint(1, 9999):04d}"
        else:
            street, city, state, postal = self.free_address()
        locations = [{"street_1": street, "city": city, "state_prov": state,
                      "postal_code": postal, "location_type": "Service",
                      "is_primary": True}]
        if same_address and building["multiUnit"]:
            unit = self.rng.choice(self.units_by_building[building["ID"]])
            locations.append({"street_1": street, "street_2": f"Apt {unit['name']}",
                              "city": city, "state_prov": state, "postal_code": postal,
                              "location_type": "Service"})
        body = {"customer_name": _fit(name)[0], "referral_source": "Phone",
                "locations": locations, "contacts": [self.person("Property Manager")]}
        return self.add_customer(body, self.moment(700, 30))

    def name_in_band(self, building: dict[str, Any], variants: Iterable[str], low: float,
                     high: float, address: float) -> str | None:
        for variant in variants:
            scores = [address * ADDRESS_WEIGHT + NAME_WEIGHT * similarity(
                building["name"], variant, p) for p in ("", " ")]
            if len(variant) <= CUSTOMER_NAME_MAX and _in_band(low, high, *scores):
                return variant
        return None

    def auto_variants(self, name: str, index: int) -> list[str]:
        words = name.split()
        last = words[-1]
        typo = " ".join([*words[:-1], last[:-2] + last[-1]]) if len(last) > 3 else name
        # Alternately the name in capitals, with a typo, with a full stop; the others
        # when one leaves the band.
        variants = [name.upper(), typo, f"{name}.", name.lower(),
                    " ".join([*words[:-1], last + ","]), f"{name.title()}!"]
        return variants[index % 3:] + variants[:index % 3]

    def near_variants(self, name: str, index: int) -> list[str]:
        words = name.split()
        abbreviated = " ".join(NEAR_ABBREVIATIONS.get(word.lower(), word) for word in words)
        expanded = name.replace(" Ave", " Avenue").replace(" St", " Street")
        variants = [abbreviated, expanded, " ".join(words[1:]), f"The {name} HOA",
                    f"{name} Mgmt Office", " ".join(words[:-1])]
        return variants[index % 2:] + variants[:index % 2]

    def auto(self, building: dict[str, Any], index: int) -> None:
        name = self.name_in_band(building, self.auto_variants(building["name"], index),
                                 AUTO_MATCH, 1.01, 1.0)
        assert name is not None, building["name"]
        customer_id = self.handmade(building, name, same_address=True)
        self.customer_of[building["ID"]] = customer_id
        self.case("customer_auto", building["ID"], None, customer_id)

    def near(self, building: dict[str, Any], index: int) -> bool:
        name = self.name_in_band(building, self.near_variants(building["name"], index),
                                 REVIEW, AUTO_MATCH, 1.0)
        if name is None:
            return False
        self.case("customer_review", building["ID"], None,
                  self.handmade(building, name, same_address=True))
        return True

    def far(self, building: dict[str, Any], index: int) -> None:
        name = [building["name"], building["name"].upper(), f"{building['name']}."][index % 3]
        self.case("customer_far", building["ID"], None,
                  self.handmade(building, name, same_address=False))

    def name_match_parent(self, portfolio: dict[str, Any]) -> None:
        name = _fit(portfolio["name"].upper() + ".")[0]
        body = {"customer_name": name, "referral_source": "Referral",
                "contacts": [self.person("Owner")]}
        self.case("parent_name_match", portfolio["ID"], None,
                  self.add_customer(body, self.moment(800, 100)))

    def other_clients(self, count: int) -> None:
        used: set[str] = set()
        for _ in range(count):
            name = f"{self.rng.choice(COMPANY_FIRST)} {self.rng.choice(OTHER_CLIENT_KINDS)}"
            while name in used:
                name = f"{name} {self.rng.randint(2, 9)}"
            used.add(name)
            street, city, state, postal = self.free_address()
            body = {"customer_name": name, "referral_source": "Website",
                    "payment_terms": "Net 30",
                    "locations": [{"street_1": street, "city": city, "state_prov": state,
                                   "postal_code": postal, "is_primary": True}],
                    "contacts": [self.person("Owner")]}
            customer_id = self.add_customer(body, self.moment(1200, 30))
            self.out.unrelated.append(customer_id)
            for _ in range(self.rng.randint(1, 2)):
                created = self.moment(300, 2)
                status = self.rng.choice(("Unscheduled", "Scheduled", "Completed", "Started"))
                self.add_job({"customer_name": str(customer_id), "status": status,
                              "description": self.rng.choice(OTHER_JOB_PROBLEMS),
                              "street_1": street, "city": city, "state_prov": state,
                              "postal_code": postal,
                              "po_number": (f"PO-{self.rng.randint(100, 999)}"
                                            if self.rng.random() < 0.5 else None)},
                             created, created + dt.timedelta(hours=self.rng.randint(1, 60)))

    # jobs

    def add_job(self, body: dict[str, Any], created: dt.datetime, updated: dt.datetime) -> int:
        job_id, number = self.job_ids()
        updated = min(AS_OF, max(created, updated))
        self.out.jobs.append({"id": job_id, "number": number,
                              **{k: v for k, v in body.items() if v is not None},
                              "created_at": _iso(created), "updated_at": _iso(updated)})
        return job_id

    def job_body(self, work_order: dict[str, Any], customer_id: int, status: str,
                 description: str, po_number: str | None) -> dict[str, Any]:
        unit = self.unit_by_id[work_order["unitIDs"][0]]
        return {"customer_name": str(customer_id), "po_number": po_number, "status": status,
                "description": description, "category": CATEGORY.get(work_order["category"]),
                "priority": work_order["priority"], "street_1": unit["address"],
                "street_2": unit["address2"], "city": unit["city"],
                "state_prov": unit["state"], "postal_code": zip5(unit["zip"]),
                "location_name": unit["name"]}

    def bridge_job(self, work_order: dict[str, Any], differs: bool) -> None:
        canonical = normalize_status(work_order["status"])
        on_create = STATUS_ON_CREATE[canonical]
        status = STATUS_LATER[on_create] if differs else on_create
        created = _moment(work_order["createdDate"]) + dt.timedelta(
            minutes=self.rng.randint(5, 90))
        updated = created + dt.timedelta(hours=self.rng.randint(1, 72) if differs else 0)
        job_id = self.add_job(self.job_body(work_order, self.customer_of[work_order["building"]],
                                            status, work_order["description"],
                                            str(work_order["number"])), created, updated)
        if differs:
            self.out.status_changes[work_order["ID"]] = (work_order["status"], status)
        case = "job_exact_status_differs" if differs else "job_exact_in_step"
        self.case(case, work_order["ID"], 1.0, job_id)
        if canonical == "wo received" and not differs:
            self.case("job_wo_received_in_step", work_order["ID"], 1.0, job_id)

    def lookalike_job(self, work_order: dict[str, Any], inside: bool) -> None:
        problem, _, category = work_order["description"].partition(" (")
        description = f"{problem.upper()} - {category.rstrip(')')}"
        placed = _moment(work_order["createdDate"])
        offset = dt.timedelta(hours=self.rng.randint(2, 30) if inside
                              else self.rng.randint(74, 120))
        created = placed + offset if placed + offset <= AS_OF else placed - offset
        # In step with its work order: matching it is all there is to do.
        status = STATUS_ON_CREATE[normalize_status(work_order["status"])]
        job_id = self.add_job(self.job_body(work_order, self.customer_of[work_order["building"]],
                                            status, description, None), created, created)
        self.case("job_temporal_match" if inside else "job_temporal_outside",
                  work_order["ID"], None, job_id)

    def lonely(self, work_order: dict[str, Any], taken: set[int]) -> bool:
        """No other work order of its building near in time and description, so a
        job near it could only match it."""
        placed = _moment(work_order["createdDate"])
        for other in self.pw.work_orders:
            if other["building"] != work_order["building"] or other["ID"] == work_order["ID"]:
                continue
            close = abs(_moment(other["createdDate"]) - placed) <= JOB_WINDOW * 4
            if close and (other["ID"] in taken or similarity(
                    other["description"], work_order["description"]) >= 0.5):
                return False
        return True

    # bookkeeping

    def case(self, case: str, pw_id: int, score: float | None, candidate: int) -> None:
        self.out.expected[case].append(pw_id)
        self.out.candidates[pw_id] = candidate
        if score is not None:
            self.out.scores[pw_id] = score

    # the whole data set

    def run(self) -> GeneratedServiceFusion:
        rng = self.rng
        pw = self.pw
        count = len(pw.buildings)
        orders_of: dict[int, list[dict[str, Any]]] = {}
        for work_order in self.open_orders:
            orders_of.setdefault(work_order["building"], []).append(work_order)
        received = sorted((w for w in self.open_orders
                           if normalize_status(w["status"]) == "wo received"),
                          key=lambda w: w["number"])
        # The old bridge covered one portfolio: the one of a WO Received work order if
        # any, else the largest.
        if received:
            bridged = self.building_by_id[received[0]["building"]]["portfolioID"]
        else:
            bridged = max(pw.portfolios, key=lambda p: (
                sum(b["portfolioID"] == p["ID"] for b in pw.buildings), -p["ID"]))["ID"]
        pool = [b for b in pw.buildings if b["portfolioID"] == bridged]
        rng.shuffle(pool)
        # Buildings with open work orders first, the one with a WO Received first of all.
        first = received[0]["building"] if received else None
        pool.sort(key=lambda b: (b["ID"] != first, -len(orders_of.get(b["ID"], []))))
        exact = pool[:max(1, round(count * EXACT_SHARE))]
        rest = [b for b in pw.buildings if b not in exact]
        rng.shuffle(rest)
        sizes = [round(count * share) for share in (AUTO_SHARE, REVIEW_SHARE, FAR_SHARE)]
        if count >= 4:
            sizes = [max(1, size) for size in sizes]
        auto = rest[:sizes[0]]
        near_pool = rest[sizes[0]:]
        far_from = sizes[0]

        # Customers: parents first (children name them), then buildings, then others.
        self.bridge_parent(self.portfolio_by_id[bridged])
        others = [p for p in pw.portfolios if p["ID"] != bridged]
        if others:
            self.name_match_parent(others[0])
        for portfolio in others[1:]:
            self.out.expected["parent_absent"].append(portfolio["ID"])
        for building in sorted(exact, key=lambda b: b["ID"]):
            self.bridge_customer(building)
        for index, building in enumerate(auto):
            self.auto(building, index)
        near_done = 0
        for building in near_pool:
            if near_done == sizes[1]:
                break
            far_from += 1
            if self.near(building, near_done):
                near_done += 1
        for index, building in enumerate(rest[far_from:far_from + sizes[2]]):
            self.far(building, index)
        self.other_clients(max(3, count // 4))

        # Jobs of the exact buildings' open work orders: the WO Received one in step,
        # two left for the temporal cases, then alternately a changed and an
        # unchanged job, about a third left for the product to create.
        exact_ids = {b["ID"] for b in exact}
        orders = sorted((w for w in self.open_orders if w["building"] in exact_ids),
                        key=lambda w: w["number"])
        taken: set[int] = set()
        if received and received[0]["building"] in exact_ids:
            self.bridge_job(received[0], differs=False)
            taken.add(received[0]["ID"])
        shuffled = [w for w in orders if w["ID"] not in taken]
        rng.shuffle(shuffled)
        for inside in (True, False):
            for work_order in shuffled:
                if work_order["ID"] not in taken and self.lonely(work_order, taken):
                    self.lookalike_job(work_order, inside)
                    taken.add(work_order["ID"])
                    break
        remaining = [w for w in shuffled if w["ID"] not in taken]
        # A Scheduled one first, so that one job is `On Site` while its work order
        # still says `Scheduled`.
        remaining.sort(key=lambda w: normalize_status(w["status"]) != "scheduled")
        for index, work_order in enumerate(remaining[:max(2, len(remaining) * 2 // 3)]):
            self.bridge_job(work_order, differs=index % 2 == 0)
            taken.add(work_order["ID"])

        for building in pw.buildings:
            if not any(building["ID"] in self.out.expected[case] for case in (
                    "customer_exact", "customer_auto", "customer_review", "customer_far")):
                self.out.expected["customer_absent"].append(building["ID"])
        for ids in self.out.expected.values():
            ids.sort()
        self.verify()
        return self.out

    # checking every score against its case

    def verify(self) -> None:
        out = self.out
        customers = out.customers
        bands: dict[str, tuple[float, float]] = {
            "customer_exact": (1.0, 1.01), "customer_auto": (AUTO_MATCH, 1.01),
            "customer_review": (REVIEW, AUTO_MATCH), "customer_far": (0.0, REVIEW),
            "customer_absent": (0.0, REVIEW),
        }
        # job_wo_received_in_step is a part of job_exact_in_step.
        case_of = {pw_id: case for case, ids in out.expected.items() for pw_id in ids
                   if case != "job_wo_received_in_step"}
        for building in self.pw.buildings:
            case = case_of[building["ID"]]
            low, high = bands[case]
            for punctuation in ("", " "):
                scored = [(customer_score(building, c, punctuation), c["id"]) for c in customers]
                best, best_id = max(scored)
                intended = out.candidates.get(building["ID"])
                assert _in_band(low, high, best), (case, building, best)
                if case in ("customer_exact", "customer_auto", "customer_review"):
                    assert best_id == intended, (case, building["ID"], best_id, intended)
                    runners_up = [s for s, i in scored if i != intended]
                    assert max(runners_up, default=0.0) < REVIEW, (case, building["ID"])
                elif case == "customer_far":
                    mine = next(c for c in customers if c["id"] == intended)
                    assert similarity(building["name"], mine["customer_name"]) >= 0.9
                if punctuation == "":
                    # The case's own candidate's score; the best one when there is none.
                    mine = next(s for s, i in scored if i == intended) if intended else best
                    out.scores[building["ID"]] = round(mine, 4)
        for portfolio in self.pw.portfolios:
            case = case_of[portfolio["ID"]]
            scored = [(parent_score(portfolio, c, p), c["id"]) for c in customers
                      for p in ("", " ")]
            best, best_id = max(scored)
            if case == "parent_absent":
                assert best < REVIEW, (portfolio, best)
            else:
                assert best >= AUTO_MATCH and best_id == out.candidates[portfolio["ID"]]
            out.scores[portfolio["ID"]] = round(best, 4)
        self.verify_jobs(case_of)

    def verify_jobs(self, case_of: dict[int, str]) -> None:
        out = self.out
        # Only open work orders are ever matched to jobs.
        for work_order in self.pw.work_orders:
            if normalize_status(work_order["status"]) not in STATUS_ON_CREATE:
                continue
            customer_id = self.customer_of.get(work_order["building"])
            case = case_of.get(work_order["ID"])
            for punctuation in ("", " "):
                scored = [(job_score(work_order, customer_id, job, punctuation), job["id"])
                          for job in out.jobs]
                best, best_id = max(scored, default=(0.0, 0))
                intended = out.candidates.get(work_order["ID"])
                runners_up = max((s for s, i in scored if i != intended), default=0.0)
                if case in ("job_exact_in_step", "job_exact_status_differs",
                            "job_temporal_match"):
                    assert best >= AUTO_MATCH and best_id == intended, (case, work_order)
                    assert runners_up < REVIEW, (case, work_order["ID"], runners_up)
                else:
                    assert best < REVIEW, (case, work_order["ID"], best)
                if case is not None and punctuation == "":
                    out.scores[work_order["ID"]] = round(best, 4)
        for pw_status, sf_status in out.status_changes.values():
            assert STATUS_ON_CREATE[normalize_status(pw_status)] != sf_status


def generate_servicefusion(pw: GeneratedPropertyWare, seed: int = 7) -> GeneratedServiceFusion:
    """The ServiceFusion customers and jobs that overlap `pw` in every dedup case."""
    return _Generator(pw, seed).run()


__all__ = [
    "CASES",
    "GeneratedServiceFusion",
    "customer_score",
    "generate_servicefusion",
    "job_score",
    "levenshtein",
    "normalize_address",
    "normalize_name",
    "parent_score",
    "similarity",
]
