"""RESPONSEFORMAT resolution and the CSV/TSV/JSON writers, read back with the standard csv and
json modules (and the VOTable formats with astropy in strict mode)."""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from astropy.io.votable import parse

from vo_node.errors import NodeError
from vo_node.formats import (
    CSV,
    FORMATS,
    JSON,
    TSV,
    VOTABLE,
    VOTABLE_TD,
    UnsupportedFormatError,
    accepted_values,
    resolve_format,
)
from vo_node.votable import FieldSpec, Outcome, TimeSys

FIELDS = [
    FieldSpec("id", "long", ucd="meta.id"),
    FieldSpec("mag", "double", unit="mag", description="R magnitude"),
    FieldSpec("flux", "float"),
    FieldSpec("ok", "boolean"),
    FieldSpec("name", "char"),
    FieldSpec("label", "unicodeChar"),
    FieldSpec("t", "char", xtype="timestamp", ref="utc"),
    FieldSpec("pos", "double", arraysize="2", xtype="point", unit="deg"),
    FieldSpec("curve", "double", arraysize="*"),
    FieldSpec("n", "int", arraysize="*"),
]
ROWS: list[tuple[object, ...]] = [
    (1, 12.25, 1.5, True, "HD 49933", "Ωmega 😀", datetime(2007, 2, 3, 4, 5, 6, 789000),
     [101.5, -0.25], [1.0, 2.5], [1, 2]),
    tuple([None] * len(FIELDS)),
    (2, float("nan"), float("inf"), False, "", "", date(2010, 12, 31), [0.0, 90.0], [], []),
    (3, Decimal("1.25"), float("-inf"), True, 'comma, "quote"\nnew line', "tab\there\\",
     datetime(2012, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=1))), (1e-300, 1e300),
     [float("nan"), None, float("inf")], [0]),
]  # fmt: skip
TIMESYS = [TimeSys("utc", "UTC", "TOPOCENTER")]


def render(fmt_name: str, rows: object, maxrec: int | None = None, **options: object) -> bytes:
    fmt = resolve_format(fmt_name)
    return b"".join(fmt.writer(FIELDS, rows, maxrec, **options))  # type: ignore[arg-type]


def number_text(value: object) -> str:
    number = float(value)  # type: ignore[arg-type]
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "Infinity" if number > 0 else "-Infinity"
    return repr(number)


def expected_text(spec: FieldSpec, value: object) -> str:
    """What CSV and TSV must hold for ``value`` (DALI serialisations; empty for null)."""
    if value is None:
        return ""
    if spec.xtype == "timestamp":
        if isinstance(value, datetime) and value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat()  # type: ignore[attr-defined]
    if spec.datatype == "boolean":
        return "true" if value else "false"
    if spec.is_array:
        items = ["NaN" if v is None else str(v) for v in value]  # type: ignore[attr-defined]
        if spec.datatype == "double":
            items = ["NaN" if v is None else number_text(v) for v in value]  # type: ignore[attr-defined]
        return " ".join(items)
    if spec.datatype in ("double", "float"):
        return number_text(value)
    return str(value)


def test_resolve_format_accepts_the_dali_and_tap_values() -> None:
    cases = {
        None: VOTABLE,
        "": VOTABLE,
        "votable": VOTABLE,
        "VOTable": VOTABLE,
        "application/x-votable+xml": VOTABLE,
        "text/xml": VOTABLE,
        "votable/b2": VOTABLE,
        "application/x-votable+xml;serialization=BINARY2": VOTABLE,
        "votable/td": VOTABLE_TD,
        "application/x-votable+xml;serialization=tabledata": VOTABLE_TD,
        "Application/X-VOTable+XML; serialization=TABLEDATA": VOTABLE_TD,
        'application/x-votable+xml;serialization="TABLEDATA"': VOTABLE_TD,
        "csv": CSV,
        "text/csv": CSV,
        "text/csv;header=present": CSV,
        "text/csv; charset=UTF-8": CSV,
        "tsv": TSV,
        "text/tab-separated-values": TSV,
        "json": JSON,
        "application/json": JSON,
    }
    for value, fmt in cases.items():
        assert resolve_format(value) is fmt, value
    for fmt in FORMATS:
        assert resolve_format(fmt.name) is fmt and resolve_format(fmt.mime_type) is fmt
        for alias in (*fmt.aliases, *fmt.other_mime_types):
            assert resolve_format(alias) is fmt


