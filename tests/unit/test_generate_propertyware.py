"""The PropertyWare generator: determinism, the shape of the data, statuses, corrupt rows.

The status table and the corruption rules are written here by hand (from the
PropertyWare <-> ServiceFusion slice's brief) and the counts recomputed from the
objects themselves, never taken from the generator's own bookkeeping alone.
"""

from __future__ import annotations

from collections import Counter

import pytest

from sandbox.generate.propertyware import (
    GeneratedPropertyWare,
    generate_propertyware,
    is_open,
    normalize_status,
)
from sandbox.propertyware.admin import COLLECTIONS, storable_fields

OPEN = {
    "unscheduled", "scheduled", "scheduled outside sf", "dispatched", "delayed", "on the way",
    "on site", "started", "paused", "resumed", "partially completed", "open", "wo received",
    "awaiting parts",
}
NOT_OPEN = {"completed", "closed", "cancelled"}
BUILDINGS = 60


@pytest.fixture(scope="module")
def data() -> GeneratedPropertyWare:
    return generate_propertyware(buildings=BUILDINGS, seed=7)


def test_same_seed_same_data_other_seed_other_data(data: GeneratedPropertyWare) -> None:
    assert generate_propertyware(buildings=BUILDINGS, seed=7).fixture() == data.fixture()
    other = generate_propertyware(buildings=BUILDINGS, seed=8)
    assert other.fixture() != data.fixture()
    assert len(other.buildings) == BUILDINGS


def test_sized_by_buildings_with_single_and_multi_unit_ones(data: GeneratedPropertyWare) -> None:
    assert len(data.buildings) == BUILDINGS
    units_per_building = Counter(unit["buildingID"] for unit in data.units)
    singles = [b for b in data.buildings if not b["multiUnit"]]
    multis = [b for b in data.buildings if b["multiUnit"]]
    assert singles and multis
    assert all(units_per_building[b["ID"]] == 1 for b in singles)
    assert all(4 <= units_per_building[b["ID"]] <= 24 for b in multis)
    portfolio_ids = {p["ID"] for p in data.portfolios}
    assert {b["portfolioID"] for b in data.buildings} <= portfolio_ids
    assert set(units_per_building) == {b["ID"] for b in data.buildings}


def test_ids_are_unique_across_kinds_and_fit_an_int(data: GeneratedPropertyWare) -> None:
    ids = [obj["ID"] for objects in data.fixture().values() for obj in objects]
    assert len(ids) == len(set(ids))
    assert all(0 < oid < 2**31 for oid in ids)  # WorkOrder.unitIDs/vendorIDs are int[]


def test_leases_active_and_ended_with_existing_tenants(data: GeneratedPropertyWare) -> None:
    contacts = {c["ID"] for c in data.contacts}
    units = {u["ID"]: u for u in data.units}
    assert {lease["active"] for lease in data.leases} == {True, False}
    active_per_unit = Counter(lease["unitID"] for lease in data.leases if lease["active"])
    assert max(active_per_unit.values()) == 1
    for lease in data.leases:
        assert 1 <= len(lease["tenantIDs"]) <= 3
        assert set(lease["tenantIDs"]) <= contacts
        assert lease["primaryContactID"] == lease["tenantIDs"][0]
        assert units[lease["unitID"]]["buildingID"] == lease["buildingID"]
        assert lease["startDate"] < lease["endDate"]
        if lease["active"]:
            assert lease["moveOutDate"] is None and lease["leaseStatus"] == "Active"
        else:
            assert lease["moveOutDate"] == lease["endDate"] and lease["leaseStatus"] == "Past"


def test_every_status_with_odd_spellings(data: GeneratedPropertyWare) -> None:
    raw = [w["status"] for w in data.work_orders]
    assert {normalize_status(s) for s in raw} == OPEN | NOT_OPEN
    assert " WO Received " in raw
    assert any(s != s.strip() for s in raw)  # stray whitespace
    assert any(s.strip().isupper() or s.strip().islower() for s in raw)  # OPEN, wo received
    for status in raw:
        assert is_open(status) == (status.strip().lower() in OPEN)


def test_corrupted_rows_counted_from_the_rows(data: GeneratedPropertyWare) -> None:
    buildings = {b["ID"]: b for b in data.buildings}
    unit_building = {u["ID"]: u["buildingID"] for u in data.units}
    unit_is_building = Counter()
    other_building: list[int] = []
    for work_order in data.work_orders:
        (unit_id,) = work_order["unitIDs"]
        if unit_id == work_order["building"]:
            multi = buildings[work_order["building"]]["multiUnit"]
            unit_is_building["multi" if multi else "single"] += 1
        elif unit_building[unit_id] != work_order["building"]:
            other_building.append(work_order["ID"])
    assert unit_is_building["single"] >= 1 and unit_is_building["multi"] >= 1
    assert other_building
    assert data.corruptions == {
        "unit_is_building_single": unit_is_building["single"],
        "unit_is_building_multi": unit_is_building["multi"],
        "unit_of_other_building": len(other_building),
    }
    assert sorted(other_building) == data.corrupted["unit_of_other_building"]
    # A few per cent, not most of the data.
    assert sum(data.corruptions.values()) < len(data.work_orders) * 0.15


def test_work_orders_point_at_real_objects(data: GeneratedPropertyWare) -> None:
    leases = {lease["ID"]: lease for lease in data.leases}
    vendors = {v["ID"] for v in data.vendors}
    buildings = {b["ID"]: b for b in data.buildings}
    numbers = [w["number"] for w in data.work_orders]
    assert sorted(numbers) == list(range(1001, 1001 + len(numbers)))
    for work_order in data.work_orders:
        assert work_order["portfolio"] == buildings[work_order["building"]]["portfolioID"]
        assert set(work_order["vendorIDs"]) <= vendors
        if work_order["lease"] is not None:
            assert leases[work_order["lease"]]["active"]
        if normalize_status(work_order["status"]) in OPEN:
            assert work_order["completedDate"] is None


def test_fixture_fields_are_what_the_simulator_stores(data: GeneratedPropertyWare) -> None:
    for collection, objects in data.fixture().items():
        allowed = storable_fields(COLLECTIONS[collection]) | {"ID", "_created", "_lastModified"}
        for obj in objects:
            assert set(obj) <= allowed, (collection, set(obj) - allowed)


def test_small_and_invalid_sizes() -> None:
    one = generate_propertyware(buildings=1, seed=1)
    assert len(one.buildings) == 1 and one.work_orders
    assert one.corruptions["unit_of_other_building"] == 0  # no other building to take from
    with pytest.raises(ValueError):
        generate_propertyware(buildings=0)
