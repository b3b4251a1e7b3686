"""The shipped files: the PWServices WSDL (its address filled in) and the encoding schema."""

from __future__ import annotations

from functools import cache
from importlib import resources

SERVICE_PATH = "/pw/services/PWServices"
SCHEMA_PATH = "/pw/schemas/soap-encoding.xsd"
# Where zeep looks for the schema the WSDL imports without a schemaLocation.
SOAP_ENCODING_URL = "http://schemas.xmlsoap.org/soap/encoding/"
_LOCATION_PLACEHOLDER = "{{SERVICE_URL}}"


@cache
def _read(name: str) -> str:
    return resources.files("sandbox.propertyware").joinpath(name).read_text(encoding="utf-8")


def wsdl_text(base_url: str) -> str:
    """The WSDL with `soap:address` pointing at this simulator's service path."""
    return _read("PWServices.wsdl").replace(_LOCATION_PLACEHOLDER, base_url + SERVICE_PATH)


def soap_encoding_schema() -> str:
    """The SOAP 1.1 encoding schema (trimmed), for clients that must not fetch it."""
    return _read("soap-encoding.xsd")
