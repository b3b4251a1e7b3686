"""dlt source reading ServiceFusion (REST v1) -> `raw_servicefusion`.

Resources (primary key `id` everywhere):

- `customers` (replace), read with `expand=contacts,locations,contacts.phones,
  contacts.emails`; the nested lists land as dlt child tables `customers__contacts`,
  `customers__contacts__phones`, `customers__contacts__emails`, `customers__locations`.
  The API has no updated-since filter on customers, so every run reads them all and
  the snapshot replaces the last one (with its child tables, so no orphan rows).
  Nested items carry no ids of their own; each one gets the `customer_id` of its
  customer, so dbt joins on the business key instead of dlt's `_dlt_parent_id`.
- `jobs` (merge on `id`), incremental on `updated_at` through
  `filters[updated_date][gte]`: the first run reads every job, later ones only those
  changed since the newest `updated_at` seen. The API's timestamps are whole seconds,
  so `gte` re-reads the jobs of that second; dlt's incremental drops those it has
  already loaded (by primary key), so an unchanged source loads no job rows.
- `job_statuses`, `job_categories`, `techs` (replace): small reference lists.

Transport as in extract.salesforce: dlt's REST client on the project's policy session
(common.http: retries with backoff (429s too, the API sends no Retry-After), the rate
limit SERVICEFUSION_MAX_RPS, the circuit breaker, TLS and timeouts), OAuth2 client
credentials at `{base}/oauth/access_token` (token cached for its `expires_in`), and
one new token when the API answers 401 (a token expired or revoked mid-run).
Lists page with `page`/`per-page` and stop on `_meta.currentPage >= pageCount`: a page
past the end answers the last page again, so an empty page never comes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import dlt
from dlt.common import pendulum
from dlt.common.configuration import configspec
from dlt.common.schema.typing import TColumnSchema, TTableSchemaColumns
from dlt.extract import DltResource
from dlt.sources.helpers.rest_client import RESTClient
from dlt.sources.helpers.rest_client.paginators import BasePaginator
from requests import HTTPError, Request, Response

from common.http import PolicySession
from common.settings import Settings
from extract.oauth import ReadableClientCredentials, renewing_hooks

DATASET = "raw_servicefusion"
PER_PAGE = 50  # the API's maximum
CUSTOMER_EXPAND = "contacts,locations,contacts.phones,contacts.emails"
NESTED_TABLES = (
    "customers__contacts",
    "customers__contacts__phones",
    "customers__contacts__emails",
    "customers__locations",
)
TABLES: tuple[str, ...] = (
    "customers", *NESTED_TABLES, "jobs", "job_statuses", "job_categories", "techs",
)


def _typed(data_type: str, *names: str) -> TTableSchemaColumns:
    return {
        name: TColumnSchema(name=name, data_type=data_type)  # type: ignore[typeddict-item]
        for name in names
    }


# Typed explicitly: dlt creates no column for a field that is null in every record
# of a load, and the dbt models must not depend on which fields the data happens to
# fill. These are the optional fields of the v1 API (sandbox/servicefusion docstring).
CUSTOMER_COLUMNS = {
    **_typed("timestamp", "created_at", "updated_at"),
    **_typed("date", "last_serviced_date"),
    **_typed(
        "text", "parent_customer", "account_number", "payment_type", "payment_terms",
        "referral_source", "agent", "industry", "private_notes", "public_notes",
    ),
}
CONTACT_COLUMNS = _typed("text", "prefix", "suffix", "contact_type", "job_title", "department")
PHONE_COLUMNS = _typed("text", "ext", "type")
EMAIL_COLUMNS = _typed("text", "class", "types_accepted")
LOCATION_COLUMNS = {
    **_typed(
        "text", "street_2", "city", "state_prov", "postal_code", "country", "nickname",
        "gate_instructions", "location_type",
    ),
    **_typed("double", "latitude", "longitude"),
}
JOB_COLUMNS = {
    **_typed("timestamp", "created_at", "updated_at", "closed_at"),
    **_typed("date", "start_date", "end_date"),
    **_typed(
        "text", "tech_notes", "source", "contact_first_name", "contact_last_name",
        "street_1", "street_2", "city", "state_prov", "postal_code", "location_name",
        "gate_instructions", "po_number", "called_in_by", "payment_type", "project",
        "phase", "priority", "sub_status", "parent_customer", "description", "category",
    ),
    **_typed("bigint", "duration"),
}
TECH_COLUMNS = _typed("text", "color_code", "phone_1", "phone_2", "department", "title")


class ServiceFusionError(HTTPError):
    """ServiceFusion answered with an error; the message has its status and text, no secret.

    An HTTPError so that it carries the response (its status classifies the failure).
    """


class ServiceFusionAuthError(ServiceFusionError):
    """The token endpoint refused the client credentials."""


def _error_summary(response: Response) -> str:
    """`401 Unauthorized: Your request was made ...` from any of the API's error shapes."""
    try:
        body = response.json()
    except ValueError:
        body = None
    detail = ""
    if isinstance(body, dict):
        if "error" in body:  # the token endpoint: {error, error_description}
            detail = f"{body.get('error', '')}: {body.get('error_description', '')}"
        else:  # the API: {code, name, message}
            detail = f"{body.get('name', '')}: {body.get('message', '')}"
    elif isinstance(body, list):  # 422: [{field, message}]
        detail = "; ".join(
            f"{item.get('field')}: {item.get('message')}" for item in body if isinstance(item, dict)
        )
    else:  # an HTML error page (404) says nothing useful beyond its status
        detail = response.reason or ""
    return f"{response.status_code} {detail}".strip(" :")


