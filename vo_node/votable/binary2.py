"""The BINARY2 row encoding (VOTable 1.4, "BINARY2 serialization"), a batch of rows at a time.

Each row is a null-flag bitmask (one bit per field, most significant bit first) followed by
the fields in order: big-endian numbers, 'T'/'F'/'?' booleans, fixed-length arrays as their
elements, variable-length arrays and strings as a 4-byte element count and the elements.
Nulls are flagged in the mask; their bytes are NaN for floating point and zero otherwise.

Rows are encoded column by column: a batch is transposed (``zip``), and each column becomes
a block of bytes, one row of the block per table row, in as few C-level calls as its values
allow: one ``struct`` pack for a column of numbers (and for the element counts of strings),
one ``join`` and ``encode`` for strings, :mod:`timestamps` for dates and times. Values the
fast calls refuse (nulls, numeric strings, out-of-range numbers) go through the per-value
converters, which accept and refuse exactly what they always did. Variable-length values are
padded to the column's longest in the batch, so the blocks side by side make one table
whose rows are the output rows plus padding; a boolean mask drops the padding in one pass.
Batches whose padding would cost too much memory (a light curve among short rows) are joined
row by row instead. Wide rows cost a few microseconds each, well under what fetching them
from the database costs. The base64 STREAM around these bytes is the document's job.
Must not import Flask or psycopg.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence, Sized
from dataclasses import dataclass
from functools import lru_cache, partial
from itertools import chain
from operator import is_
from struct import Struct
from struct import error as StructError
from typing import Any, cast

import numpy as np

from vo_node.votable.fields import FLOAT_TYPES, FieldSpec
from vo_node.votable.stcs import stcs_texts
from vo_node.votable.timestamps import timestamp_block
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
_CODES = {"unsignedByte": "B", "short": "h", "int": "i", "long": "q", "float": "f", "double": "d"}
# What struct refuses where the per-value converters may still accept or must refuse: None (a
# null), a string in a float column, a float too large for single precision (numpy makes it
# infinite), an integer out of range.
_REFUSED = (StructError, OverflowError)

Row = Sequence[object]
Column = Sequence[object]


@lru_cache(maxsize=128)
def packer(code: str, count: int) -> Struct:
    """Packs ``count`` big-endian values of struct ``code`` (one per row of a batch)."""
    return Struct(f">{count}{code}")


@dataclass
class Fixed:
    """The same number of bytes for every row: shape (rows, width)."""

    data: np.ndarray


@dataclass
class Padded:
    """Per-row runs of ``lengths[i]`` bytes at the start of each row of ``data`` (rows,
    longest run); ``uniform`` when every run fills its row, so there is no padding."""

    data: np.ndarray
    lengths: np.ndarray
    uniform: bool


@dataclass
class _Variable:
    """Per-row byte runs, concatenated in ``data``, ``lengths[i]`` bytes for row i: runs too
    uneven to pad."""

    data: np.ndarray
    lengths: np.ndarray


Piece = Fixed | Padded | _Variable
_Encoded = tuple[list[Piece], np.ndarray | None]

# Padding is worth it while a padded block is at most this many times its bytes (plus a
# little): beyond that, one long value among short ones would multiply a batch's memory.
PAD_FACTOR = 4
PAD_SLACK = 64 * 1024
_PACK_ELEMENTS = 64 * 1024  # array elements of a batch packed with struct, at most


def _pack(code: str, values: Sequence[object]) -> bytes | None:
    """``values`` as big-endian numbers in one C call (struct converts as float() and
    index() do), or None if one of them is refused."""
    try:
        return packer(code, len(values)).pack(*values)
    except _REFUSED:
        return None


def _nulls(values: Column) -> np.ndarray:
    return np.fromiter(map(_is_none, values), dtype=bool, count=len(values))


def _lengths(items: Sequence[Sized]) -> np.ndarray:
    """The length of each item, as BINARY2 element counts (big-endian int32) packed in one
    C call."""
    try:
        return np.frombuffer(packer("i", len(items)).pack(*map(len, items)), dtype=_COUNT)
    except StructError:  # 2**31 elements or more (never from PostgreSQL): as numpy has it
        return np.fromiter(map(len, items), dtype=np.int64, count=len(items))


def counts_piece(counts: np.ndarray) -> Fixed:
    return Fixed(counts.astype(_COUNT, copy=False).view(_U1).reshape(len(counts), 4))


def _fixed_block(array: np.ndarray, rows: int) -> Fixed:
    return Fixed(np.ascontiguousarray(array).view(_U1).reshape(rows, -1))


def runs_piece(data: np.ndarray, lengths: np.ndarray) -> Padded | _Variable:
    """Per-row runs (``data`` holds them end to end) as a padded block when that is cheap."""
    rows = len(lengths)
    widest = int(lengths.max()) if rows else 0
    if widest * rows == data.size:  # every run is the longest: no padding at all
        return Padded(data.reshape(rows, widest), lengths, True)
    if widest * rows > PAD_FACTOR * data.size + PAD_SLACK:
        return _Variable(data, lengths)
    block = np.zeros((rows, widest), dtype=_U1)
    block[np.arange(widest) < lengths[:, None]] = data  # row-major: the runs in order
    return Padded(block, lengths, False)


class ColumnEncoders:
    """Builds the encoder of one column from its FieldSpec."""

    def __init__(self, notes: TextNotes) -> None:
        self.notes = notes

    def build(self, spec: FieldSpec) -> Callable[[Column], _Encoded]:
        if spec.is_text:
            return partial(self._text, spec)
        if spec.datatype == "boolean":
            return partial(self._boolean, spec)
        if spec.is_array:
            return partial(self._numeric_array, spec)
        return partial(self._number, spec.datatype)

    @staticmethod
    def _number(datatype: str, values: Column) -> _Encoded:
        rows = len(values)
        floating = datatype in FLOAT_TYPES
        nulls = None
        packed = _pack(_CODES[datatype], values)
        if packed is None and None in values:
            nulls = _nulls(values)
            fill = float("nan") if floating else 0
            values = [fill if v is None else v for v in values]
            packed = _pack(_CODES[datatype], values)
        if packed is None:
            # The per-value converters decide: as_int refuses floats and strings in integer
            # columns (numpy would truncate them), float() takes numeric strings; numpy
            # refuses integers out of the datatype's range and makes large floats infinite.
            convert = as_float if floating else as_int
            block = np.fromiter(map(convert, values), dtype=_NUMBERS[datatype], count=rows)
            return [_fixed_block(block, rows)], nulls
        return [Fixed(np.frombuffer(packed, dtype=_U1).reshape(rows, -1))], nulls

    @staticmethod
    def _boolean(spec: FieldSpec, values: Column) -> _Encoded:
        rows = len(values)
        nulls = _nulls(values) if any(map(_is_none, values)) else None
        if not spec.is_array:
            codes = bytes(_UNKNOWN if v is None else _T if v else _F for v in values)
            return [Fixed(np.frombuffer(codes, dtype=_U1).reshape(rows, 1))], nulls
        fill = () if spec.variable else [None] * (spec.length or 0)  # a null array: all '?'
        arrays = cast(list[Sequence[object]], [fill if v is None else v for v in values])
        counts = _lengths(arrays)
        check_array_lengths(spec, int(counts.min()), int(counts.max()))
        flat = chain.from_iterable(arrays)
        codes = bytes(_UNKNOWN if v is None else _T if v else _F for v in flat)
        data = np.frombuffer(codes, dtype=_U1)
        if spec.variable:
            return [counts_piece(counts), runs_piece(data, counts)], nulls
        return [Fixed(data.reshape(rows, -1))], nulls

    @staticmethod
    def _numeric_array(spec: FieldSpec, values: Column) -> _Encoded:
        rows = len(values)
        dtype = _NUMBERS[spec.datatype]
        nulls = None
        if None in values:
            nulls = _nulls(values)
            element: float = float("nan") if spec.datatype in FLOAT_TYPES else 0
            fill = () if spec.variable else [element] * (spec.length or 0)
            values = [fill if v is None else v for v in values]
        arrays = cast(Sequence[Sequence[object]], values)
        if spec.variable:
            counts = _lengths(arrays)
            check_array_lengths(spec, int(counts.min()), int(counts.max()))
            total = int(counts.sum())
        else:
            lengths = set(map(len, arrays))
            check_array_lengths(spec, min(lengths), max(lengths))
            total = rows * (spec.length or 0)
        # One pack for short arrays (positions, polygons); light curves are long enough for
        # numpy's per-element loop, and a list of their elements would double the memory.
        packed = None
        if total <= _PACK_ELEMENTS:
            packed = _pack(_CODES[spec.datatype], list(chain.from_iterable(arrays)))
        elements = chain.from_iterable(arrays)
        if packed is not None:
            data = np.frombuffer(packed, dtype=_U1)
        elif spec.datatype in FLOAT_TYPES:
            # None elements become NaN
            data = np.fromiter(elements, dtype=dtype, count=total).view(_U1)
        else:
            try:
                data = np.fromiter(map(as_int, elements), dtype=dtype, count=total).view(_U1)
            except TypeError:
                raise ValueError(
                    f"field {spec.name}: an integer array holds a non-integer"
                ) from None
        if spec.variable:
            return [counts_piece(counts), runs_piece(data, counts * dtype.itemsize)], nulls
        return [Fixed(data.reshape(rows, -1))], nulls

    def _text(self, spec: FieldSpec, values: Column) -> _Encoded:
        rows = len(values)
        nulls = None
        if spec.region is not None:
            values = stcs_texts(spec.region, list(values))
        try:
            joined = "".join(values)  # type: ignore[arg-type]
        except TypeError:  # nulls, or values that are not strings (timestamps, UUIDs...)
            if None in values:
                nulls = _nulls(values)
            if spec.datatype == "char" and spec.length is None:
                stamps = timestamp_block(values)  # a column of dates or times, formatted at once
                if stamps is not None:
                    block, lengths = stamps
                    return [counts_piece(lengths), _runs_of_block(block, lengths)], nulls
            values = ["" if v is None else text_of(v) for v in values]
            joined = "".join(values)  # type: ignore[arg-type]
        texts = cast(Sequence[str], values)
        wide = spec.datatype == "unicodeChar"
        unit = 2 if wide else 1
        encoded: list[bytes] | None
        if wide:
            payload = joined.encode("utf_16_be")
            if len(payload) == 2 * len(joined):  # no surrogate pairs: one unit per character
                counts = _lengths(texts)
                encoded = None
            else:
                encoded = [t.encode("utf_16_be") for t in texts]
                counts = _lengths(encoded) // 2
        elif joined.isascii():
            payload = joined.encode("ascii")
            counts = _lengths(texts)
            encoded = None
        else:
            # VOTable 1.4 char is 7-bit ASCII, and astropy refuses anything else: replace.
            encoded = [t.encode("ascii", "replace") for t in texts]
            self.notes.replaced += sum(1 for t in texts if not t.isascii())
            payload = b"".join(encoded)
            counts = _lengths(encoded)
        limit = spec.length
        if (
            limit is not None
            and not spec.variable
            and encoded is None
            and len(payload) == rows * limit * unit
            and int(counts.min()) == limit
        ):  # every value fills the fixed arraysize: the payload is the block already
            return [Fixed(np.frombuffer(payload, dtype=_U1).reshape(rows, -1))], nulls
        if limit is not None and (not spec.variable or (rows and int(counts.max()) > limit)):
            if encoded is None:
                encoded = [t.encode("utf_16_be" if wide else "ascii") for t in texts]
            self.notes.truncated += int((counts > limit).sum())
            if wide:
                encoded = [_fit_utf16(e, limit) for e in encoded]
            if not spec.variable:
                fixed = np.array(encoded, dtype=f"S{limit * unit}")  # pads with NULs
                return [_fixed_block(fixed, rows)], nulls
            encoded = [e[: limit * unit] for e in encoded]
            payload = b"".join(encoded)
            counts = _lengths(encoded) // unit
        data = np.frombuffer(payload, dtype=_U1)
        return [counts_piece(counts), runs_piece(data, counts * unit if wide else counts)], nulls


def _runs_of_block(block: np.ndarray, lengths: np.ndarray) -> Padded:
    """Runs that are already padded: uniform when every length is the block's width."""
    return Padded(block, lengths, bool(len(lengths)) and int(lengths.min()) == block.shape[1])


