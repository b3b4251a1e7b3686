"""The destination clients, by the name the registry uses.

A destination module implements `Destination` (base.py); its entry here says
how to build the client of one sync. Modules are imported only when a sync of
theirs runs, so one destination's dependencies never slow another's pass.
"""

from __future__ import annotations

from collections.abc import Callable

from common.settings import Settings
from reverse_etl.destinations.base import Destination, DestinationConfigError
from reverse_etl.registry import Sync


def _salesforce(sync: Sync, settings: Settings) -> Destination:
    from reverse_etl.destinations.salesforce import SalesforceDestination

    if sync.pass_name == "create":
        # The create key is the object's unique external id: a duplicate on it
        # means the record is already there (idempotent creates).
        return SalesforceDestination(
            settings, object_name=sync.object_name, external_id_field=sync.key
        )
    return SalesforceDestination(settings, object_name=sync.object_name)


def _servicefusion(sync: Sync, settings: Settings) -> Destination:
    from reverse_etl.destinations.servicefusion import ServiceFusionDestination

    # Create only; the create key (account_number, po_number) is what a lost or
    # crashed create is looked up by.
    return ServiceFusionDestination(settings, object_name=sync.object_name)


def _propertyware(sync: Sync, settings: Settings) -> Destination:
    from reverse_etl.destinations.propertyware import PropertyWareDestination

    return PropertyWareDestination(settings, object_name=sync.object_name)


def _supabase(sync: Sync, settings: Settings) -> Destination:
    from reverse_etl.destinations.supabase import SupabaseDestination

    return SupabaseDestination(settings, object_name=sync.object_name)


FACTORIES: dict[str, Callable[[Sync, Settings], Destination]] = {
    "salesforce": _salesforce,
    "servicefusion": _servicefusion,
    "propertyware": _propertyware,
    "supabase": _supabase,
}


def build_destination(sync: Sync, settings: Settings, *, require_credentials: bool) -> Destination:
    """The client of one sync; a dry run does not need credentials."""
    try:
        factory = FACTORIES[sync.destination]
    except KeyError:
        raise DestinationConfigError(
            f"{sync.name}: no client for destination {sync.destination!r}"
        ) from None
    destination = factory(sync, settings)
    if require_credentials:
        destination.check_configuration()
    return destination


__all__ = ["FACTORIES", "Destination", "DestinationConfigError", "build_destination"]
