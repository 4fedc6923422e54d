"""RESPONSEFORMAT (and SSA's FORMAT) values -> result writers (DALI 1.1 RESPONSEFORMAT;
TAP 1.1 output formats).

Each :class:`Format` names one output: its MIME type for TAPRegExt ``outputFormat``, the
Content-Type of responses, the short aliases clients may send, a file extension for async
results and downloads, and the writer. Every writer has the same signature::

    writer(fields, rows, maxrec=None, *, infos=(), resource_infos=(), timesys=(), coosys=(),
           table_name="result", outcome=None) -> Iterator[bytes]

FITS and Parquet are not offered: a FITS binary table states its row count and column widths
in the header before the data, and Parquet needs pyarrow; both would mean spooling the whole
result before the first byte. Must not import Flask or psycopg.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from vo_node.errors import NodeError
from vo_node.textformats import write_csv, write_json, write_tsv
from vo_node.votable import CooSys, FieldSpec, Outcome, TimeSys, write_votable
from vo_node.votable.batches import Row

VOTABLE_MIME = "application/x-votable+xml"


class UnsupportedFormatError(NodeError):
    """A RESPONSEFORMAT/FORMAT value the service does not produce."""


class ResultWriter(Protocol):
    """The signature every format's writer has."""

    def __call__(
        self,
        fields: Sequence[FieldSpec],
        rows: Iterable[Row],
        maxrec: int | None = None,
        *,
        infos: Sequence[tuple[str, str]] = (),
        resource_infos: Sequence[tuple[str, str]] = (),
        timesys: Sequence[TimeSys] = (),
        coosys: Sequence[CooSys] = (),
        table_name: str = "result",
        outcome: Outcome | None = None,
    ) -> Iterator[bytes]: ...


class CopiedWriter(Protocol):
    """A writer of binary COPY rows: a :class:`ResultWriter` told the rows' type OIDs."""

    def __call__(
        self,
        fields: Sequence[FieldSpec],
        rows: Iterable[Row],
        maxrec: int | None = None,
        *,
        copy_types: Sequence[int],
        resource_infos: Sequence[tuple[str, str]] = (),
        after: Sequence[str] = (),
    ) -> Iterator[bytes]: ...


def _write_binary2(
    fields: Sequence[FieldSpec],
    rows: Iterable[Row],
    maxrec: int | None = None,
    **options: Any,
) -> Iterator[bytes]:
    return write_votable(fields, rows, serialization="binary2", maxrec=maxrec, **options)


def _write_binary2_copied(
    fields: Sequence[FieldSpec],
    rows: Iterable[Row],
    maxrec: int | None = None,
    *,
    copy_types: Sequence[int],
    **options: Any,
) -> Iterator[bytes]:
    return write_votable(
        fields, rows, serialization="binary2", maxrec=maxrec, copy_types=copy_types, **options
    )


def _write_tabledata(
    fields: Sequence[FieldSpec],
    rows: Iterable[Row],
    maxrec: int | None = None,
    **options: Any,
) -> Iterator[bytes]:
    return write_votable(fields, rows, serialization="tabledata", maxrec=maxrec, **options)


@dataclass(frozen=True)
class Format:
    """One output format the service offers."""

    name: str  # short name, also the first alias
    mime_type: str  # for TAPRegExt outputFormat/mime
    content_type: str  # the Content-Type header of a response
    extension: str  # file suffix of async results and downloads
    aliases: tuple[str, ...]  # further short names, for TAPRegExt outputFormat/alias
    writer: ResultWriter
    other_mime_types: tuple[str, ...] = ()  # further MIME spellings accepted
    # The writer of binary COPY rows (``copy_types=`` their type OIDs), for formats that have
    # one: the fast path for large results (vo_node.query, QueryResult.copied).
    copied_writer: CopiedWriter | None = None
    # Whether the format can carry DataLink service descriptors (a VOTable's RESOURCEs).
    descriptors: bool = False


