"""The key comparison's uuid keys: compared as 16 bytes, handed on as raw's text; and
the scan's test of which keys of a batch are wanted (`_among`)."""

from __future__ import annotations

import pyarrow as pa

from extract.dispatch import _among, _uuid_bytes, _uuid_text


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


def test_among_finds_the_wanted_keys_of_a_batch_in_any_order() -> None:
    # wanted keys below, inside and above the batch's range, unsorted, one repeated
    wanted = pa.array([90, 3, 41, 7, 1, 41, 15, 100], pa.int64())
    batch = pa.array([15, 2, 41, 1, 16, 7], pa.int64())  # its least and greatest wanted
    assert _among(batch, wanted).to_pylist() == [True, False, True, True, False, True]


def test_among_compares_text_keys_as_text() -> None:
    wanted = pa.array(["b-2", "a-1", "c-3", "z-9"])
    batch = pa.array(["c-3", "b-1", "a-1"])
    assert _among(batch, wanted).to_pylist() == [True, False, True]


def test_among_with_no_wanted_key_or_no_key_keeps_nothing() -> None:
    assert _among(pa.array([1, 2], pa.int64()), pa.array([], pa.int64())).to_pylist() == [
        False, False]
    assert _among(pa.array([], pa.int64()), pa.array([1], pa.int64())).to_pylist() == []
