"""A tar or zip archive of stored files, streamed in bounded memory: each file is read in
pieces of ``CHUNK`` bytes into one reused buffer, and the archive leaves in pieces of about
``CHUNK`` bytes, whatever the number and size of the files. (A zip keeps one small central
directory record per member until its end: that is the format.)

**Only verified bytes go out.** Once a member's bytes are sent they cannot be taken back,
so each file is checked before its header is written: its stored copy is read once and
hashed, and only a copy whose SHA-256 and size match the catalogue's is sent, read again
through the same open file (the same inode: a copy replaced meanwhile does not matter), from
the page cache that the check has just filled. A copy that does not match is logged and the
next copy tried (sites the last audit found good first). When no copy matches, the member is
left out and the archive ends with an ``ERRORS.txt`` member that names it; the length
promised in advance (Content-Length) is kept by padding ``ERRORS.txt`` with blank lines, so
the archive is always whole and well formed, and what is missing says so inside it.
The manifest (first member) still lists the product, so a client checking the archive
against it sees the gap.

Must not import Flask or psycopg.
"""

from __future__ import annotations

import hashlib
import io
import logging
import time
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from vo_node.downloads.containers import ArchiveWriter, archive_length, writer_for

log = logging.getLogger(__name__)

CHUNK = 1 << 20  # bytes read from a file at a time, and about what leaves at a time
ERRORS_NAME = "ERRORS.txt"


@dataclass(frozen=True)
class FileMember:
    """A stored file to put in an archive, with what the catalogue says of it."""

    name: str  # its name inside the archive
    size: int
    sha256: str
    mtime: int  # seconds since the epoch
    sources: tuple[Path, ...]  # its stored copies, the one to try first first
    label: str  # how the log and ERRORS.txt name it, e.g. 'product 1234'


@dataclass(frozen=True)
class InlineMember:
    """A member made in memory (the manifest)."""

    name: str
    data: bytes
    mtime: int


Member = FileMember | InlineMember


@dataclass
class Outcome:
    """What a streamed archive left out (filled in as it streams)."""

    missing: list[FileMember] = field(default_factory=list)


def length(fmt: str, members: Sequence[Member]) -> int:
    """Bytes of the archive :func:`stream` writes for ``members``, known before it starts."""
    return archive_length(
        writer_for(fmt),
        ((m.name, _size(m), m.mtime) for m in members),
    )


def _size(member: Member) -> int:
    return member.size if isinstance(member, FileMember) else len(member.data)


def verified_copy(member: FileMember, buffer: bytearray) -> io.BufferedReader | None:
    """An open copy of ``member`` whose bytes match its size and SHA-256, positioned at its
    start; ``None`` when no copy does (each bad copy is logged)."""
    view = memoryview(buffer)
    for path in member.sources:
        try:
            handle = path.open("rb")
        except OSError as exc:
            log.warning("%s: copy %s cannot be opened: %s", member.label, path, exc)
            continue
        try:
            digest, seen = hashlib.sha256(), 0
            while count := handle.readinto(buffer):
                digest.update(view[:count])
                seen += count
            if seen == member.size and digest.hexdigest() == member.sha256:
                handle.seek(0)
                return handle
            log.error(
                "%s: copy %s does not match the catalogue (%d bytes, sha256 %s; expected %d, "
                "%s): not sent",
                member.label,
                path,
                seen,
                digest.hexdigest(),
                member.size,
                member.sha256,
            )
        except OSError as exc:
            log.error("%s: copy %s cannot be read: %s", member.label, path, exc)
        handle.close()
    return None


def stream(
    fmt: str,
    members: Sequence[Member],
    promised: int | None = None,
    outcome: Outcome | None = None,
) -> Iterator[bytes]:
    """The bytes of a ``fmt`` archive of ``members``, in order, in pieces of about ``CHUNK``.

    ``promised``: the length announced (:func:`length`); a member left out is then made up
    for by padding ``ERRORS.txt`` to it. ``outcome`` receives the members left out.
    """
    writer = writer_for(fmt)
    outcome = outcome if outcome is not None else Outcome()
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    out = bytearray()
    for member in members:
        if isinstance(member, InlineMember):
            out += writer.begin(member.name, len(member.data), member.mtime)
            out += member.data
            out += writer.end(len(member.data), zlib.crc32(member.data))
            continue
        handle = verified_copy(member, buffer)
        if handle is None:
            outcome.missing.append(member)
            continue
        with handle:
            out += writer.begin(member.name, member.size, member.mtime)
            crc, left = 0, member.size
            while left:
                count = handle.readinto(view[: min(CHUNK, left)])
                if not count:
                    # The copy just verified got shorter: nothing honest can follow.
                    raise OSError(f"{member.label}: {handle.name} ended early")
                if writer.wants_crc:
                    crc = zlib.crc32(view[:count], crc)
                out += view[:count]
                left -= count
                if len(out) >= CHUNK:
                    yield bytes(out)
                    out.clear()
            out += writer.end(member.size, crc)
        if len(out) >= CHUNK:
            yield bytes(out)
            out.clear()
    if outcome.missing:
        if out:
            yield bytes(out)
            out.clear()
        yield from _errors_member(writer, outcome.missing, promised)
    out += writer.finish()
    yield bytes(out)


def errors_text(missing: Sequence[FileMember]) -> bytes:
    """What ``ERRORS.txt`` says (before its padding)."""
    lines = [
        "These files are listed in MANIFEST.csv but are not in this archive: no stored copy",
        "of them matches its checksum at the moment. The archive's operators have been told;",
        "please download them again later.",
        "",
        "name\tsize\tsha256",
        *(f"{m.name}\t{m.size}\t{m.sha256}" for m in missing),
        "",
    ]
    return "\n".join(lines).encode()


def _errors_member(
    writer: ArchiveWriter, missing: Sequence[FileMember], promised: int | None
) -> Iterator[bytes]:
    text, mtime = errors_text(missing), int(time.time())
    size = len(text) if promised is None else _fill(writer, promised - writer.offset, mtime)
    # Never expected to cut: a file left out frees more room than its line takes.
    text = text[:size]
    yield writer.begin(ERRORS_NAME, size, mtime)
    crc = zlib.crc32(text)
    if text:
        yield text
    left = size - len(text)
    blank = b"\n" * CHUNK
    while left:
        piece = blank[: min(left, CHUNK)]
        crc = zlib.crc32(piece, crc)
        yield piece
        left -= len(piece)
    yield writer.end(size, crc)


def _fill(writer: ArchiveWriter, remaining: int, mtime: int) -> int:
    """The size of ``ERRORS.txt`` that makes the archive end exactly ``remaining`` bytes on."""
    size = remaining
    for _ in range(4):  # the overhead depends on the size only through ZIP64 and padding
        twin = writer.clone()
        twin.begin(ERRORS_NAME, size, mtime)
        twin.end(size, 0)
        twin.finish()
        overhead = twin.offset - writer.offset - size
        if size + overhead == remaining:
            return size
        size = remaining - overhead
        if size < 0:
            break
    raise OSError(f"no ERRORS.txt fills the {remaining} bytes promised")
