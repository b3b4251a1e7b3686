"""ServiceFusion customers and jobs (REST v1): create only.

- Auth: OAuth2 client credentials, `POST {SERVICEFUSION_BASE_URL}/oauth/access_token`
  (JSON body), fetched lazily at the first write (a dry run or an empty view sends
  nothing). A 401 gets one new token and one retry of the same request.
- Writes: one record a `POST /v1/customers` / `POST /v1/jobs` (the API has no batch
  create and no update: `update` refuses). A 422 is that record's validation error
  (`VALIDATION_ERROR`, every `field: message`), the pass goes on.
- Idempotency, at ~0.5 requests/s, so economically:
  1. once per pass, before the first create, one list of the 50 most recently
     created records (`sort=-created_at`, only `id` and the cross-system key): a
     record an earlier run created and crashed before recording answers
     `already_present(id)` instead of being created twice;
  2. a POST is never resent blindly. The HTTP stack retries 5xx and connection
     failures of every method, so for the POST the session is switched to a single
     attempt (its public `retry` policy). When the outcome is unknown (dropped
     connection, timeout, 5xx: the body was sent and may have been applied), the
     record is looked up by its cross-system id (customers: `filters[name]` then
     `account_number`; jobs: `filters[po_number]`) before it is sent again. A 429 is
     refused before any work (ServiceFusion's limiter), so it is resent without a
     lookup, after a backoff with jitter (the API sends no Retry-After).
  Requests per record: 1 POST; plus 1 list per pass; plus 1 lookup per unknown outcome.
- PW_WO_VERIFY_STRICT (jobs): just before a job is created its PropertyWare work
  order is read again by number (`getWorkOrders(workOrderNumber)`); doubt = not found,
  or a status no longer open. Strict: `rejected("PW_VERIFY_FAILED", reason)`, nothing
  sent; flexible: created, the reason kept on the outcome (`PW_VERIFY_WARNING`, in the
  ledger's `error_message` of the created row) and in `warnings`.
- Transport: `common.http.policy_session(settings, "servicefusion")`: SERVICEFUSION_MAX_RPS,
  the breaker, TLS; `api_requests` counts every request sent (token, lists, lookups,
  retries and the PropertyWare verification reads).
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import random
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

import requests

from common.http import (
    CircuitOpen,
    HttpError,
    PolicySession,
    ServiceUnavailable,
    TlsError,
    policy_session,
)
from common.redaction import redact, register_secret
from common.settings import PROJECT_ROOT, Settings
from reverse_etl.destinations.base import (
    DestinationConfigError,
    Outcome,
    PassAborted,
    Payload,
    already_present,
    ok,
    rejected,
)
from reverse_etl.destinations.propertyware_soap import PropertyWareClient, PropertyWareError

# object -> (API resource, the cross-system key field, the lookup filter)
OBJECTS: dict[str, tuple[str, str, str]] = {
    "customers": ("customers", "account_number", "name"),
    "jobs": ("jobs", "po_number", "po_number"),
}
PER_PAGE = 50  # the API's maximum
# Pages of a lookup by name (a substring filter may match many customers).
LOOKUP_PAGES = 5
# The stack's message of a refused answer: "... HTTP 429 from https://..."
_STATUS = re.compile(r"\bHTTP (\d{3}) from\b")
# Module-level so that tests can record the waits instead of sleeping.
SLEEP: Callable[[float], None] = time.sleep


def _aborted(error: HttpError) -> PassAborted:
    """The pass's end for a transport failure: exit 2 for TLS (configuration), else 3."""
    return PassAborted(redact(f"ServiceFusion: {error}"), exit_code=error.exit_code
                       if isinstance(error, TlsError) else 3)


def _error_text(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}: {(response.text or '')[:200]}"
    if isinstance(body, dict):
        message = body.get("message") or body.get("error_description") or body.get("error")
        return f"HTTP {response.status_code}: {message or body}"
    return f"HTTP {response.status_code}: {body}"


