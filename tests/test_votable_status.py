"""Streaming VOTable results: overflow, errors part-way, chunking (split from test_votable)."""

from __future__ import annotations

import itertools
import logging
import tracemalloc
import warnings
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pytest
from test_votable import (
    NS,
    SERIALIZATIONS,
    cell,
    first_table,
    render,
    statuses,
    strict,
    votlint,
)

from tap_schema.model import Column, TimeSystem
from vo_node.errors import NodeError
from vo_node.votable import (
    OK,
    OVERFLOW,
    CooSys,
    FieldSpec,
    Outcome,
    ResultTypeError,
    TimeSys,
    error_document,
    write_votable,
)
from vo_node.votable.batches import RowBatches


@pytest.mark.parametrize("serialization", SERIALIZATIONS)
@pytest.mark.parametrize("count", [1, 63, 64, 65, 5000])
def test_overflow_at_maxrec_plus_one_and_not_at_maxrec(serialization: str, count: int) -> None:
    fields = [FieldSpec("n", "long")]
    exact = render(fields, iter([(i,) for i in range(count)]), serialization=serialization,
                   maxrec=count)  # fmt: skip
    assert len(first_table(exact).array) == count
    assert statuses(exact) == [("OK", None)]
    outcome = Outcome()
    over = render(fields, ((i,) for i in range(count + 1)), serialization=serialization,
                  maxrec=count, outcome=outcome)  # fmt: skip
    table = first_table(over)
    assert list(table.array["n"]) == list(range(count))
    assert statuses(over) == [("OK", None), ("OVERFLOW", None)]
    assert (outcome.status, outcome.rows) == (OVERFLOW, count)
    # The OVERFLOW INFO is the last element of the RESOURCE, after the TABLE.
    resource = ElementTree.fromstring(over).find("v:RESOURCE", NS)
    assert resource is not None
    assert [child.tag.split("}")[1] for child in resource][-2:] == ["TABLE", "INFO"]


def test_pyvo_reports_overflow() -> None:
    pyvo_dal = pytest.importorskip("pyvo.dal")
    data = render([FieldSpec("n", "long")], ((i,) for i in range(11)), maxrec=10)
    with pytest.warns(pyvo_dal.DALOverflowWarning):
        pyvo_dal.DALResults(strict(data))
    results = pyvo_dal.TAPResults(strict(data))  # TAPService.run_sync warns through this:
    with pytest.warns(pyvo_dal.DALOverflowWarning, match="truncated"):
        results.check_overflow_warning()
    assert results.query_status == "OVERFLOW"
    assert len(results) == 10
    plain = pyvo_dal.TAPResults(strict(render([FieldSpec("n", "long")], iter([(1,)]), maxrec=10)))
    assert plain.query_status == "OK"


class StatementTimeout(NodeError):
    """Stands for the errors the query layer raises while rows are fetched."""


def failing_rows(after: int, error: Exception) -> Iterator[tuple[object, ...]]:
    for i in range(after):
        yield (i, f"star {i}")
    raise error


ERROR_FIELDS = [FieldSpec("n", "long"), FieldSpec("name", "char")]


@pytest.mark.parametrize("serialization", SERIALIZATIONS)
@pytest.mark.parametrize("after", [0, 3, 10_000])
def test_error_mid_stream_closes_the_table_and_reports_the_message(
    serialization: str, after: int, tmp_path: Path
) -> None:
    error = StatementTimeout("the query ran over its time limit", "add a TOP clause")
    outcome = Outcome()
    data = render(ERROR_FIELDS, failing_rows(after, error), serialization=serialization,
                  outcome=outcome)  # fmt: skip
    table = first_table(data)
    assert list(table.array["n"]) == list(range(after))  # every row before the failure
    message = "the query ran over its time limit\nHint: add a TOP clause"
    assert statuses(data) == [("OK", None), ("ERROR", message)]
    assert (outcome.status, outcome.rows, outcome.message) == ("ERROR", after, error.message)
    assert data.rstrip().endswith(b"</VOTABLE>")
    assert "ERROR" not in votlint(data, tmp_path)
    pyvo_dal = pytest.importorskip("pyvo.dal")
    with pytest.raises(pyvo_dal.DALQueryError, match="ran over its time limit"):
        pyvo_dal.TAPResults(strict(data))


