"""Describe resources: the org's object list, an object's basic information, its describe.

`GET /sobjects` (Describe Global), `GET /sobjects/Product_Property__c` (sObject Basic
Information) and `GET /sobjects/Product_Property__c/describe` (sObject Describe), in the
shapes of the REST API reference, for the one object the simulator holds. Only the
attributes a client acts on are given (what an object allows, and per field its type,
length, nillable, createable/updateable, externalId/unique, idLookup); the rest of the
real describe (layouts, picklists, relationships, record types) is absent or empty.
"""

from __future__ import annotations

from typing import Any

from sandbox.salesforce.ids import KEY_PREFIX
from sandbox.salesforce.sobject import FIELDS, OBJECT, SYSTEM_FIELDS, FieldSpec

_SOAP_TYPE = {"id": "tns:ID", "string": "xsd:string", "textarea": "xsd:string",
              "boolean": "xsd:boolean", "date": "xsd:date", "double": "xsd:double",
              "datetime": "xsd:dateTime"}
# Salesforce counts up to three bytes per character of text (UTF-8).
_BYTES_PER_CHAR = 3


def _urls(version: str) -> dict[str, str]:
    base = f"/services/data/{version}/sobjects/{OBJECT}"
    return {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"}


def object_summary(version: str) -> dict[str, Any]:
    """What Describe Global lists per object, and Basic Information's `objectDescribe`."""
    return {
        "name": OBJECT, "label": "Product Property", "labelPlural": "Product Properties",
        "keyPrefix": KEY_PREFIX, "custom": True, "customSetting": False,
        "createable": True, "updateable": True, "deletable": True, "queryable": True,
        "retrieveable": True, "searchable": False, "undeletable": False, "mergeable": False,
        "replicateable": True, "triggerable": True, "layoutable": True, "activateable": False,
        "feedEnabled": False, "mruEnabled": False, "deprecatedAndHidden": False,
        "urls": _urls(version),
    }


def describe_global(version: str) -> dict[str, Any]:
    return {"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": [object_summary(version)]}


def object_info(version: str) -> dict[str, Any]:
    # The real resource also lists the user's recently viewed records; the API user of a
    # sync views none.
    return {"objectDescribe": object_summary(version), "recentItems": []}


def describe_object(version: str) -> dict[str, Any]:
    return {
        **object_summary(version),
        "fields": [_field(spec) for spec in FIELDS],
        "childRelationships": [], "recordTypeInfos": [],
    }


def _field(spec: FieldSpec) -> dict[str, Any]:
    system = spec.name in SYSTEM_FIELDS
    length = spec.length if spec.is_text or spec.kind == "id" else 0
    # In a real org a long text area can be neither filtered, sorted nor grouped on
    # (the simulator's SOQL does not enforce it); every other field here can.
    plain = spec.kind != "textarea"
    return {
        "name": spec.name, "label": spec.label, "type": spec.kind,
        "soapType": _SOAP_TYPE[spec.kind],
        "length": length, "byteLength": length * (_BYTES_PER_CHAR if spec.is_text else 1),
        "precision": spec.length if spec.kind == "double" else 0,
        "scale": 0, "digits": 0,
        # Checkboxes are never null (false instead); system fields are always set.
        "nillable": not (spec.required or spec.kind == "boolean" or system),
        "createable": spec.writable, "updateable": spec.writable,
        "defaultedOnCreate": system or spec.kind == "boolean",
        "defaultValue": False if spec.kind == "boolean" and not system else None,
        "externalId": spec.external_id, "unique": spec.external_id,
        "idLookup": spec.name in ("Id", "Name") or spec.external_id,
        "nameField": spec.name == "Name",
        "caseSensitive": False, "custom": spec.name.endswith("__c"),
        "calculated": False, "autoNumber": False,
        "filterable": plain, "sortable": plain, "groupable": plain and spec.kind != "double",
        "extraTypeInfo": "plaintextarea" if spec.kind == "textarea" else None,
        "picklistValues": [], "referenceTo": [], "relationshipName": None,
    }
