"""The complete-run archives, kept on disk so that they can be served with HTTP ranges (a
download of many gigabytes that breaks resumes where it stopped) and built once, not once
per download.

A cached archive is named by its **key**: the SHA-256 of everything its bytes are made of
(the format, the manifest, every member's name, size, checksum and time). The key therefore
depends on exactly which products are in it: every anonymous caller (and every caller who
sees no more than they do) shares the public copy, a caller with rights gets the copy of the
products they may see, and no one is ever handed a file holding a product they may not see.
A new ingest, a release, an embargo or a replaced file changes the set, hence the key, hence
the file; the key is also the response's ETag, so a resumed download (``If-Range``) of a copy
that has since changed starts again from the beginning.

Old copies are never read again once their key is gone, and nothing here removes them:
the directory is a cache, safe to empty at any time, also while a copy is being sent (an
open file outlives its name). A periodic ``find VAR_DIR/runs -type f -atime +30 -delete``
keeps it to the copies in use.

A copy is built on the first request for it, into a temporary file in the same directory
(``.<name>.<random>.part``) renamed into place when whole, so a reader never sees half an
archive. Concurrent first requests, from any thread or server process, build it once: the
builder holds an exclusive ``flock`` on ``<name>.lock`` and the others wait on it, then find
the copy. An archive is cached only when every file in it verified: a damaged stored copy
makes the build fail (:class:`DamagedRun`) and nothing is kept.

Must not import Flask or psycopg.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import re
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from vo_node.downloads import archive
from vo_node.downloads.archive import FileMember, InlineMember, Member

log = logging.getLogger(__name__)

SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")
_STALE_PART_S = 24 * 3600  # a .part file older than this was left by a killed build


class DamagedRun(Exception):
    """A run's archive cannot be built: no stored copy of some of its files verifies."""

    def __init__(self, missing: Sequence[FileMember]) -> None:
        super().__init__(", ".join(m.label for m in missing))
        self.missing = list(missing)


def cache_key(fmt: str, members: Sequence[Member]) -> str:
    """The SHA-256 (hex) of what the archive of ``members`` is made of."""
    digest = hashlib.sha256(f"vo-node run archive 1\0{fmt}\0".encode())
    for m in members:
        if isinstance(m, InlineMember):
            digest.update(f"{m.name}\0{m.mtime}\0inline\0".encode())
            digest.update(hashlib.sha256(m.data).digest())
        else:
            digest.update(f"{m.name}\0{m.mtime}\0{m.size}\0{m.sha256}\0".encode())
    return digest.hexdigest()


class RunArchives:
    """The cached complete-run archives under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, run: str, channel: str, fmt: str, key: str) -> Path:
        if not (SAFE_NAME.match(run) and SAFE_NAME.match(channel) and fmt in ("tar", "zip")):
            raise ValueError(f"no cache name for {run!r}, {channel!r}, {fmt!r}")
        return self.root / f"{run}-{channel}-{key[:40]}.{fmt}"

    def get(self, run: str, channel: str, fmt: str, members: Sequence[Member]) -> tuple[Path, str]:
        """The cached archive of ``members`` (built now if there is none) and its key."""
        key = cache_key(fmt, members)
        target = self.path(run, channel, fmt, key)
        expected = archive.length(fmt, members)
        if self._whole(target, expected):
            return target, key
        self.root.mkdir(parents=True, exist_ok=True)
        lock = target.with_name(target.name + ".lock")
        with lock.open("ab") as held:
            fcntl.flock(held, fcntl.LOCK_EX)
            try:
                # Whoever held the lock before may have built it meanwhile.
                if not self._whole(target, expected):
                    self._build(target, fmt, members, expected)
            finally:
                # Removed while still held: a request waiting on it finds the archive once it
                # gets the lock; a later one finds the archive before looking for a lock.
                lock.unlink(missing_ok=True)
        return target, key

    @staticmethod
    def _whole(target: Path, expected: int) -> bool:
        try:
            return target.stat().st_size == expected
        except FileNotFoundError:
            return False

    def _build(self, target: Path, fmt: str, members: Sequence[Member], expected: int) -> None:
        self._sweep_parts()
        part = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.part")
        outcome = archive.Outcome()
        began = time.monotonic()
        try:
            with part.open("wb") as out:
                for piece in archive.stream(fmt, members, expected, outcome):
                    if outcome.missing:
                        break  # nothing damaged is kept: stop at once
                    out.write(piece)
                if outcome.missing:
                    raise DamagedRun(outcome.missing)
                out.flush()
                os.fsync(out.fileno())
            if part.stat().st_size != expected:
                raise OSError(f"{part}: {part.stat().st_size} bytes written, not {expected}")
            os.replace(part, target)
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        log.info(
            "run archive %s built: %d bytes, %d members, %.1f s",
            target.name,
            expected,
            len(members),
            time.monotonic() - began,
        )

    def _sweep_parts(self) -> None:
        """Remove what builds killed half-way left (never a build in progress: its file is
        written to all the time)."""
        now = time.time()
        for leftover in self.root.glob(".*.part"):
            try:
                if now - leftover.stat().st_mtime > _STALE_PART_S:
                    leftover.unlink(missing_ok=True)
            except FileNotFoundError:
                pass