def _fit_utf16(encoded: bytes, limit: int) -> bytes:
    """At most ``limit`` UTF-16 units of ``encoded``, not splitting a surrogate pair."""
    if len(encoded) <= 2 * limit:
        return encoded
    cut = 2 * limit
    if 0xD8 <= encoded[cut - 2] <= 0xDB:  # the last unit kept would be a high surrogate
        cut -= 2
    return encoded[:cut]


class _Scratch:
    """A buffer reused from batch to batch. A fresh array of a batch's size costs a page fault
    per 4 kB on every batch (the allocator gives memory of that size back to the system), as
    much as the work done in it; buffers above ``_SCRATCH_LIMIT`` are not kept."""

    def __init__(self) -> None:
        self._buffer = np.empty(0, dtype=_U1)

    def take(self, size: int) -> np.ndarray:
        """``size`` bytes, contents undefined."""
        if size <= self._buffer.size:
            return self._buffer[:size]
        if size > _SCRATCH_LIMIT:
            return np.empty(size, dtype=_U1)
        self._buffer = np.empty(max(size, min(2 * self._buffer.size, _SCRATCH_LIMIT)), _U1)
        return self._buffer[:size]


_SCRATCH_LIMIT = 16 * 1024 * 1024


class Assembler:
    """Interleaves column blocks into rows: row i is piece 0's bytes for i, then piece 1's..."""

    def __init__(self) -> None:
        self._table, self._keep = _Scratch(), _Scratch()

    def assemble(self, pieces: list[Piece], rows: int) -> bytes:
        if any(isinstance(piece, _Variable) for piece in pieces):
            return _join_rows(pieces, rows)
        # The rows as a structured array, one field per piece: a piece is then copied one
        # row-sized element at a time, not byte column by byte column (ten times slower).
        formats = [f"V{piece.data.shape[1]}" for piece in pieces]
        layout = _layout(tuple(formats))
        width = layout.itemsize
        table = self._table.take(rows * width).view(layout)
        matrix = table.view(_U1).reshape(rows, width)
        keep: np.ndarray | None = None  # which bytes of the matrix are not padding
        start = 0
        for index, (piece, fmt) in enumerate(zip(pieces, formats, strict=True)):
            size = piece.data.shape[1]
            if not size:
                continue
            table[f"f{index}"] = np.ascontiguousarray(piece.data).view(fmt)[:, 0]
            if isinstance(piece, Padded) and not piece.uniform:
                if keep is None:
                    keep = self._keep.take(rows * width).view(bool).reshape(rows, width)
                    keep.fill(True)
                np.less(_offsets(size), piece.lengths[:, None], out=keep[:, start : start + size])
            start += size
        if keep is None:
            return matrix.tobytes()
        # Row-major: the rows in order, each without its padding. (Boolean indexing: np.compress
        # would make an array of indices first, eight bytes for every byte kept.)
        return matrix.reshape(-1)[keep.reshape(-1)].tobytes()


