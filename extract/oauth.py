"""OAuth2 client credentials for the dlt REST sources, over the policy session.

dlt's `OAuth2ClientCredentials` posts the token request through the session it is
given (so the request is retried, rate limited and counted like the API calls);
on top of it a source gets two things every REST API needs: a token error that
names the service in one readable line, and one new token when a call answers
401 (a session expired or was revoked mid-run).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from dlt.common import pendulum
from dlt.common.configuration import configspec
from dlt.sources.helpers.rest_client.auth import OAuth2ClientCredentials
from requests import HTTPError, PreparedRequest, Response

from common.redaction import register_secret


@configspec
class ReadableClientCredentials(OAuth2ClientCredentials):
    """Client credentials whose failure is `auth_error(f"{service} token request ...")`.

    Subclasses set `service`, `auth_error` and `summarize` (one line from an error
    response in the service's own shape).
    """

    service: ClassVar[str] = "the service"
    auth_error: ClassVar[type[HTTPError]] = HTTPError
    summarize: ClassVar[Callable[[Response], str]] = staticmethod(  # type: ignore[assignment]
        lambda response: str(response.status_code)
    )

    def obtain_token(self) -> None:
        response = self.session.post(self.access_token_url, **self.build_access_token_request())
        if response.status_code >= 400:
            raise self.auth_error(
                f"{self.service} token request failed: {type(self).summarize(response)}",
                response=response,
            )
        payload = response.json()
        self.parse_native_representation(self.parse_access_token(payload))
        register_secret(self.access_token)
        self.token_expiry = pendulum.now().add(seconds=self.parse_expiration_in_seconds(payload))


def renewing_hooks(
    auth: ReadableClientCredentials, error: type[HTTPError], what: str
) -> list[Callable[..., Response | None]]:
    """Response hooks: one new token on a 401, then `error(f"{what}: ...")` on >= 400."""

    def renew_token_once(response: Response, *args: Any, **kwargs: Any) -> Response | None:
        if response.status_code != 401:
            return None
        auth.obtain_token()
        retry: PreparedRequest = response.request.copy()
        retry.headers["Authorization"] = f"Bearer {auth.access_token}"
        response.close()
        # `connection` is the policy session's adapter: the retry is rate limited,
        # retried and counted, and it skips the session's hooks, so one renewal only.
        renewed: Response = response.connection.send(retry, **kwargs)
        renewed.history.append(response)
        return renewed

    def raise_for_status(response: Response, *args: Any, **kwargs: Any) -> None:
        if response.status_code >= 400:
            raise error(f"{what}: {type(auth).summarize(response)}", response=response)

    return [renew_token_once, raise_for_status]
