"""zeep on the policy session, with the SOAP-encoding schema supplied offline.

PropertyWare's WSDL (Axis RPC/encoded) imports `http://schemas.xmlsoap.org/soap/
encoding/` without a location, so zeep would download it. The schema ships here
(`schemas/soap-encoding.xsd`) and is put into zeep's cache; nothing is fetched from
the web. The extract and the pusher both build their client with `soap_client`;
each maps the errors to its own messages.
"""

from __future__ import annotations

from importlib import resources

import zeep
import zeep.cache

from common.http import PolicySession

SOAP_ENCODING_URL = "http://schemas.xmlsoap.org/soap/encoding/"


def soap_encoding_schema() -> bytes:
    return resources.files("common").joinpath("schemas/soap-encoding.xsd").read_bytes()


def soap_client(wsdl_url: str, session: PolicySession, timeout_s: float) -> zeep.Client:
    """A zeep client of `wsdl_url` whose every request goes through `session`.

    `timeout_s` bounds the WSDL download; operations get the session's own (connect,
    read) timeouts. Raises what zeep and requests raise (HTTPError, XML errors).
    """
    cache = zeep.cache.InMemoryCache()
    cache.add(SOAP_ENCODING_URL, soap_encoding_schema())
    transport = zeep.Transport(session=session, cache=cache, timeout=timeout_s)
    return zeep.Client(wsdl_url, transport=transport)
