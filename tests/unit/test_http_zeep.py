"""zeep on the policy session: `zeep.Transport(session=policy_session(...))`.

A local HTTPS server (the sandbox's test CA) serves a one-operation WSDL and answers
the SOAP call. The WSDL download and the call both go through the same policies as
the pusher and the dlt sources: retries, the rate limit, `Connection: close`, TLS.
Backoff waits are recorded and the limiter runs on a fake clock, so nothing sleeps.
"""

from __future__ import annotations

import http.server
import re
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyrate_limiter.limiter
import pytest
import zeep
from pyrate_limiter import AbstractClock

from common.http import PolicySession, TlsError, policy_session
from common.settings import Settings
from sandbox.certs import CertPaths, ensure_certificates

NAMESPACE = "urn:propsync:test"

WSDL = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://schemas.xmlsoap.org/wsdl/"
    xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
    xmlns:xsd="http://www.w3.org/2001/XMLSchema"
    xmlns:tns="{ns}" targetNamespace="{ns}" name="Echo">
  <types>
    <xsd:schema targetNamespace="{ns}" elementFormDefault="qualified">
      <xsd:element name="Ping">
        <xsd:complexType><xsd:sequence>
          <xsd:element name="name" type="xsd:string"/>
        </xsd:sequence></xsd:complexType>
      </xsd:element>
      <xsd:element name="PingResponse">
        <xsd:complexType><xsd:sequence>
          <xsd:element name="greeting" type="xsd:string"/>
        </xsd:sequence></xsd:complexType>
      </xsd:element>
    </xsd:schema>
  </types>
  <message name="PingInput"><part name="parameters" element="tns:Ping"/></message>
  <message name="PingOutput"><part name="parameters" element="tns:PingResponse"/></message>
  <portType name="EchoPortType">
    <operation name="Ping">
      <input message="tns:PingInput"/>
      <output message="tns:PingOutput"/>
    </operation>
  </portType>
  <binding name="EchoBinding" type="tns:EchoPortType">
    <soap:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>
    <operation name="Ping">
      <soap:operation soapAction="{ns}/Ping"/>
      <input><soap:body use="literal"/></input>
      <output><soap:body use="literal"/></output>
    </operation>
  </binding>
  <service name="EchoService">
    <port name="EchoPort" binding="tns:EchoBinding">
      <soap:address location="{url}/soap"/>
    </port>
  </service>
</definitions>
"""

RESPONSE = """<?xml version="1.0" encoding="UTF-8"?>
<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/">
  <soap-env:Body>
    <tns:PingResponse xmlns:tns="{ns}"><tns:greeting>hello {name}</tns:greeting></tns:PingResponse>
  </soap-env:Body>
</soap-env:Envelope>
"""


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class SoapServer:
    """Serves the WSDL on GET and answers POSTs with the next scripted status."""

    certs: CertPaths
    post_statuses: list[int] = field(default_factory=lambda: [200])
    seen: list[Seen] = field(default_factory=list)

    def __post_init__(self) -> None:
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args: Any) -> None:
                pass

            def _reply(self, status: int, content_type: str, text: str) -> None:
                payload = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:
                server.seen.append(Seen("GET", self.path, dict(self.headers), b""))
                self._reply(200, "text/xml", WSDL.format(ns=NAMESPACE, url=server.url))

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                server.seen.append(Seen("POST", self.path, dict(self.headers), body))
                statuses = server.post_statuses
                status = statuses.pop(0) if len(statuses) > 1 else statuses[0]
                if status != 200:
                    self._reply(status, "text/plain", "service temporarily unavailable")
                    return
                match = re.search(rb"<(?:\w+:)?name>([^<]*)</", body)
                name = match.group(1).decode() if match else "?"
                self._reply(200, "text/xml", RESPONSE.format(ns=NAMESPACE, name=name))

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(self.certs.cert), str(self.certs.key))
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    @property
    def wsdl_url(self) -> str:
        return f"{self.url}/service?wsdl"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(autouse=True)
def no_developer_sandbox(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Settings read `<SANDBOX_DIR>/sandbox.env`; a developer's must not leak in."""
    monkeypatch.setenv("SANDBOX_DIR", str(tmp_path / "no-sandbox"))


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> CertPaths:
    return ensure_certificates(tmp_path_factory.mktemp("zeep-certs"))


@pytest.fixture
def server(certs: CertPaths) -> Iterator[SoapServer]:
    soap = SoapServer(certs)
    yield soap
    soap.stop()


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


class FakeClock(AbstractClock):
    def __init__(self) -> None:
        self.ms = 1_000_000

    def now(self) -> int:
        return self.ms


def settings_for(ca: Path | None, max_rps: float = 1000.0) -> Settings:
    return Settings.from_env(
        {
            "requests_ca_bundle": str(ca) if ca else None,
            "http_max_attempts": 4,
            "http_breaker_fail_max": 5,
            "propertyware_max_rps": max_rps,
            # a unit test: the limiter stays in the process (no warehouse)
            "http_rate_limit_shared": False,
        }
    )


def soap_client(session: PolicySession, server: SoapServer) -> zeep.Client:
    return zeep.Client(server.wsdl_url, transport=zeep.Transport(session=session))


def test_wsdl_and_call_go_through_the_policies_and_a_503_is_retried(
    server: SoapServer, certs: CertPaths
) -> None:
    server.post_statuses = [503, 200]
    sleeps = Sleeps()
    session = policy_session(settings_for(certs.ca), "propertyware", sleep=sleeps)
    with session:
        client = soap_client(session, server)
        assert session.requests_sent == 1  # the WSDL
        assert client.service.Ping(name="zeep") == "hello zeep"
    posts = [seen for seen in server.seen if seen.method == "POST"]
    assert len(posts) == 2 and posts[0].body == posts[1].body
    assert session.requests_sent == 3 and session.retries == 1
    assert len(sleeps) == 1  # one backoff wait, recorded instead of slept
    assert posts[1].headers.get("SOAPAction") == f'"{NAMESPACE}/Ping"'


def test_connection_close_when_keep_alive_is_off(server: SoapServer, certs: CertPaths) -> None:
    session = policy_session(settings_for(certs.ca), "propertyware", keep_alive=False)
    with session:
        assert soap_client(session, server).service.Ping(name="x") == "hello x"
    assert [seen.method for seen in server.seen] == ["GET", "POST"]
    assert all(seen.headers.get("Connection") == "close" for seen in server.seen)


def test_the_rate_limit_spaces_wsdl_and_calls(
    server: SoapServer, certs: CertPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    blocked: list[float] = []

    def fake_sleep(seconds: float) -> None:
        blocked.append(seconds)
        clock.ms += round(seconds * 1000)

    monkeypatch.setattr(pyrate_limiter.limiter, "sleep", fake_sleep)
    session = policy_session(
        settings_for(certs.ca, max_rps=0.5), "propertyware", sleep=Sleeps(), clock=clock
    )
    with session:
        client = soap_client(session, server)
        client.service.Ping(name="a")
        client.service.Ping(name="b")
    # One request every two seconds: the WSDL at once, each call waits its turn.
    assert session.requests_sent == 3
    assert len(blocked) == 2 and all(1.9 <= wait <= 2.1 for wait in blocked)


def test_an_untrusted_certificate_stops_the_wsdl_download(server: SoapServer) -> None:
    sleeps = Sleeps()
    session = policy_session(settings_for(None), "propertyware", sleep=sleeps)
    with session, pytest.raises(TlsError, match="REQUESTS_CA_BUNDLE"):
        soap_client(session, server)
    assert session.requests_sent == 1 and sleeps == [] and server.seen == []
