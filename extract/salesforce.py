"""dlt source reading `Product_Property__c` back from Salesforce -> `raw_salesforce`.

The warehouse decides what to create and update from what Salesforce holds now,
so the table is replaced on every run and always has every column, even when a
column is null everywhere or Salesforce holds no record at all.

Transport is dlt's REST client on the project's policy session (common.http: one
retry policy, rate limiter and circuit breaker for every client): OAuth2 client
credentials (form body) at `{instance}/services/oauth2/token`, the SOQL query API
and `nextRecordsUrl` paging. An expired session (401) gets one new token and the
request is sent again.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import dlt
from dlt.common.configuration import configspec
from dlt.common.schema.typing import TColumnSchema, TTableSchemaColumns
from dlt.extract import DltResource
from dlt.sources.helpers.rest_client import RESTClient
from dlt.sources.helpers.rest_client.paginators import JSONLinkPaginator
from requests import HTTPError, Response

from common.http import PolicySession
from common.product_features import product_features
from common.settings import Settings
from extract.oauth import ReadableClientCredentials, renewing_hooks

DATASET = "raw_salesforce"
SOBJECT = "Product_Property__c"
TABLE = "product_property"

# Field -> dlt data type; the order is the column order of the landed table. The
# feature fields come from the dbt seed that declares the features.
FIELD_TYPES: dict[str, str] = {
    "Id": "text",
    "Name": "text",
    "Snappt_Property_ID__c": "text",
    "SF_Property_ID__c": "text",
    "Company_Name__c": "text",
    "Street__c": "text",
    "City__c": "text",
    "State__c": "text",
    "Postal_Code__c": "text",
    **{
        field: data_type
        for feature in product_features()
        for field, data_type in (
            (feature.salesforce_enabled_field, "bool"),
            (feature.salesforce_enabled_date_field, "date"),
        )
    },
    "Active_Property_Count__c": "double",
    "Contributing_Property_IDs__c": "text",
    "CreatedDate": "timestamp",
    "LastModifiedDate": "timestamp",
}
FIELDS: tuple[str, ...] = tuple(FIELD_TYPES)


def column_name(field: str) -> str:
    """The warehouse column of a Salesforce field (docs/warehouse.md).

    Custom fields are lower-cased first: dlt's snake_case would otherwise split
    `IDs` into `i_ds`. Standard fields are CamelCase and become snake_case words.
    The result is already normalised, so dlt keeps it as it is.
    """
    if field.endswith("__c"):
        return field.lower().replace("__c", "_c")
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", field).lower()


COLUMNS: TTableSchemaColumns = {
    column_name(field): TColumnSchema(
        name=column_name(field),
        data_type=data_type,  # type: ignore[typeddict-item]
        nullable=field != "Id",
    )
    for field, data_type in FIELD_TYPES.items()
}
SOQL = f"SELECT {', '.join(FIELDS)} FROM {SOBJECT}"


class SalesforceError(HTTPError):
    """Salesforce answered with an error; the message carries its errorCode, no secret.

    An HTTPError so that it carries the response (its status classifies the failure).
    """


class SalesforceAuthError(SalesforceError):
    """The token endpoint refused the client credentials."""


def _error_summary(response: Response) -> str:
    """`401 INVALID_SESSION_ID: Session expired or invalid` from either error shape."""
    detail = ""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, list) and body and isinstance(body[0], dict):
        detail = f"{body[0].get('errorCode', '')}: {body[0].get('message', '')}"
    elif isinstance(body, dict):
        detail = f"{body.get('error', '')}: {body.get('error_description', '')}"
    return f"{response.status_code} {detail}".strip(" :")


@configspec
class SalesforceClientCredentials(ReadableClientCredentials):
    """Salesforce's client credentials (extract/oauth.py)."""

    service: ClassVar[str] = "Salesforce"
    auth_error: ClassVar[type[HTTPError]] = SalesforceAuthError
    summarize: ClassVar[Callable[[Response], str]] = staticmethod(  # type: ignore[assignment]
        _error_summary
    )


def _response_hooks(auth: SalesforceClientCredentials) -> list[Callable[..., Response | None]]:
    return renewing_hooks(auth, SalesforceError, "Salesforce query failed")


@dlt.source(name="salesforce", max_table_nesting=0)
def salesforce(settings: Settings, session: PolicySession) -> DltResource:
    """Product_Property__c as it is in Salesforce now.

    `settings.salesforce` names the instance and the client credentials; `session`
    (common.http.policy_session) carries every HTTP policy: retries, the rate limit
    (SALESFORCE_MAX_RPS), the circuit breaker, TLS and timeouts.
    """
    config = settings.salesforce
    if not (config.instance_url and config.client_id and config.client_secret):
        raise ValueError(f"Salesforce is not configured: set {', '.join(config.missing())}")
    instance = config.instance_url.rstrip("/")
    auth = SalesforceClientCredentials(
        access_token_url=f"{instance}/services/oauth2/token",
        client_id=config.client_id.get_secret_value(),
        client_secret=config.client_secret.get_secret_value(),
        session=session,
    )
    client = RESTClient(
        base_url=f"{instance}/services/data/v{config.api_version}",
        auth=auth,
        paginator=JSONLinkPaginator(next_url_path="nextRecordsUrl"),
        data_selector="records",
        session=session,
    )
    return dlt.resource(
        _product_property, name=TABLE, write_disposition="replace", columns=COLUMNS
    )(client, auth)


def _product_property(client: RESTClient, auth: SalesforceClientCredentials) -> Iterator[Any]:
    rename = {field: column_name(field) for field in FIELDS}
    seen = 0
    try:
        pages = client.paginate(
            "query", params={"q": SOQL}, hooks={"response": _response_hooks(auth)}
        )
        for page in pages:
            rows = [
                {rename[field]: value for field, value in record.items() if field in rename}
                for record in page
            ]
            seen += len(rows)
            if rows:
                yield rows
    finally:
        client.session.close()
    if not seen:
        # dlt 1.31 creates no table for a resource that yields nothing (it does empty
        # an existing one); the marker makes it create the table with every column.
        yield dlt.mark.materialize_table_schema()
