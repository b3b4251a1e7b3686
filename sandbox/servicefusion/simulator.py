"""`ServiceFusionSimulator`: the store, the API and the admin API behind one HTTPS server."""

from __future__ import annotations

import ssl
import threading
from pathlib import Path

from sandbox.certs import ensure_certificates
from sandbox.servicefusion.admin import Admin
from sandbox.servicefusion.api import ServiceFusionApi
from sandbox.servicefusion.server import HttpsServer
from sandbox.servicefusion.store import Store


class ServiceFusionSimulator:
    """The simulator as an object: `start()` serves in a background thread."""

    def __init__(self, dsn: str, port: int, certs_dir: Path, client_id: str,
                 client_secret: str, host: str = "127.0.0.1", verbose: bool = False) -> None:
        if host not in ("127.0.0.1", "localhost"):
            raise ValueError("the simulator listens on the loopback interface only")
        self.dsn, self.port, self.host = dsn, port, host
        self.certs_dir = Path(certs_dir)
        self.verbose = verbose
        self.store = Store(dsn)
        self.api = ServiceFusionApi(self.store, lambda: self.url, client_id, client_secret)
        self.admin = Admin(self.store, self.api)
        self._server: HttpsServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The root; the API is under `/v1`, the token endpoint `/oauth/access_token`."""
        return f"https://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/v1"

    def start(self) -> None:
        if self._server is not None:
            return
        certs = ensure_certificates(self.certs_dir)
        self.store.ensure_schema()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(certs.cert, certs.key)
        self._server = HttpsServer((self.host, self.port), context, self)
        self.port = self._server.server_address[1]  # port 0 means "any free port"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
            name=f"servicefusion-sim-{self.port}", daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.store.close()

    def __enter__(self) -> ServiceFusionSimulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
