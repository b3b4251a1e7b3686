"""Salesforce's 15 -> 18 character Id rule, pinned with Ids published outside this project.

Two implementations are checked: the pusher's `id18` and the simulator's own
`id_checksum`, written apart so that neither can vouch for the other. Both are held
to Id pairs that someone else published, each worked out by hand below.

The rule: split the 15-character Id into three 5-character chunks; in each, an
uppercase letter at position p (0 = leftmost) sets bit p; the chunk's value 0..31
picks a symbol of "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345".
"""

from __future__ import annotations

import pytest

from reverse_etl.destinations.salesforce import id18
from sandbox.salesforce.ids import id_checksum, make_id, normalize_id

# Real record Ids as published, 15 characters -> 18 characters.
# The hand check after each: the three chunks, the uppercase letters with their bit
# values, the chunk values, the symbols.
PUBLISHED_REAL_IDS = [
    # An Account's Id in its Classic URL and in its Lightning URL:
    # https://levelupsalesforce.com/convert-salesforce-15-to-18
    # 0010i | 00000 | 46cD3 -> none, none, D@3=8 -> 0, 0, 8 -> A A I
    ("0010i0000046cD3", "0010i0000046cD3AAI"),
    # Salesforce's own conversion (Apex `Id eighteen = fifteen;` then System.debug):
    # https://salesforceduo.com/developer-resources/code-samples/converting-15-character-salesforce-record-id-to-18-characters
    # 0013k | 00002 | crTPa -> none, none, T@2=4 + P@3=8 -> 0, 0, 12 -> A A M
    ("0013k00002crTPa", "0013k00002crTPaAAM"),
    # The salesforce_id Ruby gem's README: https://ruby-toolbox.com/projects/salesforce_id
    # 003G0 | 00001 | SUbc4 -> G@3=8, none, S@0=1 + U@1=2 -> 8, 0, 3 -> I A D
    ("003G000001SUbc4", "003G000001SUbc4IAD"),
    # https://theblogreaders.com/what-is-the-difference-between-a-15-digit-and-a-18-digit-salesforce-id/
    # 00190 | 00000 | B98de -> none, none, B@0=1 -> 0, 0, 1 -> A A B
    ("0019000000B98de", "0019000000B98deAAB"),
    # The salesforce_id_formatter gem's README:
    # https://www.rubydoc.info/gems/salesforce_id_formatter/1.2.0
    # 70130 | 00000 | 1tcyI -> none, none, I@4=16 -> 0, 0, 16 -> A A Q
    ("70130000001tcyI", "70130000001tcyIAAQ"),
    # The salesforce_id_converter package's README:
    # https://pypi.org/project/salesforce_id_converter/0.1.2
    # 00558 | 00000 | 1N0Ke -> none, none, N@1=2 + K@3=8 -> 0, 0, 10 -> A A K
    ("00558000001N0Ke", "00558000001N0KeAAK"),
    # A doctest in https://gist.github.com/marz619/674d36bb90f1cb91a72486741c6d692c
    # a0BA0 | 00000 | 0L2ZC -> B@2=4 + A@3=8, none, L@1=2 + Z@3=8 + C@4=16 -> 12, 0, 26
    # -> M A 0 (26 is the first digit symbol)
    ("a0BA0000000L2ZC", "a0BA0000000L2ZCMA0"),
    # A Salesforce developer-forum thread's own Id, in its URL
    # https://developer.salesforce.com/forums?id=906F00000008s3XIAQ (quoted at
    # https://beta.certifiedondemand.com/salesforce-com-certified-administrator/data-management/record-ids/);
    # its 15-character form is the first 15 characters (Salesforce: truncate the last 3).
    # 906F0 | 00000 | 08s3X -> F@3=8, none, X@4=16 -> 8, 0, 16 -> I A Q
    ("906F00000008s3X", "906F00000008s3XIAQ"),
]

# Published worked examples of the rule that are not real records; they reach the
# middle chunk and the digit symbols, which the real Ids above barely do. From the
# doctests of https://gist.github.com/marz619/674d36bb90f1cb91a72486741c6d692c
PUBLISHED_RULE_EXAMPLES = [
    # AaaAA | BbbBB | CccCC -> bits 0, 3, 4 in each: 1+8+16 = 25 -> Z Z Z
    ("AaaAABbbBBCccCC", "AaaAABbbBBCccCCZZZ"),
    # every letter uppercase: 31 in each chunk -> 5 5 5
    ("ABCDEFGHIJKLMNO", "ABCDEFGHIJKLMNO555"),
    # AAaAA -> 1+2+8+16 = 27 -> 1; bbBBB -> 4+8+16 = 28 -> 2; CcCCC -> 1+4+8+16 = 29 -> 3
    ("AAaAAbbBBBCcCCC", "AAaAAbbBBBCcCCC123"),
]

ALL_PAIRS = PUBLISHED_REAL_IDS + PUBLISHED_RULE_EXAMPLES


def simulator_id18(id15: str) -> str:
    return id15 + id_checksum(id15)


def test_the_pairs_are_what_they_claim_to_be() -> None:
    for id15, id18_ in ALL_PAIRS:
        assert len(id15) == 15 and len(id18_) == 18 and id18_.startswith(id15)
    # Mixed case, so the case-sensitivity the suffix encodes is exercised.
    mixed = [p for p, _ in PUBLISHED_REAL_IDS if p != p.lower() and p != p.upper()]
    assert len(mixed) >= 3


@pytest.mark.parametrize(("id15", "expected"), ALL_PAIRS)
def test_pusher_id18_matches_published_ids(id15: str, expected: str) -> None:
    assert id18(id15) == expected


@pytest.mark.parametrize(("id15", "expected"), ALL_PAIRS)
def test_simulator_checksum_matches_published_ids(id15: str, expected: str) -> None:
    assert simulator_id18(id15) == expected


@pytest.mark.parametrize(("id15", "expected"), PUBLISHED_REAL_IDS)
def test_pusher_id18_leaves_an_18_character_id_unchanged(id15: str, expected: str) -> None:
    assert id18(expected) == expected


def test_the_suffix_tells_apart_ids_that_differ_only_in_case() -> None:
    upper, lower = "a0XHp0000000ABC", "a0XHp0000000abc"
    for convert in (id18, simulator_id18):
        assert convert(upper).lower() != convert(lower).lower()


def test_simulator_checksum_needs_15_characters() -> None:
    with pytest.raises(ValueError):
        id_checksum("0010i0000046cD3AAI")


def test_simulator_ids_carry_a_correct_checksum() -> None:
    for number in (0, 1, 61, 62, 62**5 + 12345, 62**9 - 1):
        record_id = make_id(number)
        assert len(record_id) == 18
        assert id18(record_id[:15]) == record_id


def test_simulator_normalizes_ids() -> None:
    record_id = make_id(987654321)
    assert normalize_id(record_id) == record_id  # an 18-character Id passes unchanged
    assert normalize_id(record_id[:15]) == record_id
    assert normalize_id(record_id[:15] + record_id[15:].lower()) == record_id
    wrong_suffix = record_id[:15] + ("B" if record_id[15] != "B" else "C") + record_id[16:]
    assert normalize_id(wrong_suffix) is None
    assert normalize_id("0010i0000046cD3AAI") is None  # a real Id, but not this object's
    assert normalize_id("a0X" + "!" * 12) is None
    assert normalize_id(None) is None
