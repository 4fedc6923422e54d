"""Streaming CSV, TSV and JSON result writers.

Values are written as DALI says for text: arrays (points, polygons, light-curve arrays) as
space-separated numbers, timestamps as ISO 8601 in UTC without a zone suffix, null as an empty
field (JSON: null); adql:REGION columns as the STC-S strings VOTable results carry. These
formats cannot carry a QUERY_STATUS inside the data, so:

- CSV (RFC 4180: header line, CRLF, quoting when needed) and TSV (header line; tab, newline,
  carriage return and backslash escaped as \\t \\n \\r \\\\) stop silently at MAXREC (the
  ``Outcome`` says OVERFLOW) and, if the rows fail part-way, re-raise the error after the
  complete rows, so that the HTTP transfer is cut off and no client mistakes a partial file for
  a whole one;
- JSON ends with ``"query_status"`` (OK, OVERFLOW or ERROR, with ``"message"``), and stays a
  valid document when the rows fail. NaN and infinities become null, which JSON requires.

Must not import Flask or psycopg.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import Decimal
from operator import itemgetter
from typing import cast

import numpy as np

from vo_node.votable import FieldSpec, Outcome
from vo_node.votable.batches import ERROR, OVERFLOW, Row, RowBatches, encode_rows
from vo_node.votable.fields import FLOAT_TYPES
from vo_node.votable.stcs import stcs_texts
from vo_node.votable.systems import CooSys, TimeSys, merge_timesys
from vo_node.votable.values import TEXT_SPECIALS, as_float, as_int, float_text, text_of

CHUNK = 64 * 1024
_TSV_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_Cell = Callable[[list[object]], list[object]]


def _number_texts(values: list[object]) -> list[object]:
    """Floats as text with the CSV spellings of specials; None stays None (empty). float()
    first refuses what is not a number and writes Decimals as the doubles VOTable has."""
    if None in values:
        texts: list[object] = [None if v is None else str(as_float(v)) for v in values]
    else:
        texts = list(map(str, map(as_float, values)))
    if "n" in "".join(t for t in texts if t is not None):  # type: ignore[misc]
        texts = [TEXT_SPECIALS.get(t, t) for t in texts]  # type: ignore[call-overload]
    return texts


def _array_texts(values: list[object]) -> list[object]:
    """DALI array serialisation: elements separated by spaces."""
    arrays = cast(list[Sequence[object]], values)
    return [None if v is None else " ".join(map(_element_text, v)) for v in arrays]


def _element_text(value: object) -> str:
    if value is None:
        return "NaN"
    if isinstance(value, float | Decimal):
        return float_text(value, TEXT_SPECIALS)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _integers(values: list[object]) -> list[object]:
    """Integers as they are (csv and json write them); as_int refuses anything else."""
    if None in values:
        return [None if v is None else as_int(v) for v in values]
    return list(map(as_int, values))


def _plain_texts(values: list[object]) -> list[object]:
    return [None if v is None else text_of(v) for v in values]


def _regions(kind: str, text: _Cell) -> _Cell:
    """``text`` after turning DALI arrays of geometry ``kind`` into STC-S strings."""
    return lambda values: text(stcs_texts(kind, values))


def _text_cell(spec: FieldSpec) -> _Cell:
    """How one column's values become CSV/TSV cells (None: empty)."""
    if spec.region is not None:
        return _regions(spec.region, _plain_texts)
    if spec.is_array:
        return _array_texts
    if spec.datatype == "float":
        return _single_texts
    if spec.datatype in FLOAT_TYPES:
        return _number_texts
    if spec.datatype == "boolean":
        return lambda values: [None if v is None else ("true" if v else "false") for v in values]
    if spec.is_text:
        return _plain_texts
    return _integers


def _single_texts(values: list[object]) -> list[object]:
    """Single-precision columns with the shortest text that reads back to the same float32
    (8.37, not the double 8.369999885559082 that PostgreSQL's real becomes in Python)."""
    texts = _number_texts(values)
    return [
        str(np.float32(v)) if isinstance(v, float) and math.isfinite(v) else t
        for v, t in zip(values, texts, strict=True)
    ]


def _cells(fields: Sequence[FieldSpec], rows: list[Row], cell: list[_Cell]) -> list[list[object]]:
    width = len(fields)
    if set(map(len, rows)) != {width}:
        raise ValueError(f"a row does not have {width} values")
    return [convert(list(map(itemgetter(i), rows))) for i, convert in enumerate(cell)]


def _stream(
    head: str,
    encode: Callable[[list[Row]], str],
    batches: RowBatches,
    tail: Callable[[Outcome], str] | None,
) -> Iterator[bytes]:
    """Shared loop: header, encoded batches in ~64 kB chunks, then the tail (JSON) or, when
    the rows failed and there is no tail to say so, the error re-raised."""
    pending = [head]
    size = len(head)
    outcome = batches.outcome
    for batch in batches:
        text, written, failure = encode_rows(encode, batch, "")
        batches.written(written, len(text))
        pending.append(text)
        size += len(text)
        if size >= CHUNK:
            yield "".join(pending).encode("utf-8")
            pending, size = [], 0
        if failure is not None:
            outcome.fail(failure)
            batches.failure = failure
            break
    if tail is not None:
        pending.append(tail(outcome))
    if pending:
        yield "".join(pending).encode("utf-8")
    if tail is None and outcome.status == ERROR and batches.failure is not None:
        raise batches.failure


