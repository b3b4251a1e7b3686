"""Realistic, deterministic PropertyWare data for the simulator (`sandbox.propertyware`).

`generate_propertyware(buildings=N, seed=S)` makes portfolios; single-unit buildings
(a house: one unit) and multi-unit ones (4 to 24 units); leases per unit, ended ones
and an active one, each with 1 to 3 tenant contacts; vendors; and work orders with
the statuses users type into PropertyWare, odd casing and stray spaces included
(` WO Received `). Status matching is on the trimmed, lower-cased text
(`normalize_status`): OPEN_STATUSES are open, CLOSED_STATUSES are not.

It also carries the corrupted rows seen in real accounts, counted in `corruptions`:
work orders whose unit is their building's own ID (`unitIDs == [building]`), in
single-unit and in multi-unit buildings, and work orders whose unit belongs to
another building. The same seed and size give the same objects, IDs included;
nothing depends on the clock (times are relative to AS_OF).

IDs come from one counter shared by every kind (PropertyWare IDs are unique across
objects) and stay below 2**31 because `WorkOrder.unitIDs` / `vendorIDs` are `int[]`.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from typing import Any

from sandbox.generate.vocabulary import (
    CITIES,
    COMPANY_FIRST,
    COMPANY_SECOND,
    PROPERTY_KINDS,
    PROPERTY_WORDS,
    STREET_NAMES,
    STREET_SUFFIXES,
)

AS_OF = dt.datetime(2025, 11, 1, 12, 0, tzinfo=dt.UTC)
FIRST_ID = 1_000_001

OPEN_STATUSES: tuple[str, ...] = (
    "unscheduled", "scheduled", "scheduled outside sf", "dispatched", "delayed",
    "on the way", "on site", "started", "paused", "resumed", "partially completed",
    "open", "wo received", "awaiting parts",
)
CLOSED_STATUSES: tuple[str, ...] = ("completed", "closed", "cancelled")
STATUSES = OPEN_STATUSES + CLOSED_STATUSES

# How the statuses come out of real accounts: the usual spelling first, then the
# variants users and integrations left behind.
STATUS_SPELLINGS: dict[str, tuple[str, ...]] = {
    "unscheduled": ("Unscheduled", "unscheduled"),
    "scheduled": ("Scheduled", "scheduled", "Scheduled "),
    "scheduled outside sf": ("Scheduled Outside SF", "Scheduled outside SF "),
    "dispatched": ("Dispatched", "DISPATCHED"),
    "delayed": ("Delayed",),
    "on the way": ("On The Way", "On the way"),
    "on site": ("On Site", "ON SITE"),
    "started": ("Started",),
    "paused": ("Paused", " paused"),
    "resumed": ("Resumed",),
    "partially completed": ("Partially Completed", "Partially completed"),
    "open": ("Open", "OPEN", " Open"),
    "wo received": ("WO Received", " WO Received ", "wo received"),
    "awaiting parts": ("Awaiting Parts", "Awaiting parts"),
    "completed": ("Completed", "completed ", "COMPLETED"),
    "closed": ("Closed", "CLOSED", "Closed "),
    "cancelled": ("Cancelled", " Cancelled"),
}
# Most work orders of an account are done; the open ones spread over the rest.
_STATUS_WEIGHTS: dict[str, float] = {
    **{status: 1.0 for status in OPEN_STATUSES}, "open": 4.0, "wo received": 3.0,
    "scheduled": 3.0, "completed": 14.0, "closed": 16.0, "cancelled": 4.0,
}

# Shares of work orders made corrupt (at least one of each when the data allows).
UNIT_IS_BUILDING_SHARE = 0.04
OTHER_BUILDING_SHARE = 0.02

VENDOR_TYPES = ("Plumbing", "HVAC", "Electrical", "General Contractor", "Landscaping",
                "Appliance Repair", "Cleaning", "Pest Control", "Roofing", "Painting")
CATEGORIES = ("Plumbing", "HVAC", "Electrical", "Appliance", "General Maintenance",
              "Pest Control", "Landscaping", "Make Ready", "Safety")
WORK_ORDER_TYPES = ("Service Request", "Make Ready", "Preventive Maintenance", "Inspection",
                    "Turnover")
PRIORITIES = ("Low", "Normal", "Normal", "High", "Urgent")
LOCATIONS = ("Kitchen", "Bathroom", "Living Room", "Bedroom", "Laundry", "Exterior",
             "Common Area", "Garage", "Roof")
PROBLEMS = ("leaking faucet", "no hot water", "AC not cooling", "garbage disposal jammed",
            "smoke detector chirping", "broken window latch", "clogged drain",
            "dishwasher not draining", "outlet not working", "pest sighting",
            "door lock sticking", "ceiling stain", "fridge not cold", "toilet running")
FIRST_NAMES = ("James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael",
               "Linda", "David", "Elizabeth", "Maria", "Jose", "Wei", "Aisha", "Carlos",
               "Priya", "Daniel", "Sofia", "Ahmed", "Emily", "Kevin", "Grace", "Luis", "Ana")
LAST_NAMES = ("Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis",
              "Rodriguez", "Martinez", "Hernandez", "Lopez", "Nguyen", "Kim", "Patel",
              "Chen", "Walker", "Young", "Allen", "King", "Wright", "Scott", "Hill", "Green")


def normalize_status(status: str | None) -> str:
    """The matching form of a status: trimmed and lower-cased."""
    return (status or "").strip().lower()


def is_open(status: str | None) -> bool:
    return normalize_status(status) in OPEN_STATUSES


@dataclass
class GeneratedPropertyWare:
    portfolios: list[dict[str, Any]] = field(default_factory=list)
    buildings: list[dict[str, Any]] = field(default_factory=list)
    units: list[dict[str, Any]] = field(default_factory=list)
    contacts: list[dict[str, Any]] = field(default_factory=list)
    leases: list[dict[str, Any]] = field(default_factory=list)
    vendors: list[dict[str, Any]] = field(default_factory=list)
    work_orders: list[dict[str, Any]] = field(default_factory=list)
    # Work order IDs per kind of corruption (see the module docstring).
    corrupted: dict[str, list[int]] = field(default_factory=dict)

    @property
    def corruptions(self) -> dict[str, int]:
        return {kind: len(ids) for kind, ids in self.corrupted.items()}

    def fixture(self) -> dict[str, list[dict[str, Any]]]:
        """The objects by collection, as the simulator's admin API and store load them."""
        return {"portfolios": self.portfolios, "buildings": self.buildings,
                "units": self.units, "contacts": self.contacts, "leases": self.leases,
                "vendors": self.vendors, "workOrders": self.work_orders}

    def counts(self) -> dict[str, int]:
        return {name: len(objects) for name, objects in self.fixture().items()}