VOTABLE = Format(
    name="votable",
    mime_type=VOTABLE_MIME,
    content_type=VOTABLE_MIME,
    extension="vot",
    aliases=("votable/b2",),
    writer=_write_binary2,
    other_mime_types=("text/xml", f"{VOTABLE_MIME};serialization=BINARY2"),
    copied_writer=_write_binary2_copied,
    descriptors=True,
)
VOTABLE_TD = Format(
    name="votable/td",
    mime_type=f"{VOTABLE_MIME};serialization=TABLEDATA",
    content_type=f"{VOTABLE_MIME};serialization=TABLEDATA",
    extension="vot",
    aliases=(),
    writer=_write_tabledata,
    descriptors=True,
)
CSV = Format(
    name="csv",
    mime_type="text/csv",
    content_type="text/csv;charset=utf-8;header=present",
    extension="csv",
    aliases=(),
    writer=write_csv,
)
TSV = Format(
    name="tsv",
    mime_type="text/tab-separated-values",
    content_type="text/tab-separated-values;charset=utf-8",
    extension="tsv",
    aliases=(),
    writer=write_tsv,
)
JSON = Format(
    name="json",
    mime_type="application/json",
    content_type="application/json",
    extension="json",
    aliases=(),
    writer=write_json,
)
FORMATS: tuple[Format, ...] = (VOTABLE, VOTABLE_TD, CSV, TSV, JSON)
DEFAULT = VOTABLE

# MIME types without parameters that name a format outright; VOTable is looked up apart
# because its serialization parameter chooses between two formats.
_BY_BASE = {
    "votable": VOTABLE,
    "votable/b2": VOTABLE,
    "votable/td": VOTABLE_TD,
    "text/xml": VOTABLE,
    "csv": CSV,
    "text/csv": CSV,
    "tsv": TSV,
    "text/tab-separated-values": TSV,
    "json": JSON,
    "application/json": JSON,
}
_VOTABLE_SERIALIZATIONS = {"binary2": VOTABLE, "tabledata": VOTABLE_TD}


def accepted_values() -> list[str]:
    """Every RESPONSEFORMAT value :func:`resolve_format` accepts, for messages and docs."""
    values: list[str] = []
    for fmt in FORMATS:
        for value in (fmt.name, *fmt.aliases, fmt.mime_type, *fmt.other_mime_types):
            if value not in values:
                values.append(value)
    return values


def _refuse(value: str) -> UnsupportedFormatError:
    return UnsupportedFormatError(
        f"RESPONSEFORMAT {value!r} is not supported",
        "use one of " + ", ".join(accepted_values()),
    )


def resolve_format(value: str | None) -> Format:
    """The format a RESPONSEFORMAT/FORMAT value asks for; None or empty means VOTable
    (BINARY2). MIME types are compared case-insensitively and may carry parameters:
    ``serialization`` picks the VOTable encoding, ``charset``/``header`` are accepted for
    text formats (the output is always UTF-8 with a header line), others are refused."""
    if value is None or not value.strip():
        return DEFAULT
    base, *raw_params = (part.strip() for part in value.strip().split(";"))
    base = base.lower()
    params: dict[str, str] = {}
    for raw in raw_params:
        key, sep, val = raw.partition("=")
        if not sep or not key.strip():
            raise _refuse(value)
        params[key.strip().lower()] = val.strip().strip('"').lower()
    if base == VOTABLE_MIME or (base in ("votable", "text/xml") and params):
        unknown = set(params) - {"serialization", "charset"}
        chosen = _VOTABLE_SERIALIZATIONS.get(params.get("serialization", "binary2"))
        if unknown or chosen is None:
            raise _refuse(value)
        return chosen
    fmt = _BY_BASE.get(base)
    if fmt is None or (params and (fmt not in (CSV, TSV) or set(params) - {"charset", "header"})):
        raise _refuse(value)
    if params.get("charset", "utf-8") not in ("utf-8", "utf8"):
        raise _refuse(value)
    return fmt
