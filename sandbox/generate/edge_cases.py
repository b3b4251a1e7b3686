"""Hand-written RDS rows, one group per rule of the aggregation (docs/warehouse.md).

Ids, timestamps and features are fixed, whatever the seed, so dbt tests, the demo
and readers can name a case and know its expected result without running
anything: `EdgeCase.rule` says what the aggregation must produce and
`EdgeCase.salesforce_today` what the staging record looks like before the first
sync (see `initial_salesforce_records`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sandbox.generate.model import (
    Company,
    Feature,
    Property,
    parse_timestamp,
    salesforce_id,
    stable_uuid,
)


@dataclass(frozen=True)
class EdgeCase:
    """One rule of the aggregation, made concrete. `members` maps a role to an RDS id."""

    name: str
    rule: str
    sfdc_id: str | None
    members: dict[str, str]
    salesforce_today: str


_CAPITOL = Company(
    stable_uuid("company/capitol-row"), "Capitol Row Residential",
    parse_timestamp("2024-02-01T10:00:00+00:00"),
)
_LAKESHORE = Company(
    stable_uuid("company/lakeshore"), "Lakeshore Living Partners LLC",
    parse_timestamp("2023-08-15T10:00:00+00:00"),
)

SFDC_PARK_KENNEDY = salesforce_id("a1B5f000001PkKn")
SFDC_UNION = salesforce_id("a1B5f000002UnWq")
SFDC_EARLIEST = salesforce_id("a1B5f000003ErLy")
SFDC_TIE = salesforce_id("a1B5f000004TiEz")
SFDC_ALL_DISABLED = salesforce_id("a1B5f000005DsBl")
SFDC_NO_FEATURES = salesforce_id("a1B5f000006NoFt")
SFDC_MIDNIGHT = salesforce_id("a1B5f000007MdNt")
SFDC_LONG_NAME = salesforce_id("a1B5f000008LnGn")
SFDC_LONG_CITY = salesforce_id("a1B5f000009LcTy")
SFDC_NULL_ADDRESS = salesforce_id("a1B5f00000ANlAd")
SFDC_DUPLICATE_RECORDS = salesforce_id("a1B5f00000BDpRc")
# A production Property that exists in Salesforce only: no RDS row points at it.
SFDC_ORPHAN = salesforce_id("a1B5f00000COrPh")

ORPHAN_SNAPPT_ID = stable_uuid("salesforce/orphan-deleted-property")
TIE_FOREIGN_SNAPPT_ID = stable_uuid("salesforce/tie-group-recreated-property")

LONG_PROPERTY_NAME = (
    "The Residences at Willow Creek Crossing Phase II Senior Living Community and "
    "Townhomes at the Park"
)
LONG_CITY_CREATE = "Village of Grosse Pointe Shores, A Michigan City"
LONG_CITY_UPDATE = "Village of North Palm Beach Shores and Lakes"
LONG_CITY_DISABLED = "Township of Upper Saucon Center Valley Heights"

_TIE_A, _TIE_B = sorted((stable_uuid("maple-court/a"), stable_uuid("maple-court/b")))


def _edge_rows() -> tuple[list[Company], list[Property], list[Feature], dict[str, EdgeCase]]:
    """The hand-written rows. Every value below is what a test expects back."""
    properties: list[Property] = []
    features: list[Feature] = []
    cases: dict[str, EdgeCase] = {}

    def prop(
        label: str,
        name: str,
        address: tuple[str | None, str | None, str | None, str | None],
        status: str,
        sfdc_id: str | None,
        inserted: str,
        updated: str,
        company: Company = _CAPITOL,
        property_id: str | None = None,
    ) -> str:
        pid = property_id or stable_uuid(label)
        street, city, state, postal = address
        properties.append(Property(
            pid, company.id, name, street, city, state, postal, status, sfdc_id,
            parse_timestamp(inserted), parse_timestamp(updated),
        ))
        return pid

    def feat(pid: str, code: str, enabled: bool, enabled_at: str | None, updated: str) -> None:
        at = parse_timestamp(enabled_at) if enabled_at else None
        features.append(Feature(pid, code, enabled, at, parse_timestamp(updated)))

    # Park Kennedy: two RDS rows share one sfdc_id; only the ACTIVE one counts, even
    # though the DISABLED one was updated later and has features of its own.
    pk_active = prop("park-kennedy/active", "Park Kennedy",
                     ("3901 Connecticut Ave NW", "Washington", "DC", "20008"), "ACTIVE",
                     SFDC_PARK_KENNEDY, "2021-03-02T14:11:09+00:00", "2025-09-15T12:00:00+00:00")
    pk_disabled = prop("park-kennedy/disabled", "Park Kennedy Apartments",
                       ("3901 Connecticut Ave NW", "Washington", "DC", "20008"), "DISABLED",
                       SFDC_PARK_KENNEDY, "2019-06-20T09:00:00+00:00",
                       "2025-11-02T08:00:00+00:00")
    feat(pk_active, "fraud_detection", True, "2023-04-12T15:20:00+00:00",
         "2023-04-12T15:20:00+00:00")
    feat(pk_active, "identity_verification", True, "2024-01-08T10:05:00+00:00",
         "2024-01-08T10:05:00+00:00")
    feat(pk_active, "income_verification", False, None, "2021-03-02T14:11:09+00:00")
    feat(pk_disabled, "fraud_detection", True, "2021-02-03T09:00:00+00:00",
         "2021-02-03T09:00:00+00:00")
    feat(pk_disabled, "rent_verification", True, "2022-06-01T16:30:00+00:00",
         "2022-06-01T16:30:00+00:00")
    cases["park_kennedy"] = EdgeCase(
        "park_kennedy",
        "2 rows share an sfdc_id, 1 ACTIVE with features, 1 DISABLED (updated later, own "
        "features): fraud 2023-04-12 and IDV 2024-01-08 only, count 1, metadata of the "
        "ACTIVE row",
        SFDC_PARK_KENNEDY, {"active": pk_active, "disabled": pk_disabled},
        "one record keyed by the DISABLED row's id, SF_Property_ID__c set, fraud and IDV "
        "FALSE (features not visible)",
    )

    # Union: each feature is enabled on a different member.
    u1 = prop("harbor-point/north", "Harbor Point North",
              ("1200 Harbor Blvd", "Tampa", "FL", "33602"), "ACTIVE", SFDC_UNION,
              "2020-01-10T12:00:00+00:00", "2025-03-01T10:00:00+00:00")
    u2 = prop("harbor-point/main", "Harbor Point",
              ("1210 Harbor Blvd", "Tampa", "FL", "33602"), "ACTIVE", SFDC_UNION,
              "2020-01-10T12:05:00+00:00", "2025-07-04T16:45:00+00:00")
    u3 = prop("harbor-point/south", "Harbor Point South",
              ("1220 Harbor Blvd", "Tampa", "FL", "33602"), "ACTIVE", SFDC_UNION,
              "2020-02-11T12:00:00+00:00", "2025-01-15T09:30:00+00:00")
    feat(u1, "fraud_detection", True, "2022-05-10T13:00:00+00:00", "2022-05-10T13:00:00+00:00")
    feat(u2, "income_verification", True, "2023-02-01T11:00:00+00:00",
         "2023-02-01T11:00:00+00:00")
    feat(u2, "fraud_detection", False, None, "2020-01-10T12:05:00+00:00")
    feat(u3, "identity_verification", True, "2024-08-20T20:00:00+00:00",
         "2024-08-20T20:00:00+00:00")
    cases["feature_union"] = EdgeCase(
        "feature_union",
        "features enabled on different members: fraud 2022-05-10 (north), income "
        "2023-02-01 (main), IDV 2024-08-20 (south), rent FALSE; primary = main (latest "
        "updated_at), count 3",
        SFDC_UNION, {"north": u1, "main": u2, "south": u3},
        "one record keyed by the north member (not the primary), income FALSE",
    )

    # Earliest enabled_at wins; a feature row with enabled=false keeps an older
    # enabled_at that must be ignored.
    e1 = prop("cedar-ridge/primary", "Cedar Ridge Apartments",
              ("455 Cedar Ridge Dr", "Austin", "TX", "78741"), "ACTIVE", SFDC_EARLIEST,
              "2020-05-05T12:00:00+00:00", "2025-10-01T12:00:00+00:00", _LAKESHORE)
    e2 = prop("cedar-ridge/second", "Cedar Ridge Apartments",
              ("457 Cedar Ridge Dr", "Austin", "TX", "78741"), "ACTIVE", SFDC_EARLIEST,
              "2019-04-04T12:00:00+00:00", "2025-02-01T12:00:00+00:00", _LAKESHORE)
    feat(e1, "fraud_detection", True, "2024-06-01T09:00:00+00:00", "2024-06-01T09:00:00+00:00")
    feat(e2, "fraud_detection", True, "2021-09-30T18:45:00+00:00", "2021-09-30T18:45:00+00:00")
    feat(e1, "income_verification", True, "2025-01-05T15:00:00+00:00",
         "2025-01-05T15:00:00+00:00")
    feat(e2, "income_verification", False, "2020-01-01T12:00:00+00:00",
         "2020-06-01T12:00:00+00:00")
    feat(e2, "identity_verification", False, "2022-02-02T12:00:00+00:00",
         "2022-09-01T12:00:00+00:00")
    cases["earliest_enabled"] = EdgeCase(
        "earliest_enabled",
        "fraud on both members: date = 2021-09-30 (second member, earlier); income "
        "2025-01-05 (the enabled=false row of 2020-01-01 is ignored); IDV FALSE/null "
        "(only an enabled=false row with a date); primary = primary",
        SFDC_EARLIEST, {"primary": e1, "second": e2},
        "one record keyed by the primary, fraud date 2024-06-01 (the primary's own)",
    )

    # Two active members with the same updated_at: the smaller id is the primary.
    # The smaller id was inserted later, so "oldest row" would pick the other one.
    t_small = prop("maple-court/small", "Maple Court Townhomes",
                   ("88 Maple Ct", "Raleigh", "NC", "27603"), "ACTIVE", SFDC_TIE,
                   "2023-05-05T12:00:00+00:00", "2025-08-08T08:08:08+00:00",
                   property_id=_TIE_A)
    t_large = prop("maple-court/large", "Maple Court Apartments",
                   ("90 Maple Ct", "Raleigh", "NC", "27603"), "ACTIVE", SFDC_TIE,
                   "2019-09-09T12:00:00+00:00", "2025-08-08T08:08:08+00:00",
                   property_id=_TIE_B)
    feat(t_small, "rent_verification", True, "2025-03-03T12:00:00+00:00",
         "2025-03-03T12:00:00+00:00")
    feat(t_large, "fraud_detection", True, "2024-11-11T12:00:00+00:00",
         "2024-11-11T12:00:00+00:00")
    cases["updated_at_tie"] = EdgeCase(
        "updated_at_tie",
        "two ACTIVE members with equal updated_at: primary = smaller id ('Maple Court "
        "Townhomes', 88 Maple Ct); fraud 2024-11-11, rent 2025-03-03",
        SFDC_TIE, {"smaller_id": t_small, "larger_id": t_large},
        "present only through SF_Property_ID__c with an unrelated Snappt_Property_ID__c "
        f"({TIE_FOREIGN_SNAPPT_ID}), Name of the larger id",
    )

    # No active member: a churned group, all features FALSE, count 0.
    d1 = prop("riverside/old", "Riverside Lofts",
              ("700 Riverside Dr", "Nashville", "TN", "37206"), "DISABLED", SFDC_ALL_DISABLED,
              "2019-02-02T12:00:00+00:00", "2025-04-01T12:00:00+00:00")
    d2 = prop("riverside/mill", "Riverside Lofts at the Mill",
              ("702 Riverside Dr", "Nashville", "TN", "37206"), "DISABLED", SFDC_ALL_DISABLED,
              "2019-03-03T12:00:00+00:00", "2025-06-30T12:00:00+00:00")
    feat(d1, "fraud_detection", True, "2020-03-03T12:00:00+00:00", "2020-03-03T12:00:00+00:00")
    feat(d2, "income_verification", True, "2021-04-04T12:00:00+00:00",
         "2021-04-04T12:00:00+00:00")
    cases["all_disabled"] = EdgeCase(
        "all_disabled",
        "every member DISABLED: all features FALSE, dates null, count 0, metadata of the "
        "most recently updated member ('Riverside Lofts at the Mill'); never created",
        SFDC_ALL_DISABLED, {"old": d1, "mill": d2},
        "one record keyed by 'old' still showing fraud TRUE and count 1 (churn not shown)",
    )

    # A member without any property_features row is the primary.
    n1 = prop("aspen-grove/main", "Aspen Grove",
              ("3100 Aspen Grove Way", "Denver", "CO", "80205"), "ACTIVE", SFDC_NO_FEATURES,
              "2022-02-02T12:00:00+00:00", "2025-05-20T12:00:00+00:00", _LAKESHORE)
    n2 = prop("aspen-grove/annex", "Aspen Grove Annex",
              ("3102 Aspen Grove Way", "Denver", "CO", "80205"), "ACTIVE", SFDC_NO_FEATURES,
              "2022-03-03T12:00:00+00:00", "2024-12-01T12:00:00+00:00", _LAKESHORE)
    feat(n2, "income_verification", True, "2023-07-07T12:00:00+00:00",
         "2023-07-07T12:00:00+00:00")
    cases["no_features_member"] = EdgeCase(
        "no_features_member",
        "the primary ('Aspen Grove') has no property_features rows; income 2023-07-07 "
        "comes from the annex; count 2",
        SFDC_NO_FEATURES, {"main": n1, "annex": n2},
        "missing (to be created, keyed by the main id)",
    )

    s1 = prop("sycamore-flats", "Sycamore Flats",
              ("18 Sycamore St", "Boise", "ID", "83702"), "ACTIVE", None,
              "2025-09-09T12:00:00+00:00", "2025-09-09T12:00:00+00:00")
    cases["no_features_single"] = EdgeCase(
        "no_features_single",
        "ACTIVE, no sfdc_id, no property_features rows: a group of its own, all FALSE",
        None, {"only": s1},
        "missing (to be created)",
    )

    # Enabled near midnight in US and European offsets: only the UTC date counts.
    m1 = prop("bayview-terrace", "Bayview Terrace",
              ("1500 Bayview Ave", "San Diego", "CA", "92109"), "ACTIVE", SFDC_MIDNIGHT,
              "2020-10-10T12:00:00+00:00", "2024-07-02T02:30:00+00:00")
    feat(m1, "fraud_detection", True, "2024-07-01T21:30:00-05:00", "2024-07-01T21:30:00-05:00")
    feat(m1, "identity_verification", True, "2024-03-01T01:30:00+02:00",
         "2024-03-01T01:30:00+02:00")
    feat(m1, "income_verification", True, "2023-12-31T19:05:00-05:00",
         "2023-12-31T19:05:00-05:00")
    cases["midnight_utc"] = EdgeCase(
        "midnight_utc",
        "enabled_at near midnight in non-UTC offsets: fraud 2024-07-02 (entered "
        "2024-07-01 21:30-05), IDV 2024-02-29 (entered 2024-03-01 01:30+02), income "
        "2024-01-01 (entered 2023-12-31 19:05-05)",
        SFDC_MIDNIGHT, {"only": m1},
        "one record with the local (US Eastern) dates 2024-07-01, 2024-02-29 and 2023-12-31",
    )

    ln = prop("willow-creek-crossing", LONG_PROPERTY_NAME,
              ("2500 Willow Creek Pkwy", "Charlotte", "NC", "28277"), "ACTIVE", SFDC_LONG_NAME,
              "2022-11-11T12:00:00+00:00", "2025-01-20T12:00:00+00:00", _LAKESHORE)
    feat(ln, "fraud_detection", True, "2022-11-12T12:00:00+00:00", "2022-11-12T12:00:00+00:00")
    cases["long_name"] = EdgeCase(
        "long_name",
        f"name of {len(LONG_PROPERTY_NAME)} characters (Salesforce Name holds 80)",
        SFDC_LONG_NAME, {"only": ln},
        "missing (to be created)",
    )

    lc1 = prop("lakeshore-towers", "Lakeshore Towers",
               ("800 Lake Shore Rd", LONG_CITY_CREATE, "MI", "48236"), "ACTIVE", None,
               "2025-08-01T12:00:00+00:00", "2025-08-01T12:00:00+00:00", _LAKESHORE)
    lc2 = prop("seagrape-villas", "Seagrape Villas",
               ("12 Seagrape Ln", LONG_CITY_UPDATE, "FL", "33408"), "ACTIVE", SFDC_LONG_CITY,
               "2021-01-01T12:00:00+00:00", "2025-03-03T12:00:00+00:00", _LAKESHORE)
    lc3 = prop("saucon-meadows", "Saucon Meadows",
               ("5 Meadow Ln", LONG_CITY_DISABLED, "PA", "18034"), "DISABLED", None,
               "2020-01-01T12:00:00+00:00", "2024-03-03T12:00:00+00:00", _LAKESHORE)
    feat(lc1, "fraud_detection", True, "2025-08-02T12:00:00+00:00", "2025-08-02T12:00:00+00:00")
    feat(lc2, "fraud_detection", True, "2021-02-01T12:00:00+00:00", "2021-02-01T12:00:00+00:00")
    cases["long_city"] = EdgeCase(
        "long_city",
        "cities longer than 40 characters (Salesforce City__c holds 40): one ACTIVE new "
        "property (create), one linked ACTIVE property (update), one DISABLED",
        None, {"create": lc1, "update": lc2, "disabled": lc3},
        "the 'update' one is present with the short city 'North Palm Beach'; the "
        "'create' one is missing",
    )

    na = prop("orchard-park", "Orchard Park Residences", (None, None, None, None), "ACTIVE",
              SFDC_NULL_ADDRESS, "2021-06-06T12:00:00+00:00", "2025-02-02T12:00:00+00:00")
    feat(na, "fraud_detection", True, "2022-10-10T12:00:00+00:00", "2022-10-10T12:00:00+00:00")
    cases["null_address"] = EdgeCase(
        "null_address",
        "street, city, state and postal code all null",
        SFDC_NULL_ADDRESS, {"only": na},
        "present and correct, address fields null (no update due)",
    )

    x1 = prop("summit-place/east", "Summit Place East",
              ("40 Summit Pl", "Atlanta", "GA", "30308"), "ACTIVE", SFDC_DUPLICATE_RECORDS,
              "2020-07-07T12:00:00+00:00", "2025-06-01T12:00:00+00:00")
    x2 = prop("summit-place/west", "Summit Place West",
              ("42 Summit Pl", "Atlanta", "GA", "30308"), "ACTIVE", SFDC_DUPLICATE_RECORDS,
              "2020-07-08T12:00:00+00:00", "2025-06-15T12:00:00+00:00")
    feat(x1, "fraud_detection", True, "2021-01-01T12:00:00+00:00", "2021-01-01T12:00:00+00:00")
    feat(x2, "identity_verification", True, "2023-03-03T12:00:00+00:00",
         "2023-03-03T12:00:00+00:00")
    cases["duplicate_records"] = EdgeCase(
        "duplicate_records",
        "fraud 2021-01-01 and IDV 2023-03-03; primary = west; count 2",
        SFDC_DUPLICATE_RECORDS, {"east": x1, "west": x2},
        "two staging records, one keyed by each member, each with only its own feature",
    )

    ds = prop("elm-street-commons", "Elm Street Commons",
              ("310 Elm St", "Columbus", "OH", "43215"), "DISABLED", None,
              "2019-05-05T12:00:00+00:00", "2023-12-12T12:00:00+00:00")
    feat(ds, "fraud_detection", True, "2019-06-01T12:00:00+00:00", "2019-06-01T12:00:00+00:00")
    cases["disabled_single"] = EdgeCase(
        "disabled_single",
        "DISABLED, no sfdc_id: a group of its own with count 0; never created",
        None, {"only": ds},
        "missing (and must stay so)",
    )

    cases["orphan_record"] = EdgeCase(
        "orphan_record",
        "a staging record whose Snappt_Property_ID__c is not an RDS id",
        SFDC_ORPHAN, {},
        f"present: Snappt_Property_ID__c {ORPHAN_SNAPPT_ID}, 'Glenwood Manor'",
    )
    return [_CAPITOL, _LAKESHORE], properties, features, cases


EDGE_COMPANIES, EDGE_PROPERTIES, EDGE_FEATURES, EDGE_CASES = _edge_rows()
EDGE_PROPERTY_IDS: frozenset[str] = frozenset(p.id for p in EDGE_PROPERTIES)