def _offsets(size: int) -> np.ndarray:
    return _OFFSETS[:size] if size <= len(_OFFSETS) else np.arange(size)


_OFFSETS = np.arange(4096)  # offsets within a padded run, shared by every batch


@lru_cache(maxsize=256)
def _layout(formats: tuple[str, ...]) -> np.dtype[Any]:
    """A packed structured dtype with fields f0, f1... of ``formats`` (empty ones left out)."""
    names, kept, offsets, offset = [], [], [], 0
    for index, fmt in enumerate(formats):
        size = np.dtype(fmt).itemsize
        if size:
            names.append(f"f{index}")
            kept.append(fmt)
            offsets.append(offset)
        offset += size
    return np.dtype({"names": names, "formats": kept, "offsets": offsets, "itemsize": offset})


def _join_rows(pieces: list[Piece], rows: int) -> bytes:
    """:meth:`Assembler.assemble` for uneven rows: slice each piece per row, join the slices."""
    columns: list[list[memoryview]] = []
    for piece in pieces:
        if not isinstance(piece, _Variable) and not piece.data.shape[1]:
            continue  # no bytes in any row (a column of empty strings)
        view = piece.data.reshape(-1).data  # a memoryview: slicing it copies nothing
        if isinstance(piece, Fixed):
            width = piece.data.shape[1]
            columns.append([view[i : i + width] for i in range(0, width * rows, width)])
        elif isinstance(piece, Padded):
            width = piece.data.shape[1]
            starts = range(0, width * rows, width)
            ends = map(int.__add__, starts, piece.lengths.tolist())
            columns.append([view[a:b] for a, b in zip(starts, ends, strict=True)])
        else:
            stops = np.cumsum(piece.lengths).tolist()
            columns.append([view[a:b] for a, b in zip([0, *stops[:-1]], stops, strict=True)])
    return b"".join(chain.from_iterable(zip(*columns, strict=True)))