def write_csv(
    fields: Sequence[FieldSpec],
    rows: Iterable[Row],
    maxrec: int | None = None,
    *,
    outcome: Outcome | None = None,
    **_ignored: object,
) -> Iterator[bytes]:
    """Stream RFC 4180 CSV with a header line of column names. Extra keyword arguments
    (``infos``, ``timesys``...) are accepted for a uniform writer signature and ignored."""
    fields = tuple(fields)
    cell = [_text_cell(f) for f in fields]

    def encode(batch: list[Row]) -> str:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\r\n").writerows(
            zip(*_cells(fields, batch, cell), strict=True)
        )
        return buffer.getvalue()

    header = io.StringIO()
    csv.writer(header, lineterminator="\r\n").writerow([f.name for f in fields])
    batches = RowBatches(rows, maxrec, outcome or Outcome())
    return _stream(header.getvalue(), encode, batches, None)


def _tsv_cell(value: object) -> str:
    return "" if value is None else str(value).translate(_TSV_ESCAPES)


def write_tsv(
    fields: Sequence[FieldSpec],
    rows: Iterable[Row],
    maxrec: int | None = None,
    *,
    outcome: Outcome | None = None,
    **_ignored: object,
) -> Iterator[bytes]:
    """Stream tab-separated values with a header line; special characters escaped."""
    fields = tuple(fields)
    cell = [_text_cell(f) for f in fields]

    def encode(batch: list[Row]) -> str:
        columns = [list(map(_tsv_cell, column)) for column in _cells(fields, batch, cell)]
        return "".join(["\t".join(row) + "\n" for row in zip(*columns, strict=True)])

    header = "\t".join(_tsv_cell(f.name) for f in fields) + "\n"
    batches = RowBatches(rows, maxrec, outcome or Outcome())
    return _stream(header, encode, batches, None)


def _json_number(value: object) -> object:
    if value is None or isinstance(value, int):  # bool is an int
        return value
    number = float(value)  # type: ignore[arg-type]
    return number if math.isfinite(number) else None


def _json_floats(values: list[object]) -> list[object]:
    if None not in values and all(map(_finite_float, values)):
        return values
    return list(map(_json_number, values))


def _finite_float(value: object) -> bool:
    return type(value) is float and math.isfinite(value)


def _json_arrays(values: list[object]) -> list[object]:
    arrays = cast(list[Sequence[object]], values)
    return [None if v is None else list(map(_json_number, v)) for v in arrays]


def _json_booleans(values: list[object]) -> list[object]:
    return [None if v is None else bool(v) for v in values]


def _json_texts(values: list[object]) -> list[object]:
    if all(type(v) is str for v in values):
        return values
    return _plain_texts(values)


def _json_value(spec: FieldSpec) -> _Cell:
    """How one column's values become JSON values (NaN and infinities: null)."""
    if spec.region is not None:
        return _regions(spec.region, _json_texts)
    if spec.is_array:
        return _json_arrays  # booleans are ints to _json_number, so kept as they are
    if spec.datatype in FLOAT_TYPES:
        return _json_floats
    if spec.datatype == "boolean":
        return _json_booleans
    if spec.is_text:
        return _json_texts
    return _integers


def _json_metadata(spec: FieldSpec) -> dict[str, str]:
    return {k: v for k, v in [*spec.attributes(), ("description", spec.description)] if v}


def write_json(
    fields: Sequence[FieldSpec],
    rows: Iterable[Row],
    maxrec: int | None = None,
    *,
    infos: Sequence[tuple[str, str]] = (),
    resource_infos: Sequence[tuple[str, str]] = (),
    timesys: Sequence[TimeSys] = (),
    coosys: Sequence[CooSys] = (),
    outcome: Outcome | None = None,
    **_ignored: object,
) -> Iterator[bytes]:
    """Stream one JSON document::

    {"metadata": [{"name": ..., "datatype": ..., "unit": ..., "ucd": ...}, ...],
     "infos": [{"name": ..., "value": ...}, ...],
     "data": [[...], ...],
     "query_status": "OK" | "OVERFLOW" | "ERROR", "message": "..."}
    """
    fields = tuple(fields)
    convert = [_json_value(f) for f in fields]
    dumps = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode
    first = [True]

    def encode(batch: list[Row]) -> str:
        # One dumps per batch (C speed); its outer brackets go, the rows stay comma-separated.
        text = dumps(list(zip(*_cells(fields, batch, convert), strict=True)))[1:-1]
        if first[0]:
            first[0] = False
            return text
        return ",\n" + text

    def tail(outcome: Outcome) -> str:
        end: dict[str, object] = {"query_status": outcome.status}
        if outcome.status == ERROR:
            end["message"] = outcome.message
            if outcome.hint:
                end["hint"] = outcome.hint
        if outcome.status == OVERFLOW:
            end["message"] = "the result was truncated at MAXREC rows"
        return "\n],\n" + dumps(end)[1:] + "\n"

    systems: list[dict[str, str | None]] = [
        {"element": "COOSYS", **dict(system.attributes())} for system in coosys
    ]
    # The TIMESYS elements a VOTable of these fields would hold: FIELDs' refs resolve here.
    timesys = merge_timesys(timesys, (f.timesys for f in fields))
    systems += [{"element": "TIMESYS", **dict(system.attributes())} for system in timesys]
    head = {
        "metadata": [_json_metadata(f) for f in fields],
        "infos": [{"name": n, "value": v} for n, v in [*infos, *resource_infos]],
        "systems": systems,
    }
    start = dumps(head)[:-1] + ',\n"data":[\n'
    batches = RowBatches(rows, maxrec, outcome or Outcome())
    return _stream(start, encode, batches, tail)
