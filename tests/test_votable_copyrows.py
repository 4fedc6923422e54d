"""CopyRowsEncoder against the tuple path it replaces: the same rows read from the real
database twice, once by a binary psycopg cursor and written by Binary2Encoder, once by
``COPY ... TO STDOUT (FORMAT binary)`` and written by CopyRowsEncoder, must give the same
bytes and count the same changes, in any batching. The rows hold every supported type and
shape with nulls, NaN and infinities, extreme integers, empty, long and non-ASCII strings,
fixed-size text of the right and wrong lengths, odd arrays, and dates and times around the
calendar's edges, plus a few hundred random rows."""

from __future__ import annotations

import math
import random
import struct
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest
from psycopg import sql

from vo_node.db.cluster import SUPERUSER
from vo_node.db.node import NodeDatabase
from vo_node.votable import FieldSpec
from vo_node.votable.binary2 import Binary2Encoder
from vo_node.votable.copyrows import CopyRowsEncoder, copy_supported
from vo_node.votable.copyvalues import decoder

COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
COPY_TRAILER = b"\xff\xff"

# (field, column type) of the table every test reads.
COLUMNS = [
    (FieldSpec("id", "int"), "int4"),
    (FieldSpec("flag", "boolean"), "boolean"),
    (FieldSpec("i2", "short"), "int2"),
    (FieldSpec("i8", "long"), "int8"),
    (FieldSpec("f4", "float"), "float4"),
    (FieldSpec("f8", "double"), "float8"),
    (FieldSpec("name", "char"), "text"),
    (FieldSpec("label", "char", arraysize="*"), "varchar(40)"),
    (FieldSpec("padded", "char"), "char(5)"),
    (FieldSpec("ident", "char"), "name"),
    (FieldSpec("code", "char", arraysize="4"), "text"),
    (FieldSpec("tag", "char", arraysize="8*"), "text"),
    (FieldSpec("sha", "char", arraysize="64"), "text"),
    (FieldSpec("day", "char", xtype="timestamp"), "date"),
    (FieldSpec("stamp", "char", xtype="timestamp"), "timestamp"),
    (FieldSpec("stamptz", "char", xtype="timestamp"), "timestamptz"),
    (FieldSpec("day8", "char", arraysize="8", xtype="timestamp"), "date"),
    (FieldSpec("stamp19", "char", arraysize="19*", xtype="timestamp"), "timestamptz"),
    (FieldSpec("pos", "double", arraysize="2", xtype="point"), "float8[]"),
    (FieldSpec("vec", "float", arraysize="3"), "float4[]"),
    (FieldSpec("flux", "float", arraysize="*"), "float4[]"),
    (FieldSpec("mags", "double", arraysize="5*"), "float8[]"),
    (FieldSpec("counts", "int", arraysize="*"), "int4[]"),
    (FieldSpec("triple", "short", arraysize="3"), "int2[]"),
    (FieldSpec("few", "long", arraysize="4*"), "int8[]"),
]
FIELDS = [field for field, _ in COLUMNS]
NAMES = [field.name for field in FIELDS]
OTHER = "Ωé✓😀\u0100"
INT_RANGES = {"i2": 15, "id": 31, "i8": 63}


# -- the database ---------------------------------------------------------------------------


@pytest.fixture
def conn(template_db: NodeDatabase) -> Iterator[psycopg.Connection]:
    """A superuser session on the cluster's maintenance database, in UTC as the query
    runner's are; its temporary tables go with it."""
    with template_db.cluster.connect(SUPERUSER, "postgres", autocommit=True) as connection:
        connection.execute("SET TimeZone = 'UTC'")
        yield connection


def create(conn: psycopg.Connection, columns: Sequence[tuple[FieldSpec, str]]) -> None:
    """A temporary table ``t`` with a column of each (name, type)."""
    conn.execute("DROP TABLE IF EXISTS t")
    body = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(field.name), sql.SQL(kind))
        for field, kind in columns
    )
    conn.execute(sql.SQL("CREATE TEMP TABLE t ({})").format(body))


