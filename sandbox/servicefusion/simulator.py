"""`ServiceFusionSimulator`: the store, the API and the admin API behind one HTTPS server."""

from __future__ import annotations

from pathlib import Path

from sandbox.https_simulator import HttpsSimulator
from sandbox.servicefusion.admin import Admin
from sandbox.servicefusion.api import ServiceFusionApi
from sandbox.servicefusion.server import _Handler
from sandbox.servicefusion.store import Store


class ServiceFusionSimulator(HttpsSimulator):
    """The simulator as an object: `start()` serves in a background thread."""

    handler = _Handler
    label = "servicefusion"

    def __init__(self, dsn: str, port: int, certs_dir: Path, client_id: str,
                 client_secret: str, host: str = "127.0.0.1", verbose: bool = False) -> None:
        super().__init__(port, certs_dir, host, verbose)
        self.dsn = dsn
        self.store = Store(dsn)
        self.api = ServiceFusionApi(self.store, lambda: self.url, client_id, client_secret)
        self.admin = Admin(self.store, self.api)

    @property
    def api_url(self) -> str:
        return f"{self.url}/v1"