class MetaPaginator(BasePaginator):
    """`page`/`per-page` paging that follows the body's `_meta` block.

    The next page is `currentPage + 1` until `currentPage >= pageCount` (an empty list
    has `pageCount` 0). The API clamps a page past the end to the last page, so a
    paginator that waited for an empty page would loop forever.
    """

    def __init__(self, per_page: int = PER_PAGE) -> None:
        super().__init__()
        self.per_page = per_page
        self.page = 1

    def init_request(self, request: Request) -> None:
        self.page = 1
        self._has_next_page = True
        self.update_request(request)

    def update_state(self, response: Response, data: list[Any] | None = None) -> None:
        meta = response.json().get("_meta")
        if not isinstance(meta, dict) or "pageCount" not in meta:
            raise ServiceFusionError(
                f"ServiceFusion list without _meta from {response.url.split('?', 1)[0]}",
                response=response,
            )
        current = int(meta.get("currentPage", self.page))
        if current >= int(meta["pageCount"]):
            self._has_next_page = False
        else:
            self.page = current + 1

    def update_request(self, request: Request) -> None:
        if request.params is None:
            request.params = {}
        request.params["page"] = self.page
        request.params["per-page"] = self.per_page


@configspec
class ServiceFusionClientCredentials(ReadableClientCredentials):
    """ServiceFusion's client credentials (extract/oauth.py)."""

    service: ClassVar[str] = "ServiceFusion"
    auth_error: ClassVar[type[HTTPError]] = ServiceFusionAuthError
    summarize: ClassVar[Callable[[Response], str]] = staticmethod(  # type: ignore[assignment]
        _error_summary
    )


def _response_hooks(auth: ServiceFusionClientCredentials) -> list[Callable[..., Response | None]]:
    return renewing_hooks(auth, ServiceFusionError, "ServiceFusion request failed")


def _pages(
    client: RESTClient, auth: ServiceFusionClientCredentials, path: str,
    params: dict[str, Any] | None = None,
) -> Iterator[list[dict[str, Any]]]:
    try:
        yield from client.paginate(
            path, params=params or {}, hooks={"response": _response_hooks(auth)}
        )
    finally:
        # Back to a clean pool; requests opens new connections if another resource
        # of the same run still uses the session.
        client.session.close()


