"""The destinations the pusher can write to, and which sync view feeds each pass.

A new destination is one module implementing `Destination` plus an entry here.
"""

from __future__ import annotations

from common.settings import Settings
from reverse_etl.destinations.base import Destination, DestinationConfigError

# (destination, pass) -> the dbt sync view that is the complete answer for that pass.
SYNC_VIEWS: dict[tuple[str, str], str] = {
    ("salesforce", "create"): "sync.properties_to_create",
    ("salesforce", "update"): "sync.properties_to_update",
}

AVAILABLE = ("salesforce",)
# Named in contracts.md, built in later slices.
LATER = ("servicefusion", "propertyware", "supabase")


class UnknownDestination(ValueError):
    """Bad usage (exit 2): the message says what exists."""

    exit_code = 2


def check_destination(name: str) -> None:
    if name in AVAILABLE:
        return
    if name in LATER:
        raise UnknownDestination(
            f"destination {name!r} is not available yet (a later slice); "
            f"available: {', '.join(AVAILABLE)}"
        )
    raise UnknownDestination(f"unknown destination {name!r}; available: {', '.join(AVAILABLE)}")


def sync_view(name: str, pass_name: str) -> str:
    check_destination(name)
    return SYNC_VIEWS[(name, pass_name)]


def build_destination(name: str, settings: Settings, *, require_credentials: bool) -> Destination:
    """The destination's client; a dry run does not need credentials."""
    check_destination(name)
    from reverse_etl.destinations.salesforce import SalesforceDestination

    destination = SalesforceDestination(settings)
    if require_credentials:
        destination.check_configuration()
    return destination


__all__ = [
    "AVAILABLE",
    "LATER",
    "SYNC_VIEWS",
    "Destination",
    "DestinationConfigError",
    "UnknownDestination",
    "build_destination",
    "check_destination",
    "sync_view",
]
