"""Salesforce `Product_Property__c` through sObject Collections (docs/warehouse.md).

- Auth: OAuth2 client credentials at `{instance}/services/oauth2/token` (form body).
  The token is fetched lazily, at the first write, so a dry run or an empty view
  sends nothing at all. A 401 `INVALID_SESSION_ID` gets one new token and one retry
  of the same batch.
- Writes: `POST` (create) / `PATCH` (update by `id`) on `/composite/sobjects`, at
  most 200 records, `allOrNone: false`, so one bad record does not sink its batch.
- Idempotency of creates: a create whose response was lost is retried by the HTTP
  layer; the records that did get created then answer `DUPLICATE_VALUE` on the
  unique external id, which is mapped to `already_present`: never a second record,
  never an overwrite.
- Large passes: a pass with more records than `SALESFORCE_BULK_THRESHOLD` (the engine
  says how many, `plan_pass`) sends each batch as one Bulk API 2.0 ingest job
  (`insert` / `update`, module `salesforce_bulk`) instead of Collections requests;
  its per-record results come back in the Collections shape and are classified by
  the same code below, so the ledger cannot tell the two paths apart.
- `403 REQUEST_LIMIT_EXCEEDED` (the daily API allocation is spent) aborts the pass:
  every further request would fail the same way and eat into tomorrow's budget.
- Transport: `common.http.policy_session(settings, "salesforce")`, the stack every
  client shares (retries, SALESFORCE_MAX_RPS, circuit breaker, TLS); it counts every
  request it sends, token requests and retries included (`api_requests`).
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

import requests

from common.http import PolicySession, policy_session
from common.redaction import redact, register_secret
from common.settings import Settings
from reverse_etl.destinations.base import (
    DestinationConfigError,
    Outcome,
    PassAborted,
    Payload,
    already_present,
    ok,
    rejected,
)
from reverse_etl.destinations.salesforce_bulk import BulkJobs, server_time

OBJECT_NAME = "Product_Property__c"
EXTERNAL_ID_FIELD = "Snappt_Property_ID__c"
MAX_BATCH = 200  # the sObject Collections limit
# Ids per read query: 200 ids of 18 characters keep the URL far below its limits.
READ_CHUNK = 200

# "duplicate value found: Snappt_Property_ID__c duplicates value on record with id: a0B..."
_DUPLICATE_ID = re.compile(r"\bid:\s*([a-zA-Z0-9]{15,18})\b")


def id18(record_id: str) -> str:
    """The 18-character form of a 15-character Salesforce Id (Salesforce's own rule).

    DUPLICATE_VALUE messages name the other record by its 15-character Id, while the
    API and the read-back use 18 characters; the ledger keeps one form.
    """
    if len(record_id) != 15:
        return record_id
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
    suffix = ""
    for chunk in range(3):
        bits = 0
        for position, char in enumerate(record_id[chunk * 5 : chunk * 5 + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << position
        suffix += alphabet[bits]
    return record_id + suffix


def _soql_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def _errors_of(response: requests.Response) -> list[dict[str, Any]]:
    """Salesforce's error list `[{errorCode, message, fields}]`, whatever the shape."""
    try:
        body = response.json()
    except ValueError:
        return [{"errorCode": f"HTTP_{response.status_code}", "message": response.text[:300]}]
    if isinstance(body, dict):
        body = [body]
    if not isinstance(body, list):
        return []
    return [item for item in body if isinstance(item, dict)]


def _first_error(response: requests.Response) -> tuple[str, str]:
    errors = _errors_of(response)
    if not errors:
        return f"HTTP_{response.status_code}", ""
    first = errors[0]
    code = str(first.get("errorCode") or first.get("error") or f"HTTP_{response.status_code}")
    message = str(first.get("message") or first.get("error_description") or "")
    return code, message


class SalesforceDestination:
    name = "salesforce"
    max_batch = MAX_BATCH

    def __init__(
        self,
        settings: Settings,
        *,
        object_name: str = OBJECT_NAME,
        external_id_field: str = EXTERNAL_ID_FIELD,
        session: PolicySession | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.object_name = object_name
        self.external_id_field = external_id_field
        self._settings = settings
        self._session = session or policy_session(settings, "salesforce")
        self._token: str | None = None
        self._api_root: str | None = None
        self.token_requests = 0
        self._user_id: str | None = None
        self._last_answer: dt.datetime | None = None
        self.bulk = False  # this pass goes through Bulk API 2.0 (`plan_pass`)
        self.job_records = settings.salesforce.bulk_job_records  # records a Bulk job
        # The waits of the Bulk path itself (polling a job, a refused job create);
        # the HTTP stack's own waits are its session's.
        self.sleep = sleep
        self._jobs = BulkJobs(
            self._call, self._session, settings, object_name,
            last_answer=lambda: self._last_answer, user_id=lambda: self._user_id,
            sleep=lambda seconds: self.sleep(seconds),
        )

    def plan_pass(self, pass_name: str, records: int, batch_size: int) -> int:
        """Bulk API 2.0 for a pass above the threshold: a job per fetch of the view."""
        self.bulk = records > self._settings.salesforce.bulk_threshold
        return self.job_records if self.bulk else batch_size

    @property
    def bulk_jobs(self) -> list[str]:
        """The ids of the Bulk API 2.0 jobs this client made or found again."""
        return list(self._jobs.known_jobs)

    @property
    def api_requests(self) -> int:
        return self._session.requests_sent

    @property
    def rate_wait_s(self) -> float:
        return self._session.rate_wait_s

    def api_usage(self) -> dict[str, tuple[int, float]]:
        """Requests sent and seconds waited on the rate limit, per API."""
        return {"salesforce": (self._session.requests_sent, self._session.rate_wait_s)}

    def close(self) -> None:
        self._session.close()

    # -- configuration and auth -------------------------------------------------------

    def check_configuration(self) -> None:
        """Raise DestinationConfigError naming every missing variable."""
        settings = self._settings
        missing = [
            variable
            for variable, value in (
                ("SALESFORCE_INSTANCE_URL", settings.salesforce.instance_url),
                ("SALESFORCE_CLIENT_ID", settings.salesforce.client_id),
                ("SALESFORCE_CLIENT_SECRET", settings.salesforce.client_secret),
            )
            if not value or (hasattr(value, "get_secret_value") and not value.get_secret_value())
        ]
        if missing:
            raise DestinationConfigError(
                f"Salesforce is not configured: set {', '.join(missing)} "
                "(or run `python -m sandbox up` for the local simulator)"
            )

    def _authenticate(self) -> None:
        self.check_configuration()
        settings = self._settings
        assert settings.salesforce.client_id and settings.salesforce.client_secret
        instance = str(settings.salesforce.instance_url)
        self.token_requests += 1
        response = self._session.post(
            f"{instance}/services/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": settings.salesforce.client_id.get_secret_value(),
                "client_secret": settings.salesforce.client_secret.get_secret_value(),
            },
            headers={"Accept": "application/json"},
        )
        if response.status_code != 200:
            code, message = _first_error(response)
            if response.status_code in (400, 401, 403):
                raise DestinationConfigError(
                    redact(
                        f"Salesforce refused the client credentials ({code}: {message}); "
                        "check SALESFORCE_CLIENT_ID and SALESFORCE_CLIENT_SECRET"
                    )
                )
            raise PassAborted(
                redact(
                    f"Salesforce token request failed: HTTP {response.status_code} "
                    f"{code}: {message}"
                )
            )
        try:
            body = response.json()
            token = str(body["access_token"])
        except (ValueError, KeyError, TypeError):
            raise PassAborted("Salesforce token response has no access_token") from None
        register_secret(token)
        self._token = token
        self._last_answer = server_time(response) or self._last_answer
        # The identity URL ends with the user's Id: Bulk jobs name their creator by it.
        identity = str(body.get("id") or "").rstrip("/")
        self._user_id = identity.rsplit("/", 1)[-1] or None if identity else None
        # The configured instance, not the token's `instance_url`: the token is issued
        # by that same My Domain host (docs/configuration.md), and the read-back (extract/)
        # calls the configured URL too, so both sides always talk to one server.
        self._api_root = instance.rstrip("/")

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}

    def _api(self, path: str) -> str:
        return f"{self._api_root}/services/data/v{self._settings.salesforce.api_version}{path}"

    def _call(
        self,
        method: str,
        path: str,
        *,
        accept: tuple[int, ...] = (),
        extra_headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        """One API call with a valid session: a rejected session is renewed once.

        An answer of a status in `accept` is returned for the caller to read; any
        other error aborts the pass."""
        if self._token is None:
            self._authenticate()
        response = self._send(method, path, extra_headers, **kwargs)
        if response.status_code == 401:
            # Sessions expire (timeout, revoked, password change); one fresh token is
            # the documented remedy, a second 401 means something else is wrong.
            self._token = None
            self._authenticate()
            response = self._send(method, path, extra_headers, **kwargs)
            if response.status_code == 401:
                code, message = _first_error(response)
                raise PassAborted(
                    redact(f"Salesforce rejected a freshly issued session ({code}: {message})")
                )
        if response.status_code == 403:
            code, message = _first_error(response)
            if code == "REQUEST_LIMIT_EXCEEDED":
                raise PassAborted(
                    redact(
                        f"Salesforce API request limit exceeded (REQUEST_LIMIT_EXCEEDED: "
                        f"{message}); pass stopped, the rest is sent by the next run"
                    )
                )
        if response.status_code >= 400 and response.status_code not in accept:
            code, message = _first_error(response)
            raise PassAborted(
                redact(
                    f"Salesforce refused {method} {path}: HTTP {response.status_code} "
                    f"{code}: {message}"
                )
            )
        return response

    def _send(self, method: str, path: str, extra_headers: dict[str, str] | None,
              **kwargs: Any) -> requests.Response:
        headers = {**self._headers(), **(extra_headers or {})}
        response = self._session.request(method, self._api(path), headers=headers, **kwargs)
        # The server's clock: how a Bulk job whose create answer was lost is told
        # from older ones (salesforce_bulk).
        self._last_answer = server_time(response) or self._last_answer
        return response

    # -- the protocol ---------------------------------------------------------------

    def create(self, batch: Sequence[Payload]) -> list[Outcome]:
        if self.bulk:
            results = self._jobs.run("insert", [dict(r) for r in batch], self.external_id_field)
            return [self._create_outcome(result) for result in results]
        records = [{"attributes": {"type": self.object_name}, **record} for record in batch]
        results = self._collection("POST", records)
        return [self._create_outcome(result) for result in results]

    def update(self, batch: Sequence[Payload]) -> list[Outcome]:
        records = []
        for record in batch:
            fields = {key: value for key, value in record.items() if key.lower() != "id"}
            record_id = record.get("Id", record.get("id"))
            if not record_id:
                raise PassAborted("an update row has no Id column: the update view is malformed")
            records.append({"attributes": {"type": self.object_name}, "id": record_id, **fields})
        if self.bulk:
            rows = [{"Id": r["id"], **{k: v for k, v in r.items() if k not in ("attributes", "id")}}
                    for r in records]
            results = self._jobs.run("update", rows, "Id")
        else:
            results = self._collection("PATCH", records)
        return [
            self._update_outcome(result, record)
            for result, record in zip(results, records, strict=True)
        ]

    def read_records(
        self, record_ids: Sequence[str], fields: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        """Current values by SOQL `Id IN (...)`, a few hundred ids a query."""
        wanted = [name for name in fields if name.lower() != "id"]
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(record_ids), READ_CHUNK):
            chunk = record_ids[start : start + READ_CHUNK]
            ids = ", ".join("'" + _soql_escape(record_id) + "'" for record_id in chunk)
            soql = f"SELECT Id, {', '.join(wanted)} FROM {self.object_name} WHERE Id IN ({ids})"
            response = self._call("GET", "/query", params={"q": soql})
            while True:
                body = response.json()
                for record in body.get("records", []):
                    values = {name: record.get(name) for name in wanted}
                    found[id18(str(record["Id"]))] = values
                following = body.get("nextRecordsUrl")
                if body.get("done", True) or not following:
                    break
                # nextRecordsUrl starts with /services/data/vXX.X; _call adds that prefix.
                prefix = f"/v{self._settings.salesforce.api_version}"
                response = self._call("GET", following.split(prefix, 1)[-1])
        return found

    def health_check(self) -> str:
        response = self._call(
            # COUNT() answers with totalSize alone: one cheap read of every record.
            "GET", "/query", params={"q": f"SELECT COUNT() FROM {self.object_name}"}
        )
        total = response.json().get("totalSize", "?")
        return (
            f"Salesforce at {self._api_root}: authenticated, "
            f"{self.object_name} readable ({total} records)"
        )

    # -- helpers --------------------------------------------------------------------

    def _collection(self, method: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not records:
            return []
        if len(records) > self.max_batch:
            raise ValueError(f"at most {self.max_batch} records a request, got {len(records)}")
        response = self._call(
            method, "/composite/sobjects", json={"allOrNone": False, "records": records}
        )
        try:
            results = response.json()
        except ValueError:
            raise PassAborted("Salesforce answered a write with a body that is not JSON") from None
        if not isinstance(results, list) or len(results) != len(records):
            raise PassAborted(
                f"Salesforce answered {len(records)} records with "
                f"{len(results) if isinstance(results, list) else 'no'} results"
            )
        return results

    @staticmethod
    def _error(result: dict[str, Any]) -> tuple[str, str, tuple[str, ...]]:
        errors = result.get("errors") or [{}]
        codes = [str(error.get("statusCode") or "UNKNOWN") for error in errors]
        messages = [str(error.get("message") or "") for error in errors]
        fields: list[str] = []
        for error in errors:
            for name in error.get("fields") or []:
                if name not in fields:
                    fields.append(str(name))
        # The first code classifies; every message is kept for the audit log.
        return codes[0], "; ".join(message for message in messages if message), tuple(fields)

    def _create_outcome(self, result: dict[str, Any]) -> Outcome:
        if result.get("success"):
            return ok(result.get("id"))
        code, message, fields = self._error(result)
        if code == "DUPLICATE_VALUE" and self._names_external_id(message, fields):
            match = _DUPLICATE_ID.search(message)
            return already_present(id18(match.group(1)) if match else None)
        return rejected(code, message, fields)

    def _names_external_id(self, message: str, fields: tuple[str, ...]) -> bool:
        # Real Salesforce often leaves `fields` empty for duplicates and names the
        # field in the message, sometimes as "<unknown>"; the external id is this
        # object's only unique field, so an unnamed duplicate is on it.
        if fields:
            return self.external_id_field in fields
        return True

    def _update_outcome(self, result: dict[str, Any], record: dict[str, Any]) -> Outcome:
        if result.get("success"):
            return ok(result.get("id") or record["id"])
        code, message, fields = self._error(result)
        return rejected(code, message, fields)
