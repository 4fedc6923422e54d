"""An uploaded VOTable as the query sees it: a ``TAP_UPLOAD`` declaration for the ADQL
resolver and a temporary table for the database (TAP 1.1 section 3.1; DALI 1.1 for xtypes).

Column names become ADQL names: a name that is a regular ADQL identifier is used as it is
(matched without regard to case); any other ('RA (deg)', '_RAJ2000', a reserved word) is a
delimited identifier, written in double quotes in the query. Types follow the FIELDs:
numbers, booleans and strings as themselves, numeric arrays as PostgreSQL arrays, DALI
``timestamp`` as a timestamp, DALI ``point``/``circle``/``polygon`` as pgSphere geometry (a
``point`` column gets a spatial index). What cannot be represented is refused by name.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io.votable import parse
from astropy.io.votable.tree import Field
from lxml import etree

from tap_schema.model import Column, Table
from vo_node.adql.reserved import RESERVED
from vo_node.adql.resolve import UPLOAD_SCHEMA
from vo_node.http.params import UsageError
from vo_node.query import TempTable

_REGULAR = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
# VOTable datatype -> PostgreSQL type of a scalar (arrays add []).
_SCALARS = {
    "boolean": "boolean",
    "unsignedByte": "smallint",
    "short": "smallint",
    "int": "integer",
    "long": "bigint",
    "float": "real",
    "double": "double precision",
}
_GEOMETRY = {"point": "spoint", "circle": "scircle", "polygon": "spoly"}


@dataclass(frozen=True)
class UploadedTable:
    """What one upload gives the translator (``relation``, ``declaration``) and the query
    runner (``temp``)."""

    relation: str
    declaration: Table
    temp: TempTable


@dataclass(frozen=True)
class _Mapping:
    column: Column
    sql_name: str
    sql_type: str
    convert: Any  # value -> what COPY gets


def read_upload(name: str, path: Path, row_limit: int) -> UploadedTable:
    """Read the first table of the VOTable at ``path`` as upload ``name``."""
    inspect_upload(name, path, row_limit)
    try:
        with warnings.catch_warnings():
            # Uploads come from everywhere; what astropy can read, we take.
            warnings.simplefilter("ignore")
            document = parse(str(path), verify="ignore")
            votable = document.get_first_table()
            data = votable.array
    except UsageError:
        raise
    except Exception as exc:  # astropy raises many types for a malformed document
        raise UsageError(f"upload {name!r} is not a VOTable this service can read: {exc}") from None
    if len(data) > row_limit:
        raise UsageError(
            f"upload {name!r} has {len(data)} rows; at most {row_limit} rows are accepted"
        )
    mappings = _mappings(name, votable.fields)
    relation = f"tap_upload_{name.lower()}"
    declaration = Table(
        UPLOAD_SCHEMA,
        name,
        votable.description or f"Table uploaded as {name}",
        tuple(m.column for m in mappings),
    )
    temp = TempTable(
        relation,
        [(m.sql_name, m.sql_type) for m in mappings],
        _rows(name, data, mappings),
        spatial=[m.sql_name for m in mappings if m.sql_type == "spoint"],
        label=name,
    )
    return UploadedTable(f"pg_temp.{relation}", declaration, temp)


# Compressed input would turn the byte limit into a limit on the compressed size only.
_COMPRESSED = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ", b"PK\x03\x04")
# Elements whose content lives elsewhere: astropy would fetch an href (any scheme, local
# files included) or read FITS/Parquet, none of which an upload may make the node do.
_ELSEWHERE = frozenset({"FITS", "PARQUET"})


def inspect_upload(name: str, path: Path, row_limit: int) -> None:
    """Refuse, before astropy reads it, an upload that would make the node reach beyond the
    uploaded bytes (a STREAM href, FITS or Parquet data, a DTD with entities) or that is
    compressed; count TABLEDATA rows on the way, so a long table is refused early."""
    with path.open("rb") as stream:
        head = stream.read(1 << 16)
    if head.startswith(_COMPRESSED):
        raise UsageError(f"upload {name!r} is compressed; send the VOTable itself")
    if b"<!DOCTYPE" in head or b"<!ENTITY" in head:
        raise UsageError(f"upload {name!r} has a document type declaration; VOTables need none")
    rows = 0
    try:
        with path.open("rb") as stream:
            for event, element in etree.iterparse(
                stream,
                events=("start", "end"),
                resolve_entities=False,
                no_network=True,
                load_dtd=False,
            ):
                tag = etree.QName(element).localname
                if event == "end":
                    if tag == "TR":
                        # Keep memory flat: a row is not needed once counted.
                        element.clear()
                        while element.getprevious() is not None:
                            del element.getparent()[0]
                    continue
                if tag == "TR":
                    rows += 1
                    if rows > row_limit:
                        raise UsageError(
                            f"upload {name!r} has more than {row_limit} rows; at most "
                            f"{row_limit} rows are accepted"
                        )
                elif tag == "STREAM" and element.get("href") is not None:
                    raise UsageError(
                        f"upload {name!r} refers to data elsewhere (STREAM href); send the "
                        "data inside the VOTable"
                    )
                elif tag in _ELSEWHERE:
                    raise UsageError(
                        f"upload {name!r} holds {tag} data; send TABLEDATA, BINARY or BINARY2"
                    )
    except etree.XMLSyntaxError as exc:
        raise UsageError(f"upload {name!r} is not a VOTable this service can read: {exc}") from None


def _mappings(table: str, fields: Sequence[Field]) -> list[_Mapping]:
    if not fields:
        raise UsageError(f"upload {table!r} has no columns")
    seen: set[str] = set()
    mappings = []
    for field in fields:
        name = str(field.name)
        regular = bool(_REGULAR.match(name)) and name.upper() not in RESERVED
        mapping = _mapping(table, field, name, regular)
        if mapping.sql_name in seen:
            raise UsageError(f"upload {table!r}: column name {name!r} appears twice")
        seen.add(mapping.sql_name)
        mappings.append(mapping)
    return mappings


def _mapping(table: str, field: Field, name: str, regular: bool) -> _Mapping:
    datatype, xtype = str(field.datatype), field.xtype
    arraysize = field.arraysize
    declared_name = name if regular else f'"{name}"'
    sql_name = name.lower() if regular else name

    def column(vo_type: str, size: str | None, dali: str | None) -> Column:
        return Column(
            declared_name,
            vo_type,
            str(field.description or f"Uploaded column {name}"),
            ucd=field.ucd or None,
            unit=str(field.unit) if field.unit is not None else None,
            xtype=dali,
            arraysize=size,
        )

    if arraysize is not None and "x" in str(arraysize):
        raise UsageError(
            f"upload {table!r}: column {name!r} is a multi-dimensional array ({arraysize}), "
            "which uploads do not support"
        )
    if xtype in _GEOMETRY and datatype in ("float", "double"):
        geometry = _GEOMETRY[xtype]
        size = {"point": "2", "circle": "3"}.get(xtype, "*")
        return _Mapping(column("double", size, xtype), sql_name, geometry, _dali_to_pgsphere(xtype))
    if datatype in ("char", "unicodeChar"):
        if xtype == "timestamp":
            return _Mapping(column("char", "*", "timestamp"), sql_name, "timestamp", _timestamp)
        return _Mapping(column(datatype, "*", None), sql_name, "text", _text)
    if datatype == "bit" and arraysize in (None, "1"):
        # A single bit is a boolean (astropy writes numpy booleans this way).
        return _Mapping(column("boolean", None, None), sql_name, "boolean", _scalar)
    if datatype in _SCALARS:
        scalar = _SCALARS[datatype]
        if arraysize in (None, "1"):
            return _Mapping(column(datatype, None, None), sql_name, scalar, _scalar)
        return _Mapping(column(datatype, "*", None), sql_name, f"{scalar}[]", _array)
    raise UsageError(
        f"upload {table!r}: column {name!r} has datatype {datatype}"
        + (f"[{arraysize}]" if arraysize else "")
        + ", which uploads do not support (numbers, booleans, strings and their arrays are)"
    )


def _rows(name: str, data: np.ma.MaskedArray, mappings: list[_Mapping]) -> Iterator[list[Any]]:
    # Column by column into Python values (masked -> None), then row by row for COPY.
    columns = []
    names = data.dtype.names or ()
    for index, mapping in enumerate(mappings):
        values = data[names[index]]
        try:
            columns.append([None if v is None else mapping.convert(v) for v in values.tolist()])
        except UsageError as exc:
            raise UsageError(f"upload {name!r}, column {mapping.sql_name!r}: {exc}") from None
    for row in zip(*columns, strict=True):
        yield list(row)


def _scalar(value: Any) -> Any:
    return value


def _text(value: Any) -> Any:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    # COPY cannot carry NUL; such a string would not survive any other interface either.
    return str(value).replace("\x00", "")


# DALI 1.1 timestamps: UTC, optionally marked Z; an offset would be silently dropped by the
# database's timestamp type, so it is refused instead.
_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d(T\d\d:\d\d(:\d\d(\.\d+)?)?)?Z?\Z")


def _timestamp(value: Any) -> str | None:
    text = _text(value).strip()
    if not text:
        return None
    if not _TIMESTAMP.match(text):
        raise UsageError(f"{text!r} is not a DALI timestamp (YYYY-MM-DDThh:mm:ss[.sss][Z], UTC)")
    return text


def _array(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return np.ma.asarray(value).tolist()
    return value if isinstance(value, list) else [value]


def _dali_to_pgsphere(xtype: str) -> Any:
    """DALI point/circle/polygon (degrees) to pgSphere's input syntax; NaN means no value."""

    def convert(value: Any) -> str | None:
        numbers = _array(value)
        if any(v is None or math.isnan(v) for v in numbers):
            return None
        latitudes = numbers[1:2] if xtype != "polygon" else numbers[1::2]
        if any(not -90 <= lat <= 90 for lat in latitudes):
            raise UsageError(f"a DALI {xtype} has a latitude outside [-90, 90]: {numbers}")
        if xtype == "circle" and len(numbers) == 3 and not 0 <= numbers[2] <= 180:
            raise UsageError(f"a DALI circle has a radius outside [0, 180]: {numbers}")
        if xtype == "point" and len(numbers) == 2:
            return f"({numbers[0]}d, {numbers[1]}d)"
        if xtype == "circle" and len(numbers) == 3:
            return f"<({numbers[0]}d, {numbers[1]}d), {numbers[2]}d>"
        if xtype == "polygon" and len(numbers) >= 6 and len(numbers) % 2 == 0:
            pairs = ", ".join(
                f"({a}d, {b}d)" for a, b in zip(numbers[::2], numbers[1::2], strict=True)
            )
            return "{" + pairs + "}"
        raise UsageError(f"a DALI {xtype} has the wrong number of values: {numbers}")

    return convert
