"""The product feature list, read from the dbt seed that defines it.

`dbt_project/seeds/product_features.csv` is the one place a feature is declared
(docs/warehouse.md: adding a feature is a CSV row). The dbt models pivot over
it; the Salesforce read-back and the data-quality gate read the same rows here,
so neither keeps a copy that could drift.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache

from common.settings import PROJECT_ROOT

SEED = PROJECT_ROOT / "dbt_project" / "seeds" / "product_features.csv"


@dataclass(frozen=True)
class ProductFeature:
    feature_code: str
    feature_column: str
    salesforce_enabled_field: str
    salesforce_enabled_date_field: str


@lru_cache(maxsize=1)
def product_features() -> tuple[ProductFeature, ...]:
    with SEED.open(newline="") as seed:
        return tuple(ProductFeature(**row) for row in csv.DictReader(seed))


def feature_codes() -> tuple[str, ...]:
    return tuple(feature.feature_code for feature in product_features())