@pytest.mark.parametrize("serialization", SERIALIZATIONS)
def test_unexpected_errors_give_a_generic_message_and_no_traceback(
    serialization: str, caplog: pytest.LogCaptureFixture
) -> None:
    secret = RuntimeError("password=hunter2 at /srv/secret.py line 3")
    with caplog.at_level(logging.ERROR, logger="vo_node.votable"):
        data = render(ERROR_FIELDS, failing_rows(5, secret), serialization=serialization)
    text = data.decode()
    assert "hunter2" not in text and "Traceback" not in text and "secret.py" not in text
    assert statuses(data)[-1][0] == "ERROR"
    assert "internal error" in (statuses(data)[-1][1] or "")
    assert len(first_table(data).array) == 5
    assert any(r.exc_info and r.exc_info[1] is secret for r in caplog.records)  # for operators


@pytest.mark.parametrize("serialization", SERIALIZATIONS)
def test_a_value_the_encoder_refuses_ends_the_stream_after_the_good_rows(
    serialization: str,
) -> None:
    rows = [(i, "ok") for i in range(300)] + [("not a number", "bad")] + [(1, "never")]
    data = render(ERROR_FIELDS, iter(rows), serialization=serialization)
    assert list(first_table(data).array["n"]) == list(range(300))
    assert statuses(data)[-1][0] == "ERROR"


@pytest.mark.parametrize("serialization", SERIALIZATIONS)
def test_arrays_of_the_wrong_length_are_refused(serialization: str) -> None:
    fields = [FieldSpec("pos", "double", arraysize="2", xtype="point")]
    data = render(fields, iter([([1.0, 2.0],), ([1.0, 2.0, 3.0],)]), serialization=serialization)
    assert len(first_table(data).array) == 1
    assert statuses(data)[-1][0] == "ERROR"


def test_error_document_is_read_by_astropy_pyvo_and_votlint(tmp_path: Path) -> None:
    data = error_document("Table corot.nosuch does not exist", "see /tap/tables")
    vot = strict(data)
    (resource,) = vot.resources
    assert resource.type == "results" and not resource.tables
    assert statuses(data) == [("ERROR", "Table corot.nosuch does not exist\nHint: see /tap/tables")]
    assert "ERROR (" not in votlint(data, tmp_path)
    pyvo_dal = pytest.importorskip("pyvo.dal")
    with pytest.raises(pyvo_dal.DALQueryError) as caught:
        pyvo_dal.TAPResults(vot)
    assert "Table corot.nosuch does not exist" in str(caught.value)
    escaped = strict(error_document("bad <token> & \x02"))
    assert escaped.resources[0].infos[0].content == "bad <token> & \ufffd"


def test_output_is_streamed_in_chunks_and_rows_are_read_lazily() -> None:
    pulled = []

    def rows() -> Iterator[tuple[int, str]]:
        for i in range(200_000):
            pulled.append(i)
            yield (i, "x" * 20)

    chunks = write_votable(ERROR_FIELDS, rows())
    assert not pulled  # nothing is read before the first chunk is asked for
    head = next(chunks)
    # The metadata goes out with the first data, after a batch of rows, not the result.
    assert b"<FIELD" in head and 0 < len(pulled) < 50_000
    sizes = [len(head)] + [len(chunk) for chunk in chunks]
    assert max(sizes) <= 70_000 and len(sizes) > 50


def test_a_small_result_is_one_write() -> None:
    chunks = list(write_votable(ERROR_FIELDS, iter([(1, "a"), (2, "b")])))
    assert len(chunks) == 1 and strict(chunks[0]).get_first_table().array.shape == (2,)


def test_rows_of_known_size_are_batched_by_bytes() -> None:
    """Rows whose size is known before encoding (binary COPY rows) go in batches of about
    the target bytes from the first batch on: a small result is one batch, and a batch of
    huge rows is a few rows."""
    outcome = Outcome()
    rows = [b"x" * size for size in [10] * 50 + [400_000] * 5 + [10] * 3]
    batches = list(RowBatches(iter(rows), None, outcome, target_bytes=1000, row_bytes=len))
    # (A batch ends with the row that reaches the target.)
    assert [len(b) for b in batches] == [51, 1, 1, 1, 1, 3]
    assert outcome.status == OK
    # MAXREC still counts rows, and one more means overflow.
    outcome = Outcome()
    batches = list(RowBatches(iter(rows), 52, outcome, target_bytes=1000, row_bytes=len))
    assert sum(map(len, batches)) == 52 and outcome.status == OVERFLOW
    outcome = Outcome()
    batches = list(RowBatches(iter(rows[:7]), 7, outcome, target_bytes=10**6, row_bytes=len))
    assert [len(b) for b in batches] == [7] and outcome.status == OK


