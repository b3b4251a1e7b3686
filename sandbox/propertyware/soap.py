"""SOAP 1.1 RPC/encoded, the Axis 1 way: reading calls, writing returns and faults.

Requests: the operation is the first element of the Body that is not a multiRef
(`id` attribute); its children are the parameters, matched by name. A parameter or
a field may carry `xsi:type` or not (zeep sends none; Axis clients do): either way
its value is converted by the declared type (`dto`), as Axis does. `href="#id"`
references to multiRef elements (what Axis clients send for beans) are followed;
`xsi:nil="true"` is None.

Responses: `<opResponse>` in the service namespace holding `<opReturn>`; a bean is
written once as a `multiRef` child of the Body and referenced by `href`, an array
is a `soapenc:Array` with `soapenc:arrayType="ns2:T[n]"` whose items repeat the
element's name, as Axis 1's ArraySerializer writes them. Simple values carry
`xsi:type`; text is `soapenc:string`, so zeep reads it as an object with the text
in `_value_1`.
"""

from __future__ import annotations

import datetime as dt
import socket
from collections.abc import Callable
from typing import Any

from lxml import etree

from sandbox.propertyware.dto import SERVICE_NS, SIMPLE_KINDS, TYPES_NS, fields
from sandbox.propertyware.messages import SoapFault

ENV_NS = "http://schemas.xmlsoap.org/soap/envelope/"
ENC_NS = "http://schemas.xmlsoap.org/soap/encoding/"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
XSD_NS = "http://www.w3.org/2001/XMLSchema"
AXIS_NS = "http://xml.apache.org/axis/"

# Declared once on the Envelope: the QNames inside attribute values (`xsi:type`,
# `soapenc:arrayType`) resolve through these prefixes wherever zeep moves a multiRef.
NSMAP = {"soapenv": ENV_NS, "xsd": XSD_NS, "xsi": XSI_NS, "soapenc": ENC_NS,
         "ns1": SERVICE_NS, "ns2": TYPES_NS}
_XSI_TYPE = f"{{{XSI_NS}}}type"
_XSI_NIL = f"{{{XSI_NS}}}nil"
_SIMPLE_XSI = {"string": "soapenc:string", "long": "xsd:long", "int": "xsd:int",
               "boolean": "xsd:boolean", "double": "xsd:double", "dateTime": "xsd:dateTime"}

# No DTDs, no entities, no network: the body is untrusted input.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                          huge_tree=False, remove_comments=True)


# -- reading calls --------------------------------------------------------------------


def parse_call(body: bytes) -> tuple[str, str | None, dict[str, etree._Element]]:
    """(operation, its namespace, parameter elements by name) of a SOAP 1.1 request."""
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as error:
        raise SoapFault(f"org.xml.sax.SAXParseException: {error}") from None
    if root.tag != f"{{{ENV_NS}}}Envelope":
        raise SoapFault("org.xml.sax.SAXException: not a SOAP 1.1 Envelope", "Client")
    soap_body = root.find(f"{{{ENV_NS}}}Body")
    if soap_body is None:
        raise SoapFault("org.xml.sax.SAXException: the Envelope has no Body", "Client")
    children = [child for child in soap_body if isinstance(child.tag, str)]
    calls = [child for child in children if child.get("id") is None]
    if not calls:
        raise SoapFault("org.xml.sax.SAXException: the Body holds no operation", "Client")
    call = calls[0]
    qname = etree.QName(call)
    multirefs = {child.get("id"): child for child in children if child.get("id")}
    params = {}
    for child in call:
        if isinstance(child.tag, str):
            params[etree.QName(child).localname] = _deref(child, multirefs)
    return qname.localname, qname.namespace, params


def _deref(element: etree._Element, multirefs: dict[str | None, etree._Element]
           ) -> etree._Element:
    """The element itself, or the multiRef its `href` points to (children resolved too)."""
    seen: set[str] = set()
    while (href := element.get("href")) is not None:
        target = multirefs.get(href.removeprefix("#")) if href.startswith("#") else None
        if target is None or href in seen:
            raise SoapFault(f"org.xml.sax.SAXException: cannot resolve href {href}")
        seen.add(href)
        element = target
    for index, child in enumerate(list(element)):
        if isinstance(child.tag, str) and child.get("href") is not None:
            resolved = _deref(child, multirefs)
            copy = etree.Element(child.tag, attrib=dict(resolved.attrib), nsmap=resolved.nsmap)
            copy.text = resolved.text
            copy.extend(list(resolved))
            element[index] = copy
        elif isinstance(child.tag, str):
            _deref(child, multirefs)
    return element


def decode(element: etree._Element | None, kind: str) -> Any:
    """The Python value of a parameter or field of declared `kind` (see `dto`)."""
    if element is None or element.get(_XSI_NIL) in ("true", "1"):
        return None
    if kind.endswith("[]"):
        item_kind = kind[:-2]
        return [decode(item, item_kind) for item in element if isinstance(item.tag, str)]
    if kind in SIMPLE_KINDS:
        return _simple(element.text or "", kind)
    values: dict[str, Any] = {}
    declared = dict(fields(kind))
    for child in element:
        if not isinstance(child.tag, str):
            continue
        name = etree.QName(child).localname
        if name not in declared:
            # Axis's BeanDeserializer refuses a field the bean does not have.
            raise SoapFault(
                f"org.xml.sax.SAXException: Invalid element in {TYPES_NS}.{kind} - {name}"
            )
        values[name] = decode(child, declared[name])
    return values


