"""The key comparison's uuid keys: compared as 16 bytes, handed on as raw's text."""

from __future__ import annotations

import pyarrow as pa

from extract.dispatch import _uuid_bytes, _uuid_text


def test_uuid_bytes_become_their_canonical_text() -> None:
    keys = pa.array([bytes(range(16)), bytes.fromhex("ffeeddccbbaa99887766554433221100")])
    assert _uuid_text(keys).to_pylist() == [
        "00010203-0405-0607-0809-0a0b0c0d0e0f",
        "ffeeddcc-bbaa-9988-7766-554433221100",
    ]


def test_a_slice_converts_only_its_own_keys() -> None:
    keys = pa.array([bytes([n] * 16) for n in range(4)]).slice(1, 2)
    assert _uuid_text(keys).to_pylist() == [
        "01010101-0101-0101-0101-010101010101",
        "02020202-0202-0202-0202-020202020202",
    ]


def test_no_keys_give_an_empty_text_array() -> None:
    converted = _uuid_text(pa.array([], pa.binary()))
    assert converted.type == pa.string()
    assert len(converted) == 0


def test_raw_text_keys_become_their_16_bytes() -> None:
    # a last byte of zero: a bytes type that strips trailing NULs would lose it
    keys = pa.array([
        "00010203-0405-0607-0809-0a0b0c0d0e00",
        "FFEEDDCC-BBAA-9988-7766-554433221100",
    ])
    assert _uuid_bytes(keys).to_pylist() == [
        bytes(range(15)) + b"\x00",
        bytes.fromhex("ffeeddccbbaa99887766554433221100"),
    ]


def test_other_spellings_of_a_uuid_are_parsed_too() -> None:
    keys = pa.array(["{00010203-0405-0607-0809-0a0b0c0d0e0f}", "000102030405060708090a0b0c0d0e0f"])
    assert _uuid_bytes(keys).to_pylist() == [bytes(range(16))] * 2