@pytest.mark.parametrize("serialization", SERIALIZATIONS)
def test_a_huge_row_still_leaves_in_small_chunks(serialization: str) -> None:
    fields = [FieldSpec("flux", "double", arraysize="*")]
    curve = [0.5] * 500_000  # one row of 4 MB in BINARY2
    chunks = list(
        write_votable(fields, iter([(curve,), (curve[:3],)]), serialization=serialization)
    )
    assert max(map(len, chunks)) <= 70_000
    table = first_table(b"".join(chunks))
    assert len(cell(table, "flux", 0)) == 500_000 and list(cell(table, "flux", 1)) == [0.5] * 3


def test_arguments_are_checked_before_the_first_byte() -> None:
    with pytest.raises(ValueError, match="names no COOSYS or TIMESYS"):
        write_votable([FieldSpec("t", "double", ref="nowhere")], iter([]))
    with pytest.raises(ValueError, match="serialization"):
        write_votable(ERROR_FIELDS, iter([]), serialization="fits")
    with pytest.raises(ValueError, match="maxrec"):
        write_votable(ERROR_FIELDS, iter([]), maxrec=-1)
    with pytest.raises(ValueError):
        write_votable([], iter([]))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"datatype": "string"},
        {"datatype": "double", "arraysize": "2x3"},
        {"datatype": "double", "arraysize": "0"},
        {"datatype": "double", "arraysize": "3", "xtype": "point"},
        {"datatype": "int", "arraysize": "2", "xtype": "point"},
        {"datatype": "double", "arraysize": "4", "xtype": "polygon"},
        {"datatype": "unicodeChar", "xtype": "timestamp"},
        {"datatype": "double", "ref": "not an id"},
        {"datatype": "double", "arraysize": "*", "xtype": "adql:REGION"},
        {"datatype": "double", "arraysize": "3", "region": "circle"},
        {"datatype": "char", "xtype": "adql:REGION", "region": "box"},
    ],
)
def test_field_spec_refuses_what_cannot_be_written(kwargs: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        FieldSpec("x", **kwargs)  # type: ignore[arg-type]


def test_reference_systems_are_checked() -> None:
    with pytest.raises(ValueError):
        TimeSys("1bad", "UTC", "TOPOCENTER")
    with pytest.raises(ValueError):
        TimeSys("t", "TT", "GEOCENTER", timeorigin="yesterday")
    with pytest.raises(ValueError):
        CooSys("c", system="fk5")
    with pytest.raises(ValueError):
        CooSys("c", equinox="2000 AD")


def test_field_spec_from_a_published_column() -> None:
    column = Column(
        name="s_region", datatype="double", arraysize="*", xtype="polygon", unit="deg",
        ucd="pos.outline;obs.field", utype="obscore:Char.SpatialAxis.Coverage.Support.Area",
        description="Sky region covered",
    )  # fmt: skip
    spec = FieldSpec.from_column(column)
    assert (spec.name, spec.datatype, spec.arraysize, spec.xtype) == (
        "s_region", "double", "*", "polygon",
    )  # fmt: skip
    assert (spec.unit, spec.ucd, spec.utype, spec.description) == (
        column.unit, column.ucd, column.utype, column.description,
    )  # fmt: skip
    assert FieldSpec.from_column(column, name="region").name == "region"
    text = FieldSpec.from_column(Column(name="obs_id", datatype="char", description="id"))
    assert text.arraysize == "*"


def test_field_spec_from_a_published_time_or_region_column() -> None:
    mjd = TimeSystem("mjd_tt", "TT", "BARYCENTER", 2400000.5)
    time = FieldSpec.from_column(
        Column("t_min", "double", "Start", "time.start", "d", timesys=mjd), name="start"
    )
    assert (time.name, time.ref, time.timesys) == (
        "start", "mjd_tt", TimeSys("mjd_tt", "TT", "BARYCENTER", timeorigin=2400000.5),
    )  # fmt: skip
    region = FieldSpec.from_column(
        Column("s_region", "char", "Area", xtype="adql:REGION", arraysize="*", region="polygon")
    )
    assert (region.datatype, region.xtype, region.region, region.unit) == (
        "char", "adql:REGION", "polygon", None,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("oid", "datatype", "arraysize", "xtype"),
    [
        (16, "boolean", None, None),
        (20, "long", None, None),
        (21, "short", None, None),
        (23, "int", None, None),
        (700, "float", None, None),
        (701, "double", None, None),
        (1700, "double", None, None),
        (25, "char", "*", None),
        (1043, "char", "*", None),
        (1114, "char", "*", "timestamp"),
        (1184, "char", "*", "timestamp"),
        (1022, "double", "*", None),
    ],
)
def test_field_spec_from_a_postgresql_type(
    oid: int, datatype: str, arraysize: str | None, xtype: str | None
) -> None:
    spec = FieldSpec.from_pg_type("c", oid, unit="deg")
    assert (spec.datatype, spec.arraysize, spec.xtype, spec.unit) == (
        datatype, arraysize, xtype, "deg",
    )  # fmt: skip


def test_field_spec_from_an_unknown_postgresql_type_is_a_user_error() -> None:
    point = FieldSpec.from_pg_type("pos", 1022, arraysize="2", xtype="point")
    assert (point.arraysize, point.xtype) == ("2", "point")
    with pytest.raises(ResultTypeError) as caught:
        FieldSpec.from_pg_type("region", 16_425)  # e.g. pgSphere's spoly, OID varies
    assert isinstance(caught.value, NodeError) and "region" in caught.value.message


def test_timestamps_are_utc_without_zone_suffix() -> None:
    fields = [FieldSpec("t", "char", xtype="timestamp")]
    aware = datetime(2024, 3, 1, 0, 30, tzinfo=timezone(timedelta(hours=2)))
    rows = [(aware,), (datetime(2024, 3, 1, 12),), (date(2024, 3, 1),)]
    for serialization in SERIALIZATIONS:
        table = first_table(render(fields, iter(rows), serialization=serialization))
        assert [cell(table, "t", i) for i in range(3)] == [
            "2024-02-29T22:30:00", "2024-03-01T12:00:00", "2024-03-01",
        ]  # fmt: skip


def sample_rows(count: int) -> Iterator[tuple[object, ...]]:
    """``count`` rows cycling through a few shapes, made at C speed (itertools) so that the
    measurement is the writer's."""
    shapes = [
        (1, 12.5, -0.5, "CoRoT-102890318", [101.5, -0.25]),
        (None, None, None, None, None),
        (3, float("nan"), 1e300, "", [0.0, 0.0]),
    ]
    return itertools.islice(itertools.cycle(shapes), count)


MEMORY_FIELDS = [
    FieldSpec("id", "long"),
    FieldSpec("ra", "double"),
    FieldSpec("dec", "double"),
    FieldSpec("name", "char"),
    FieldSpec("pos", "double", arraysize="2", xtype="point"),
]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("serialization", "count"), [("binary2", 2_000_000), ("tabledata", 300_000)]
)
def test_memory_stays_bounded_however_many_rows(serialization: str, count: int) -> None:
    outcome = Outcome()
    tracemalloc.start()
    try:
        total = 0
        for chunk in write_votable(MEMORY_FIELDS, sample_rows(count), serialization=serialization,
                                   outcome=outcome):  # fmt: skip
            total += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert outcome.rows == count and total > count * 20
    assert peak < 20 * 2**20, f"peak {peak / 2**20:.1f} MiB for {count} rows"


