"""The bytes of tar and zip archives around members whose sizes are known in advance, written
forwards only (to a socket or a pipe: nothing is ever patched after it was written).

A writer is told each member's name, size and time before its data (:meth:`begin`) and its
CRC-32 after (:meth:`end`), and returns the bytes that go around the data; ``offset`` counts
every byte of the archive so far, the data included. Since the sizes are known, the length of
a whole archive is known before its first byte (:func:`archive_length`): running a writer
over the members without data gives it.

* **tar**: POSIX pax (ustar headers, a pax extended header only where ustar cannot say it:
  names over 100 bytes, sizes of 8 GiB and more), by :class:`tarfile.TarInfo` itself; ends
  with two zero blocks.
* **zip**: members *stored*, not deflated: FITS light curves are floating-point tables that
  deflate by a few percent at most, and deflating would cost more CPU than the network
  saves (and make the length unknowable in advance). The CRC-32 is computed while the data
  goes out, so each member has a data descriptor (general purpose bit 3); names are UTF-8
  (bit 11). ZIP64 records are written only where a value does not fit in 32 bits (APPNOTE
  6.3.10, section 4.5.3): a member of 4 GiB or more, an offset past 4 GiB, 65,535 members or
  more.

Must not import Flask or psycopg.
"""

from __future__ import annotations

import copy
import struct
import tarfile
import time
from collections.abc import Iterable
from typing import Protocol

_ZIP32 = 0xFFFFFFFF  # a 32-bit field's largest value, which also means "see the ZIP64 extra"
_ZIP_COUNT = 0xFFFF
_FLAGS = 0x0008 | 0x0800  # sizes and CRC in a data descriptor; names in UTF-8
_UNIX_FILE = (0o100644 << 16) & 0xFFFFFFFF  # external attributes: a regular file, rw-r--r--
_MADE_BY = (3 << 8) | 45  # UNIX, APPNOTE 4.5
_BLOCK = 512


class ArchiveWriter(Protocol):
    """What the streaming loop needs of a container format."""

    suffix: str
    mimetype: str
    wants_crc: bool  # whether end() needs the CRC-32 of the data
    offset: int

    def begin(self, name: str, size: int, mtime: int) -> bytes: ...

    def end(self, size: int, crc: int) -> bytes: ...

    def finish(self) -> bytes: ...

    def clone(self) -> ArchiveWriter: ...


class TarWriter:
    """A pax tar archive (POSIX.1-2001)."""

    suffix = "tar"
    mimetype = "application/x-tar"
    wants_crc = False

    def __init__(self) -> None:
        self.offset = 0

    def begin(self, name: str, size: int, mtime: int) -> bytes:
        info = tarfile.TarInfo(name)
        info.size = size
        info.mtime = mtime  # an int: a float would cost a pax header per member
        info.mode = 0o644
        info.type = tarfile.REGTYPE
        info.uname = info.gname = ""
        header = info.tobuf(tarfile.PAX_FORMAT, "utf-8", "strict")
        self.offset += len(header) + size
        return header

    def end(self, size: int, crc: int) -> bytes:
        padding = b"\0" * (-size % _BLOCK)
        self.offset += len(padding)
        return padding

    def finish(self) -> bytes:
        self.offset += 2 * _BLOCK
        return b"\0" * (2 * _BLOCK)

    def clone(self) -> TarWriter:
        return copy.copy(self)


