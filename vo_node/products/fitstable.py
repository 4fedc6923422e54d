"""A stored FITS binary table as a memory-mapped numpy record array, without astropy's HDU
machinery.

Opening a file with astropy and building its column objects costs ~15 ms, whatever is read
afterwards: more than a one-day cut-out of a 150-day light curve takes in all. Here the
headers are read block by block (astropy parses the cards), the table's rows are mapped as
one structured dtype built from the TFORMs, and numpy does the rest: a binary search on the
time column touches a few pages, a slice of rows copies only those rows.

Only what CoRoT files use is mapped: scalar or fixed-repeat L, B, I, J, K, E, D and A
columns, no scaling (TSCAL/TZERO), no heap. Anything else gives ``None``, and the caller
reads the file with astropy instead. Must not import Flask.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from astropy.io import fits

BLOCK = 2880
CARD = 80
_END = re.compile(rb"END {77}")
_TFORM = re.compile(r"\s*(\d*)([LBIJKEDA])\s*(?:\(.*\))?\s*\Z")
_TYPES = {"L": "i1", "B": "u1", "I": ">i2", "J": ">i4", "K": ">i8", "E": ">f4", "D": ">f8"}
_MAX_HDUS = 32
_MAX_HEADER_BLOCKS = 200


class TableFormatError(ValueError):
    """The file is not FITS as far as its headers go (truncated, no END, bad sizes)."""


@dataclass(frozen=True)
class MappedTable:
    """The HDU ``extname`` of a FITS file: the primary HDU's bytes (header and data, as
    stored), the table's header, and its rows (a read-only memmap in file byte order)."""

    primary_bytes: bytes
    primary: fits.Header
    header: fits.Header
    rows: np.ndarray
    # Names this version of the file (path, size, inode, mtime): what is learnt from its
    # content may be kept under it.
    key: tuple[object, ...] = ()

    @property
    def names(self) -> list[str]:
        return list(self.rows.dtype.names or ())

    def ordered(self, column: str) -> bool:
        """Whether the valid values (finite, positive) of ``column`` never decrease down the
        table, as a time column must for a binary search. Read once per file and process."""
        key = (*self.key, column)
        found = _ORDERED.get(key)
        if found is None:
            if len(_ORDERED) > 8192:
                _ORDERED.clear()
            found = _ORDERED[key] = times_ordered(self.rows[column])
        return found


def times_ordered(times: np.ndarray) -> bool:
    """Whether the valid times (finite, positive) of a column never decrease: what a binary
    search over it needs."""
    values = np.asarray(times, dtype="f8")
    values = values[np.isfinite(values) & (values > 0)]
    return bool(np.all(values[1:] >= values[:-1]))


_ORDERED: dict[tuple[object, ...], bool] = {}


def _read_header(handle: object, start: int) -> tuple[bytes, int]:
    """The raw header at ``start`` (whole blocks, END included) and where its data begins."""
    chunks: list[bytes] = []
    position = start
    for _ in range(_MAX_HEADER_BLOCKS):
        handle.seek(position)  # type: ignore[attr-defined]
        block = handle.read(BLOCK)  # type: ignore[attr-defined]
        if len(block) < BLOCK:
            raise TableFormatError(f"header at byte {start} is cut short")
        chunks.append(block)
        position += BLOCK
        for offset in range(0, BLOCK, CARD):
            if _END.match(block, offset):
                return b"".join(chunks), position
    raise TableFormatError(f"header at byte {start} has no END card")