@pytest.mark.slow
def test_memory_stays_bounded_with_large_arrays() -> None:
    """Rows holding whole light curves (25,000 points) shrink the batches to a few rows."""
    fields = [FieldSpec("obs_id", "char"), FieldSpec("flux", "float", arraysize="*")]
    curve = [float(i) for i in range(25_000)]
    tracemalloc.start()
    try:
        for _ in write_votable(fields, itertools.repeat(("lc", curve), 200)):
            pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20, f"peak {peak / 2**20:.1f} MiB"


@pytest.mark.parametrize("serialization", SERIALIZATIONS)
def test_long_rows_round_trip(serialization: str) -> None:
    """Rows of light-curve size (assembled by joining rows rather than by numpy scatter)
    mixed with short ones."""
    fields = [
        FieldSpec("n", "long"),
        FieldSpec("id", "char"),
        FieldSpec("flux", "double", arraysize="*"),
        FieldSpec("pos", "double", "2"),
    ]
    rows = [
        (i, f"lc-{i}" * (i % 3), [i + j / 7 for j in range(i * 37 % 2000)], [1.0, -1.0])
        for i in range(120)
    ]
    table = first_table(render(fields, iter(rows), serialization=serialization))
    for i, row in enumerate(rows):
        assert cell(table, "id", i) == row[1]
        assert list(cell(table, "flux", i)) == row[2]  # type: ignore[call-overload]
        assert list(cell(table, "pos", i)) == row[3]  # type: ignore[call-overload]


def test_many_rows_parse_in_both_serializations() -> None:
    for serialization in SERIALIZATIONS:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            table = first_table(render(MEMORY_FIELDS, sample_rows(20_000),
                                       serialization=serialization))  # fmt: skip
        assert len(table.array) == 20_000
        assert list(table.array["id"][:4]) == [1, np.ma.masked, 3, 1]
