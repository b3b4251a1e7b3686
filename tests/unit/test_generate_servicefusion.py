"""The ServiceFusion data generated over the PropertyWare data: deterministic, every
dedup case present, and each case's score in its band by the spec's formula
(/work/shared/spec/propertyware_servicefusion.md, "Match scores"), computed here
independently of the generator's own helpers."""

from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache
from typing import Any

import pytest

from sandbox.generate.propertyware import generate_propertyware
from sandbox.generate.servicefusion import CASES, generate_servicefusion
from sandbox.servicefusion.model import validate_customer, validate_job

DEMO = {"buildings": 20, "seed": 7}


@lru_cache(maxsize=8)
def generated(buildings: int, seed: int) -> tuple[Any, Any]:
    pw = generate_propertyware(buildings=buildings, seed=seed)
    return pw, generate_servicefusion(pw, seed=seed)


# -- the formula, written again --------------------------------------------------


def lev(a: str, b: str) -> int:
    """Wagner-Fischer with the whole matrix (the generator keeps two rows)."""
    rows, cols = len(a) + 1, len(b) + 1
    d = [[0] * cols for _ in range(rows)]
    for i in range(rows):
        d[i][0] = i
    for j in range(cols):
        d[0][j] = j
    for i in range(1, rows):
        for j in range(1, cols):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
    return d[-1][-1]


def test_levenshtein_by_hand() -> None:
    assert lev("kitten", "sitting") == 3
    assert lev("apartments", "apts") == 6
    assert lev("", "abc") == 3 and lev("same", "same") == 0


def norm_name(text: str | None) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[^a-z0-9 ]", "", (text or "").lower())).strip()


ABBREVIATIONS = {"street": "st", "avenue": "ave", "suite": "unit", "apt": "unit"}


def norm_address(*parts: str | None) -> str:
    text = " ".join(p for p in parts if p).lower().replace("#", " unit ")
    text = re.sub(r"[^a-z0-9 ]", "", text)
    return " ".join(ABBREVIATIONS.get(word, word) for word in text.split())


def sim(a: str | None, b: str | None) -> float:
    x, y = norm_name(a), norm_name(b)
    return 1 - lev(x, y) / max(len(x), len(y), 1)


def building_score(building: dict[str, Any], customer: dict[str, Any]) -> float:
    if customer.get("account_number") == f"PW-B-{building['ID']}":
        return 1.0
    wanted = (norm_address(building["address"], building["address2"]), building["zip"][:5])
    same = any(
        (norm_address(loc["street_1"], loc.get("street_2")),
         re.sub(r"\D", "", loc.get("postal_code") or "")[:5]) == wanted
        for loc in customer.get("locations") or []
    )
    return 0.6 * same + 0.4 * sim(building["name"], customer["customer_name"])


