"""What clients send to a UWS service, read once at the edge: parameters by folded name,
ISO 8601 times, and inline uploads saved into the job's directory.

Works on plain pairs and streams, so it needs no Flask; must not import psycopg.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Protocol

from vo_node.http.params import DaliParams, UsageError

_CHUNK = 1 << 16


class Upload(Protocol):
    """A multipart part as the web framework gives it (werkzeug's FileStorage)."""

    @property
    def stream(self) -> IO[bytes]: ...


def fold(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """Parameters by upper-cased name, every value kept in order (DALI 1.1 section 3: names
    are case-insensitive, values are not), as a job stores them."""
    folded: dict[str, list[str]] = {}
    for name, value in pairs:
        folded.setdefault(name.upper(), []).append(value)
    return folded


def timestamp_param(params: DaliParams, name: str) -> datetime | None:
    """The time given as ``name`` (AFTER, DESTRUCTION), None when absent."""
    text = params.get(name)
    if text is None or not text.strip():
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(
            f"{name} must be an ISO 8601 time such as 2030-01-31T12:00:00Z, not {text!r}"
        ) from None
    # A time without a zone is UTC, as everywhere in the VO (DALI 1.1 timestamps).
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def save_uploads(parts: Iterable[tuple[str, Upload]], job_dir: Path, limit: int) -> dict[str, str]:
    """Store inline uploads (TAP's ``UPLOAD=table,param:part``) in the job's directory, where
    the worker finds them; return part name -> file. A part over ``limit`` bytes is refused
    (the caller removes the directory of a job that is not created)."""
    saved: dict[str, str] = {}
    existing = len(list((job_dir / "uploads").glob("*"))) if (job_dir / "uploads").is_dir() else 0
    for number, (part, upload) in enumerate(parts, start=existing):
        # Files are numbered, not named after the part: part names come from the client.
        target = job_dir / "uploads" / f"{number:03d}"
        target.parent.mkdir(parents=True, exist_ok=True)
        size = 0
        with target.open("wb") as out:
            while chunk := upload.stream.read(_CHUNK):
                size += len(chunk)
                if size > limit:
                    raise UsageError(f"upload {part!r} is larger than the limit of {limit} bytes")
                out.write(chunk)
        saved[part] = str(target)
    return saved
