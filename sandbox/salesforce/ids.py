"""Salesforce record Ids of `Product_Property__c`: minting, checksum, normalising."""

from __future__ import annotations

import re
import string

KEY_PREFIX = "a0X"
# Id = key prefix + pod + reserved char + 9 base-62 digits (+ 3-char checksum).
ID_POD = "Hp0"
BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# The 32 symbols of the suffix: a chunk's 5-bit value picks one.
SUFFIX_SYMBOLS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def id_checksum(id15: str) -> str:
    """The 3-char suffix that makes an Id case-insensitively unique (Salesforce's rule).

    The simulator's own implementation, written apart from the pusher's: a shared
    helper would agree with a bug in the client and hide it. Each 5-char chunk of the
    15-char Id becomes one symbol: read the chunk right to left as a binary number,
    1 for an uppercase letter and 0 for anything else.
    """
    if len(id15) != 15:
        raise ValueError(f"a 15-character Id is needed, got {len(id15)} characters")
    suffix = []
    for start in (0, 5, 10):
        chunk = id15[start : start + 5]
        binary = "".join("1" if char in string.ascii_uppercase else "0" for char in chunk)
        suffix.append(SUFFIX_SYMBOLS[int(binary[::-1], 2)])
    return "".join(suffix)


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
