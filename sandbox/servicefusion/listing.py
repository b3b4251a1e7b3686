"""List parameters: `page`, `per-page`, `sort`, `fields`, `expand`, `filters[...]`.

Paging follows the framework behind the real API (Yii2 `Pagination`): `per-page` is
clamped to 1..50 (default 10), and a `page` past the end answers the LAST page (with
`currentPage` = `pageCount`), not an empty one, so a client must stop on
`_meta.currentPage >= _meta.pageCount`, never on an empty page.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sandbox.servicefusion.messages import ApiError, Request, ValidationFailed

DEFAULT_PER_PAGE = 10
MAX_PER_PAGE = 50
_FILTER_KEY = re.compile(r"^filters\[([^\[\]]+)\](?:\[([^\[\]]+)\])?$")
DATE_OPERATORS = ("gte", "lte", "gt", "lt")


@dataclass(frozen=True)
class Filter:
    """One `filters[...]` parameter: field, operator ("eq" when none) and value."""

    field: str
    operator: str
    value: str


@dataclass(frozen=True)
class FilterSpec:
    """A filterable field: `date` ones take gte/lte/gt/lt and RFC 3339 values."""

    name: str
    is_date: bool
    match: Callable[[dict[str, Any], Any, str], bool]  # (row, parsed value, operator)


def php_int(text: str | None, default: int) -> int:
    """PHP's `(int)` of a query value, as the real API reads `page` and `per-page`."""
    if text is None:
        return default
    match = re.match(r"^\s*([+-]?\d+)", text)
    return int(match.group(1)) if match else 0


def csv_param(request: Request, name: str) -> list[str]:
    return [part.strip() for part in (request.param(name) or "").split(",") if part.strip()]


def fields_param(request: Request) -> set[str] | None:
    names = csv_param(request, "fields")
    return set(names) if names else None


def expand_param(request: Request, expandable: tuple[str, ...]) -> set[str]:
    # Unknown names are ignored, as the framework does; `contacts.phones` alone implies
    # `contacts` by way of render_customer.
    return {name for name in csv_param(request, "expand") if name in expandable}


def parse_rfc3339(value: str) -> dt.datetime | None:
    text = value.strip()
    if not re.match(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$",
                    text):
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        return None


def filters_param(request: Request, specs: dict[str, FilterSpec]) -> list[tuple[FilterSpec, Any,
                                                                                 str]]:
    """Parsed filters, or 422 naming the bad one (an unknown field, operator or date)."""
    parsed: list[tuple[FilterSpec, Any, str]] = []
    errors: list[dict[str, str]] = []
    for key, values in request.query.items():
        if not key.startswith("filters"):
            continue
        match = _FILTER_KEY.match(key)
        if match is None:
            errors.append({"field": "filters", "message": f"Malformed filter \"{key}\"."})
            continue
        name, operator = match.group(1), match.group(2) or "eq"
        spec = specs.get(name)
        if spec is None:
            errors.append({"field": "filters", "message": f"Unknown filter attribute \"{name}\"."})
            continue
        value = values[-1]
        if spec.is_date:
            if operator not in (*DATE_OPERATORS, "eq"):
                errors.append({"field": name, "message": f"Operator \"{operator}\" requires"
                               " one of gte, lte, gt, lt."})
                continue
            moment = parse_rfc3339(value)
            if moment is None:
                errors.append({"field": name,
                               "message": f"\"{value}\" is not an RFC 3339 date-time."})
                continue
            parsed.append((spec, moment, operator))
        elif operator != "eq":
            errors.append({"field": name, "message": f"Operator \"{operator}\" is not"
                           f" supported for \"{name}\"."})
        else:
            parsed.append((spec, value, operator))
    if errors:
        raise ValidationFailed(errors)
    return parsed


def compare_moment(moment: dt.datetime, bound: dt.datetime, operator: str) -> bool:
    if operator == "gte":
        return moment >= bound
    if operator == "lte":
        return moment <= bound
    if operator == "gt":
        return moment > bound
    if operator == "lt":
        return moment < bound
    return moment == bound


def sort_rows(rows: list[dict[str, Any]], request: Request,
              keys: dict[str, Callable[[dict[str, Any]], Any]]) -> list[dict[str, Any]]:
    """`sort=a,-b`; rows come in id order otherwise. Nulls sort first, as in MySQL."""
    ordered = list(rows)
    names = csv_param(request, "sort")
    for name in reversed(names):  # stable sorts, last key first
        descending = name.startswith("-")
        key = keys.get(name.lstrip("-"))
        if key is None:
            raise ApiError(400, f"Unknown sort attribute \"{name.lstrip('-')}\".")

        def sort_key(row: dict[str, Any], key: Callable[[dict[str, Any]], Any] = key
                     ) -> tuple[int, Any]:
            value = key(row)
            if isinstance(value, str):
                value = value.lower()  # MySQL's default collation ignores case
            return (0, "") if value is None else (1, value)

        ordered.sort(key=sort_key, reverse=descending)
    return ordered


def page_of(request: Request, rows: list[Any]) -> tuple[list[Any], dict[str, int]]:
    """The requested page and the `_meta` block."""
    per_page = min(max(php_int(request.param("per-page"), DEFAULT_PER_PAGE), 1), MAX_PER_PAGE)
    total = len(rows)
    page_count = (total + per_page - 1) // per_page
    page = php_int(request.param("page"), 1)
    page = min(max(page, 1), max(page_count, 1))
    items = rows[(page - 1) * per_page : page * per_page]
    return items, {"totalCount": total, "pageCount": page_count, "currentPage": page,
                   "perPage": per_page}


def pagination_headers(meta: dict[str, int]) -> dict[str, str]:
    return {
        "X-Pagination-Total-Count": str(meta["totalCount"]),
        "X-Pagination-Page-Count": str(meta["pageCount"]),
        "X-Pagination-Current-Page": str(meta["currentPage"]),
        "X-Pagination-Per-Page": str(meta["perPage"]),
    }