def _dos_time(mtime: int) -> tuple[int, int]:
    """(time, date) fields in MS-DOS format, UTC; zip cannot say before 1980."""
    t = time.gmtime(max(mtime, 315532800))
    return (
        (t.tm_hour << 11) | (t.tm_min << 5) | (t.tm_sec // 2),
        ((t.tm_year - 1980) << 9) | (t.tm_mon << 5) | t.tm_mday,
    )


class ZipWriter:
    """A zip archive of stored members with data descriptors, ZIP64 where needed.

    ``limit`` is the smallest value that needs ZIP64 (2**32 - 1); tests lower it to check the
    ZIP64 records without writing 4 GiB.
    """

    suffix = "zip"
    mimetype = "application/zip"
    wants_crc = True

    def __init__(self, limit: int = _ZIP32) -> None:
        self.limit = limit
        self.offset = 0
        # (name, crc, size, local header offset, mtime) per member: the central directory.
        self.central: list[tuple[bytes, int, int, int, int]] = []
        self._open: tuple[bytes, int, int, int] | None = None

    def begin(self, name: str, size: int, mtime: int) -> bytes:
        raw = name.encode()
        zip64 = size >= self.limit
        # With a data descriptor the local header's CRC and sizes are zero (APPNOTE 4.4.4);
        # a ZIP64 member says so with a ZIP64 extra of zero sizes, as Python's zipfile does.
        extra = struct.pack("<HHQQ", 1, 16, 0, 0) if zip64 else b""
        hm, dm = _dos_time(mtime)
        header = (
            struct.pack(
                "<IHHHHHIIIHH",
                0x04034B50,
                45 if zip64 else 20,
                _FLAGS,
                0,  # stored
                hm,
                dm,
                0,
                0,
                0,
                len(raw),
                len(extra),
            )
            + raw
            + extra
        )
        self._open = (raw, size, self.offset, mtime)
        self.offset += len(header) + size
        return header

    def end(self, size: int, crc: int) -> bytes:
        assert self._open is not None and self._open[1] == size
        raw, _, local, mtime = self._open
        self._open = None
        if size >= self.limit:  # ZIP64 extra in the local header: 8-byte sizes here too
            descriptor = struct.pack("<IIQQ", 0x08074B50, crc, size, size)
        else:
            descriptor = struct.pack("<IIII", 0x08074B50, crc, size, size)
        self.central.append((raw, crc, size, local, mtime))
        self.offset += len(descriptor)
        return descriptor

    def finish(self) -> bytes:
        parts = [self._central_entry(*member) for member in self.central]
        directory = b"".join(parts)
        start, count = self.offset, len(self.central)
        tail = b""
        if count >= _ZIP_COUNT or len(directory) >= self.limit or start >= self.limit:
            record = start + len(directory)
            tail = struct.pack(
                "<IQHHIIQQQQ", 0x06064B50, 44, _MADE_BY, 45, 0, 0, count, count,
                len(directory), start,
            ) + struct.pack("<IIQI", 0x07064B50, 0, record, 1)  # fmt: skip
        tail += struct.pack(
            "<IHHHHIIH",
            0x06054B50,
            0,
            0,
            min(count, _ZIP_COUNT),
            min(count, _ZIP_COUNT),
            len(directory) if len(directory) < self.limit else _ZIP32,
            start if start < self.limit else _ZIP32,
            0,
        )
        self.offset += len(directory) + len(tail)
        return directory + tail

    def _central_entry(self, raw: bytes, crc: int, size: int, local: int, mtime: int) -> bytes:
        # The ZIP64 extra holds, in this order, exactly the values whose field says 0xFFFFFFFF
        # (APPNOTE 4.5.3).
        big_size, big_offset = size >= self.limit, local >= self.limit
        values = ([size, size] if big_size else []) + ([local] if big_offset else [])
        extra = struct.pack(f"<HH{len(values)}Q", 1, 8 * len(values), *values) if values else b""
        hm, dm = _dos_time(mtime)
        return (
            struct.pack(
                "<IHHHHHHIIIHHHHHII",
                0x02014B50,
                _MADE_BY,
                45 if values else 20,
                _FLAGS,
                0,
                hm,
                dm,
                crc,
                _ZIP32 if big_size else size,
                _ZIP32 if big_size else size,
                len(raw),
                len(extra),
                0,
                0,
                0,
                _UNIX_FILE,
                _ZIP32 if big_offset else local,
            )
            + raw
            + extra
        )

    def clone(self) -> ZipWriter:
        twin = copy.copy(self)
        twin.central = list(self.central)
        return twin


def writer_for(fmt: str) -> TarWriter | ZipWriter:
    """A new writer of ``fmt`` ('tar' or 'zip')."""
    if fmt == "tar":
        return TarWriter()
    if fmt == "zip":
        return ZipWriter()
    raise ValueError(f"no archive format {fmt!r}")


def archive_length(writer: ArchiveWriter, members: Iterable[tuple[str, int, int]]) -> int:
    """Bytes of the whole archive of ``members`` (name, size, mtime) written by a fresh
    ``writer``: the writer run without data, so the figure cannot disagree with the bytes."""
    for name, size, mtime in members:
        writer.begin(name, size, mtime)
        writer.end(size, 0)
    writer.finish()
    return writer.offset
