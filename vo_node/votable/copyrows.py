"""BINARY2 rows made directly from PostgreSQL's binary COPY rows, a batch at a time, without
a Python object per value: the fast path for large results.

A binary COPY row (PostgreSQL, "COPY", binary format) is an int16 field count, then per field
an int32 length (-1 for null) and the value in the type's binary send form: big-endian
integers and IEEE floats, as BINARY2 has them; text as its bytes, so that length and bytes are
already a BINARY2 ``char`` count and characters when the text is ASCII; dates and timestamps
as days or microseconds since 2000-01-01; arrays as a header, then per element a length and
the value. A batch is joined into one buffer and each field is read for all rows at once:
numpy gathers one index per row (or per array element) from overlapping strided views of the
buffer, never one per byte, and the BINARY2 ``Assembler`` interleaves the column blocks.
Two shortcuts do most rows: consecutive fields whose values have one layout (numbers,
fixed-size arrays and text) are read together while a batch has no nulls in them, one gather
per row and one comparison of their length words with what they must be; consecutive
unbounded texts are one padded block of the COPY bytes, as they already are BINARY2.

The bytes and the counted changes (:class:`TextNotes`) are exactly what
:class:`~vo_node.votable.binary2.Binary2Encoder` writes for the values psycopg loads from the
same rows with a binary cursor. A column the vectorised code cannot write exactly in a batch
(non-ASCII text, arrays with null elements, more than one dimension or a wrong length, a
long value among short ones) is decoded value by value into what psycopg would return and
written by the Binary2Encoder's own column encoder, for that column of that batch only.
Dates and timestamps psycopg cannot load (infinity, outside years 1..9999) raise ValueError.
Must not import Flask or psycopg.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache, partial
from itertools import groupby

import numpy as np

from vo_node.votable.binary2 import (
    PAD_FACTOR,
    PAD_SLACK,
    Assembler,
    ColumnEncoders,
    Fixed,
    Padded,
    Piece,
    counts_piece,
    packer,
    runs_piece,
)
from vo_node.votable.copyvalues import (
    ARRAYS,
    BOOL,
    DATE,
    SCALARS,
    TEXTS,
    TIMESTAMP,
    TIMESTAMPTZ,
    decoder,
)
from vo_node.votable.fields import FieldSpec
from vo_node.votable.timestamps import epoch_texts
from vo_node.votable.values import TextNotes

_U1 = np.dtype(np.uint8)
_FLOAT4 = 700
# What Binary2Encoder writes for a null float: float('nan') packed by struct.
_NAN = {4: np.frombuffer(b"\x7f\xc0\x00\x00", _U1), 8: np.frombuffer(b"\x7f\xf8" + bytes(6), _U1)}
_T, _F, _UNKNOWN = 0x54, 0x46, 0x3F  # 'T', 'F', '?'
_ARRAY_HEAD = 20  # ndim, has-nulls flag, element OID, then one dimension's length and bound

_UNIX_DAY = date(1970, 1, 1).toordinal()
_PG_EPOCH_DAYS = date(2000, 1, 1).toordinal() - _UNIX_DAY  # PostgreSQL's epoch
_DAY_US = 86_400_000_000
_OFFSETS = np.arange(4096)
_PAD = 64  # bytes after the joined rows beyond the longest row: no gather runs off the end


class CopyRowError(ValueError):
    """A COPY row that does not have the layout its type OIDs promise."""


class _Batch:
    """A batch of COPY rows joined in one buffer, with strided views to gather from."""

    def __init__(self, rows: Sequence[bytes | memoryview], reach: int) -> None:
        count = len(rows)
        packed = packer("q", count).pack(*map(len, rows))  # faster than np.fromiter
        sizes = np.frombuffer(packed, dtype=">i8").astype(np.int64)
        self.ends = np.cumsum(sizes)
        self.starts = self.ends - sizes
        self.longest = int(sizes.max())
        # A gather reads at most the longest row, or ``reach``, past a row's start.
        self.data = b"".join([*rows, bytes(max(self.longest, reach) + _PAD)])
        self.count = count
        self._views: dict[str, np.ndarray] = {}

    def view(self, dtype: str) -> np.ndarray:
        """The buffer as overlapping items of ``dtype``, one starting at every byte."""
        found = self._views.get(dtype)
        if found is None:
            kind = np.dtype(dtype)
            size = len(self.data) - kind.itemsize + 1
            found = np.ndarray((size,), dtype=kind, buffer=self.data, strides=(1,))
            self._views[dtype] = found
        return found

    def gather(self, positions: np.ndarray, width: int) -> np.ndarray:
        """The ``width`` bytes at each of the (rows, k) ``positions`` in one gather of one
        index per position: a new array (rows, k * width)."""
        return self.view(f"V{width}")[positions].view(_U1)

    def values(self, column: _Column) -> list[bytes | None]:
        """Each row's value bytes (None for null), for decoding value by value."""
        data = self.data
        starts = (column.position + 4).tolist()
        return [
            None if n < 0 else data[p : p + n]
            for p, n in zip(starts, column.lengths.tolist(), strict=True)
        ]


