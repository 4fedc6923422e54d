"""PostgreSQL binary values (as binary COPY rows carry them) decoded one at a time into the
Python values psycopg's binary loaders return: for the columns :mod:`copyrows` cannot write
vectorised in a batch, which the BINARY2 column encoders then write as they would the
tuple path's values. Must not import Flask or psycopg.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from functools import partial
from struct import Struct
from typing import Any

import numpy as np

BOOL = 16
TEXTS = frozenset({25, 1043, 1042, 19})  # text, varchar, bpchar, name
DATE, TIMESTAMP, TIMESTAMPTZ = 1082, 1114, 1184
# Scalar type OID: (VOTable datatype, bytes); only the natural pairs, which need no conversion.
SCALARS = {21: ("short", 2), 23: ("int", 4), 20: ("long", 8), 700: ("float", 4), 701: ("double", 8)}
# Array type OID: its element type OID.
ARRAYS = {1005: 21, 1007: 23, 1016: 20, 1021: 700, 1022: 701}

_INT32 = Struct(">i")
_PG_EPOCH = datetime(2000, 1, 1)
_PG_EPOCH_ORDINAL = _PG_EPOCH.toordinal()
_INFINITY = {2**31 - 1, -(2**31), 2**63 - 1, -(2**63)}  # PostgreSQL's ±infinity


def decoder(oid: int) -> Callable[[bytes], Any]:
    """The decoder of one value of type ``oid`` (one :mod:`copyrows` supports)."""
    if oid == BOOL:
        return lambda data: data != b"\x00"
    if oid in TEXTS:
        return partial(bytes.decode, encoding="utf-8")
    if oid == DATE:
        return _date
    if oid in (TIMESTAMP, TIMESTAMPTZ):
        return partial(_datetime, oid == TIMESTAMPTZ)
    if oid in SCALARS:
        return _number_decoder(oid)
    return partial(_array_value, _number_decoder(ARRAYS[oid]))


def _number_decoder(oid: int) -> Callable[[bytes], Any]:
    if oid in (700, 701):
        unpack = Struct(">f" if oid == 700 else ">d").unpack
        return lambda data: unpack(data)[0]
    return partial(int.from_bytes, byteorder="big", signed=True)


def _date(data: bytes) -> date:
    days = _INT32.unpack(data)[0]
    if days in _INFINITY:
        raise ValueError("an infinite date has no DALI timestamp")
    try:
        return date.fromordinal(days + _PG_EPOCH_ORDINAL)
    except (ValueError, OverflowError):
        raise ValueError("a date outside years 1..9999 has no DALI timestamp") from None


def _datetime(aware: bool, data: bytes) -> datetime:
    micros = int.from_bytes(data, "big", signed=True)
    if micros in _INFINITY:
        raise ValueError("an infinite timestamp has no DALI timestamp")
    try:
        value = _PG_EPOCH + timedelta(microseconds=micros)
    except OverflowError:
        raise ValueError("a timestamp outside years 1..9999 has no DALI timestamp") from None
    return value.replace(tzinfo=UTC) if aware else value


def _array_value(element: Callable[[bytes], Any], data: bytes) -> list[Any]:
    """An array as psycopg loads it: nested lists, one level per dimension, lower bounds
    ignored, None for a null element."""
    ndim = _INT32.unpack_from(data)[0]
    dims = [_INT32.unpack_from(data, 12 + 8 * i)[0] for i in range(ndim)]
    offset = 12 + 8 * ndim
    flat: list[Any] = []
    for _ in range(int(np.prod(dims)) if dims else 0):
        size = _INT32.unpack_from(data, offset)[0]
        offset += 4
        if size < 0:
            flat.append(None)
            continue
        flat.append(element(data[offset : offset + size]))
        offset += size
    for dim in reversed(dims[1:]):
        flat = [flat[i : i + dim] for i in range(0, len(flat), dim)]
    return flat
