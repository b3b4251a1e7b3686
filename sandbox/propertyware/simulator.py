"""`PropertyWareSimulator`: the store, the service and the admin API behind one HTTPS server."""

from __future__ import annotations

from pathlib import Path

from sandbox.https_simulator import HttpsSimulator
from sandbox.propertyware.admin import Admin
from sandbox.propertyware.api import PropertyWareApi
from sandbox.propertyware.server import _Handler
from sandbox.propertyware.store import Store


class PropertyWareSimulator(HttpsSimulator):
    """The simulator as an object: `start()` serves in a background thread."""

    handler = _Handler
    label = "propertyware"

    def __init__(self, dsn: str, port: int, certs_dir: Path, username: str, password: str,
                 host: str = "127.0.0.1", verbose: bool = False) -> None:
        super().__init__(port, certs_dir, host, verbose)
        if not username or not password:
            raise ValueError("the simulator needs the API user's name and password")
        self.dsn = dsn
        self.store = Store(dsn)
        self.api = PropertyWareApi(self.store, lambda: self.url, username, password)
        self.admin = Admin(self.store)