@dataclass
class _Column:
    """One field of a batch: each row's length word position, value length (-1 for null),
    value size in bytes (0 for null), the nulls if there are any, the shortest and longest
    length, and where the next field starts."""

    position: np.ndarray
    lengths: np.ndarray
    sizes: np.ndarray
    nulls: np.ndarray | None
    shortest: int
    longest: int
    following: np.ndarray  # the next field's positions

    def all_of(self, size: int) -> bool:
        """Whether every value that is not null is ``size`` bytes long."""
        if self.nulls is None:
            return self.shortest == self.longest == size
        return bool(((self.lengths == size) | self.nulls).all())


_Writer = Callable[[_Batch, _Column, TextNotes], "list[Piece] | None"]


@dataclass(frozen=True)
class _Layout:
    """The one layout of a field's non-null COPY values: their size after the length word,
    the int32s to check (offset from the length word, value), and where the output bytes
    are: segments of ``width`` bytes at ``segments``; ``kind`` 'float4' needs quietening,
    'text' an ASCII check."""

    size: int
    checks: tuple[tuple[int, int], ...]
    width: int
    segments: tuple[int, ...]
    kind: str


class _Run:
    """Consecutive fields with one layout each, read together when no value is null: one
    gather of the run's bytes per row, one comparison of the length words (and array headers)
    with what they must be, one copy of the values into place."""

    def __init__(self, fields: tuple[int, ...], layouts: Sequence[_Layout]) -> None:
        self.fields = fields
        checks: list[tuple[int, int]] = []
        segments: list[tuple[int, int, str]] = []
        start = 0
        for layout in layouts:
            checks += [(start + at, value) for at, value in layout.checks]
            segments += [(start + at, layout.width, layout.kind) for at in layout.segments]
            start += 4 + layout.size
        self.length = start  # bytes of the run in every row
        self.span = -(-start // 8) * 8  # read as whole words, compared a word at a time
        mask, want = bytearray(self.span), bytearray(self.span)
        for at, value in checks:
            mask[at : at + 4] = b"\xff" * 4
            want[at : at + 4] = value.to_bytes(4, "big", signed=True)
        self._mask = np.frombuffer(bytes(mask), dtype="<u8")
        self._want = np.frombuffer(bytes(want), dtype="<u8")
        self._tiles = (self._mask, self._want)
        names = [f"f{i}" for i in range(len(segments))]
        formats = [f"V{width}" for _, width, _ in segments]
        self._source = np.dtype(
            {"names": names, "formats": formats, "offsets": [at for at, _, _ in segments],
             "itemsize": self.span}
        )  # fmt: skip
        self._packed = np.dtype({"names": names, "formats": formats})
        ends = np.cumsum([width for _, width, _ in segments]).tolist()
        spans = [
            (end - width, end, kind) for end, (_, width, kind) in zip(ends, segments, strict=True)
        ]
        self._floats4 = [(a, b) for a, b, kind in spans if kind == "float4"]
        self._texts = [(a, b) for a, b, kind in spans if kind == "text"]

    def read(self, batch: _Batch, position: np.ndarray) -> list[Piece] | None:
        """The run's output bytes, or None if a value in the batch is null or does not have
        its layout (then the fields are read one by one)."""
        rows = batch.count
        block = batch.gather(position[:, None], self.span)
        mask, want = self._tiled(rows)
        if ((block.view("<u8").reshape(-1) ^ want) & mask).any():
            return None
        packed = np.empty(rows, dtype=self._packed)
        packed[...] = block.view(self._source)[:, 0]  # structured: field by field, in place
        values = packed.view(_U1).reshape(rows, -1)
        for start, end in self._texts:
            if values[:, start:end].max() > 0x7F:
                return None  # non-ASCII, for the field's own writer
        for start, end in self._floats4:
            _quieten(values[:, start:end])
        return [Fixed(values)]

    def _tiled(self, rows: int) -> tuple[np.ndarray, np.ndarray]:
        # The mask and expected words repeated for every row: numpy broadcasting over rows
        # of a few words costs several times a flat operation.
        # (Plans are shared by the threads of a process: the tiles are replaced whole, by
        # longer ones, never changed in place.)
        size = rows * len(self._mask)
        tiles = self._tiles
        if len(tiles[0]) < size:
            copies = max(rows, 2 * len(tiles[0]) // len(self._mask))
            tiles = self._tiles = (np.tile(self._mask, copies), np.tile(self._want, copies))
        return tiles[0][:size], tiles[1][:size]


def copy_supported(fields: Sequence[FieldSpec], type_oids: Sequence[int]) -> bool:
    """Whether CopyRowsEncoder can write these fields from COPY rows of these PostgreSQL
    type OIDs (psycopg's cursor.description[i].type_code / PQftype)."""
    return (
        bool(fields)
        and len(fields) == len(type_oids)
        and all(_writer(s, o) is not None for s, o in zip(fields, type_oids, strict=True))
    )


def _writer(spec: FieldSpec, oid: int) -> _Writer | None:
    """The vectorised writer of ``spec`` from values of type ``oid``, None if there is none."""
    if spec.datatype == "char":
        if spec.region is not None:
            return None  # STC-S from DALI arrays: the tuple path's job
        if oid in TEXTS:
            return partial(_text, spec)
        if oid in (DATE, TIMESTAMP, TIMESTAMPTZ):
            return partial(_timestamps, spec, oid == DATE)
        return None
    if spec.datatype == "boolean":
        return _boolean if oid == BOOL and spec.arraysize is None else None
    if spec.arraysize is None:
        scalar = SCALARS.get(oid)
        if scalar is None or scalar[0] != spec.datatype:
            return None
        return partial(_number, scalar[1], spec.datatype in ("float", "double"))
    element = ARRAYS.get(oid)
    if element is None or SCALARS[element][0] != spec.datatype:
        return None
    return partial(_array, spec, element)


def _layout(spec: FieldSpec, oid: int) -> _Layout | None:
    """The layout of a supported field whose values all have the same size, if it has one."""
    if spec.datatype == "char":
        if oid not in TEXTS or spec.length is None or spec.variable:
            return None
        return _Layout(spec.length, ((0, spec.length),), spec.length, (4,), "text")
    kind = "float4" if _FLOAT4 in (oid, ARRAYS.get(oid)) else "plain"
    if oid in SCALARS:
        size = SCALARS[oid][1]
        return _Layout(size, ((0, size),), size, (4,), kind)
    if oid not in ARRAYS or spec.variable or spec.length is None:
        return None  # booleans are translated, variable arrays vary
    width, count = SCALARS[ARRAYS[oid]][1], spec.length
    size = _ARRAY_HEAD + count * (4 + width)
    # Length, one dimension, no null elements, ``count`` elements: then every element has
    # its type's size, and the lower bound does not matter (psycopg ignores it).
    checks = ((0, size), (4, 1), (8, 0), (16, count))
    first = 4 + _ARRAY_HEAD + 4
    return _Layout(size, checks, width, tuple(first + k * (4 + width) for k in range(count)), kind)


@dataclass(frozen=True)
class _Texts:
    """Consecutive char fields of arraysize '*' from text types: while ASCII, the COPY bytes from
    the first one's length word to the last one's end are their BINARY2 bytes already, but
    for the lengths of nulls (-1 in COPY, 0 in BINARY2)."""

    fields: tuple[int, ...]


def _plan(fields: Sequence[FieldSpec], type_oids: Sequence[int]) -> list[int | _Run | _Texts]:
    """The fields in order, consecutive ones with a layout made into runs, consecutive
    unbounded texts into one piece."""

    def kind(index: int) -> str:
        spec, oid = fields[index], type_oids[index]
        if layouts[index] is not None:
            return "run"
        if spec.datatype == "char" and spec.length is None and oid in TEXTS:
            return "texts"
        return "one"

    layouts = [_layout(s, o) for s, o in zip(fields, type_oids, strict=True)]
    steps: list[int | _Run | _Texts] = []
    for key, indexes in groupby(range(len(fields)), key=kind):
        if key == "run":
            run = tuple(indexes)
            steps.append(_Run(run, [layouts[i] for i in run]))  # type: ignore[misc]
        elif key == "texts":
            steps.append(_Texts(tuple(indexes)))
        else:
            steps.extend(indexes)
    return steps


@lru_cache(maxsize=256)
def _prepared(
    fields: tuple[FieldSpec, ...], type_oids: tuple[int, ...]
) -> tuple[list[_Writer], list[int | _Run | _Texts], int]:
    """The writers, the reading plan and the reach of a result's columns, made once per
    shape: a service sees the same few shapes again and again, and a plan costs more than
    encoding a small result."""
    writers = [_writer(s, o) for s, o in zip(fields, type_oids, strict=True)]
    if not fields or any(w is None for w in writers):
        raise ValueError("these fields and types are not for CopyRowsEncoder")
    steps = _plan(fields, type_oids)
    # Runs and fixed arrays are read at their whole span even in a row where they are null
    # (and then shorter); variable values only where they are.
    reach = max(
        [s.span for s in steps if isinstance(s, _Run)]
        + [4 + _ARRAY_HEAD + (s.length or 0) * (4 + 8) for s in fields if s.is_array]
        + [0]
    )
    return [w for w in writers if w is not None], steps, reach


class CopyRowsEncoder:
    """Encodes batches of binary COPY rows for the given fields into BINARY2 bytes."""

    def __init__(self, fields: Sequence[FieldSpec], type_oids: Sequence[int]) -> None:
        self.fields = tuple(fields)
        self.type_oids = tuple(type_oids)
        self._writers, self._steps, self._reach = _prepared(self.fields, self.type_oids)
        self.notes = TextNotes()
        # The Binary2Encoder's column encoders write the columns decoded value by value;
        # their changes are counted per batch, like everything else here.
        self._fallback = ColumnEncoders(TextNotes())
        self._mask_bytes = (len(self.fields) + 7) // 8
        self._assembler = Assembler()

    def encode(self, rows: Sequence[bytes | memoryview]) -> bytes:
        """BINARY2 bytes of a batch. Each item is ONE row of binary COPY data exactly as
        psycopg's `for data in copy:` yields it for `COPY ... TO STDOUT (FORMAT binary)`:
        an int16 field count, then per field an int32 length (-1 = NULL) and that many bytes.
        The runner has already removed the 19-byte file header (signature 'PGCOPY\\n\\xff\\r\\n\\0',
        flags, extension length) from the first row and dropped the 2-byte trailer (-1)."""
        count = len(rows)
        if not count:
            return b""
        batch = _Batch(rows, self._reach)
        width = len(self.fields)
        if not (batch.view(">i2")[batch.starts] == width).all():
            raise CopyRowError(f"a COPY row does not have {width} fields")
        notes = self._fallback.notes = TextNotes()
        mask = np.zeros((count, self._mask_bytes), dtype=_U1)
        pieces: list[Piece] = []
        position = batch.starts + 2
        try:
            for step in self._steps:
                if isinstance(step, _Run):
                    found = step.read(batch, position)
                    if found is not None:
                        pieces += found
                        position = position + step.length
                        continue
                indexes = step.fields if isinstance(step, _Run | _Texts) else (step,)
                columns = []
                for index in indexes:
                    columns.append(self._column(index, batch, position, mask))
                    position = columns[-1].following
                if isinstance(step, _Texts):
                    found = _joined_texts(batch, columns)
                    if found is not None:
                        pieces += found
                        continue
                for index, column in zip(indexes, columns, strict=True):
                    pieces += self._write(index, batch, column, notes)
        except IndexError:  # a length sent a position past the batch
            raise CopyRowError("a malformed COPY row") from None
        if not (position == batch.ends).all():
            raise CopyRowError(f"a COPY row is not {width} fields long")
        data = self._assembler.assemble([Fixed(mask), *pieces], count)
        self.notes.add(notes)
        return data

    def _column(self, index: int, batch: _Batch, position: np.ndarray, mask: np.ndarray) -> _Column:
        """Field ``index`` of every row at ``position``; its nulls go into ``mask``."""
        lengths = batch.view(">i4")[position].astype(np.int32)  # native from here on
        shortest, longest = int(lengths.min()), int(lengths.max())
        if shortest < -1 or longest > batch.longest:
            raise CopyRowError(f"field {self.fields[index].name}: a malformed COPY row")
        nulls = None
        sizes = lengths
        if shortest < 0:
            nulls = lengths < 0
            sizes = np.maximum(lengths, 0)
            # BINARY2 null flags: one bit per field, field 0 the top bit of the first byte.
            mask[:, index >> 3] |= nulls.view(_U1) << (7 - (index & 7))
        return _Column(position, lengths, sizes, nulls, shortest, longest, position + sizes + 4)

    def _write(self, index: int, batch: _Batch, column: _Column, notes: TextNotes) -> list[Piece]:
        found = self._writers[index](batch, column, notes)
        return self._decoded(index, batch, column) if found is None else found

    def _decoded(self, index: int, batch: _Batch, column: _Column) -> list[Piece]:
        """Column ``index`` of the batch decoded to what psycopg returns, then encoded as
        Binary2Encoder encodes it."""
        # Made when first needed: most results never need them, and small ones would pay.
        decode = decoder(self.type_oids[index])
        try:
            values = [None if v is None else decode(v) for v in batch.values(column)]
        except ValueError as exc:
            raise ValueError(f"field {self.fields[index].name}: {exc}") from None
        found, _ = self._fallback.build(self.fields[index])(values)
        return found


# -- fields one by one -----------------------------------------------------------------------
# Each takes the batch, the column and the batch's notes, and returns the column's pieces,
# or None to have the column decoded value by value instead.


def _number(
    size: int, floating: bool, batch: _Batch, column: _Column, notes: TextNotes
) -> list[Piece] | None:
    nulls = column.nulls
    if not column.all_of(size):
        raise CopyRowError(f"a {size}-byte number of another length in a COPY row")
    block = batch.gather(column.position[:, None] + 4, size)
    if floating and size == 4:
        _quieten(block)
    if nulls is not None:
        block[nulls] = _NAN[size] if floating else 0
    return [Fixed(block)]


def _quieten(block: np.ndarray) -> None:
    """Set the quiet bit of signalling float4 NaNs, as psycopg's float (a C double) does on
    the way to Python: a double cannot hold a signalling NaN from a float."""
    words = block.view(">u4")
    signalling = ((words & 0x7FC00000) == 0x7F800000) & ((words & 0x003FFFFF) != 0)
    if signalling.any():
        words[signalling] |= 0x00400000


def _boolean(batch: _Batch, column: _Column, notes: TextNotes) -> list[Piece] | None:
    if not column.all_of(1):
        raise CopyRowError("a boolean of another length than 1 in a COPY row")
    codes = np.where(batch.view("u1")[column.position + 4] != 0, _T, _F).astype(_U1)
    if column.nulls is not None:
        codes[column.nulls] = _UNKNOWN
    return [Fixed(codes.reshape(-1, 1))]


def _joined_texts(batch: _Batch, columns: Sequence[_Column]) -> list[Piece] | None:
    """Consecutive unbounded char columns as one padded piece, or None if a value is not
    ASCII, a length could be mistaken for a character, or padding would cost too much."""
    first = columns[0].position
    lengths = columns[-1].following - first
    rows, width = batch.count, int(lengths.max())
    if max(c.longest for c in columns) > 0x7F:
        return None  # a byte of a length word above 0x7F: the ASCII test would refuse it
    if width * rows > PAD_FACTOR * int(lengths.sum()) + PAD_SLACK:
        return None  # a long value among short ones: padding would multiply the memory
    block = batch.gather(first[:, None], width)
    for column in columns:
        if column.nulls is not None:
            null = np.flatnonzero(column.nulls)
            at = (column.position - first)[null]
            block[null[:, None], at[:, None] + _offsets(4)] = 0  # BINARY2 count 0
    if block.max() > 0x7F and not _ascii(block, lengths):
        return None
    return [Padded(block, lengths, int(lengths.min()) == width)]


def _text(spec: FieldSpec, batch: _Batch, column: _Column, notes: TextNotes) -> list[Piece] | None:
    rows = batch.count
    sizes, longest = column.sizes, column.longest
    width = 4 + max(longest, 0)  # the count and the characters
    if width * rows > PAD_FACTOR * (int(sizes.sum()) + 4 * rows) + PAD_SLACK:
        return None  # a long value among short ones: padding would multiply the memory
    block = batch.gather(column.position[:, None], width)
    if longest > 0 and block[:, 4:].max() > 0x7F and not _ascii(block[:, 4:], sizes):
        return None  # UTF-8 to one '?' per character: value by value, as Binary2Encoder does
    limit = spec.length
    if limit is None or (spec.variable and longest <= limit):
        # The COPY length is the BINARY2 count, but -1 for a null where BINARY2 has 0.
        if column.nulls is not None:
            block[column.nulls, :4] = 0
        return [Padded(block, sizes + 4, column.shortest == longest)]
    return _sized(spec, block[:, 4:], sizes, notes)


def _ascii(text: np.ndarray, sizes: np.ndarray) -> bool:
    """Whether no row's first ``sizes[i]`` bytes of ``text`` are above 0x7F (the bytes
    after them belong to other fields)."""
    return not ((text > 0x7F) & (_offsets(text.shape[1]) < sizes[:, None])).any()


def _sized(spec: FieldSpec, text: np.ndarray, chars: np.ndarray, notes: TextNotes) -> list[Piece]:
    """Padded ASCII ``text`` of ``chars`` characters each (0 for null) at a char field's
    arraysize: cut to a bound or a fixed length (counted as truncated), and a fixed length
    padded with NULs, as Binary2Encoder does."""
    rows = len(chars)
    limit = spec.length
    if limit is None:
        return [counts_piece(chars), Padded(text, chars, int(chars.min()) == text.shape[1])]
    notes.truncated += int((chars > limit).sum())
    if spec.variable:
        chars = np.minimum(chars, limit)
        text = text[:, :limit]
        return [counts_piece(chars), Padded(text, chars, int(chars.min()) == text.shape[1])]
    if text.shape[1] >= limit and (chars == limit).all():
        return [Fixed(np.ascontiguousarray(text[:, :limit]))]
    fixed = np.zeros((rows, limit), dtype=_U1)
    kept = min(limit, text.shape[1])
    np.copyto(fixed[:, :kept], text[:, :kept], where=_offsets(kept) < chars[:, None])
    return [Fixed(fixed)]


def _offsets(size: int) -> np.ndarray:
    return _OFFSETS[:size] if size <= len(_OFFSETS) else np.arange(size)


def _timestamps(
    spec: FieldSpec, dates: bool, batch: _Batch, column: _Column, notes: TextNotes
) -> list[Piece] | None:
    """DALI timestamps (values.timestamp_text): 'YYYY-MM-DD' for a date, else
    'YYYY-MM-DDThh:mm:ss' and '.ffffff' when the microseconds are not 0."""
    size = 4 if dates else 8
    nulls = column.nulls
    if not column.all_of(size):
        raise CopyRowError("a date or timestamp of another length in a COPY row")
    stamps = batch.view(">i4" if dates else ">i8")[column.position + 4].astype(np.int64)
    if nulls is not None:
        stamps[nulls] = 0
    if dates:
        found = epoch_texts(stamps + _PG_EPOCH_DAYS, None)
    else:
        days, in_day = np.divmod(stamps, _DAY_US)  # floored: before 2000 too
        found = epoch_texts(days + _PG_EPOCH_DAYS, in_day)
    if found is None:
        return None  # infinite or outside 1..9999: decoded, which raises as psycopg would
    matrix, chars = found
    if nulls is not None:
        chars[nulls] = 0
    return _sized(spec, matrix, chars, notes)


def _array(
    spec: FieldSpec, element: int, batch: _Batch, column: _Column, notes: TextNotes
) -> list[Piece] | None:
    """A numeric array (PostgreSQL's array_send: ndim, has-nulls flag, element OID, per
    dimension its length and lower bound, per element a length and the value) as its
    elements, one dimension and no null elements only."""
    rows = batch.count
    size = SCALARS[element][1]
    stride = 4 + size  # an element's length word and value
    position, nulls = column.position, column.nulls
    head = batch.view(">i4")[position[:, None] + np.array([4, 8, 12, 16])].astype(np.int64)
    ndim, flagged, oid, count = head[:, 0], head[:, 1], head[:, 2], head[:, 3]
    count = np.where(ndim == 1, count, 0)  # ndim 0: an empty array, with no dimensions
    if nulls is not None:
        count[nulls] = 0
    wanted = 12 + 8 * ndim + count * stride
    odd = (ndim > 1) | (ndim < 0) | (flagged != 0) | (oid != element) | (column.lengths != wanted)
    if (odd if nulls is None else odd & ~nulls).any():
        return None  # null elements, several dimensions: as psycopg loads them
    first = position + 4 + _ARRAY_HEAD + 4  # the first element's value, after its length
    limit = spec.length
    floating = spec.datatype in ("float", "double")
    if not spec.variable:
        assert limit is not None  # a fixed arraysize
        if (count != limit if nulls is None else (count != limit) & ~nulls).any():
            return None  # decoded, then refused by Binary2Encoder as before
        block = batch.gather(first[:, None] + _offsets(limit) * stride, size)
        if element == _FLOAT4:
            _quieten(block)
        if nulls is not None:
            block.reshape(rows, limit, size)[nulls] = _NAN[size] if floating else 0
        return [Fixed(block)]
    if limit is not None and int(count.max()) > limit:
        return None  # decoded, then refused by Binary2Encoder as before
    total = int(count.sum())
    before = np.cumsum(count) - count  # elements of the rows before each row
    spots = np.repeat(first - before * stride, count) + np.arange(total) * stride
    data = batch.gather(spots[:, None], size).reshape(total * size)
    if element == _FLOAT4:
        _quieten(data)
    return [counts_piece(count), runs_piece(data, count * size)]
