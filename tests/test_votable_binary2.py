"""The BINARY2 encoder against an independent reference: a value-by-value encoder written
from VOTable 1.4 section 5.5 with struct, over rows holding every datatype and shape, nulls,
NaN and infinities, non-ASCII and surrogate pairs, dates and times in several zones, long
values among short ones. The encoder works a column and a batch at a time (padded blocks,
struct for whole columns, vectorised timestamps); its bytes must be the reference's for any
batching, and so must the changes it counts."""

from __future__ import annotations

import base64
import math
import random
import re
import struct
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from vo_node.votable import FieldSpec, write_votable
from vo_node.votable.binary2 import Binary2Encoder
from vo_node.votable.stcs import stcs_text
from vo_node.votable.timestamps import timestamp_block
from vo_node.votable.values import TextNotes, text_of

FIELDS = [
    FieldSpec("u1", "unsignedByte"),
    FieldSpec("i2", "short"),
    FieldSpec("i4", "int"),
    FieldSpec("i8", "long"),
    FieldSpec("f4", "float"),
    FieldSpec("f8", "double"),
    FieldSpec("flag", "boolean"),
    FieldSpec("flags", "boolean", arraysize="*"),
    FieldSpec("flags3", "boolean", arraysize="3"),
    FieldSpec("name", "char"),
    FieldSpec("label", "unicodeChar"),
    FieldSpec("code", "char", arraysize="4"),
    FieldSpec("tag", "char", arraysize="8*"),
    FieldSpec("wide3", "unicodeChar", arraysize="3"),
    FieldSpec("wide5", "unicodeChar", arraysize="5*"),
    FieldSpec("sha", "char", arraysize="64"),
    FieldSpec("stamp", "char", xtype="timestamp"),
    FieldSpec("day", "char", xtype="timestamp"),
    FieldSpec("odd", "char"),  # UUIDs, times, numbers, bytes: anything with a text
    FieldSpec("pos", "double", arraysize="2", xtype="point"),
    FieldSpec("flux", "float", arraysize="*"),
    FieldSpec("counts", "int", arraysize="*"),
    FieldSpec("triple", "short", arraysize="3"),
    FieldSpec("few", "long", arraysize="4*"),
    FieldSpec("region", "char", xtype="adql:REGION", region="circle"),
]
ZONES = [
    None,
    UTC,
    timezone(timedelta(hours=5, minutes=30)),
    timezone(-timedelta(hours=11)),
    ZoneInfo("Etc/UTC"),
    ZoneInfo("Europe/Paris"),
]
ASCII = "abc XYZ 09<&>\"'\t"
OTHER = "Ωé✓😀\u0100\x7f"  # 😀 is a surrogate pair in UTF-16


# -- the reference --------------------------------------------------------------------------

CODES = {"unsignedByte": "B", "short": "h", "int": "i", "long": "q", "float": "f", "double": "d"}


def ref_number(datatype: str, value: object) -> bytes:
    if datatype == "float":  # rounded to single precision as numpy does (no overflow error)
        return np.array(float(value), dtype=">f4").tobytes()  # type: ignore[arg-type]
    if datatype == "double":
        return struct.pack(">d", float(value))  # type: ignore[arg-type]
    return struct.pack(">" + CODES[datatype], value)


def ref_flag(value: object) -> bytes:
    return b"?" if value is None else b"T" if value else b"F"


def ref_text_of(spec: FieldSpec, value: object) -> str:
    """The text a value stands for (DALI 1.1 timestamps: UTC, no zone suffix)."""
    if value is None:
        return ""
    if spec.region is not None and not isinstance(value, str):
        return stcs_text(spec.region, value)  # type: ignore[arg-type]
    if type(value) is datetime:
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat()
    if type(value) is date:
        return value.isoformat()
    return text_of(value)