def _data_size(header: fits.Header) -> int:
    naxis = int(header.get("NAXIS", 0))
    if naxis == 0:
        return 0
    bitpix = abs(int(header["BITPIX"]))
    elements = 1
    for axis in range(1, naxis + 1):
        elements *= int(header[f"NAXIS{axis}"])
    size = bitpix // 8 * int(header.get("GCOUNT", 1)) * (int(header.get("PCOUNT", 0)) + elements)
    return -(-size // BLOCK) * BLOCK


def _dtype(header: fits.Header) -> np.dtype | None:
    """The rows' dtype from the column keywords; None for what this module does not map."""
    if int(header.get("PCOUNT", 0)) != 0 or int(header.get("BITPIX", 8)) != 8:
        return None
    names, formats, offsets = [], [], []
    offset = 0
    for n in range(1, int(header["TFIELDS"]) + 1):
        if float(header.get(f"TSCAL{n}", 1)) != 1 or float(header.get(f"TZERO{n}", 0)) != 0:
            return None
        match = _TFORM.match(str(header.get(f"TFORM{n}", "")))
        name = str(header.get(f"TTYPE{n}", "")).strip()
        if match is None or not name or name in names:
            return None
        repeat = int(match[1]) if match[1] else 1
        code = match[2]
        if code == "A":
            fmt, width = f"S{repeat}", repeat
        else:
            fmt = _TYPES[code] if repeat == 1 else f"({repeat},){_TYPES[code]}"
            width = repeat * np.dtype(_TYPES[code]).itemsize
        names.append(name)
        formats.append(fmt)
        offsets.append(offset)
        offset += width
    if offset != int(header["NAXIS1"]):
        return None
    return np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": offset})


@dataclass(frozen=True)
class _Found:
    """Where a table is in its file, and its headers (shared: callers must not change them)."""

    primary_bytes: bytes
    primary: fits.Header
    header: fits.Header
    dtype: np.dtype | None
    data_start: int
    count: int


def map_table(path: str | Path, extname: str) -> MappedTable | None:
    """The binary table ``extname`` of the file at ``path``, mapped; None when the table uses
    what this module does not map. Raises TableFormatError (or OSError) for a file whose
    headers are not FITS, and KeyError when no HDU has that name.

    The headers are parsed once per file and process: stored files never change in place
    (a new version is a new file), and the key has the file's size, inode and mtime too."""
    stat = Path(path).stat()
    key = (str(path), stat.st_size, stat.st_ino, stat.st_mtime_ns)
    found = _find(key[0], extname.upper(), *key[1:])
    if found.dtype is None:
        return None
    if found.count == 0:
        rows = np.zeros(0, dtype=found.dtype)
    else:
        rows = np.memmap(
            path, dtype=found.dtype, mode="r", offset=found.data_start, shape=(found.count,)
        )
    return MappedTable(found.primary_bytes, found.primary, found.header, rows, (*key, extname))


@lru_cache(maxsize=4096)
def _find(path: str, extname: str, size: int, inode: int, mtime_ns: int) -> _Found:
    del inode, mtime_ns  # in the key only
    with open(path, "rb") as handle:
        raw, data_start = _read_header(handle, 0)
        primary = fits.Header.fromstring(raw.decode("ascii", "replace"))
        position = data_start + _data_size(primary)
        handle.seek(0)
        primary_bytes = handle.read(position)
        if len(primary_bytes) < position:
            raise TableFormatError("primary data cut short")
        for _ in range(_MAX_HDUS):
            if position >= size:
                break
            raw, data_start = _read_header(handle, position)
            header = fits.Header.fromstring(raw.decode("ascii", "replace"))
            position = data_start + _data_size(header)
            if str(header.get("EXTNAME", "")).strip().upper() != extname:
                continue
            if str(header.get("XTENSION", "")).strip() != "BINTABLE":
                raise TableFormatError(f"{extname} is not a binary table")
            dtype = _dtype(header)
            count = int(header["NAXIS2"])
            if dtype is not None and data_start + count * dtype.itemsize > size:
                raise TableFormatError(f"{extname}: the table is cut short")
            return _Found(primary_bytes, primary, header, dtype, data_start, count)
    raise KeyError(f"no HDU named {extname}")


# Column keywords (FITS 4.0, table 18 and the WCS ones CoRoT does not use) renumbered with
# their column when a cut-out keeps only some columns.
_ACTUAL_RANGE = re.compile(r"TDM(IN|AX)\d+\Z")
_COLUMN_KEYWORD = re.compile(
    r"(TTYPE|TFORM|TUNIT|TDISP|TNULL|TSCAL|TZERO|TDIM|TCOMM|TUCD|TUTYP|TDMIN|TDMAX|TLMIN|TLMAX)"
    r"(\d+)\Z"
)


def table_bytes(
    table: MappedTable, rows: np.ndarray, keep: list[str] | None, history: str
) -> bytes:
    """A FITS file of the primary HDU as stored and the table with ``rows`` (records of
    ``table.rows``' dtype) and only the columns ``keep`` (all when None), its other header
    cards kept."""
    header = table.header.copy()
    names = table.names
    if keep is not None and keep != names:
        index = {name: i + 1 for i, name in enumerate(names)}
        renumber = {index[name]: new for new, name in enumerate(keep, start=1)}
        cards = []
        for card in header.cards:
            match = _COLUMN_KEYWORD.match(card.keyword)
            if match:
                number = int(match[2])
                if number not in renumber:
                    continue
                cards.append((f"{match[1]}{renumber[number]}", card.value, card.comment))
            else:
                cards.append((card.keyword, card.value, card.comment))
        header = fits.Header(cards)
        rows = _packed(rows, keep)
        header["TFIELDS"] = len(keep)
    header["NAXIS1"] = rows.dtype.itemsize
    header["NAXIS2"] = len(rows)
    # The stored checksums, and the columns' actual minima and maxima, were the whole table's.
    for keyword in ("CHECKSUM", "DATASUM"):
        header.remove(keyword, ignore_missing=True, remove_all=True)
    for keyword in [k for k in header if _ACTUAL_RANGE.match(k)]:
        header.remove(keyword, ignore_missing=True, remove_all=True)
    header.add_history(history)
    data = np.ascontiguousarray(rows).tobytes()
    padding = b"\0" * (-len(data) % BLOCK)
    head = header.tostring(endcard=True, padding=True).encode("ascii")
    return table.primary_bytes + head + data + padding


def _packed(rows: np.ndarray, keep: list[str]) -> np.ndarray:
    """Only the fields ``keep``, in that order, packed without gaps."""
    dtype = np.dtype([(name, rows.dtype.fields[name][0]) for name in keep])  # type: ignore[index]
    packed = np.empty(len(rows), dtype=dtype)
    for name in keep:
        packed[name] = rows[name]
    return packed