def _validation(response: requests.Response) -> Outcome:
    try:
        body = response.json()
    except ValueError:
        body = None
    errors = body if isinstance(body, list) else [body] if isinstance(body, dict) else []
    fields: list[str] = []
    messages: list[str] = []
    for error in errors:
        if not isinstance(error, dict):
            continue
        field = str(error.get("field") or "")
        message = str(error.get("message") or "")
        if field and field not in fields:
            fields.append(field)
        messages.append(f"{field}: {message}" if field else message)
    text = "; ".join(messages) or _error_text(response)
    return rejected("VALIDATION_ERROR", redact(text), fields)


class ServiceFusionDestination:
    name = "servicefusion"
    # One record a request; the engine's batch only bounds how often it records.
    max_batch = 50

    def __init__(
        self,
        settings: Settings,
        *,
        object_name: str,
        session: PolicySession | None = None,
        propertyware: PropertyWareClient | None = None,
        verify_work_orders: bool | None = None,
    ) -> None:
        if object_name not in OBJECTS:
            raise DestinationConfigError(
                f"servicefusion: unknown object {object_name!r} (known: {', '.join(OBJECTS)})"
            )
        self.object_name = object_name
        self.resource, self.key_field, self.filter_name = OBJECTS[object_name]
        self._settings = settings
        self._session = session or policy_session(settings, "servicefusion")
        self._sleep = SLEEP
        self._token: str | None = None
        self._recent: dict[str, str] | None = None  # key -> id, the pass's pre-flight list
        self.token_requests = 0
        # Jobs: re-read the PropertyWare work order before each create.
        self.verify_work_orders = (
            object_name == "jobs" if verify_work_orders is None else verify_work_orders
        )
        self._propertyware = propertyware
        self.warnings: list[str] = []

    @property
    def api_requests(self) -> int:
        sent = self._session.requests_sent
        if self._propertyware is not None:
            sent += self._propertyware.requests_sent
        return sent

    @property
    def rate_wait_s(self) -> float:
        return self._session.rate_wait_s

    def api_usage(self) -> dict[str, tuple[int, float]]:
        """Requests sent and seconds waited on the rate limit, per API: the jobs'
        PropertyWare re-reads count against PropertyWare, not ServiceFusion."""
        usage = {"servicefusion": (self._session.requests_sent, self._session.rate_wait_s)}
        if self._propertyware is not None:
            usage["propertyware"] = (
                self._propertyware.requests_sent, self._propertyware.session.rate_wait_s
            )
        return usage

    def close(self) -> None:
        self._session.close()
        if self._propertyware is not None:
            self._propertyware.close()

    # -- configuration and auth -------------------------------------------------------

    def check_configuration(self) -> None:
        missing = self._settings.servicefusion.missing()
        if self.verify_work_orders:
            # The jobs' verification reads PropertyWare (PW_WO_VERIFY_STRICT).
            missing += self._settings.propertyware.missing()
        if missing:
            raise DestinationConfigError(
                f"ServiceFusion is not configured: set {', '.join(missing)} "
                "(or run `python -m sandbox up` for the local simulator)"
            )

    def _base(self) -> str:
        return self._settings.servicefusion.base_url.rstrip("/")

    def _authenticate(self) -> None:
        self.check_configuration()
        config = self._settings.servicefusion
        assert config.client_id and config.client_secret
        self.token_requests += 1
        try:
            response = self._session.post(
                f"{self._base()}/oauth/access_token",
                json={
                    "grant_type": "client_credentials",
                    "client_id": config.client_id.get_secret_value(),
                    "client_secret": config.client_secret.get_secret_value(),
                },
                headers={"Accept": "application/json"},
            )
        except TlsError as error:
            raise _aborted(error) from None
        except HttpError as error:
            raise PassAborted(redact(f"ServiceFusion token request failed: {error}")) from None
        if response.status_code != 200:
            if response.status_code in (400, 401, 403):
                raise DestinationConfigError(
                    redact(
                        f"ServiceFusion refused the client credentials "
                        f"({_error_text(response)}); check SERVICEFUSION_CLIENT_ID and "
                        "SERVICEFUSION_CLIENT_SECRET"
                    )
                )
            raise PassAborted(
                redact(f"ServiceFusion token request failed: {_error_text(response)}")
            )
        try:
            token = str(response.json()["access_token"])
        except (ValueError, KeyError, TypeError):
            raise PassAborted("ServiceFusion token response has no access_token") from None
        register_secret(token)
        self._token = token

    def _request(
        self, method: str, path: str, *, single_attempt: bool = False, **kwargs: Any
    ) -> requests.Response:
        """One API call with a valid token (one renewal on 401).

        `single_attempt`: the stack sends it once, whatever happens (a POST whose
        retry must be decided here); its failure is raised as ServiceUnavailable.
        """
        if self._token is None:
            self._authenticate()
        url = f"{self._base()}/v1{path}"
        for renewal in (False, True):
            headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}
            policy = self._session.retry
            if single_attempt:
                self._session.retry = dataclasses.replace(policy, max_attempts=1)
            try:
                response = self._session.request(method, url, headers=headers, **kwargs)
            finally:
                self._session.retry = policy
            if response.status_code != 401:
                return response
            if renewal:
                raise PassAborted(
                    redact(
                        "ServiceFusion rejected a freshly issued token "
                        f"({_error_text(response)})"
                    )
                )
            # Tokens expire (an hour) or are revoked: one fresh token, one retry.
            response.close()
            self._token = None
            self._authenticate()
        raise AssertionError("unreachable")  # pragma: no cover

    def _get(self, path: str, params: dict[str, Any] | None = None) -> requests.Response:
        try:
            response = self._request("GET", path, params=params)
        except HttpError as error:
            raise _aborted(error) from None
        if response.status_code >= 400:
            raise PassAborted(redact(f"ServiceFusion refused GET {path}: {_error_text(response)}"))
        return response

    # -- idempotency --------------------------------------------------------------------

    def _recently_created(self) -> dict[str, str]:
        """The pass's pre-flight list: the 50 newest records, key -> id (one request)."""
        if self._recent is None:
            response = self._get(
                f"/{self.resource}",
                {"sort": "-created_at", "per-page": PER_PAGE, "fields": f"id,{self.key_field}"},
            )
            items = response.json().get("items") or []
            self._recent = {
                str(item[self.key_field]): str(item["id"])
                for item in items
                if item.get(self.key_field) not in (None, "")
            }
        return self._recent

    def _look_up(self, record: Payload) -> str | None:
        """The id of the record holding this payload's key, or None."""
        key = record.get(self.key_field)
        if key in (None, ""):
            return None
        if self.object_name == "customers":
            needle = record.get("customer_name")
            if not needle:
                return None
        else:
            needle = key
        fields = f"id,{self.key_field}"
        for page in range(1, LOOKUP_PAGES + 1):
            response = self._get(
                f"/{self.resource}",
                {
                    f"filters[{self.filter_name}]": needle,
                    "fields": fields,
                    "per-page": PER_PAGE,
                    "page": page,
                },
            )
            body = response.json()
            for item in body.get("items") or []:
                if str(item.get(self.key_field)) == str(key):
                    return str(item["id"])
            meta = body.get("_meta") or {}
            if int(meta.get("currentPage", 1)) >= int(meta.get("pageCount", 1)):
                break
        return None

    def _backoff(self, attempt: int) -> float:
        http = self._settings.http
        if http.backoff_initial_s <= 0:
            return 0.0
        base = min(http.backoff_max_s, http.backoff_initial_s * 2 ** (attempt - 1))
        return base + random.uniform(0, http.backoff_initial_s)  # jitter

    def _create_one(self, record: Payload) -> Outcome:
        key = record.get(self.key_field)
        if key not in (None, ""):
            found = self._recently_created().get(str(key))
            if found is not None:
                return already_present(found)
        note: str | None = None
        if self.verify_work_orders:
            doubt = self._verify(record)
            if doubt is not None:
                if self._settings.workorders.pw_wo_verify_strict:
                    return rejected("PW_VERIFY_FAILED", doubt, [self.key_field])
                note = doubt
                self.warnings.append(f"{self.key_field} {key}: {doubt} (created anyway)")
        outcome = self._post(record)
        if outcome.kind == "ok" and key not in (None, "") and self._recent is not None:
            self._recent[str(key)] = str(outcome.record_id)
        if note is not None and outcome.kind == "ok":
            return Outcome("ok", record_id=outcome.record_id, code="PW_VERIFY_WARNING",
                           message=note)
        return outcome

    def _post(self, record: Payload) -> Outcome:
        attempts = max(1, self._settings.http.max_attempts)
        last = ""
        for attempt in range(1, attempts + 1):
            try:
                response = self._request(
                    "POST", f"/{self.resource}", json=dict(record), single_attempt=True
                )
            except CircuitOpen as error:
                raise _aborted(error) from None
            except ServiceUnavailable as error:
                last = error.detail
                match = _STATUS.search(error.detail)
                throttled = match is not None and match.group(1) == "429"
                if attempt < attempts:
                    self._sleep(self._backoff(attempt))
                if not throttled:
                    # Sent, and perhaps applied: look before sending it again.
                    found = self._look_up(record)
                    if found is not None:
                        return already_present(found)
                continue
            except HttpError as error:
                raise _aborted(error) from None
            return self._answer(response)
        raise PassAborted(
            redact(f"ServiceFusion: gave up creating a {self.object_name} record after "
                   f"{attempts} attempts: {last}")
        )

    def _answer(self, response: requests.Response) -> Outcome:
        if response.status_code in (200, 201):
            try:
                return ok(str(response.json()["id"]))
            except (ValueError, KeyError, TypeError):
                raise PassAborted("ServiceFusion answered a create without an id") from None
        if response.status_code == 422:
            return _validation(response)
        if response.status_code == 400:
            return rejected("BAD_REQUEST", redact(_error_text(response)))
        raise PassAborted(
            redact(f"ServiceFusion refused POST /{self.resource}: {_error_text(response)}")
        )

    # -- PropertyWare verification (jobs) ------------------------------------------------

    def _pw(self) -> PropertyWareClient:
        if self._propertyware is None:
            self._propertyware = PropertyWareClient(self._settings)
        return self._propertyware

    def _open_statuses(self) -> set[str] | None:
        return set(self._settings.workorders.open_statuses() or []) or None

    def _verify(self, record: Payload) -> str | None:
        """Why the job should not be created now (None: no doubt)."""
        number = record.get("po_number")
        if number in (None, ""):
            return "the job has no po_number to verify against PropertyWare"
        try:
            work_order = self._pw().work_orders_by_number([str(number)])[str(number)]
        except PropertyWareError as error:
            return redact(f"work order {number} could not be re-read from PropertyWare: {error}")
        if work_order is None:
            return f"work order {number} was not found in PropertyWare"
        status = str(work_order.get("status") or "").strip().lower()
        open_statuses = self._open_statuses() or seed_open_statuses()
        if status not in open_statuses:
            return (
                f"work order {number} is no longer open in PropertyWare "
                f"(status {work_order.get('status')!r})"
            )
        return None

    # -- the protocol -------------------------------------------------------------------

    def create(self, batch: Sequence[Payload]) -> list[Outcome]:
        return [self._create_one(record) for record in batch]

    def update(self, batch: Sequence[Payload]) -> list[Outcome]:
        if batch:
            raise PassAborted(
                "ServiceFusion has no update API (only list, read and create); "
                "no update sync can be registered for it"
            )
        return []

    def read_records(
        self, record_ids: Sequence[str], fields: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for record_id in record_ids:
            try:
                response = self._request("GET", f"/{self.resource}/{record_id}")
            except HttpError as error:
                raise _aborted(error) from None
            if response.status_code == 404:
                continue
            if response.status_code >= 400:
                raise PassAborted(
                    redact(f"ServiceFusion refused GET /{self.resource}/{record_id}: "
                           f"{_error_text(response)}")
                )
            body = response.json()
            found[str(record_id)] = {name: body.get(name) for name in fields}
        return found

    def health_check(self) -> str:
        response = self._get("/me")
        who = response.json()
        label = who.get("email") or who.get("first_name") or who.get("id") or "?"
        return f"ServiceFusion at {self._base()}: authenticated as {label}, /v1/me readable"


# The open PropertyWare statuses when PW_OPEN_STATUSES is not set: dbt's seed, the
# one place they are declared (read as common/product_features.py reads its seed).
OPEN_STATUSES_SEED = PROJECT_ROOT / "dbt_project" / "seeds" / "pw_open_statuses.csv"


@functools.cache
def seed_open_statuses() -> frozenset[str]:
    with OPEN_STATUSES_SEED.open(newline="") as seed:
        return frozenset(
            row["status"].strip().lower() for row in csv.DictReader(seed) if row.get("status")
        )