def insert(conn: psycopg.Connection, rows: Sequence[dict[str, object]]) -> None:
    for row in rows:
        conn.execute(
            sql.SQL("INSERT INTO t ({}) VALUES ({})").format(
                sql.SQL(", ").join(map(sql.Identifier, row)),
                sql.SQL(", ").join(sql.Placeholder() * len(row)),
            ),
            list(row.values()),
        )


def tuples(conn: psycopg.Connection, query: str) -> tuple[list[tuple[object, ...]], list[int]]:
    """The rows as the tuple path has them, and their type OIDs."""
    cursor = conn.cursor(binary=True)
    cursor.execute(sql.SQL(query))
    return cursor.fetchall(), [d.type_code for d in cursor.description or []]


def copied(conn: psycopg.Connection, query: str) -> list[bytes]:
    """The rows of ``COPY (query) TO STDOUT`` in binary, one item per row, as the query
    runner hands them over: the file header and trailer removed."""
    statement = sql.SQL("COPY ({}) TO STDOUT (FORMAT binary)").format(sql.SQL(query))
    with conn.cursor().copy(statement) as copy:
        chunks = [bytes(chunk) for chunk in copy]
    assert chunks[0].startswith(COPY_HEADER) and chunks[-1] == COPY_TRAILER
    chunks[0] = chunks[0][len(COPY_HEADER) :]
    return [chunk for chunk in chunks[:-1] if chunk]


def both_ways(
    conn: psycopg.Connection, fields: Sequence[FieldSpec], query: str, batches: Sequence[int]
) -> None:
    """Assert that CopyRowsEncoder, in batches of each size, writes what Binary2Encoder
    writes for the same rows, and counts the same changes."""
    rows, oids = tuples(conn, query)
    reference = Binary2Encoder(fields)
    want = reference.encode(rows)
    assert copy_supported(fields, oids)
    copies = copied(conn, query)
    assert len(copies) == len(rows)
    for size in batches:
        encoder = CopyRowsEncoder(fields, oids)
        got = b"".join(encoder.encode(copies[i : i + size]) for i in range(0, len(copies), size))
        assert got == want, (
            f"batches of {size}: first difference at byte {first_difference(got, want)}"
        )
        assert (encoder.notes.replaced, encoder.notes.truncated) == (
            reference.notes.replaced,
            reference.notes.truncated,
        ), f"batches of {size}"


