"""Product files kept twice, in two independent storage roots ("two buildings").

A :class:`Site` is one root; :class:`MirroredStore` writes every product to all sites and
verifies each copy by reading it back. Writes go to ``<root>/.incoming/`` first and are renamed
into place, so a reader never sees half a file; whatever an interrupted write leaves in
``.incoming`` is removed by the next writer (ingest holds a lock while it writes).

The site interface (put/open/verify/remove by relative path) is what an S3-compatible object
store would implement later. Must not import Flask or psycopg.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO

from vo_node.errors import StorageError

_CHUNK = 1 << 20  # read size when hashing large files
_INCOMING = ".incoming"


class CopyStatus(StrEnum):
    OK = "ok"
    MISSING = "missing"
    CORRUPT = "corrupt"
    UNREADABLE = "unreadable"  # the disk answered with an I/O error


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Site:
    """One storage root on a local (or mounted) file system."""

    name: str
    root: Path

    def path(self, relpath: str) -> Path:
        # A lexical check (no realpath: it costs a system call per component): archive paths
        # are written by the ingest, never taken from a request, and must stay inside the root.
        parts = Path(relpath).parts
        if not parts or Path(relpath).is_absolute() or ".." in parts:
            raise StorageError(f"path {relpath!r} escapes storage root {self.name}")
        return self.root / relpath

    def check(self) -> None:
        """Raise unless the root exists and is writable: a missing root is never re-created
        silently, since it may be an unmounted disk."""
        if not self.root.is_dir():
            raise StorageError(
                f"storage root {self.name} ({self.root}) does not exist",
                hint="mount it, or create it with `vo-node init` if this is a new node",
            )
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise StorageError(f"storage root {self.name} ({self.root}) is not writable")

    def exists(self, relpath: str) -> bool:
        return self.path(relpath).is_file()

    def verify(self, relpath: str, sha256: str) -> CopyStatus:
        target = self.path(relpath)
        if not target.is_file():
            return CopyStatus.MISSING
        return CopyStatus.OK if sha256_file(target) == sha256 else CopyStatus.CORRUPT

    def open(self, relpath: str) -> BinaryIO:
        return self.path(relpath).open("rb")

    def incoming(self) -> Path:
        return self.root / _INCOMING

    def stage(self, data: bytes, fsync: bool) -> Path:
        """Write ``data`` into ``.incoming`` and verify it by reading it back; return the file.

        Comparing the bytes read back with the bytes meant is as strong as re-hashing them
        (their SHA-256 is known) and several times cheaper.
        """
        tmp = self.incoming() / f"{uuid.uuid4().hex}.part"
        tmp.parent.mkdir(parents=True, exist_ok=True)
        try:
            with tmp.open("wb") as dst:
                dst.write(data)
                if fsync:
                    dst.flush()
                    os.fsync(dst.fileno())
            if tmp.read_bytes() != data:
                raise StorageError(f"copy to site {self.name} does not read back equal")
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return tmp

    def commit(self, staged: Path, relpath: str, sha256: str, fsync: bool = False) -> None:
        """Move a staged copy into place; an existing equal copy is kept, never overwritten.

        With ``fsync`` the directory entry is made durable too: a file whose data reached the
        disk but whose name did not would vanish at a power loss, after its row committed.
        """
        target = self.path(relpath)
        if target.is_file():
            staged.unlink(missing_ok=True)
            if sha256_file(target) != sha256:
                raise StorageError(f"{self.name}:{relpath} exists with other content")
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged, target)
        if fsync:
            _fsync_dir(target.parent)

    def write(self, relpath: str, source: Path, sha256: str, fsync: bool) -> None:
        """Copy ``source`` to ``relpath``, verified, atomically."""
        data = source.read_bytes()
        if hashlib.sha256(data).hexdigest() != sha256:
            raise StorageError(f"{source} does not have the expected checksum")
        self.commit(self.stage(data, fsync), relpath, sha256, fsync)

    def restore_from(self, other: Site, relpath: str, sha256: str, fsync: bool = True) -> None:
        """Replace this site's copy with the other site's, which must verify first."""
        if other.verify(relpath, sha256) is not CopyStatus.OK:
            raise StorageError(f"{other.name}:{relpath} is not a good copy; nothing restored")
        target = self.path(relpath)
        if target.exists():
            # Keep the damaged bytes for inspection instead of destroying evidence.
            damaged = self.root / ".damaged" / f"{relpath}.{uuid.uuid4().hex[:8]}"
            damaged.parent.mkdir(parents=True, exist_ok=True)
            os.replace(target, damaged)
        self.write(relpath, other.path(relpath), sha256, fsync)

    def remove(self, relpath: str) -> None:
        self.path(relpath).unlink(missing_ok=True)

    def sweep_incoming(self) -> int:
        """Remove what interrupted writes left; call only while holding the ingest lock."""
        removed = 0
        if self.incoming().is_dir():
            for leftover in self.incoming().iterdir():
                if leftover.is_dir():
                    shutil.rmtree(leftover, ignore_errors=True)
                else:
                    leftover.unlink(missing_ok=True)
                removed += 1
        return removed


@dataclass(frozen=True)
class MirroredStore:
    """Every product on every site."""

    sites: tuple[Site, ...]
    fsync: bool = True

    @classmethod
    def from_roots(cls, roots: Iterable[Path], fsync: bool = True) -> MirroredStore:
        names = "abcdefgh"
        return cls(tuple(Site(names[i], Path(r)) for i, r in enumerate(roots)), fsync)

    def site(self, name: str) -> Site:
        for site in self.sites:
            if site.name == name:
                return site
        raise StorageError(f"no storage site {name!r}")

    def check(self) -> None:
        for site in self.sites:
            site.check()

    def readable(
        self, relpath: str, good_sites: Iterable[str], *, good_only: bool = False
    ) -> Path | None:
        """A stored copy to read: on a site whose copy the last check found good if one is
        there, else (unless ``good_only``) on any site that has the file; None when there is
        none. What is derived from a copy and kept (previews, header caches) should come from
        a good one."""
        good = set(good_sites)
        for site in sorted(self.sites, key=lambda s: s.name not in good):
            if good_only and site.name not in good:
                break
            path = site.path(relpath)
            if path.is_file():
                return path
        return None

    def create_roots(self) -> None:
        for site in self.sites:
            site.root.mkdir(parents=True, exist_ok=True)

    def put(self, relpath: str, source: Path, sha256: str) -> None:
        for site in self.sites:
            site.write(relpath, source, sha256, self.fsync)

    def stage(self, data: bytes) -> list[Path]:
        """Verified copies of ``data`` in every site's ``.incoming``, in site order."""
        staged: list[Path] = []
        try:
            for site in self.sites:
                staged.append(site.stage(data, self.fsync))
        except BaseException:
            self.discard(staged)
            raise
        return staged

    def commit(self, staged: list[Path], relpath: str, sha256: str) -> None:
        for site, tmp in zip(self.sites, staged, strict=True):
            site.commit(tmp, relpath, sha256, self.fsync)

    @staticmethod
    def discard(staged: list[Path]) -> None:
        for tmp in staged:
            tmp.unlink(missing_ok=True)

    def remove(self, relpath: str) -> None:
        for site in self.sites:
            site.remove(relpath)

    def sweep_incoming(self) -> int:
        return sum(site.sweep_incoming() for site in self.sites)
