"""The TABLEDATA row encoding (VOTable 1.4, "TABLEDATA serialization"), a batch of rows at a time.

A row is ``<TR>`` with one ``<TD>`` per field; a null is an empty TD (VOTable 1.3 and later),
arrays are their elements separated by spaces, floating-point specials are spelled NaN, +Inf
and -Inf, booleans T and F. All cell text is escaped; characters XML cannot carry at all are
replaced. Cells are formatted column by column and joined into rows without a Python loop per
row. Must not import Flask or psycopg.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from itertools import chain, repeat
from operator import itemgetter
from typing import cast

from vo_node.votable.fields import FLOAT_TYPES, FieldSpec
from vo_node.votable.markup import REPLACEMENT, escape_text, has_forbidden, needs_escape
from vo_node.votable.stcs import stcs_texts
from vo_node.votable.values import (
    VOTABLE_SPECIALS,
    TextNotes,
    as_float,
    as_int,
    check_array_lengths,
    text_of,
)

Row = Sequence[object]
_BOOLEAN = {True: "T", False: "F", None: ""}
_INTEGER_LIMITS = {
    "unsignedByte": (0, 255),
    "short": (-(2**15), 2**15 - 1),
    "int": (-(2**31), 2**31 - 1),
    "long": (-(2**63), 2**63 - 1),
}
# Float texts from str() that VOTable spells otherwise.
_SPECIAL_WORDS = VOTABLE_SPECIALS
_SPECIAL_WORD = re.compile("|".join(sorted(map(re.escape, _SPECIAL_WORDS), key=len, reverse=True)))


def _integers(limits: tuple[int, int], values: list[object]) -> list[str]:
    present = [v for v in values if v is not None] if None in values else values
    # operator.index refuses what is not an integer (floats, strings) as BINARY2 does.
    numbers = list(map(as_int, present))
    if numbers and (min(numbers) < limits[0] or max(numbers) > limits[1]):
        raise ValueError(f"an integer is out of range {limits[0]}..{limits[1]}")
    if present is not values:
        texts = iter(map(str, numbers))
        return ["" if v is None else next(texts) for v in values]
    return list(map(str, numbers))


def _floats(values: list[object]) -> list[str]:
    # str() is the shortest round-trip text of a float and a plain number for a Decimal or int.
    # float() first: refuses what is not a number, as BINARY2 does, and writes Decimals as
    # the doubles a binary reader would see.
    if None in values:
        texts = ["" if v is None else str(as_float(v)) for v in values]
    else:
        texts = list(map(str, map(as_float, values)))
    joined = "".join(texts)
    if "n" in joined:  # nan, inf
        texts = [_SPECIAL_WORDS.get(t, t) for t in texts]
    return texts


def _booleans(values: list[object]) -> list[str]:
    return [_BOOLEAN[None if v is None else bool(v)] for v in values]


def _special_word(match: re.Match[str]) -> str:
    return _SPECIAL_WORDS[match.group()]


def _arrays(spec: FieldSpec, values: list[object]) -> list[str]:
    arrays = cast(list[Sequence[object]], values)
    lengths = [len(v) for v in arrays if v is not None]
    if lengths:
        check_array_lengths(spec, min(lengths), max(lengths))
    if spec.datatype == "boolean":
        return [
            ""
            if v is None
            else " ".join(_BOOLEAN[None if b is None else bool(b)] or "?" for b in v)
            for v in arrays
        ]
    if spec.datatype not in FLOAT_TYPES:
        try:
            # operator.index refuses floats, strings and null elements, as BINARY2 does.
            return ["" if v is None else " ".join(map(str, map(as_int, v))) for v in arrays]
        except TypeError:
            raise ValueError(f"field {spec.name}: an integer array holds a non-integer") from None
    null = ""
    if not spec.variable:
        # A null point/circle is all NaN (what BINARY2 readers see too); votlint's DALI
        # xtype checks reject an empty TD for fixed-length float arrays.
        null = " ".join(["NaN"] * (spec.length or 0))
    try:
        texts = [null if v is None else " ".join(map(str, map(as_float, v))) for v in arrays]
    except TypeError:  # null elements, which float arrays carry as NaN
        texts = [null if v is None else " ".join(map(_float_element, v)) for v in arrays]
    if "n" in "".join(texts):  # nan, inf
        texts = [_SPECIAL_WORD.sub(_special_word, t) for t in texts]
    return texts


def _float_element(value: object) -> str:
    return "nan" if value is None else str(as_float(value))


def _texts(spec: FieldSpec, notes: TextNotes, values: list[object]) -> list[str]:
    if spec.region is not None:
        values = stcs_texts(spec.region, values)
    try:
        joined = "".join(values)  # type: ignore[arg-type]
        texts: list[str] = values  # type: ignore[assignment]
    except TypeError:  # nulls, or values that are not strings (timestamps, UUIDs...)
        texts = ["" if v is None else text_of(v) for v in values]
        joined = "".join(texts)
    ascii_only = spec.datatype == "char"
    if ascii_only and not joined.isascii():
        # VOTable 1.4 char is 7-bit ASCII (astropy refuses anything else): replace.
        notes.replaced += sum(1 for t in texts if not t.isascii())
        texts = [t.encode("ascii", "replace").decode("ascii") for t in texts]
        joined = "".join(texts)
    limit = spec.length
    if limit is not None and max(map(len, texts), default=0) > limit:
        notes.truncated += sum(1 for t in texts if len(t) > limit)
        texts = [t[:limit] for t in texts]
        joined = "".join(texts)
    if has_forbidden(joined):
        notes.replaced += sum(1 for t in texts if has_forbidden(t))
    if needs_escape(joined):
        replacement = "?" if ascii_only else REPLACEMENT
        texts = [escape_text(t, replacement) for t in texts]
    return texts


class TabledataEncoder:
    """Encodes batches of rows for the given fields into TABLEDATA ``<TR>`` elements."""

    def __init__(self, fields: Sequence[FieldSpec]) -> None:
        self.fields = tuple(fields)
        self.notes = TextNotes()
        self._batch_notes = TextNotes()  # added to ``notes`` once a batch is encoded
        self._columns = [(itemgetter(i), self._formatter(f)) for i, f in enumerate(self.fields)]

    def _formatter(self, spec: FieldSpec) -> Callable[[list[object]], list[str]]:
        if spec.is_text:
            return partial(self._texts, spec)
        if spec.is_array:
            return partial(_arrays, spec)
        if spec.datatype == "boolean":
            return _booleans
        if spec.datatype in FLOAT_TYPES:
            return _floats
        return partial(_integers, _INTEGER_LIMITS[spec.datatype])

    def encode(self, rows: Sequence[Row]) -> bytes:
        """The UTF-8 TABLEDATA text of ``rows`` (each a sequence with one value per field)."""
        count = len(rows)
        if not count:
            return b""
        width = len(self.fields)
        if set(map(len, rows)) != {width}:
            raise ValueError(f"a row does not have {width} values")
        self._batch_notes = TextNotes()
        cells = [format_(list(map(take, rows))) for take, format_ in self._columns]
        # Interleave as <TR><TD>c0</TD><TD>c1</TD>...</TD></TR>: separators repeat per row.
        parts: list[Iterable[str]] = [repeat("<TR><TD>", count)]
        for position, column in enumerate(cells):
            if position:
                parts.append(repeat("</TD><TD>", count))
            parts.append(column)
        parts.append(repeat("</TD></TR>\n", count))
        data = "".join(chain.from_iterable(zip(*parts, strict=True))).encode("utf-8")
        self.notes.add(self._batch_notes)
        return data

    def _texts(self, spec: FieldSpec, values: list[object]) -> list[str]:
        return _texts(spec, self._batch_notes, values)
