"""The Destination protocol: what the pass engine needs from a destination.

A destination knows its wire protocol and its error shapes, nothing about which
records to send (the sync views decide) or how a pass is recorded (the engine and
the ledger do). It receives a batch of payloads (the view's non-control columns) and
returns exactly one `Outcome` per record, in the order of the batch.

A destination may also offer `plan_pass(pass_name, records, batch_size) -> int`:
the engine calls it once before a pass with the number of records it will send and
the batch size it would use, and cuts batches of the size returned (Salesforce
switches to Bulk API 2.0 jobs above `SALESFORCE_BULK_THRESHOLD`). Optional, so it is
not part of the protocol below.

Failures that concern the whole pass, not one record, are raised as `PassAborted`
(service unreachable, retries exhausted, circuit open, API limit spent: exit 3) or
`DestinationConfigError` (missing or rejected credentials: exit 2).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

Payload = Mapping[str, Any]
OutcomeKind = Literal["ok", "already_present", "rejected"]


@dataclass(frozen=True)
class Outcome:
    """What happened to one record of a batch."""

    kind: OutcomeKind
    record_id: str | None = None
    code: str | None = None
    message: str | None = None
    fields: tuple[str, ...] = ()


def ok(record_id: str | None) -> Outcome:
    return Outcome("ok", record_id=record_id)


def already_present(record_id: str | None = None) -> Outcome:
    """A create found the record there already (its id when the destination says it)."""
    return Outcome("already_present", record_id=record_id)


def rejected(code: str, message: str | None, fields: Sequence[str] = ()) -> Outcome:
    return Outcome("rejected", code=code, message=message, fields=tuple(fields))


class PassAborted(RuntimeError):
    """The pass cannot go on; the message is one clear, secret-free line."""

    exit_code = 3

    def __init__(self, message: str, exit_code: int = 3) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class DestinationConfigError(PassAborted):
    """Configuration missing or refused by the destination (bad credentials)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, exit_code=2)


@runtime_checkable
class Destination(Protocol):
    name: str
    object_name: str
    max_batch: int

    @property
    def api_requests(self) -> int:
        """HTTP requests sent so far, retries and token requests included."""
        ...

    def create(self, batch: Sequence[Payload]) -> list[Outcome]:
        """Create every record; one outcome per record, in order. Never updates."""
        ...

    def update(self, batch: Sequence[Payload]) -> list[Outcome]:
        """Update every record by the id its payload carries; never creates."""
        ...

    def read_records(
        self, record_ids: Sequence[str], fields: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        """The current values of `fields` of these records, read from the destination
        itself (a revert must not trust an older read-back); a record that no longer
        exists is absent from the answer."""
        ...

    def check_configuration(self) -> None:
        """Raise DestinationConfigError naming every missing variable; send nothing."""
        ...

    def health_check(self) -> str:
        """Authenticate and make one cheap read; return a line to print or raise."""
        ...

    def close(self) -> None: ...