def ref_text(spec: FieldSpec, value: object, notes: TextNotes) -> bytes:
    text = ref_text_of(spec, value)
    if spec.datatype == "char":  # VOTable 1.4 char is ASCII: anything else becomes '?'
        notes.replaced += not text.isascii()
        data, unit = text.encode("ascii", "replace"), 1
    else:
        data, unit = text.encode("utf_16_be"), 2
    limit = spec.length
    if limit is not None and len(data) > limit * unit:
        notes.truncated += 1
        cut = limit * unit
        if unit == 2 and 0xD8 <= data[cut - 2] <= 0xDB:  # never half a surrogate pair
            cut -= 2
        data = data[:cut]
    if limit is not None and not spec.variable:
        return data.ljust(limit * unit, b"\0")
    return struct.pack(">i", len(data) // unit) + data


def ref_value(spec: FieldSpec, value: object, notes: TextNotes) -> bytes:
    if spec.is_text:
        return ref_text(spec, value, notes)
    if spec.datatype == "boolean" and not spec.is_array:
        return ref_flag(value)
    blank: object = None if spec.datatype == "boolean" else 0
    if spec.datatype in ("float", "double"):
        blank = math.nan  # a null float is NaN as well as flagged
    if not spec.is_array:
        return ref_number(spec.datatype, blank if value is None else value)
    items = list(value) if value is not None else [] if spec.variable else [blank] * spec.length  # type: ignore[call-overload, operator]
    if spec.datatype == "boolean":
        body = b"".join(map(ref_flag, items))
    else:
        body = b"".join(ref_number(spec.datatype, blank if v is None else v) for v in items)
    return struct.pack(">i", len(items)) + body if spec.variable else body


def reference(
    fields: Sequence[FieldSpec], rows: Sequence[Sequence[object]]
) -> tuple[bytes, TextNotes]:
    """BINARY2 of ``rows``, value by value: null flags (most significant bit first), then
    each field big-endian, variable-length ones after their element count."""
    notes = TextNotes()
    out = bytearray()
    for row in rows:
        mask = bytearray((len(fields) + 7) // 8)
        body = bytearray()
        for index, (spec, value) in enumerate(zip(fields, row, strict=True)):
            if value is None:
                mask[index // 8] |= 0x80 >> (index % 8)
            body += ref_value(spec, value, notes)
        out += mask + body
    return bytes(out), notes


# -- the rows -------------------------------------------------------------------------------


def some_text(rnd: random.Random, longest: int, other: float) -> str:
    alphabet = ASCII + OTHER if rnd.random() < other else ASCII
    return "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, longest)))


def a_datetime(rnd: random.Random, zone: object) -> datetime:
    when = datetime(2000, 1, 1) + timedelta(
        days=rnd.randint(-700_000, 2_900_000), seconds=rnd.randrange(86_400)
    )
    micro = rnd.choice([0, 0, 1, 999_999, rnd.randrange(1_000_000)])
    return when.replace(microsecond=micro, tzinfo=zone, fold=rnd.randrange(2))  # type: ignore[arg-type]


def make_value(rnd: random.Random, spec: FieldSpec, zone: object, other: float) -> object:
    name = spec.name
    if name == "u1":
        return rnd.choice([0, 255, True, rnd.randrange(256)])
    if name in ("i2", "i4", "i8"):
        bits = {"i2": 15, "i4": 31, "i8": 63}[name]
        return rnd.choice([-(2**bits), 2**bits - 1, False, rnd.randrange(-(2**bits), 2**bits)])
    if name == "f4":
        return rnd.choice([rnd.uniform(-1e30, 1e30), math.nan, -math.inf, -0.0,
                           3.4028234663852886e38, 1e-45, 7, Decimal("1.25")])  # fmt: skip
    if name == "f8":
        return rnd.choice([rnd.uniform(-1e300, 1e300), math.nan, math.inf, -0.0, 5e-324, 2**70,
                           True, Decimal("-2.5")])  # fmt: skip
    if name == "flag":
        return rnd.choice([True, False, 0, 1])
    if name == "flags":
        return [rnd.choice([True, False, None]) for _ in range(rnd.randint(0, 4))]
    if name == "flags3":
        return [rnd.choice([True, False, None]) for _ in range(3)]
    if name in ("name", "label", "tag", "wide5"):
        return some_text(rnd, rnd.choice([0, 3, 12]), other)
    if name in ("code", "wide3"):
        return some_text(rnd, 6, other)
    if name == "sha":
        return "".join(rnd.choice("0123456789abcdef") for _ in range(64))
    if name == "stamp":
        return a_datetime(rnd, zone)
    if name == "day":
        return date.fromordinal(rnd.randint(1, date.max.toordinal()))
    if name == "odd":
        return rnd.choice([uuid.UUID(int=rnd.getrandbits(128)), time(1, 2, 3, 4), 2.5, math.nan,
                           True, Decimal("1.5"), b"\x00\xff", "plain", 12])  # fmt: skip
    if name == "pos":
        return rnd.choice([[rnd.uniform(0, 360), rnd.uniform(-90, 90)], (1.0, math.nan)])
    if name == "flux":
        return [rnd.choice([rnd.random(), math.nan, None, 2]) for _ in range(rnd.randint(0, 6))]
    if name == "counts":
        return [rnd.randint(-(2**31), 2**31 - 1) for _ in range(rnd.randint(0, 5))]
    if name == "triple":
        return [rnd.randint(-(2**15), 2**15 - 1) for _ in range(3)]
    if name == "few":
        return [rnd.randint(-(2**63), 2**63 - 1) for _ in range(rnd.randint(0, 4))]
    assert name == "region"
    return rnd.choice(
        [[rnd.uniform(0, 360), rnd.uniform(-90, 90), rnd.random()], "Circle ICRS 1 2 3"]
    )


def make_rows(
    seed: int, count: int, nulls: float = 0.1, other: float = 0.2, zone: object = None
) -> list[tuple[object, ...]]:
    """``count`` rows of FIELDS; one time zone per batch, as a database driver gives."""
    rnd = random.Random(seed)
    return [
        tuple(
            None if rnd.random() < nulls else make_value(rnd, spec, zone, other) for spec in FIELDS
        )
        for _ in range(count)
    ]


def encoded(fields: Sequence[FieldSpec], rows: Sequence[Sequence[object]], batch: int) -> bytes:
    encoder = Binary2Encoder(fields)
    return b"".join(encoder.encode(rows[i : i + batch]) for i in range(0, len(rows), batch))


# -- the tests ------------------------------------------------------------------------------


@pytest.mark.parametrize("zone", ZONES, ids=str)
@pytest.mark.parametrize("nulls", [0.0, 0.1, 0.6])
def test_every_datatype_matches_the_reference_in_any_batching(zone: object, nulls: float) -> None:
    rows = make_rows(len(ZONES) * 10 + int(nulls * 10), 600, nulls=nulls, zone=zone)
    want, notes = reference(FIELDS, rows)
    for batch in (1, 7, 600):
        encoder = Binary2Encoder(FIELDS)
        got = b"".join(encoder.encode(rows[i : i + batch]) for i in range(0, len(rows), batch))
        assert got == want, f"batches of {batch}"
        assert (encoder.notes.replaced, encoder.notes.truncated) == (
            notes.replaced,
            notes.truncated,
        )


def test_columns_of_one_value_kind_take_the_fast_paths_and_match() -> None:
    """No nulls and uniform widths: every column is converted in one call and the rows need
    no padding removed; then one null per column, which changes both."""
    fields = [f for f in FIELDS if f.name in ("i8", "f8", "f4", "name", "sha", "stamp", "day")]
    rnd = random.Random(5)
    rows: list[tuple[object, ...]] = [
        (
            rnd.randrange(2**40),
            rnd.random(),
            rnd.random(),
            "EN2_STAR",
            "ab" * 32,
            datetime(2024, 3, 1, 12, 30, 15, 250_000, tzinfo=ZoneInfo("Etc/UTC"))
            + timedelta(seconds=i),
            date(2010, 1, 1) + timedelta(days=i),
        )
        for i in range(300)
    ]
    assert encoded(fields, rows, 300) == reference(fields, rows)[0]
    for index in range(len(fields)):
        row = list(rows[index])
        row[index] = None
        rows[index] = tuple(row)
    assert encoded(fields, rows, 300) == reference(fields, rows)[0]


def test_a_long_value_among_short_ones_matches() -> None:
    """Padding every row to a light curve's length would multiply the batch's memory: such
    batches are assembled row by row, with the same bytes."""
    fields = [FieldSpec("n", "long"), FieldSpec("id", "char"), FieldSpec("flux", "double", "*")]
    rows: list[tuple[object, ...]] = [(i, f"lc-{i}", [0.5, float(i)]) for i in range(500)]
    rows[250] = (250, "x" * 300_000, [0.25] * 100_000)
    rows[251] = (251, None, None)
    assert encoded(fields, rows, 500) == reference(fields, rows)[0]


def test_empty_and_all_null_columns_match() -> None:
    fields = [FieldSpec("s", "char"), FieldSpec("w", "unicodeChar"), FieldSpec("a", "int", "*")]
    batches: list[list[tuple[object, ...]]] = [
        [("", "", [])] * 5,
        [(None, None, None)] * 5,
        [("", None, [1])] * 5,
    ]
    for rows in batches:
        assert encoded(fields, rows, 5) == reference(fields, rows)[0]


def test_refusals_end_the_batch_as_before() -> None:
    """What the per-value converters refuse is still refused when a whole column is
    converted at once, and what they accept (a numeric string in a float column, an
    overflow to infinity in single precision) is still accepted."""
    for spec, bad in [
        (FieldSpec("i", "int"), 1.5),
        (FieldSpec("i", "int"), 2**31),
        (FieldSpec("b", "unsignedByte"), -1),
        (FieldSpec("l", "long"), "12"),
        (FieldSpec("d", "double"), "not a number"),
        (FieldSpec("d", "double"), 10**400),
    ]:
        with pytest.raises((TypeError, ValueError, OverflowError)):
            Binary2Encoder([spec]).encode([(1,), (bad,)])
    accepted = [((FieldSpec("d", "double"), "1.5"), 1.5)]
    for (spec, value), number in accepted:
        assert Binary2Encoder([spec]).encode([(value,)]) == b"\0" + struct.pack(">d", number)
    with np.errstate(over="ignore"):
        infinite = Binary2Encoder([FieldSpec("f", "float")]).encode([(1e300,)])
    assert infinite == b"\0" + struct.pack(">f", math.inf)


def test_the_document_stream_decodes_to_the_reference() -> None:
    """Through write_votable: batches of changing sizes, base64 in whole lines."""
    rows = make_rows(99, 3000, nulls=0.05, zone=ZoneInfo("Europe/Paris"))
    document = b"".join(write_votable(FIELDS, iter(rows)))
    match = re.search(rb'<STREAM encoding="base64">\n(.*)</STREAM>', document, re.S)
    assert match is not None
    lines = match.group(1).split(b"\n")
    assert lines[-1] == b"" and len({len(line) for line in lines[:-2]}) <= 1
    assert base64.b64decode(b"".join(lines)) == reference(FIELDS, rows)[0]


@pytest.mark.parametrize("zone", ZONES, ids=str)
def test_timestamps_of_a_column_are_each_value_s_text(zone: object) -> None:
    rnd = random.Random(7)
    values: list[object] = [a_datetime(rnd, zone) for _ in range(20_000)]
    values[::97] = [None] * len(values[::97])
    if zone is not None:  # the extremes, where UTC is still within years 1..9999
        values[1] = datetime(1, 1, 1, 23, 59, tzinfo=zone)  # type: ignore[arg-type]
        values[2] = datetime(9999, 12, 31, tzinfo=zone)  # type: ignore[arg-type]
    block = timestamp_block(values)
    assert block is not None
    matrix, lengths = block
    texts = [bytes(matrix[i, : lengths[i]]).decode() for i in range(len(values))]
    assert texts == [ref_text_of(FIELDS[16], v) for v in values]


def test_every_day_of_the_calendar() -> None:
    days: list[object] = [date.fromordinal(n) for n in range(1, date.max.toordinal() + 1, 7)]
    days += [date(1, 1, 1), date(9999, 12, 31), date(2000, 2, 29), date(1900, 2, 28)]
    block = timestamp_block(days)
    assert block is not None
    text = bytes(block[0]).decode()
    assert [text[i : i + 10] for i in range(0, len(text), 10)] == [
        d.isoformat()  # type: ignore[attr-defined]
        for d in days
    ]


def test_columns_the_vectorised_timestamps_leave_alone() -> None:
    """Mixed kinds and zones, and years UTC would push out of range, go value by value
    (where Python raises for the latter, as before)."""
    for values in (
        [datetime(2000, 1, 1), datetime(2000, 1, 1, tzinfo=UTC)],
        [date(2000, 1, 1), datetime(2000, 1, 1)],
        ["2000-01-01", date(2000, 1, 1)],
        [None, None],
        [datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1)))],
    ):
        assert timestamp_block(values) is None
    mixed = [(datetime(2000, 1, 1, tzinfo=timezone(timedelta(hours=h))),) for h in (-3, 0, 4)]
    assert encoded([FIELDS[16]], mixed, 3) == reference([FIELDS[16]], mixed)[0]