@pytest.mark.parametrize(
    "value",
    [
        "fits",
        "application/fits",
        "parquet",
        "text/html",
        "application/x-votable+xml;serialization=BINARY",
        "application/x-votable+xml;serialization=FITS",
        "application/x-votable+xml;content=datalink;x",
        "text/csv;charset=latin-1",
        "json;pretty=yes",
    ],
)
def test_resolve_format_refuses_others_with_the_accepted_list(value: str) -> None:
    with pytest.raises(UnsupportedFormatError) as caught:
        resolve_format(value)
    error = caught.value
    assert isinstance(error, NodeError)
    assert value in error.message
    assert error.hint is not None and all(v in error.hint for v in accepted_values())


def test_every_format_has_the_metadata_capabilities_need() -> None:
    names = [fmt.name for fmt in FORMATS]
    assert names == ["votable", "votable/td", "csv", "tsv", "json"]
    for fmt in FORMATS:
        assert fmt.mime_type and fmt.content_type.startswith(fmt.mime_type.split(";")[0])
        assert fmt.extension and callable(fmt.writer)


@pytest.mark.parametrize("name", ["votable", "votable/td"])
def test_votable_formats_write_strict_votables(name: str) -> None:
    data = render(name, iter(ROWS), timesys=TIMESYS, infos=[("a", "b")])
    vot = parse(io.BytesIO(data), verify="exception")
    table = vot.get_first_table()
    assert len(table.array) == len(ROWS)
    assert (b"<BINARY2>" in data) == (name == "votable")
    assert vot.resources[0].time_systems[0].ID == "utc"


def test_csv_reads_back_with_the_csv_module() -> None:
    data = render("csv", iter(ROWS))
    assert data.startswith(b"id,mag,flux,") and b"\r\n" in data  # RFC 4180 header and CRLF
    records = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    assert records[0] == [f.name for f in FIELDS]
    assert len(records) == len(ROWS) + 1
    for record, row in zip(records[1:], ROWS, strict=True):
        assert record == [expected_text(f, v) for f, v in zip(FIELDS, row, strict=True)]


def unescape_tsv(cell: str) -> str:
    escapes = {"t": "\t", "n": "\n", "r": "\r", "\\": "\\"}
    out, chars = [], iter(cell)
    for char in chars:
        out.append(escapes[next(chars)] if char == "\\" else char)
    return "".join(out)


def test_tsv_reads_back_with_escapes_undone() -> None:
    data = render("tsv", iter(ROWS)).decode("utf-8")
    lines = data.split("\n")
    assert lines[-1] == "" and len(lines) == len(ROWS) + 2  # one line per row, header first
    records = [[unescape_tsv(c) for c in line.split("\t")] for line in lines[:-1]]
    assert records[0] == [f.name for f in FIELDS]
    for record, row in zip(records[1:], ROWS, strict=True):
        assert record == [expected_text(f, v) for f, v in zip(FIELDS, row, strict=True)]


def json_value(spec: FieldSpec, value: object) -> object:
    """What the JSON document must hold for ``value``: null for null, NaN and infinities."""

    def number(v: object) -> object:
        if v is None or isinstance(v, int):
            return v
        n = float(v)  # type: ignore[arg-type]
        return n if math.isfinite(n) else None

    if value is None:
        return None
    if spec.xtype == "timestamp":
        return expected_text(spec, value)
    if spec.is_array:
        return [number(v) for v in value]  # type: ignore[attr-defined]
    if spec.datatype in ("double", "float"):
        return number(value)
    return value


