"""The streaming VOTable 1.4 result document: envelope, FIELDs, the data stream, and the tail
that tells a client how the query ended.

Layout (DALI 1.1 VOTable responses; TAP 1.1 results)::

    VOTABLE version="1.4" (namespace .../VOTable/v1.3, which VOTable 1.4 keeps)
      INFO*                                  document-level ``infos``
      RESOURCE type="results"
        INFO name="QUERY_STATUS" value="OK"
        INFO*                                ``resource_infos``
        COOSYS* TIMESYS*
        TABLE (FIELD*, DATA: BINARY2 STREAM or TABLEDATA)
        INFO name="warning"*                 text values the encoding had to change
        INFO name="QUERY_STATUS" value="OVERFLOW" | "ERROR"   when the query did not end OK

The final status goes after the table because it is only known once the rows are out; clients
read the last QUERY_STATUS (pyvo ``DALResults._findstatusinfo``). An error part-way closes the
table so the document stays well-formed, and carries a message, never a traceback.
Must not import Flask or psycopg.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache
from typing import Any, Protocol

from vo_node.votable.batches import (
    ERROR,
    OK,
    TARGET_BYTES,
    Outcome,
    Row,
    RowBatches,
    encode_rows,
)
from vo_node.votable.binary2 import Binary2Encoder
from vo_node.votable.copyrows import CopyRowsEncoder
from vo_node.votable.fields import FieldSpec
from vo_node.votable.markup import element, start_tag
from vo_node.votable.systems import CooSys, TimeSys, merge_timesys
from vo_node.votable.tabledata import TabledataEncoder
from vo_node.votable.values import TextNotes

NAMESPACE = "http://www.ivoa.net/xml/VOTable/v1.3"
VERSION = "1.4"
SCHEMA_LOCATION = f"{NAMESPACE} http://www.ivoa.net/xml/VOTable/votable-1.4.xsd"
SERIALIZATIONS = ("binary2", "tabledata")
CHUNK = 64 * 1024
# Raw bytes per base64 piece: a multiple of 3, so pieces concatenate without padding.
_RAW_CHUNK = 3 * (CHUNK // 4)
# Output per batch of BINARY2 rows. The encoder's cost is mostly per column per batch, so
# batches of a thousand wide rows cost a fraction of the few hundred TARGET_BYTES gives;
# beyond that the batch no longer fits the processor's caches and the gain turns.
BINARY2_BATCH_BYTES = 512 * 1024


class _Encoder(Protocol):
    notes: TextNotes

    def encode(self, rows: Sequence[Any]) -> bytes: ...


def document_start(infos: Iterable[tuple[str, str]] = ()) -> str:
    """The XML declaration, the VOTABLE start tag and document-level INFO elements."""
    root = start_tag(
        "VOTABLE",
        [
            ("version", VERSION),
            ("xmlns", NAMESPACE),
            ("xmlns:xsi", "http://www.w3.org/2001/XMLSchema-instance"),
            ("xsi:schemaLocation", SCHEMA_LOCATION),
        ],
    )
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', root]
    lines.extend(element("INFO", [("name", name), ("value", value)]) for name, value in infos)
    return "\n".join(lines)


def status_info(status: str, message: str | None = None, hint: str | None = None) -> str:
    """An INFO name="QUERY_STATUS"; the message (and a hint on a line of its own) is the
    element's content, which is what clients show (DALI 1.1 error documents)."""
    text = message
    if message is not None and hint:
        text = f"{message}\nHint: {hint}"
    return element("INFO", [("name", "QUERY_STATUS"), ("value", status)], text)


@lru_cache(maxsize=4096)
def _field(spec: FieldSpec) -> str:
    # Kept: a service writes the same FIELDs again and again, and escaping is not free.
    if spec.description is None:
        return element("FIELD", spec.attributes())
    description = element("DESCRIPTION", (), spec.description)
    return f"{start_tag('FIELD', spec.attributes())}{description}</FIELD>"


def _check_refs(fields: Sequence[FieldSpec], systems: Sequence[TimeSys | CooSys]) -> None:
    ids = [s.id for s in systems]
    if len(set(ids)) != len(ids):
        raise ValueError(f"duplicate COOSYS/TIMESYS IDs: {ids}")
    for spec in fields:
        if spec.ref is not None and spec.ref not in ids:
            raise ValueError(f"field {spec.name}: ref {spec.ref!r} names no COOSYS or TIMESYS")