def first_difference(a: bytes, b: bytes) -> int:
    return next(
        (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
    )


# -- the rows -------------------------------------------------------------------------------


def special_rows() -> list[dict[str, object]]:
    """Hand-picked values: the edges of every type."""
    nan, inf = math.nan, math.inf
    return [
        {"id": 1},  # null everywhere else
        {"id": 2, "flag": True, "i2": -(2**15), "i8": -(2**63), "f4": nan, "f8": nan,
         "name": "", "label": "", "padded": "", "ident": "", "code": "", "tag": "", "sha": "",
         "pos": [nan, -inf], "vec": [nan, inf, -inf], "flux": [], "mags": [], "counts": [],
         "triple": [0, 0, 0], "few": []},
        {"id": 2**31 - 1, "flag": False, "i2": 2**15 - 1, "i8": 2**63 - 1, "f4": -inf,
         "f8": inf, "name": "x", "label": "y" * 40, "padded": "ab", "ident": "n" * 63,
         "code": "abcd", "tag": "12345678", "sha": "f" * 64, "day": date(1, 1, 1),
         "stamp": datetime(1, 1, 1), "stamptz": datetime(9999, 12, 31, 23, 59, 59, 999_999,
         tzinfo=UTC), "day8": date(9999, 12, 31), "stamp19": datetime(2000, 1, 1, tzinfo=UTC),
         "pos": [0.0, -0.0], "vec": [3.4028234663852886e38, -1e-45, 0.0],
         "flux": [1.5, nan, None, inf], "mags": [1.0, 2.0, 3.0, 4.0, 5.0],
         "counts": [-(2**31), 2**31 - 1], "triple": [-(2**15), 2**15 - 1, 7],
         "few": [-(2**63), 2**63 - 1, 0, 1]},
        {"id": -(2**31), "f4": -0.0, "f8": -0.0, "code": "ab", "tag": "123456789",
         "sha": "abc", "name": "héllo " + OTHER, "day": date(999, 12, 31),
         "stamp": datetime(1999, 12, 31, 23, 59, 59, 1), "stamptz": datetime(1969, 12, 31,
         23, 59, 59, 999_999, tzinfo=UTC), "day8": date(2024, 2, 29),
         "stamp19": datetime(1, 1, 1, 0, 0, 0, 1, tzinfo=UTC), "flux": [None, None]},
        {"id": 5, "code": "abcdef", "tag": "", "padded": "abcde", "label": OTHER,
         "stamp": datetime(1970, 1, 1), "stamptz": datetime(2000, 2, 29, 12, 0, 0, 500_000,
         tzinfo=UTC), "stamp19": datetime(2024, 5, 6, 7, 8, 9, 100, tzinfo=UTC),
         "mags": [nan, None]},
        # Two characters in four bytes: a fixed arraysize 4 by the byte count; texts whose
        # length words have a byte above 0x7F.
        {"id": 6, "code": "éé", "sha": "é" * 32, "name": "z" * 200, "label": "w" * 40,
         "ident": "v" * 63, "tag": "x" * 130},
    ]  # fmt: skip


def random_rows(seed: int, count: int, nulls: float, other: float) -> list[dict[str, object]]:
    rnd = random.Random(seed)

    def text(longest: int) -> str:
        alphabet = "abc XYZ 09<&>\"'\t\\" + (OTHER if rnd.random() < other else "")
        return "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, longest)))

    def when() -> datetime:
        stamp = datetime(2000, 1, 1) + timedelta(
            days=rnd.randint(-700_000, 2_900_000), seconds=rnd.randrange(86_400)
        )
        return stamp.replace(microsecond=rnd.choice([0, 0, 1, 999_999, rnd.randrange(10**6)]))

    def number(name: str) -> object:
        if name in INT_RANGES:
            bits = INT_RANGES[name]
            return rnd.choice([-(2**bits), 2**bits - 1, rnd.randrange(-(2**bits), 2**bits)])
        if name == "f4":
            return rnd.choice([rnd.uniform(-1e30, 1e30), math.nan, math.inf, 1e-45, 7.0])
        return rnd.choice([rnd.uniform(-1e300, 1e300), math.nan, -math.inf, 5e-324, 1.0])

    def array(size: int, bits: int = 0) -> list[object]:
        if bits:
            return [rnd.randrange(-(2**bits), 2**bits) for _ in range(size)]
        return [rnd.choice([rnd.uniform(-1e30, 1e30), math.nan, -math.inf]) for _ in range(size)]

    makers = {
        "flag": lambda: rnd.random() < 0.5,
        "name": lambda: text(rnd.choice([0, 3, 12, 60])),
        "label": lambda: text(40),
        "padded": lambda: text(5),
        "ident": lambda: text(63),
        "code": lambda: rnd.choice(["abcd", "wxyz", text(6)]),
        "tag": lambda: text(12),
        "sha": lambda: "".join(rnd.choice("0123456789abcdef") for _ in range(64)),
        "day": lambda: when().date(),
        "day8": lambda: when().date(),
        "stamp": when,
        "stamptz": lambda: when().replace(tzinfo=UTC),
        "stamp19": lambda: when().replace(tzinfo=UTC),
        "pos": lambda: array(2),
        "vec": lambda: array(3),
        "flux": lambda: array(rnd.randint(0, 6)),
        "mags": lambda: array(rnd.randint(0, 5)),
        "counts": lambda: array(rnd.randint(0, 5), 31),
        "triple": lambda: array(3, 15),
        "few": lambda: array(rnd.randint(0, 4), 63),
    }
    rows = []
    for number_ in range(count):
        row: dict[str, object] = {"id": 1000 + number_}
        for name in NAMES[1:]:
            if rnd.random() < nulls:
                continue
            row[name] = makers[name]() if name in makers else number(name)
        rows.append(row)
    return rows


def select(names: Sequence[str] = NAMES) -> str:
    return f"SELECT {', '.join(names)} FROM t ORDER BY id"


# -- the tests ------------------------------------------------------------------------------


def test_every_type_and_shape_matches_the_tuple_path_in_any_batching(
    conn: psycopg.Connection,
) -> None:
    create(conn, COLUMNS)
    insert(conn, special_rows())
    insert(conn, random_rows(11, 300, nulls=0.1, other=0.05))
    both_ways(conn, FIELDS, select(), [1, 7, 64, 1000])


@pytest.mark.parametrize(("nulls", "other"), [(0.0, 0.0), (0.5, 0.0), (0.02, 0.3)])
def test_random_rows_take_the_fast_paths_and_match(
    conn: psycopg.Connection, nulls: float, other: float
) -> None:
    """Without nulls and non-ASCII every column is vectorised; with them, some columns of
    some batches are decoded instead."""
    create(conn, COLUMNS)
    insert(conn, random_rows(int(nulls * 100 + other * 10), 400, nulls=nulls, other=other))
    both_ways(conn, FIELDS, select(), [3, 100, 400])


def test_the_changes_are_counted(conn: psycopg.Connection) -> None:
    create(conn, COLUMNS)
    insert(conn, special_rows())
    _, oids = tuples(conn, select())
    encoder = CopyRowsEncoder(FIELDS, oids)
    encoder.encode(copied(conn, select()))
    # Replaced: 'héllo Ω...', OTHER, 'éé' and 'é' * 32 in char columns. Truncated: 'abcdef'
    # (arraysize 4), '123456789' and 'x' * 130 (8*), two dates (8) and two timestamps with
    # microseconds (19*).
    assert (encoder.notes.replaced, encoder.notes.truncated) == (4, 7)


def test_a_long_value_among_short_ones_matches(conn: psycopg.Connection) -> None:
    """Padding every row to the long one would multiply the batch's memory: that column is
    written value by value, with the same bytes."""
    columns = [(FieldSpec("id", "int"), "int4"), (FieldSpec("name", "char"), "text"),
               (FieldSpec("flux", "double", arraysize="*"), "float8[]")]  # fmt: skip
    create(conn, columns)
    conn.execute("INSERT INTO t SELECT g, 'lc-' || g, ARRAY[0.5, g] FROM generate_series(1, 500) g")
    conn.execute("UPDATE t SET name = repeat('x', 300000), flux = NULL WHERE id = 250")
    conn.execute(
        "UPDATE t SET flux = array_fill(0.25::float8, ARRAY[100000]), name = NULL WHERE id = 251"
    )
    both_ways(conn, [f for f, _ in columns], "SELECT * FROM t ORDER BY id", [500, 64])


def test_arrays_of_other_shapes_are_loaded_as_psycopg_loads_them(
    conn: psycopg.Connection,
) -> None:
    """Lower bounds other than 1 are ignored; null elements in float arrays become NaN;
    arrays of a wrong length, null integer elements and several dimensions are refused."""
    fields = [FieldSpec("id", "int"), FieldSpec("a", "double", arraysize="*")]
    query = (
        "SELECT * FROM (VALUES (1, '[0:1]={1.5,2.5}'::float8[]), (2, '{1,NULL,3}'),"
        " (3, '{}'), (4, NULL), (5, '[-3:-3]={7}')) v(id, a)"
    )
    both_ways(conn, fields, query, [1, 5])
    for spec, value in [
        (FieldSpec("a", "double", arraysize="2"), "'{1,2,3}'::float8[]"),
        (FieldSpec("a", "double", arraysize="2"), "'{}'::float8[]"),
        (FieldSpec("a", "double", arraysize="2*"), "'{1,2,3}'::float8[]"),
        (FieldSpec("a", "int", arraysize="*"), "'{1,NULL}'::int4[]"),
        (FieldSpec("a", "double", arraysize="*"), "'{{1,2},{3,4}}'::float8[]"),
        (FieldSpec("a", "short", arraysize="3"), "'{{1,2,3}}'::int2[]"),
    ]:
        query = f"SELECT {value} AS a"
        rows, oids = tuples(conn, query)
        with pytest.raises(ValueError) as old:
            Binary2Encoder([spec]).encode(rows)
        with pytest.raises(ValueError) as new:
            CopyRowsEncoder([spec], oids).encode(copied(conn, query))
        assert str(new.value) == str(old.value), value


def test_signalling_nans_in_single_precision_are_quietened_as_psycopg_does(
    conn: psycopg.Connection,
) -> None:
    """A float4 becomes a Python float (a C double) in psycopg, which sets the quiet bit of
    a signalling NaN; the vectorised path does the same. The values are written with a
    binary COPY FROM, the only way to store them."""
    columns = [(FieldSpec("x", "float"), "float4"), (FieldSpec("v", "float", "*"), "float4[]")]
    create(conn, columns)
    patterns = [b"\x7f\xa0\x00\x01", b"\xff\x80\x00\x01", b"\x7f\xc0\x00\x00", b"\x3f\x80\x00\x00"]
    data = bytearray(COPY_HEADER)
    for pattern in patterns:
        array = struct.pack(">iiiii", 1, 0, 700, 2, 1) + (struct.pack(">i", 4) + pattern) * 2
        data += struct.pack(">hi", 2, 4) + pattern + struct.pack(">i", len(array)) + array
    data += COPY_TRAILER
    with conn.cursor().copy("COPY t FROM STDIN (FORMAT binary)") as copy:
        copy.write(bytes(data))
    both_ways(conn, [f for f, _ in columns], "SELECT * FROM t", [4])


@pytest.mark.parametrize(
    "value",
    [
        "'infinity'::timestamptz",
        "'-infinity'::timestamp",
        "'infinity'::date",
        "'10000-01-01'::date",
        "'0001-12-31 BC'::timestamptz",
        "'20000-06-01 12:00'::timestamp",
    ],
)
def test_dates_psycopg_cannot_load_raise(conn: psycopg.Connection, value: str) -> None:
    spec = FieldSpec("t", "char", xtype="timestamp")
    query = f"SELECT {value} AS t"
    with pytest.raises(psycopg.DataError):
        tuples(conn, query)  # the tuple path fails as the rows are read
    description = conn.execute(sql.SQL(query)).description  # not fetched: no error yet
    assert description is not None
    oids = [description[0].type_code]
    encoder = CopyRowsEncoder([spec], oids)
    with pytest.raises(ValueError, match=r"field t: .*(infinite|outside years 1\.\.9999)"):
        encoder.encode(copied(conn, query))


def test_dates_at_the_edges_of_the_lookup_table(conn: psycopg.Connection) -> None:
    """Most dates are looked up in a table of 1900..2099; the rest are computed."""
    fields = [FieldSpec("d", "char", xtype="timestamp"), FieldSpec("t", "char", arraysize="*")]
    days = ["1899-12-31", "1900-01-01", "2099-12-31", "2100-01-01", "1999-12-31", "2000-03-01"]
    values = ", ".join(
        f"('{day}'::date, '{day} 23:59:59.{micros:06d}'::timestamptz)"
        for day in days
        for micros in (0, 1, 999_999)
    )
    query = f"SELECT * FROM (VALUES {values}) v(d, t)"
    both_ways(conn, fields, query, [1, 2, 3, 6, 18])


def test_the_fallback_decoders_return_what_psycopg_returns(conn: psycopg.Connection) -> None:
    """Columns the vectorised code cannot write are decoded value by value: to the values
    psycopg loads, for every supported type."""
    create(conn, COLUMNS)
    insert(conn, special_rows() + random_rows(3, 50, nulls=0.2, other=0.3))
    conn.execute("INSERT INTO t (id, pos) VALUES (9999, '{{1,NULL},{3,4}}')")
    loaded, oids = tuples(conn, select())
    for row, data in zip(loaded, copied(conn, select()), strict=True):
        offset = 2
        for value, oid in zip(row, oids, strict=True):
            (size,) = struct.unpack_from(">i", data, offset)
            offset += 4
            decoded = None if size < 0 else decoder(oid)(data[offset : offset + size])
            offset += max(size, 0)
            assert same(decoded, value), (oid, decoded, value)


def same(a: object, b: object) -> bool:
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(map(same, a, b))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    return type(a) is type(b) and a == b


def test_copy_supported_takes_only_the_natural_pairs() -> None:
    assert copy_supported(FIELDS, [oid_of(kind) for _, kind in COLUMNS])
    refused = [
        (FieldSpec("w", "unicodeChar"), 25),
        (FieldSpec("r", "char", xtype="adql:REGION", region="circle"), 1022),
        (FieldSpec("r", "char", xtype="adql:REGION", region="circle"), 25),
        (FieldSpec("n", "double"), 1700),  # numeric
        (FieldSpec("u", "char", arraysize="36"), 2950),  # uuid
        (FieldSpec("d", "double"), 20),  # from int8
        (FieldSpec("l", "long"), 23),
        (FieldSpec("f", "float"), 701),
        (FieldSpec("b", "unsignedByte"), 21),
        (FieldSpec("b", "boolean", arraysize="*"), 1000),
        (FieldSpec("t", "char"), 1083),  # time
        (FieldSpec("a", "double", arraysize="*"), 1231),  # numeric[]
        (FieldSpec("a", "float", arraysize="*"), 1022),
        (FieldSpec("a", "double"), 1022),  # an array into a scalar
        (FieldSpec("a", "double", arraysize="2"), 701),
        (FieldSpec("c", "char"), 23),
    ]
    for spec, oid in refused:
        assert not copy_supported([spec], [oid]), (spec, oid)
        assert not copy_supported([FIELDS[0], spec], [23, oid])
        with pytest.raises(ValueError):
            CopyRowsEncoder([spec], [oid])
    assert not copy_supported(FIELDS[:2], [23])
    assert not copy_supported([], [])


def oid_of(kind: str) -> int:
    base = {"int4": 23, "boolean": 16, "int2": 21, "int8": 20, "float4": 700, "float8": 701,
            "text": 25, "varchar(40)": 1043, "char(5)": 1042, "name": 19, "date": 1082,
            "timestamp": 1114, "timestamptz": 1184}  # fmt: skip
    arrays = {"float8[]": 1022, "float4[]": 1021, "int4[]": 1007, "int2[]": 1005, "int8[]": 1016}
    return base.get(kind) or arrays[kind]


def test_an_empty_batch_is_no_bytes() -> None:
    assert CopyRowsEncoder([FieldSpec("i", "int")], [23]).encode([]) == b""


def test_malformed_rows_are_refused() -> None:
    fields = [FieldSpec("i", "int"), FieldSpec("s", "char")]
    encoder = CopyRowsEncoder(fields, [23, 25])
    good = struct.pack(">hii", 2, 4, 7) + struct.pack(">i", 2) + b"ab"
    assert encoder.encode([good]) == b"\x00" + struct.pack(">ii", 7, 2) + b"ab"
    for bad in (
        COPY_HEADER + good,  # the file header left on
        struct.pack(">hii", 1, 4, 7),  # one field
        good[:-1],  # cut short
        good + b"x",  # a byte too many
        struct.pack(">hii", 2, 2, 7) + struct.pack(">i", 2) + b"ab",  # a 2-byte int4
        struct.pack(">hii", 2, 4, 7) + struct.pack(">i", -2),
    ):
        with pytest.raises(ValueError):
            encoder.encode([good, bad])
    assert encoder.notes.replaced == encoder.notes.truncated == 0
