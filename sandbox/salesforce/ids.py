"""Salesforce record Ids of `Product_Property__c`: minting, checksum, normalising."""

from __future__ import annotations

import re

from reverse_etl.destinations.salesforce import id18

KEY_PREFIX = "a0X"
# Id = key prefix + pod + reserved char + 9 base-62 digits (+ 3-char checksum).
ID_POD = "Hp0"
BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def id_checksum(id15: str) -> str:
    """The 3-char suffix that makes an Id case-insensitively unique (Salesforce's rule)."""
    return id18(id15)[15:]


def make_id(number: int) -> str:
    digits = ""
    for _ in range(9):
        number, rest = divmod(number, 62)
        digits = BASE62[rest] + digits
    id15 = KEY_PREFIX + ID_POD + digits
    return id15 + id_checksum(id15)


def normalize_id(value: object) -> str | None:
    """The 18-char form of a well-formed Product_Property__c Id, else None."""
    if not isinstance(value, str) or not re.fullmatch(r"[0-9A-Za-z]{15}(?:[0-9A-Za-z]{3})?", value):
        return None
    id15 = value[:15]
    if len(value) == 18 and value[15:].upper() != id_checksum(id15):
        return None
    if not id15.startswith(KEY_PREFIX):
        return None
    return id15 + id_checksum(id15)
