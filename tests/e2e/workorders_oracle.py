"""The PropertyWare <-> ServiceFusion rules stated again, in plain Python, from the spec.

An independent statement (../shared/spec/propertyware_servicefusion.md), not a copy
of the models: the e2e test compares what the simulators hold after the chain with
what this module says they must hold. Inputs are the objects as the simulators'
admin APIs return them (PropertyWare DTO dicts; ServiceFusion customers with their
locations, jobs), read before the chain runs.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

OPEN = (
    "unscheduled", "scheduled", "scheduled outside sf", "dispatched", "delayed", "on the way",
    "on site", "started", "paused", "resumed", "partially completed", "open", "wo received",
    "awaiting parts",
)
CREATE_STATUS = {
    "unscheduled": "Unscheduled", "open": "Unscheduled", "wo received": "Unscheduled",
    "scheduled": "Scheduled", "scheduled outside sf": "Scheduled", "dispatched": "Dispatched",
    "delayed": "Delayed", "on the way": "On The Way", "on site": "On Site",
    "started": "Started", "paused": "Paused", "resumed": "Resumed",
    "partially completed": "Partially Completed", "awaiting parts": "Awaiting Parts",
}
MATCH, REVIEW = 0.95, 0.80
WINDOW = dt.timedelta(hours=48)
_WORDS = {"street": "st", "avenue": "ave", "suite": "unit", "apt": "unit", "unit": "unit"}


def levenshtein(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1,
                               previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


def norm_name(text: str | None) -> str:
    text = re.sub(r"[^a-z0-9\s]", "", (text or "").lower())
    return " ".join(text.split())


def similarity(a: str | None, b: str | None) -> float:
    left, right = norm_name(a), norm_name(b)
    longest = max(len(left), len(right))
    return 1.0 if longest == 0 else 1 - levenshtein(left, right) / longest


def norm_address(street: str | None, street2: str | None, zip_code: str | None) -> str:
    text = f"{street or ''} {street2 or ''}".lower().replace("#", " unit ")
    words = re.sub(r"[^a-z0-9\s]", " ", text).split()
    zip5 = re.sub(r"[^0-9]", "", zip_code or "")[:5]
    return " ".join(_WORDS.get(word, word) for word in words) + "|" + zip5


def status_key(status: str | None) -> str:
    return (status or "").strip().lower()


def _when(value: Any) -> dt.datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def band(score: float) -> str:
    return "match" if score >= MATCH else ("review" if score >= REVIEW else "create")


@dataclass
class Expected:
    # building / portfolio id -> match | review | create
    portfolios: dict[int, str] = field(default_factory=dict)
    buildings: dict[int, str] = field(default_factory=dict)
    building_customer: dict[int, int] = field(default_factory=dict)  # matched ones
    # work order number -> the location the job must carry (street_1), for new jobs
    new_jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    # work orders that must get no new job, with why
    no_job: dict[str, str] = field(default_factory=dict)
    # work order id -> the ServiceFusion status PropertyWare must hold after write-back
    written_back: dict[int, str] = field(default_factory=dict)


def expected_outcome(pw: dict[str, list[dict[str, Any]]], customers: list[dict[str, Any]],
                     jobs: list[dict[str, Any]]) -> Expected:
    """What the chain must leave behind, from the data both systems held before it."""
    out = Expected()
    by_account = {c.get("account_number"): c for c in customers if c.get("account_number")}

    for portfolio in pw["portfolios"]:
        if f"PW-P-{portfolio['ID']}" in by_account:
            out.portfolios[portfolio["ID"]] = "match"
            continue
        best = max((similarity(portfolio["name"], c["customer_name"]) for c in customers),
                   default=0.0)
        out.portfolios[portfolio["ID"]] = band(best)

    units_by_building: dict[int, list[dict[str, Any]]] = {}
    for unit in pw["units"]:
        units_by_building.setdefault(unit["buildingID"], []).append(unit)
    buildings = {b["ID"]: b for b in pw["buildings"]}
    for building in pw["buildings"]:
        account = by_account.get(f"PW-B-{building['ID']}")
        if account is not None:
            out.buildings[building["ID"]] = "match"
            out.building_customer[building["ID"]] = int(account["id"])
            continue
        key = norm_address(building.get("address"), building.get("address2"),
                           building.get("zip"))
        best, best_id = 0.0, None
        for customer in customers:
            same = any(norm_address(loc.get("street_1"), loc.get("street_2"),
                                    loc.get("postal_code")) == key
                       for loc in customer.get("locations") or [])
            score = 0.6 * same + 0.4 * similarity(building["name"], customer["customer_name"])
            if score > best:
                best, best_id = score, int(customer["id"])
        decision = band(best)
        if decision == "create" and out.portfolios.get(building.get("portfolioID")) == "review":
            decision = "waits_on_parent"
        out.buildings[building["ID"]] = decision
        if decision == "match" and best_id is not None:
            out.building_customer[building["ID"]] = best_id

    jobs_by_po = {str(j.get("po_number")): j for j in jobs if j.get("po_number")}
    jobs_by_customer: dict[int, list[dict[str, Any]]] = {}
    for job in jobs:
        jobs_by_customer.setdefault(int(job["customer_id"]), []).append(job)

    for order in pw["workOrders"]:
        number = str(order["number"])
        key = status_key(order.get("status"))
        building_id = order.get("building")
        building = buildings.get(building_id)
        unit_ids = order.get("unitIDs") or []
        unit_id = unit_ids[0] if unit_ids else None
        matched_job = jobs_by_po.get(number)
        temporal = None
        customer_id = out.building_customer.get(building_id) if building_id else None
        if matched_job is None and customer_id is not None:
            created = _when(order.get("createdDate"))
            best = 0.0
            for job in jobs_by_customer.get(customer_id, []):
                at = _when(job.get("created_at"))
                if created is None or at is None or abs(at - created) > WINDOW:
                    continue
                score = similarity(order.get("description"), job.get("description"))
                if score > best:
                    best, temporal = score, job
            if band(best) != "match":
                temporal_band = band(best)
                temporal = None
            else:
                temporal_band = "match"
        else:
            temporal_band = "create"
        job = matched_job or temporal
        if job is not None:
            if key in CREATE_STATUS and CREATE_STATUS[key] == job.get("status"):
                pass  # in step
            elif job.get("status"):
                out.written_back[int(order["ID"])] = str(job["status"])
            out.no_job[number] = "already has a job"
            continue
        if key not in OPEN:
            out.no_job[number] = "closed"
            continue
        if building is None:
            out.no_job[number] = "no building"
            continue
        units = units_by_building.get(building_id, [])
        routed: dict[str, Any] | None
        if unit_id is None:
            routed = None
        elif unit_id == building_id:
            routed = units[0] if len(units) == 1 else None
        else:
            routed = next((u for u in units if u["ID"] == unit_id), None)
            if routed is None:
                out.no_job[number] = "unit outside its building"
                continue
        if temporal_band == "review":
            out.no_job[number] = "job candidate in review"
            continue
        decision = out.buildings.get(building_id)
        if decision not in ("match", "create"):
            out.no_job[number] = f"building customer {decision}"
            continue
        place = routed or building
        out.new_jobs[number] = {
            "street_1": place.get("address"),
            "status": CREATE_STATUS[key],
            "building_id": building_id,
            "unit_id": routed["ID"] if routed else None,
        }
    return out


def buildings_of(decisions: dict[int, str], wanted: Iterable[str]) -> set[int]:
    chosen = set(wanted)
    return {building for building, decision in decisions.items() if decision in chosen}
