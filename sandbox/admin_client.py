"""The client side of a simulator's admin API (`/__sandbox/`), shared by all three.

Every simulator answers the same admin contract for what they have in common:
`reset`, the request log and switching faults off; each admin client adds the
calls of its own simulator (fixtures, its fault kinds, its workflows).
"""

from __future__ import annotations

from typing import Any, ClassVar

import requests


class AdminError(RuntimeError):
    """The simulator refused an admin call (bad input) or could not be reached."""


class AdminClient:
    error: ClassVar[type[AdminError]] = AdminError
    # One connection per call, when the simulator's own faults are about reused
    # sockets: the admin client should never be the one to meet them.
    keep_alive: ClassVar[bool] = True

    def __init__(self, base_url: str, ca_bundle: str | None, timeout_s: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.verify: str | bool = ca_bundle or True
        self.timeout_s = timeout_s
        self._session = requests.Session()
        if not self.keep_alive:
            self._session.headers["Connection"] = "close"

    def _call(self, method: str, path: str, body: Any = None,
              params: dict[str, Any] | None = None) -> Any:
        try:
            response = self._session.request(
                method, f"{self.base_url}/__sandbox/{path}", json=body, params=params,
                verify=self.verify, timeout=self.timeout_s,
            )
        except requests.RequestException as error:
            raise self.error(f"simulator unreachable at {self.base_url}: {error}") from None
        finally:
            if not self.keep_alive:
                self._session.close()
        if response.status_code != 200:
            raise self.error(
                f"{method} /__sandbox/{path} -> {response.status_code}: {response.text[:500]}"
            )
        return response.json()

    def reset(self) -> None:
        """Forget everything the simulator holds: state, tokens, the log, faults, config."""
        self._call("POST", "reset")

    def clear_faults(self) -> None:
        self._call("DELETE", "faults")

    def requests(self, since_index: int = 0) -> list[dict[str, Any]]:
        """The request log from entry `since_index` on (admin calls are not logged)."""
        return list(self._call("GET", "requests", params={"since": since_index})["requests"])

    def request_count(self) -> int:
        return int(self._call("GET", "requests/count")["count"])

    def clear_requests(self) -> None:
        self._call("DELETE", "requests")
