"""dlt source reading `Product_Property__c` back from Salesforce -> `raw_salesforce`.

The warehouse decides what to create and update from what Salesforce holds now,
so the table is replaced on every run and always has every column, even when a
column is null everywhere or Salesforce holds no record at all.

Transport is dlt's REST client: OAuth2 client credentials (form body) at
`{instance}/services/oauth2/token`, the SOQL query API, `nextRecordsUrl` paging,
and dlt's retrying session (5xx, 429, dropped connections). An expired session
(401) gets one new token and the request is sent again.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import dlt
from dlt.common import pendulum
from dlt.common.configuration import configspec
from dlt.common.configuration.specs.base_configuration import NotResolved
from dlt.common.schema.typing import TColumnSchema, TTableSchemaColumns
from dlt.extract import DltResource
from dlt.sources.helpers.requests import Client
from dlt.sources.helpers.rest_client import RESTClient
from dlt.sources.helpers.rest_client.auth import OAuth2ClientCredentials
from dlt.sources.helpers.rest_client.paginators import JSONLinkPaginator
from requests import HTTPError, PreparedRequest, Response
from requests.exceptions import ChunkedEncodingError, ConnectionError, SSLError, Timeout

from common.product_features import product_features

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
    """The warehouse column of a Salesforce field (design.md).

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

    A subclass of HTTPError so that dlt's retrying session retries 5xx and 429.
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
class SalesforceClientCredentials(OAuth2ClientCredentials):
    """dlt's client-credentials flow with a readable error instead of a bare 400.

    `verify` goes on the request itself: requests lets an exported
    REQUESTS_CA_BUNDLE override a session's `verify`, and the CA may come from
    `.local/sandbox.env` instead of the environment.
    """

    verify: Annotated[str | bool, NotResolved()] = True

    def obtain_token(self) -> None:
        response = self.session.post(
            self.access_token_url, verify=self.verify, **self.build_access_token_request()
        )
        if response.status_code >= 400:
            raise SalesforceAuthError(
                f"Salesforce token request failed: {_error_summary(response)}",
                response=response,
            )
        payload = response.json()
        self.parse_native_representation(self.parse_access_token(payload))
        self.token_expiry = pendulum.now().add(
            seconds=self.parse_expiration_in_seconds(payload)
        )


def _response_hooks(auth: SalesforceClientCredentials) -> list[Callable[..., Response | None]]:
    def renew_session_once(response: Response, *args: Any, **kwargs: Any) -> Response | None:
        # The renewed response does not pass through the hooks again: one retry only.
        if response.status_code != 401:
            return None
        auth.obtain_token()
        retry: PreparedRequest = response.request.copy()
        retry.headers["Authorization"] = f"Bearer {auth.access_token}"
        response.close()
        renewed: Response = response.connection.send(retry, **kwargs)
        renewed.history.append(response)
        return renewed

    def raise_for_status(response: Response, *args: Any, **kwargs: Any) -> None:
        if response.status_code >= 400:
            raise SalesforceError(
                f"Salesforce query failed: {_error_summary(response)}", response=response
            )

    return [renew_session_once, raise_for_status]


def _transient(response: Response | None, error: BaseException | None) -> bool:
    """Dropped connections and timeouts are worth another attempt; a certificate that
    does not verify is not (requests files SSLError under ConnectionError)."""
    if isinstance(error, SSLError):
        return False
    return isinstance(error, ConnectionError | Timeout | ChunkedEncodingError)


@dlt.source(name="salesforce", max_table_nesting=0)
def salesforce(
    instance_url: str = dlt.config.value,
    client_id: str = dlt.secrets.value,
    client_secret: str = dlt.secrets.value,
    api_version: str = "62.0",
    ca_bundle: str | None = None,
    timeout_s: float = 90.0,
    max_attempts: int = 6,
    max_rps: float = 5.0,
) -> DltResource:
    """Product_Property__c as it is in Salesforce now.

    `ca_bundle` is the extra CA file (REQUESTS_CA_BUNDLE); verification stays on
    either way. `max_rps` spaces the page requests (SALESFORCE_MAX_RPS).
    """
    instance = instance_url.rstrip("/")
    verify: str | bool = ca_bundle or True
    session = Client(
        request_timeout=timeout_s,
        request_max_attempts=max_attempts,
        raise_for_status=False,
        exceptions=(),
        retry_condition=_transient,
        session_attrs={"verify": verify},
    ).session
    auth = SalesforceClientCredentials(
        access_token_url=f"{instance}/services/oauth2/token",
        client_id=client_id,
        client_secret=client_secret,
        session=session,
        verify=verify,
    )
    client = RESTClient(
        base_url=f"{instance}/services/data/v{api_version}",
        auth=auth,
        paginator=JSONLinkPaginator(next_url_path="nextRecordsUrl"),
        data_selector="records",
        session=session,
    )
    return dlt.resource(
        _product_property, name=TABLE, write_disposition="replace", columns=COLUMNS
    )(client, auth, verify, 1.0 / max_rps)


def _product_property(
    client: RESTClient,
    auth: SalesforceClientCredentials,
    verify: str | bool,
    min_interval_s: float,
) -> Iterator[Any]:
    rename = {field: column_name(field) for field in FIELDS}
    seen = 0
    last_request = 0.0
    pages = client.paginate(
        "query", params={"q": SOQL}, hooks={"response": _response_hooks(auth)}, verify=verify
    )
    while True:
        wait = last_request + min_interval_s - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        last_request = time.monotonic()
        page = next(pages, None)
        if page is None:
            break
        rows = [
            {rename[field]: value for field, value in record.items() if field in rename}
            for record in page
        ]
        seen += len(rows)
        if rows:
            yield rows
    if not seen:
        # dlt 1.31 creates no table for a resource that yields nothing (it does empty
        # an existing one); the marker makes it create the table with every column.
        yield dlt.mark.materialize_table_schema()
