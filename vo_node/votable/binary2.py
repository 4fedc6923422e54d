"""The BINARY2 row encoding (VOTable 1.4, "BINARY2 serialization"), a batch of rows at a time.

Each row is a null-flag bitmask (one bit per field, most significant bit first) followed by
the fields in order: big-endian numbers, 'T'/'F'/'?' booleans, fixed-length arrays as their
elements, variable-length arrays and strings as a 4-byte element count and the elements.
Nulls are flagged in the mask; their bytes are NaN for floating point and zero otherwise.

Rows are encoded column by column with numpy: a batch is transposed, each column becomes one
block of bytes (or a block plus per-row lengths), and the blocks are interleaved into rows by
index arithmetic (or, for rows of more than a few hundred bytes, by joining per-row slices).
This runs at C speed per batch instead of Python speed per cell. The base64 STREAM around
these bytes is the document's job. Must not import Flask or psycopg.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import chain
from operator import is_, itemgetter
from typing import Any, cast

import numpy as np

from vo_node.votable.fields import FLOAT_TYPES, FieldSpec
from vo_node.votable.stcs import stcs_texts
from vo_node.votable.values import TextNotes, as_float, as_int, check_array_lengths, text_of

_U1 = np.dtype(np.uint8)
_COUNT = np.dtype(">i4")  # the element count before a variable-length value
_NUMBERS: dict[str, np.dtype[Any]] = {
    "unsignedByte": np.dtype(">u1"),
    "short": np.dtype(">i2"),
    "int": np.dtype(">i4"),
    "long": np.dtype(">i8"),
    "float": np.dtype(">f4"),
    "double": np.dtype(">f8"),
}
_T, _F, _UNKNOWN = 0x54, 0x46, 0x3F  # 'T', 'F', '?' (VOTable 1.4 primitives)
_is_none = partial(is_, None)

Row = Sequence[object]


@dataclass
class _Fixed:
    """The same number of bytes for every row: shape (rows, width)."""

    data: np.ndarray


@dataclass
class _Variable:
    """Per-row byte runs, concatenated in ``data``, ``lengths[i]`` bytes for row i."""

    data: np.ndarray
    lengths: np.ndarray


_Piece = _Fixed | _Variable
_Encoded = tuple[list[_Piece], np.ndarray | None]


def _nulls(values: list[object]) -> np.ndarray:
    return np.fromiter(map(_is_none, values), dtype=bool, count=len(values))


def _counts(counts: np.ndarray) -> _Fixed:
    return _Fixed(counts.astype(_COUNT).view(_U1).reshape(len(counts), 4))


def _fixed_block(array: np.ndarray, rows: int) -> _Fixed:
    return _Fixed(np.ascontiguousarray(array).view(_U1).reshape(rows, -1))


class _ColumnEncoders:
    """Builds the encoder of one column from its FieldSpec."""

    def __init__(self, notes: TextNotes) -> None:
        self.notes = notes

    def build(self, spec: FieldSpec) -> Callable[[list[object]], _Encoded]:
        if spec.is_text:
            return partial(self._text, spec)
        if spec.datatype == "boolean":
            return partial(self._boolean, spec)
        if spec.is_array:
            return partial(self._numeric_array, spec)
        return partial(self._number, _NUMBERS[spec.datatype], spec.datatype in FLOAT_TYPES)

    @staticmethod
    def _number(dtype: np.dtype[Any], floating: bool, values: list[object]) -> _Encoded:
        nulls = None
        if None in values:
            nulls = _nulls(values)
            fill = float("nan") if floating else 0
            values = [fill if v is None else v for v in values]
        # as_int refuses floats and strings in integer columns (numpy would truncate them);
        # numpy refuses integers out of the datatype's range.
        convert = as_float if floating else as_int
        array = np.fromiter(map(convert, values), dtype=dtype, count=len(values))
        return [_fixed_block(array, len(values))], nulls

    @staticmethod
    def _boolean(spec: FieldSpec, values: list[object]) -> _Encoded:
        rows = len(values)
        nulls = _nulls(values) if any(map(_is_none, values)) else None
        if not spec.is_array:
            codes = bytes(_UNKNOWN if v is None else _T if v else _F for v in values)
            return [_Fixed(np.frombuffer(codes, dtype=_U1).reshape(rows, 1))], nulls
        fill = () if spec.variable else [None] * (spec.length or 0)  # a null array: all '?'
        arrays = cast(list[Sequence[object]], [fill if v is None else v for v in values])
        counts = np.fromiter(map(len, arrays), dtype=np.int64, count=rows)
        check_array_lengths(spec, int(counts.min()), int(counts.max()))
        flat = chain.from_iterable(arrays)
        codes = bytes(_UNKNOWN if v is None else _T if v else _F for v in flat)
        data = np.frombuffer(codes, dtype=_U1)
        if spec.variable:
            return [_counts(counts), _Variable(data, counts)], nulls
        return [_Fixed(data.reshape(rows, -1))], nulls

    @staticmethod
    def _numeric_array(spec: FieldSpec, values: list[object]) -> _Encoded:
        rows = len(values)
        dtype = _NUMBERS[spec.datatype]
        nulls = None
        if any(map(_is_none, values)):
            nulls = _nulls(values)
            element: float = float("nan") if spec.datatype in FLOAT_TYPES else 0
            fill = () if spec.variable else [element] * (spec.length or 0)
            values = [fill if v is None else v for v in values]
        arrays = cast(list[Sequence[object]], values)
        if spec.variable:
            counts = np.fromiter(map(len, arrays), dtype=np.int64, count=rows)
            check_array_lengths(spec, int(counts.min()), int(counts.max()))
            total = int(counts.sum())
        else:
            lengths = set(map(len, arrays))
            check_array_lengths(spec, min(lengths), max(lengths))
            total = rows * (spec.length or 0)
        elements = chain.from_iterable(arrays)
        if spec.datatype in FLOAT_TYPES:
            flat = np.fromiter(elements, dtype=dtype, count=total)  # None elements become NaN
        else:
            try:
                flat = np.fromiter(map(as_int, elements), dtype=dtype, count=total)
            except TypeError:
                raise ValueError(
                    f"field {spec.name}: an integer array holds a non-integer"
                ) from None
        data = flat.view(_U1)
        if spec.variable:
            return [_counts(counts), _Variable(data, counts * dtype.itemsize)], nulls
        return [_Fixed(data.reshape(rows, -1))], nulls

    def _text(self, spec: FieldSpec, values: list[object]) -> _Encoded:
        rows = len(values)
        nulls = None
        if spec.region is not None:
            values = stcs_texts(spec.region, values)
        try:
            joined = "".join(values)  # type: ignore[arg-type]
        except TypeError:  # nulls, or values that are not strings (timestamps, UUIDs...)
            if None in values:
                nulls = _nulls(values)
            values = ["" if v is None else text_of(v) for v in values]
            joined = "".join(values)  # type: ignore[arg-type]
        texts: list[str] = values  # type: ignore[assignment]
        wide = spec.datatype == "unicodeChar"
        unit = 2 if wide else 1
        if wide:
            payload = joined.encode("utf_16_be")
            if len(payload) == 2 * len(joined):  # no surrogate pairs: one unit per character
                counts = np.fromiter(map(len, texts), dtype=np.int64, count=rows)
                encoded = None
            else:
                encoded = [t.encode("utf_16_be") for t in texts]
                counts = np.fromiter(map(len, encoded), dtype=np.int64, count=rows) // 2
        elif joined.isascii():
            payload = joined.encode("ascii")
            counts = np.fromiter(map(len, texts), dtype=np.int64, count=rows)
            encoded = None
        else:
            # VOTable 1.4 char is 7-bit ASCII, and astropy refuses anything else: replace.
            encoded = [t.encode("ascii", "replace") for t in texts]
            self.notes.replaced += sum(1 for t in texts if not t.isascii())
            payload = b"".join(encoded)
            counts = np.fromiter(map(len, encoded), dtype=np.int64, count=rows)
        limit = spec.length
        if limit is not None and (not spec.variable or (rows and int(counts.max()) > limit)):
            if encoded is None:
                encoded = [t.encode("utf_16_be" if wide else "ascii") for t in texts]
            self.notes.truncated += int((counts > limit).sum())
            if wide:
                encoded = [_fit_utf16(e, limit) for e in encoded]
            if not spec.variable:
                block = np.array(encoded, dtype=f"S{limit * unit}")  # pads with NULs
                return [_fixed_block(block, rows)], nulls
            encoded = [e[: limit * unit] for e in encoded]
            payload = b"".join(encoded)
            counts = np.fromiter(map(len, encoded), dtype=np.int64, count=rows) // unit
        data = np.frombuffer(payload, dtype=_U1)
        return [_counts(counts), _Variable(data, counts * unit)], nulls


def _fit_utf16(encoded: bytes, limit: int) -> bytes:
    """At most ``limit`` UTF-16 units of ``encoded``, not splitting a surrogate pair."""
    if len(encoded) <= 2 * limit:
        return encoded
    cut = 2 * limit
    if 0xD8 <= encoded[cut - 2] <= 0xDB:  # the last unit kept would be a high surrogate
        cut -= 2
    return encoded[:cut]


# Above this many bytes per row, rows are joined in Python: the per-row cost no longer
# matters, and the numpy scatter's index arrays (16 bytes per output byte) would.
_JOIN_ROW_BYTES = 256


def _assemble(pieces: list[_Piece], rows: int) -> bytes:
    """Interleave column blocks into rows: row i is piece 0's bytes for i, then piece 1's..."""
    merged: list[_Piece] = []
    for piece in pieces:
        if isinstance(piece, _Fixed) and merged and isinstance(merged[-1], _Fixed):
            merged[-1] = _Fixed(np.concatenate((merged[-1].data, piece.data), axis=1))
        else:
            merged.append(piece)
    if len(merged) == 1:
        return merged[0].data.tobytes()  # fixed-width rows: already in row order
    lengths = np.zeros(rows, dtype=np.int64)
    for piece in merged:
        lengths += piece.data.shape[1] if isinstance(piece, _Fixed) else piece.lengths
    total = int(lengths.sum())
    if total > _JOIN_ROW_BYTES * rows:
        return _join_rows(merged, rows)
    offsets = np.zeros(rows, dtype=np.int64)
    np.cumsum(lengths[:-1], out=offsets[1:])
    out = np.empty(total, dtype=_U1)
    for piece in merged:
        if isinstance(piece, _Fixed):
            width = piece.data.shape[1]
            out[offsets[:, None] + np.arange(width)] = piece.data
            offsets += width
        else:
            size = piece.data.size
            if size:
                starts = np.zeros(rows, dtype=np.int64)
                np.cumsum(piece.lengths[:-1], out=starts[1:])
                out[np.repeat(offsets - starts, piece.lengths) + np.arange(size)] = piece.data
            offsets += piece.lengths
    return out.tobytes()


def _join_rows(pieces: list[_Piece], rows: int) -> bytes:
    """:func:`_assemble` for large rows: slice every piece per row and join the slices."""
    columns: list[list[memoryview]] = []
    for piece in pieces:
        view = piece.data.reshape(-1).data  # a memoryview: slicing it copies nothing
        if isinstance(piece, _Fixed):
            width = piece.data.shape[1]
            columns.append([view[i : i + width] for i in range(0, width * rows, width)])
        else:
            ends = np.cumsum(piece.lengths).tolist()
            starts = [0, *ends[:-1]]
            columns.append([view[a:b] for a, b in zip(starts, ends, strict=True)])
    return b"".join(chain.from_iterable(zip(*columns, strict=True)))


class Binary2Encoder:
    """Encodes batches of rows for the given fields into BINARY2 bytes."""

    def __init__(self, fields: Sequence[FieldSpec]) -> None:
        self.fields = tuple(fields)
        self.notes = TextNotes()
        # Changes are counted per batch and added to ``notes`` only when the batch is written.
        self._builder = _ColumnEncoders(TextNotes())
        self._columns = [(itemgetter(i), self._builder.build(f)) for i, f in enumerate(self.fields)]
        self._mask_bytes = (len(self.fields) + 7) // 8

    def encode(self, rows: Sequence[Row]) -> bytes:
        """The BINARY2 bytes of ``rows`` (each a sequence with one value per field)."""
        count = len(rows)
        if not count:
            return b""
        width = len(self.fields)
        if set(map(len, rows)) != {width}:
            raise ValueError(f"a row does not have {width} values")
        self._builder.notes = batch_notes = TextNotes()
        pieces: list[_Piece] = []
        flags: list[tuple[int, np.ndarray]] = []
        for index, (take, encode) in enumerate(self._columns):
            column_pieces, nulls = encode(list(map(take, rows)))
            pieces.extend(column_pieces)
            if nulls is not None:
                flags.append((index, nulls))
        if flags:
            bits = np.zeros((count, width), dtype=bool)
            for index, nulls in flags:
                bits[:, index] = nulls
            mask = np.packbits(bits, axis=1)  # big bit order: field 0 is the top bit
        else:
            mask = np.zeros((count, self._mask_bytes), dtype=_U1)
        data = _assemble([_Fixed(mask), *pieces], count)
        self.notes.add(batch_notes)
        return data