def test_json_reads_back_with_the_json_module() -> None:
    document = json.loads(
        render("json", iter(ROWS), timesys=TIMESYS, resource_infos=[("QUERY", "SELECT 1")])
    )
    assert document["metadata"][0] == {"name": "id", "datatype": "long", "ucd": "meta.id"}
    assert document["metadata"][1]["description"] == "R magnitude"
    assert document["metadata"][6]["xtype"] == "timestamp"
    assert document["infos"] == [{"name": "QUERY", "value": "SELECT 1"}]
    assert document["systems"][0]["ID"] == "utc"
    assert document["query_status"] == "OK"
    for got, row in zip(document["data"], ROWS, strict=True):
        assert got == [json_value(f, v) for f, v in zip(FIELDS, row, strict=True)]


# A published time column (its TIMESYS comes with it) and an ObsCore region (DALI circle in,
# STC-S out), as the TAP service makes them from the declarations.
MJD = TimeSys("mjd_tt", "TT", "UNKNOWN", timeorigin=2400000.5)
DECLARED = [
    FieldSpec("t_min", "double", unit="d", timesys=MJD),
    FieldSpec("s_region", "char", xtype="adql:REGION", region="circle"),
]
DECLARED_ROWS = [(54134.5, [102.95, -2.06, 0.0015]), (None, None)]
STCS = "Circle ICRS 102.95 -2.06 0.0015"


@pytest.mark.parametrize("name", ["votable", "votable/td", "csv", "tsv", "json"])
def test_every_format_writes_regions_as_stcs(name: str) -> None:
    data = b"".join(resolve_format(name).writer(DECLARED, iter(DECLARED_ROWS)))
    if name.startswith("votable"):
        table = parse(io.BytesIO(data), verify="exception").get_first_table()
        assert [str(v) for v in table.array["s_region"]] == [STCS, ""]
    elif name == "json":
        assert [row[1] for row in json.loads(data)["data"]] == [STCS, None]
    else:
        delimiter = "," if name == "csv" else "\t"
        records = list(csv.reader(io.StringIO(data.decode()), delimiter=delimiter))
        assert [r[1] for r in records] == ["s_region", STCS, ""]


def test_json_lists_the_timesys_its_fields_refer_to() -> None:
    document = json.loads(b"".join(JSON.writer(DECLARED, iter(DECLARED_ROWS), timesys=TIMESYS)))
    assert document["metadata"][0]["ref"] == "mjd_tt"
    assert [s["ID"] for s in document["systems"]] == ["utc", "mjd_tt"]
    assert document["systems"][1] == {
        "element": "TIMESYS",
        "ID": "mjd_tt",
        "timeorigin": "2400000.5",
        "timescale": "TT",
        "refposition": "UNKNOWN",
    }


@pytest.mark.parametrize("name", ["csv", "tsv", "json"])
@pytest.mark.parametrize("count", [0, 1, 100, 5000])
def test_text_formats_stop_at_maxrec_and_report_overflow(name: str, count: int) -> None:
    fields = [FieldSpec("n", "long")]
    fmt = resolve_format(name)
    for total, status in ((count, "OK"), (count + 1, "OVERFLOW")):
        outcome = Outcome()
        data = b"".join(
            fmt.writer(fields, ((i,) for i in range(total)), count, outcome=outcome)
        ).decode()
        assert (outcome.status, outcome.rows) == (status, count)
        if name == "json":
            document = json.loads(data)
            assert document["data"] == [[i] for i in range(count)]
            assert document["query_status"] == status
        else:
            assert data.split()[1:] == [str(i) for i in range(count)]


class QueryTimeout(NodeError):
    """Stands for the errors the query layer raises while rows are fetched."""