def _iso(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


class _Generator:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(f"propertyware:{seed}")
        self.next_id = FIRST_ID
        self.out = GeneratedPropertyWare()
        self.active_lease_by_unit: dict[int, dict[str, Any]] = {}

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    def moment(self, days_back_max: int, days_back_min: int = 0) -> dt.datetime:
        """A time between `days_back_max` and `days_back_min` days before AS_OF, to the minute."""
        minutes = self.rng.randint(days_back_min * 1440, days_back_max * 1440)
        return AS_OF - dt.timedelta(minutes=minutes)

    def phone(self) -> str:
        return f"{self.rng.randint(201, 989)}-555-{self.rng.randint(100, 9999):04d}"

    # portfolios and buildings

    def portfolios(self, count: int) -> None:
        used: set[str] = set()
        for _ in range(count):
            name = f"{self.rng.choice(COMPANY_FIRST)} {self.rng.choice(COMPANY_SECOND)}"
            while name in used:
                name = f"{name} {self.rng.randint(2, 99)}"
            used.add(name)
            self.out.portfolios.append({
                "ID": self.new_id(), "name": name,
                "abbreviation": "".join(word[0] for word in name.split()).upper(),
                "active": self.rng.random() > 0.1,
                "managementCompany": f"{self.rng.choice(COMPANY_FIRST)} Property Management",
                "_created": _iso(self.moment(3000, 1500)),
            })

    def building(self, index: int) -> None:
        rng = self.rng
        multi = rng.random() < 0.6
        portfolio = rng.choice(self.out.portfolios)
        city, state, zip3 = rng.choice(CITIES)
        street = f"{rng.randint(10, 9899)} {rng.choice(STREET_NAMES)} {rng.choice(STREET_SUFFIXES)}"
        building_id = self.new_id()
        if multi:
            name = f"{rng.choice(PROPERTY_WORDS)} {rng.choice(PROPERTY_KINDS)}"
            kind = rng.choice(("Apartment Complex", "Townhome Community", "Duplex"))
        else:
            name = street
            kind = "Single Family Home"
        created = self.moment(2500, 400)
        building = {
            "ID": building_id, "name": name, "abbreviation": f"B{index + 1:04d}",
            "active": rng.random() > 0.05, "address": street, "address2": None,
            "city": city, "state": state, "zip": f"{zip3}{rng.randint(0, 99):02d}",
            "buildingID": building_id, "multiUnit": multi, "status": "Active", "type": kind,
            "numberBedrooms": None if multi else rng.randint(2, 5),
            "numberBathrooms": None if multi else rng.choice((1.0, 1.5, 2.0, 2.5, 3.0)),
            "portfolioID": portfolio["ID"], "rentable": not multi,
            "yearBuilt": rng.randint(1925, 2022), "_created": _iso(created),
        }
        self.out.buildings.append(building)
        unit_count = rng.randint(4, 24) if multi else 1
        units = [self.unit(building, number, created) for number in range(unit_count)]
        for unit in units:
            self.leases(building, unit)
        self.work_orders(building, units)

    def unit(self, building: dict[str, Any], number: int, created: dt.datetime
             ) -> dict[str, Any]:
        rng = self.rng
        multi = building["multiUnit"]
        floor, door = divmod(number, 8)
        unit = {
            "ID": self.new_id(),
            "name": f"{floor + 1}{door + 1:02d}" if multi else building["address"],
            "abbreviation": f"{building['abbreviation']}-{number + 1}",
            "active": True, "address": building["address"],
            "address2": f"Unit {floor + 1}{door + 1:02d}" if multi else None,
            "city": building["city"], "state": building["state"], "zip": building["zip"],
            "buildingID": building["ID"], "multiUnit": False, "status": "Vacant",
            "type": "Apartment" if multi else "Single Family",
            "numberBedrooms": rng.randint(0, 3) if multi else building["numberBedrooms"],
            "numberBathrooms": (rng.choice((1.0, 1.0, 1.5, 2.0)) if multi
                                else building["numberBathrooms"]),
            "_created": _iso(created),
        }
        self.out.units.append(unit)
        return unit

    # leases and tenants

    def leases(self, building: dict[str, Any], unit: dict[str, Any]) -> None:
        rng = self.rng
        ended = rng.choice((0, 0, 1, 1, 2))
        active = rng.random() < 0.85
        # Walk back from today: the active lease (if any), then the ended ones before it.
        end = AS_OF + dt.timedelta(days=rng.randint(30, 330)) if active else (
            AS_OF - dt.timedelta(days=rng.randint(20, 200)))
        periods: list[tuple[dt.datetime, dt.datetime, bool]] = []
        for number in range(ended + (1 if active else 0)):
            length = dt.timedelta(days=rng.choice((180, 365, 365, 365, 730)))
            start = end - length
            periods.append((start, end, active and number == 0))
            end = start - dt.timedelta(days=rng.randint(3, 45))
        for start, end, is_active in reversed(periods):
            tenants = [self.contact(building) for _ in range(rng.choice((1, 1, 2, 2, 3)))]
            start = start.replace(hour=0, minute=0)
            end = end.replace(hour=0, minute=0)
            lease = {
                "ID": self.new_id(), "active": is_active, "buildingID": building["ID"],
                "unitID": unit["ID"],
                "leaseName": f"{tenants[0]['lastName']} - {unit['name']}",
                "leaseStatus": "Active" if is_active else "Past",
                "startDate": _iso(start), "endDate": _iso(end), "moveInDate": _iso(start),
                "moveOutDate": None if is_active else _iso(end),
                "tenantIDs": [t["ID"] for t in tenants], "primaryContactID": tenants[0]["ID"],
                "_created": _iso(start - dt.timedelta(days=rng.randint(5, 40))),
                "_lastModified": _iso(min(AS_OF, end) if not is_active else start),
            }
            self.out.leases.append(lease)
            if is_active:
                unit["status"] = "Occupied"
                self.active_lease_by_unit[unit["ID"]] = lease

    def contact(self, building: dict[str, Any]) -> dict[str, Any]:
        rng = self.rng
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        contact = {
            "ID": self.new_id(), "firstName": first, "lastName": last,
            "completeName": f"{first} {last}",
            "email": (f"{first}.{last}{rng.randint(1, 999)}@example.com".lower()
                      if rng.random() < 0.9 else None),
            "homePhone": self.phone() if rng.random() < 0.2 else None,
            "mobilePhone": self.phone() if rng.random() < 0.85 else None,
            "workPhone": self.phone() if rng.random() < 0.15 else None,
            "contactType": "Tenant", "address": building["address"], "address2": None,
            "city": building["city"], "state": building["state"], "zip": building["zip"],
            "_created": _iso(self.moment(2000, 30)),
        }
        self.out.contacts.append(contact)
        return contact

    # vendors and work orders

    def vendors(self, count: int) -> None:
        rng = self.rng
        for _ in range(count):
            kind = rng.choice(VENDOR_TYPES)
            company = f"{rng.choice(COMPANY_FIRST)} {kind}"
            city, state, zip3 = rng.choice(CITIES)
            self.out.vendors.append({
                "ID": self.new_id(), "name": company, "companyName": f"{company} LLC",
                "vendorType": kind, "active": rng.random() > 0.1,
                "email": f"dispatch@{company.lower().replace(' ', '')}.example",
                "phone": self.phone(),
                "address": f"{rng.randint(100, 9999)} {rng.choice(STREET_NAMES)} St",
                "city": city, "state": state, "zip": f"{zip3}{rng.randint(0, 99):02d}",
                "_created": _iso(self.moment(3000, 300)),
            })

    def work_orders(self, building: dict[str, Any], units: list[dict[str, Any]]) -> None:
        rng = self.rng
        for _ in range(rng.randint(1, 3) + len(units) // 4):
            unit = rng.choice(units)
            canonical = rng.choices(STATUSES, [_STATUS_WEIGHTS[s] for s in STATUSES])[0]
            self.work_order(building, unit, canonical, rng.choice(STATUS_SPELLINGS[canonical]))

    def work_order(self, building: dict[str, Any], unit: dict[str, Any], canonical: str,
                   status: str) -> None:
        rng = self.rng
        created = self.moment(400, 1)
        done = canonical in ("completed", "closed")
        started = canonical not in ("unscheduled", "open", "wo received", "cancelled",
                                    "scheduled", "scheduled outside sf", "dispatched")
        start = created + dt.timedelta(hours=rng.randint(2, 96)) if started or done else None
        completed = (start + dt.timedelta(hours=rng.randint(1, 72))
                     if done and start is not None else None)
        if completed is not None and completed > AS_OF:
            completed = AS_OF
        lease = self.active_lease_by_unit.get(unit["ID"])
        vendor = rng.choice(self.out.vendors) if canonical != "unscheduled" else None
        estimate = round(rng.uniform(75, 2500), 2)
        category = rng.choice(CATEGORIES)
        work_order = {
            "ID": self.new_id(), "number": 0,  # numbered in creation order at the end
            "status": status, "priority": rng.choice(PRIORITIES),
            "type": rng.choice(WORK_ORDER_TYPES), "category": category,
            "description": f"{rng.choice(PROBLEMS).capitalize()} ({category.lower()})",
            "location": rng.choice(LOCATIONS),
            "specificLocation": rng.choice((None, "Under the sink", "Ceiling", "Back wall",
                                            "Near the entry", "Second floor")),
            "createdDate": _iso(created), "startDate": _iso(start),
            "scheduledEndDate": _iso(created + dt.timedelta(days=rng.randint(1, 14))),
            "completedDate": _iso(completed),
            "costEstimate": estimate,
            "totalCost": round(estimate * rng.uniform(0.6, 1.4), 2) if done else None,
            "building": building["ID"], "portfolio": building["portfolioID"],
            "lease": lease["ID"] if lease else None, "unitIDs": [unit["ID"]],
            "vendorIDs": [vendor["ID"]] if vendor else [],
            "contactID": lease["primaryContactID"] if lease else None,
            "_lastModified": _iso(max(m for m in (created, start, completed) if m is not None)),
        }
        self.out.work_orders.append(work_order)

    def cover_statuses(self) -> None:
        """Give each status (and ` WO Received `) to one work order, so every data set of
        at least 18 work orders exercises the whole matching table."""
        spellings = [(canonical, STATUS_SPELLINGS[canonical][0]) for canonical in STATUSES]
        spellings.append(("wo received", " WO Received "))
        picks = self.rng.sample(range(len(self.out.work_orders)),
                                min(len(spellings), len(self.out.work_orders)))
        for index, (canonical, spelling) in zip(picks, spellings, strict=False):
            work_order = self.out.work_orders[index]
            work_order["status"] = spelling
            if canonical in OPEN_STATUSES:
                work_order["completedDate"] = work_order["totalCost"] = None
            elif canonical != "cancelled" and work_order["completedDate"] is None:
                created = dt.datetime.fromisoformat(work_order["createdDate"])
                completed = min(AS_OF, created + dt.timedelta(days=1))
                work_order["completedDate"] = work_order["_lastModified"] = _iso(completed)

    def corrupt(self) -> None:
        rng = self.rng
        building_by_id = {b["ID"]: b for b in self.out.buildings}
        orders = self.out.work_orders
        single = [i for i, w in enumerate(orders) if not building_by_id[w["building"]]["multiUnit"]]
        multi = [i for i, w in enumerate(orders) if building_by_id[w["building"]]["multiUnit"]]
        corrupted: dict[str, list[int]] = {
            "unit_is_building_single": [], "unit_is_building_multi": [],
            "unit_of_other_building": [],
        }
        taken: set[int] = set()
        for name, pool in (("unit_is_building_single", single),
                           ("unit_is_building_multi", multi)):
            for index in _share(rng, pool, UNIT_IS_BUILDING_SHARE):
                orders[index]["unitIDs"] = [orders[index]["building"]]
                corrupted[name].append(orders[index]["ID"])
                taken.add(index)
        if len(self.out.buildings) > 1:
            rest = [i for i in range(len(orders)) if i not in taken]
            for index in _share(rng, rest, OTHER_BUILDING_SHARE):
                work_order = orders[index]
                foreign = [u for u in self.out.units if u["buildingID"] != work_order["building"]]
                work_order["unitIDs"] = [rng.choice(foreign)["ID"]]
                corrupted["unit_of_other_building"].append(work_order["ID"])
        self.out.corrupted = {name: sorted(ids) for name, ids in corrupted.items()}


def _share(rng: random.Random, pool: list[int], share: float) -> list[int]:
    if not pool:
        return []
    return rng.sample(pool, max(1, round(len(pool) * share)))


def generate_propertyware(buildings: int = 50, seed: int = 7) -> GeneratedPropertyWare:
    """Portfolios, buildings, units, leases with tenants, vendors and work orders."""
    if buildings < 1:
        raise ValueError("at least one building")
    generator = _Generator(seed)
    generator.portfolios(max(1, buildings // 10))
    generator.vendors(max(4, buildings // 5))
    for index in range(buildings):
        generator.building(index)
    generator.cover_statuses()
    generator.corrupt()
    orders = generator.out.work_orders
    # Work order numbers run in creation order, as PropertyWare assigns them.
    for number, work_order in enumerate(sorted(orders, key=lambda w: (w["createdDate"], w["ID"])),
                                        start=1001):
        work_order["number"] = number
    return generator.out