def when(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def work_order_score(work_order: dict[str, Any], customer_id: int | None,
                     job: dict[str, Any]) -> float:
    if job.get("po_number") == str(work_order["number"]):
        return 1.0
    if customer_id is None or job["customer_name"] != str(customer_id):
        return 0.0
    if abs(when(job["created_at"]) - when(work_order["createdDate"])) > dt.timedelta(hours=48):
        return 0.0
    return sim(work_order["description"], job["description"])


# -- tests -----------------------------------------------------------------------


def test_same_seed_same_data_and_another_seed_differs() -> None:
    pw = generate_propertyware(**DEMO)
    first = generate_servicefusion(pw, seed=7)
    again = generate_servicefusion(generate_propertyware(**DEMO), seed=7)
    assert first == again
    other = generate_servicefusion(generate_propertyware(buildings=20, seed=8), seed=8)
    assert other.customers != first.customers


@pytest.mark.parametrize("size", [(20, 7), (20, 1), (35, 3), (60, 11)])
def test_every_case_is_present(size: tuple[int, int]) -> None:
    pw, sf = generated(*size)
    optional = {"parent_absent"}  # only with three portfolios or more
    for case in CASES:
        if case not in optional:
            assert sf.expected[case], case
    assert sf.unrelated
    # Every building is in exactly one customer case.
    building_cases = [c for c in CASES if c.startswith("customer_")]
    listed = sorted(i for c in building_cases for i in sf.expected[c])
    assert listed == sorted(b["ID"] for b in pw.buildings)
    # The WO Received work order is in step with an Unscheduled job.
    (received,) = sf.expected["job_wo_received_in_step"]
    job = next(j for j in sf.jobs if j["id"] == sf.candidates[received])
    order = next(w for w in pw.work_orders if w["ID"] == received)
    assert order["status"].strip().lower() == "wo received" and job["status"] == "Unscheduled"
    assert received in sf.expected["job_exact_in_step"]


def test_demo_size_counts() -> None:
    _, sf = generated(**DEMO)
    counts = {case: len(ids) for case, ids in sf.expected.items()}
    assert counts["customer_exact"] == 4 and counts["parent_exact"] == 1
    assert counts["customer_auto"] == counts["customer_review"] == counts["customer_far"] == 2
    assert counts["job_exact_status_differs"] >= 2
    # One job is On Site while its work order still says Scheduled.
    assert ("Scheduled", "On Site") in {
        (pw_status.strip(), sf_status) for pw_status, sf_status in sf.status_changes.values()
    }


@pytest.mark.parametrize("size", [(20, 7), (35, 3)])
def test_customer_scores_fall_in_their_bands(size: tuple[int, int]) -> None:
    pw, sf = generated(*size)
    by_id = {c["id"]: c for c in sf.customers}
    bands = {"customer_exact": (1.0, 1.0), "customer_auto": (0.95, 1.0),
             "customer_review": (0.80, 0.95 - 1e-9), "customer_far": (0.0, 0.80 - 1e-9),
             "customer_absent": (0.0, 0.80 - 1e-9)}
    for building in pw.buildings:
        case = next(c for c in bands if building["ID"] in sf.expected[c])
        low, high = bands[case]
        scores = {cid: building_score(building, c) for cid, c in by_id.items()}
        best = max(scores.values())
        assert low <= best <= high, (case, building["ID"], best)
        if case != "customer_absent":
            mine = scores[sf.candidates[building["ID"]]]
            assert low <= mine <= high, (case, building["ID"], mine)
            assert sf.scores[building["ID"]] == pytest.approx(mine, abs=1e-4)
        if case in ("customer_exact", "customer_auto", "customer_review"):
            others = [s for cid, s in scores.items() if cid != sf.candidates[building["ID"]]]
            assert max(others) < 0.80, (case, building["ID"])
        if case == "customer_review":
            name = by_id[sf.candidates[building["ID"]]]["customer_name"]
            assert 0.5 <= sim(building["name"], name) < 0.875
        if case == "customer_far":
            far = by_id[sf.candidates[building["ID"]]]
            assert sim(building["name"], far["customer_name"]) >= 0.9


def test_exact_customers_are_what_the_product_sends() -> None:
    pw, sf = generated(**DEMO)
    by_id = {c["id"]: c for c in sf.customers}
    for portfolio_id in sf.expected["parent_exact"]:
        parent = by_id[sf.candidates[portfolio_id]]
        assert parent["account_number"] == f"PW-P-{portfolio_id}"
    for building_id in sf.expected["customer_exact"]:
        building = next(b for b in pw.buildings if b["ID"] == building_id)
        customer = by_id[sf.candidates[building_id]]
        parent = next(p for p in pw.portfolios if p["ID"] == building["portfolioID"])
        assert customer["customer_name"] == building["name"][:45]
        assert customer["parent_customer"] == parent["name"]
        units = [u for u in pw.units if u["buildingID"] == building_id]
        assert [loc["nickname"] for loc in customer["locations"]] == [u["name"] for u in units]
        assert customer["locations"][0]["is_primary"]
        active = [lease for lease in pw.leases if lease["buildingID"] == building_id
                  and lease["active"]]
        assert len(customer["contacts"]) == sum(len(lease["tenantIDs"]) for lease in active)
    # The parent name match: the portfolio's name in another case.
    for portfolio_id in sf.expected["parent_name_match"]:
        portfolio = next(p for p in pw.portfolios if p["ID"] == portfolio_id)
        customer = by_id[sf.candidates[portfolio_id]]
        assert customer.get("account_number") is None
        assert sim(portfolio["name"], customer["customer_name"]) == 1.0


@pytest.mark.parametrize("size", [(20, 7), (35, 3)])
def test_job_scores_fall_in_their_bands(size: tuple[int, int]) -> None:
    pw, sf = generated(*size)
    customer_of = {b: sf.candidates[b] for b in
                   sf.expected["customer_exact"] + sf.expected["customer_auto"]}
    matched = set(sf.expected["job_exact_in_step"] + sf.expected["job_exact_status_differs"]
                  + sf.expected["job_temporal_match"])
    open_statuses = {"unscheduled", "scheduled", "scheduled outside sf", "dispatched",
                     "delayed", "on the way", "on site", "started", "paused", "resumed",
                     "partially completed", "open", "wo received", "awaiting parts"}
    for order in pw.work_orders:
        if order["status"].strip().lower() not in open_statuses:
            continue
        scores = {j["id"]: work_order_score(order, customer_of.get(order["building"]), j)
                  for j in sf.jobs}
        best = max(scores.values())
        if order["ID"] in matched:
            assert scores[sf.candidates[order["ID"]]] >= 0.95, order["ID"]
            others = [s for jid, s in scores.items() if jid != sf.candidates[order["ID"]]]
            assert max(others) < 0.80, order["ID"]
        else:
            assert best < 0.80, (order["ID"], best)
    jobs = {j["id"]: j for j in sf.jobs}
    for order_id in sf.expected["job_temporal_match"] + sf.expected["job_temporal_outside"]:
        order = next(w for w in pw.work_orders if w["ID"] == order_id)
        job = jobs[sf.candidates[order_id]]
        assert "po_number" not in job
        assert sim(order["description"], job["description"]) >= 0.95
        gap = abs(when(job["created_at"]) - when(order["createdDate"]))
        inside = order_id in sf.expected["job_temporal_match"]
        assert (gap <= dt.timedelta(hours=48)) == inside, (order_id, gap)
    for order_id, (pw_status, sf_status) in sf.status_changes.items():
        assert jobs[sf.candidates[order_id]]["status"] == sf_status
        assert pw_status.strip().lower() != sf_status.lower()


def test_fixtures_pass_the_simulators_validation() -> None:
    _, sf = generated(**DEMO)
    loaded: dict[str, dict[str, Any]] = {}  # id and name -> customer, in load order

    def find(ref: str) -> dict[str, Any] | None:
        found = loaded.get(ref)
        return {"id": int(found["id"]), "doc": found} if found else None

    for customer in sf.customers:
        assert len(customer["customer_name"]) <= 45
        validate_customer(customer, find)  # raises ValidationFailed on a bad fixture
        loaded[str(customer["id"])] = customer
        loaded.setdefault(customer["customer_name"], customer)
    for job in sf.jobs:
        validate_job(job, find)
    assert len({c["id"] for c in sf.customers}) == len(sf.customers)
    assert len({j["number"] for j in sf.jobs}) == len(sf.jobs)