def write_votable(
    fields: Sequence[FieldSpec],
    rows: Iterable[Row],
    *,
    serialization: str = "binary2",
    maxrec: int | None = None,
    infos: Sequence[tuple[str, str]] = (),
    timesys: Sequence[TimeSys] = (),
    coosys: Sequence[CooSys] = (),
    table_name: str = "result",
    resource_infos: Sequence[tuple[str, str]] = (),
    outcome: Outcome | None = None,
    copy_types: Sequence[int] | None = None,
    after: Sequence[str] = (),
) -> Iterator[bytes]:
    """Stream a VOTable 1.4 result document of ``fields`` and at most ``maxrec`` ``rows``.

    ``rows`` yields one sequence of Python values per row (None for null; see the package
    docstring for the types each datatype takes). It is read lazily, a batch at a time, and
    never closed here: the caller owns it. A (maxrec+1)-th row makes the status OVERFLOW;
    ``maxrec=0`` writes the metadata and no rows. If ``rows`` raises, the rows before are kept,
    the table is closed and the status is ERROR with the message of a ``NodeError`` or a
    generic one. ``infos`` become INFO elements of the document, ``resource_infos`` INFO
    elements of the results RESOURCE (e.g. the query). ``timesys`` and ``coosys`` are written
    before the table, followed by the TIMESYS elements the fields carry (VOTable 1.4,
    section 3.5). ``outcome``, if given, is filled in.

    ``copy_types`` (BINARY2 only): the rows are PostgreSQL binary COPY rows of these type
    OIDs, one per field, encoded without becoming Python values (:mod:`copyrows`; the caller
    checked :func:`copyrows.copy_supported`).

    ``after``: further RESOURCE elements (XML text, e.g. DataLink service descriptors) that
    follow the results RESOURCE.

    The arguments are checked now (ValueError), before the first byte is produced; the
    returned iterator yields chunks of about 64 kB.
    """
    fields = tuple(fields)
    if not fields:
        raise ValueError("a result needs at least one field")
    serialization = serialization.lower()
    if serialization not in SERIALIZATIONS:
        raise ValueError(f"serialization must be one of {SERIALIZATIONS}, not {serialization!r}")
    timesys = merge_timesys(timesys, (spec.timesys for spec in fields))
    _check_refs(fields, [*coosys, *timesys])
    if maxrec is not None and maxrec < 0:
        raise ValueError("maxrec must not be negative")
    encoder: _Encoder
    if copy_types is not None and serialization != "binary2":
        raise ValueError("COPY rows are written as BINARY2 only")
    if serialization == "binary2":
        encoder = (
            Binary2Encoder(fields) if copy_types is None else CopyRowsEncoder(fields, copy_types)
        )
        data_start = '<DATA><BINARY2><STREAM encoding="base64">\n'
        data_end = "</STREAM></BINARY2></DATA>"
    else:
        encoder = TabledataEncoder(fields)
        data_start, data_end = "<DATA><TABLEDATA>\n", "</TABLEDATA></DATA>"
    head = [
        document_start(infos),
        start_tag("RESOURCE", [("type", "results")]),
        status_info(OK),
        *(element("INFO", [("name", name), ("value", value)]) for name, value in resource_infos),
        *(element("COOSYS", system.attributes()) for system in coosys),
        *(element("TIMESYS", system.attributes()) for system in timesys),
        start_tag("TABLE", [("name", table_name)]),
        *(_field(spec) for spec in fields),
        data_start,
    ]
    outcome = outcome if outcome is not None else Outcome()
    target = BINARY2_BATCH_BYTES if serialization == "binary2" else TARGET_BYTES
    # A binary COPY row is about as long as its BINARY2 row: batches by their bytes.
    measure = None if copy_types is None else len
    batches = RowBatches(rows, maxrec, outcome, target_bytes=target, row_bytes=measure)
    return _stream(
        "\n".join(head), data_end, encoder, batches, serialization == "binary2", "".join(after)
    )


def _stream(
    head: str, data_end: str, encoder: _Encoder, batches: RowBatches, binary: bool, after: str
) -> Iterator[bytes]:
    outcome = batches.outcome
    # The head goes out with the first data (or the whole of a small result in one write):
    # every write is a round of system calls and packets on the way to the client.
    start: bytes | None = head.encode("utf-8")
    pending = bytearray()
    for batch in batches:
        data, written, failure = encode_rows(encoder.encode, batch, b"")
        batches.written(written, len(data))
        pending += data
        step = _RAW_CHUNK if binary else CHUNK
        if len(pending) >= step:
            # Every whole chunk goes out now (a multiple of 3: base64 pieces then need no
            # padding, and every line but the last is as long, whatever the batch sizes),
            # sliced and cut from the buffer in one move: a single row may be MBs.
            ready = len(pending) - len(pending) % step if binary else len(pending)
            with memoryview(pending) as view:
                for offset in range(0, ready, step):
                    with view[offset : min(offset + step, ready)] as piece:
                        chunk = base64.b64encode(piece) + b"\n" if binary else bytes(piece)
                    if start is not None:
                        chunk, start = start + chunk, None
                    yield chunk
            del pending[:ready]
        if failure is not None:
            outcome.fail(failure)
            break
    if binary and pending:
        pending = bytearray(base64.b64encode(pending) + b"\n")
    outcome.warnings = encoder.notes.warnings()
    tail = [data_end, "</TABLE>"]
    tail.extend(element("INFO", [("name", "warning"), ("value", w)]) for w in outcome.warnings)
    if outcome.status != OK:
        message = outcome.message if outcome.status == ERROR else None
        tail.append(status_info(outcome.status, message, outcome.hint))
    tail.append(f"</RESOURCE>\n{after}</VOTABLE>\n")
    pending += "\n".join(tail).encode("utf-8")
    yield bytes(pending) if start is None else start + pending