class Binary2Encoder:
    """Encodes batches of rows for the given fields into BINARY2 bytes."""

    def __init__(self, fields: Sequence[FieldSpec]) -> None:
        self.fields = tuple(fields)
        self.notes = TextNotes()
        # Changes are counted per batch and added to ``notes`` only when the batch is written.
        self._builder = ColumnEncoders(TextNotes())
        self._encoders = [self._builder.build(f) for f in self.fields]
        self._mask_bytes = (len(self.fields) + 7) // 8
        self._assembler = Assembler()

    def encode(self, rows: Sequence[Row]) -> bytes:
        """The BINARY2 bytes of ``rows`` (each a sequence with one value per field)."""
        count = len(rows)
        if not count:
            return b""
        width = len(self.fields)
        try:
            columns = list(zip(*rows, strict=True))  # the batch transposed, at C speed
        except ValueError:
            columns = []
        if len(columns) != width:
            raise ValueError(f"a row does not have {width} values")
        self._builder.notes = batch_notes = TextNotes()
        pieces: list[Piece] = []
        flags: list[tuple[int, np.ndarray]] = []
        for index, (encode, values) in enumerate(zip(self._encoders, columns, strict=True)):
            column_pieces, nulls = encode(values)
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
        data = self._assembler.assemble([Fixed(mask), *pieces], count)
        self.notes.add(batch_notes)
        return data