def _simple(text: str, kind: str) -> Any:
    text = text.strip() if kind != "string" else text
    try:
        if kind == "string":
            return text
        if kind in ("long", "int"):
            return int(text)
        if kind == "double":
            return float(text)
        if kind == "boolean":
            if text in ("true", "1"):
                return True
            if text in ("false", "0"):
                return False
            raise ValueError(text)
        return parse_datetime(text)
    except ValueError:
        raise SoapFault(
            f"java.lang.NumberFormatException: For input string: \"{text}\""
            if kind in ("long", "int", "double")
            else f"org.xml.sax.SAXException: not a valid {kind}: \"{text}\""
        ) from None


def parse_datetime(text: str) -> dt.datetime:
    """An xsd:dateTime (or date); one without a zone is read as UTC."""
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def format_datetime(value: dt.datetime) -> str:
    """Axis's CalendarSerializer: UTC, milliseconds, `Z`."""
    value = value.astimezone(dt.UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


# -- writing returns -----------------------------------------------------------------

# Gives the fields of a bean that a DTO does not store itself (Building.units,
# Lease.tenants): (type name, stored object) -> {field: value}.
Expander = Callable[[str, dict[str, Any]], dict[str, Any]]


class _Writer:
    def __init__(self, body: etree._Element) -> None:
        self.body = body
        self.next_id = 0

    def multiref(self, type_name: str, value: dict[str, Any]) -> str:
        ref = f"id{self.next_id}"
        self.next_id += 1
        element = etree.SubElement(self.body, "multiRef")
        element.set("id", ref)
        element.set(f"{{{ENC_NS}}}root", "0")
        element.set(f"{{{ENV_NS}}}encodingStyle", ENC_NS)
        element.set(_XSI_TYPE, f"ns2:{type_name}")
        for name, kind in fields(type_name):
            self.value(element, name, kind, value.get(name))
        return ref

    def value(self, parent: etree._Element, name: str, kind: str, value: Any) -> None:
        element = etree.SubElement(parent, name)
        if kind.endswith("[]"):
            self.array(element, name, kind[:-2], value)
        elif kind in SIMPLE_KINDS:
            element.set(_XSI_TYPE, _SIMPLE_XSI[kind])
            if value is None:
                element.set(_XSI_NIL, "true")
            else:
                element.text = _simple_text(value, kind)
        elif value is None:
            element.set(_XSI_TYPE, f"ns2:{kind}")
            element.set(_XSI_NIL, "true")
        else:
            element.set("href", "#" + self.multiref(kind, value))

    def array(self, element: etree._Element, name: str, item_kind: str, items: Any) -> None:
        if items is None:
            element.set(_XSI_TYPE, "soapenc:Array")
            element.set(_XSI_NIL, "true")
            return
        prefix = "xsd" if item_kind in SIMPLE_KINDS and item_kind != "string" else "ns2"
        element.set(f"{{{ENC_NS}}}arrayType", f"{prefix}:{item_kind}[{len(items)}]")
        element.set(_XSI_TYPE, "soapenc:Array")
        for item in items:
            self.value(element, name, item_kind, item)


def _simple_text(value: Any, kind: str) -> str:
    if kind == "boolean":
        return "true" if value else "false"
    if kind in ("long", "int"):
        return str(int(value))
    if kind == "double":
        return repr(float(value))
    if kind == "dateTime":
        moment = value if isinstance(value, dt.datetime) else parse_datetime(str(value))
        return format_datetime(moment)
    return str(value)


def envelope(nsmap: dict[str, str] | None = None) -> tuple[etree._Element, etree._Element]:
    root = etree.Element(f"{{{ENV_NS}}}Envelope", nsmap=nsmap or NSMAP)
    return root, etree.SubElement(root, f"{{{ENV_NS}}}Body")


def serialize(root: etree._Element) -> bytes:
    return bytes(etree.tostring(root, xml_declaration=True, encoding="utf-8"))


def response(operation: str, returns: str, value: Any) -> bytes:
    """The RPC response of `operation`; `value` is already expanded (nested beans inline)."""
    root, body = envelope()
    wrapper = etree.SubElement(body, f"{{{SERVICE_NS}}}{operation}Response")
    wrapper.set(f"{{{ENV_NS}}}encodingStyle", ENC_NS)
    writer = _Writer(body)
    # The multiRefs must follow the response element, so write it first (it is the
    # Body's first child) and let the writer append the beans after it.
    writer.value(wrapper, f"{operation}Return", returns, value)
    return serialize(root)


def fault(error: SoapFault) -> bytes:
    """Axis 1's fault: faultcode, faultstring, and the hostname in the detail."""
    root, body = envelope({"soapenv": ENV_NS, "xsd": XSD_NS, "xsi": XSI_NS})
    element = etree.SubElement(body, f"{{{ENV_NS}}}Fault")
    etree.SubElement(element, "faultcode").text = f"soapenv:{error.code}"
    etree.SubElement(element, "faultstring").text = error.message
    detail = etree.SubElement(element, "detail")
    etree.SubElement(detail, f"{{{AXIS_NS}}}hostname", nsmap={"ns1": AXIS_NS}).text = (
        socket.gethostname()
    )
    return serialize(root)