def failing_rows(after: int) -> Iterator[tuple[object, ...]]:
    for i in range(after):
        yield (i,)
    raise QueryTimeout("the query ran over its time limit", "add a TOP clause")


@pytest.mark.parametrize("name", ["csv", "tsv"])
def test_csv_and_tsv_cut_the_transfer_when_the_rows_fail(name: str) -> None:
    """No status can follow the data in these formats: the error is raised after the rows
    already written, so the HTTP response is aborted rather than ending like a whole file."""
    received: list[bytes] = []
    outcome = Outcome()
    writer = resolve_format(name).writer([FieldSpec("n", "long")], failing_rows(3000), None,
                                         outcome=outcome)  # fmt: skip
    with pytest.raises(QueryTimeout):
        for chunk in writer:
            received.append(chunk)
    lines = b"".join(received).decode().split()
    assert lines == ["n", *map(str, range(3000))]
    assert (outcome.status, outcome.rows, outcome.message) == (
        "ERROR", 3000, "the query ran over its time limit",
    )  # fmt: skip


def test_json_ends_with_the_error_when_the_rows_fail() -> None:
    document = json.loads(
        b"".join(resolve_format("json").writer([FieldSpec("n", "long")], failing_rows(10)))
    )
    assert document["data"] == [[i] for i in range(10)]
    assert document["query_status"] == "ERROR"
    assert document["message"] == "the query ran over its time limit"
    assert document["hint"] == "add a TOP clause"


def test_json_hides_unexpected_errors() -> None:
    def rows() -> Iterator[tuple[int]]:
        yield (1,)
        raise RuntimeError("connection string postgres://admin:secret@db")

    text = b"".join(resolve_format("json").writer([FieldSpec("n", "long")], rows())).decode()
    document = json.loads(text)
    assert document["query_status"] == "ERROR" and "secret" not in text
    assert document["data"] == [[1]]


@pytest.mark.parametrize("name", ["csv", "tsv", "json"])
def test_a_value_the_writer_refuses_keeps_the_rows_before_it(name: str) -> None:
    rows = [(i,) for i in range(200)] + [("not a number",)]
    fmt = resolve_format(name)
    fields = [FieldSpec("n", "double")]
    outcome = Outcome()
    received: list[bytes] = []
    try:
        for chunk in fmt.writer(fields, iter(rows), None, outcome=outcome):
            received.append(chunk)
    except ValueError:
        assert name != "json"
    assert (outcome.status, outcome.rows) == ("ERROR", 200)
    text = b"".join(received).decode()
    if name == "json":
        assert len(json.loads(text)["data"]) == 200
    else:
        assert text.split()[1:] == [repr(float(i)) for i in range(200)]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["csv", "tsv", "json"])
def test_text_formats_stream_in_bounded_memory(name: str) -> None:
    shapes = [
        (1, 12.5, 1.5, True, "CoRoT-102890318", "ω", datetime(2007, 1, 1), [1.0, 2.0], [1.0], [1]),
        tuple([None] * len(FIELDS)),
    ]
    count = 200_000
    rows = itertools.islice(itertools.cycle(shapes), count)
    outcome = Outcome()
    tracemalloc.start()
    try:
        for _ in resolve_format(name).writer(FIELDS, rows, None, outcome=outcome):
            pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert outcome.rows == count
    assert peak < 20 * 2**20, f"peak {peak / 2**20:.1f} MiB"


@pytest.mark.parametrize("name", ["csv", "tsv"])
def test_single_precision_values_are_written_as_single_precision(name: str) -> None:
    # PostgreSQL's real 8.37 reaches Python as the double 8.369999885559082.
    fields = [FieldSpec("mag", "float"), FieldSpec("flux", "double")]
    rows = iter([(8.369999885559082, 8.369999885559082)])
    data = b"".join(resolve_format(name).writer(fields, rows, None))
    last = data.decode().strip().splitlines()[-1]
    assert last.split("," if name == "csv" else "\t") == ["8.37", "8.369999885559082"]