def _utc_filter(moment: Any) -> str:
    """An RFC 3339 filter value in UTC, whole seconds (as the API's own timestamps)."""
    return pendulum.instance(moment).in_timezone("UTC").strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _with_customer_id(customer: dict[str, Any]) -> dict[str, Any]:
    customer_id = customer.get("id")
    for contact in customer.get("contacts") or []:
        contact["customer_id"] = customer_id
        for nested in (*(contact.get("phones") or []), *(contact.get("emails") or [])):
            nested["customer_id"] = customer_id
    for location in customer.get("locations") or []:
        location["customer_id"] = customer_id
    return customer


@dlt.source(name="servicefusion", max_table_nesting=2)
def servicefusion(settings: Settings, session: PolicySession) -> list[DltResource]:
    """Customers (with contacts and locations), jobs and the reference lists.

    `settings.servicefusion` names the base URL and the client credentials; `session`
    (common.http.policy_session) carries every HTTP policy.
    """
    config = settings.servicefusion
    if not (config.client_id and config.client_secret):
        raise ValueError(f"ServiceFusion is not configured: set {', '.join(config.missing())}")
    base = config.base_url.rstrip("/")
    auth = ServiceFusionClientCredentials(
        access_token_url=f"{base}/oauth/access_token",
        client_id=config.client_id.get_secret_value(),
        client_secret=config.client_secret.get_secret_value(),
        session=session,
    )
    client = RESTClient(
        base_url=f"{base}/v1",
        auth=auth,
        paginator=MetaPaginator(),
        data_selector="items",
        session=session,
    )

    @dlt.resource(
        name="customers", primary_key="id", write_disposition="replace",
        columns=CUSTOMER_COLUMNS,
        nested_hints={
            "contacts": {"columns": CONTACT_COLUMNS},
            ("contacts", "phones"): {"columns": PHONE_COLUMNS},
            ("contacts", "emails"): {"columns": EMAIL_COLUMNS},
            "locations": {"columns": LOCATION_COLUMNS},
        },
    )
    def customers() -> Iterator[list[dict[str, Any]]]:
        # `sort=id`: a stable order, so a customer created mid-run lands on a later
        # page instead of shifting one already read onto the next page.
        params = {"expand": CUSTOMER_EXPAND, "sort": "id"}
        for page in _pages(client, auth, "customers", params):
            yield [_with_customer_id(customer) for customer in page]

    @dlt.resource(
        name="jobs", primary_key="id", write_disposition="merge", columns=JOB_COLUMNS,
    )
    def jobs(
        updated_at: dlt.sources.incremental[Any] = dlt.sources.incremental("updated_at"),
    ) -> Iterator[list[dict[str, Any]]]:
        # Id order, not updated_at order: a job changed mid-run keeps its place (it
        # still matches the filter), so no page shifts and no job is skipped.
        params: dict[str, Any] = {"sort": "id"}
        if updated_at.last_value is not None:
            params["filters[updated_date][gte]"] = _utc_filter(updated_at.last_value)
        for page in _pages(client, auth, "jobs", params):
            for job in page:
                # A datetime cursor compares by moment, whatever offset the account's
                # time zone gives the text.
                if isinstance(job.get("updated_at"), str):
                    job["updated_at"] = pendulum.parse(job["updated_at"])
            yield page

    def reference(
        name: str, path: str, columns: TTableSchemaColumns | None = None
    ) -> DltResource:
        def rows() -> Iterator[list[dict[str, Any]]]:
            yield from _pages(client, auth, path)

        return dlt.resource(
            rows, name=name, primary_key="id", write_disposition="replace", columns=columns
        )

    return [
        customers(),
        jobs(),
        reference("job_statuses", "job-statuses"),
        reference("job_categories", "job-categories"),
        reference("techs", "techs", TECH_COLUMNS),
    ]
