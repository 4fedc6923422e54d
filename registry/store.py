"""The publishing registry's record store (table ``registry.records``): the records as last
published, each with the time its content last changed, and the deleted ones kept.

``sync`` regenerates the records when what they are made of may have changed (the public
part of the archive, the node's settings and declarations), and stamps a new datestamp only
on a record whose content differs; reads page through the store for OAI-PMH. Reads of the
archive go through the anonymous caller's policy: a record is public. Must not import Flask.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg
from lxml import etree

from registry.dublincore import dublin_core
from registry.inventory import Builder
from registry.records import Dates, record_bytes, stamp_dates

# Records are compared with these dates in place of their own.
_NO_DATES = Dates(datetime(2000, 1, 1, tzinfo=UTC), datetime(2000, 1, 1, tzinfo=UTC))
# pg_advisory_xact_lock key of a sync: concurrent workers regenerate one at a time.
_SYNC_LOCK = 0x7265_6769  # 'regi'


@dataclass(frozen=True)
class StoredRecord:
    ivoid: str
    updated: datetime
    deleted: bool
    xml: bytes = b""  # the record in the format asked for: an XML fragment, or nothing


# The column of each metadata format.
_COLUMNS = {"ivo_vor": "resource_xml", "oai_dc": "dc_xml"}


def digest(*parts: bytes | str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\0")
    return h.hexdigest()


def is_current(conn: psycopg.Connection, inputs: str) -> bool:
    row = conn.execute("SELECT inputs FROM registry.sync_state").fetchone()
    return row is not None and row[0] == inputs


def sync(
    conn: psycopg.Connection,
    inputs: str,
    builders: Callable[[], dict[str, Builder]],
) -> list[str]:
    """Bring the store up to date with ``builders()`` unless it was made from ``inputs``
    already; return the identifiers whose records changed (new, changed or deleted).

    In one transaction, under a lock, so concurrent callers neither interleave nor repeat
    the work, and readers (:func:`reading_time`) wait for it. Datestamps are whole seconds
    of the database clock after the lock (OAI-PMH's granularity), so every harvest whose
    response time is before a change's datestamp second did not see it, and a harvest ``from``
    that response time includes it."""
    # Built and compared before the lock: making the records (coverage MOCs) takes seconds
    # on a big archive, and every reader waits while the lock is held.
    built = {ivoid: build(_NO_DATES) for ivoid, build in builders().items()}
    digests = {ivoid: digest(record_bytes(record)) for ivoid, record in built.items()}
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SYNC_LOCK,))
        if is_current(conn, inputs):
            return []
        now = _value(conn, "SELECT date_trunc('second', clock_timestamp())")
        stored = {
            ivoid: (sha, created, deleted)
            for ivoid, sha, created, deleted in conn.execute(
                "SELECT ivoid, digest, created, deleted FROM registry.records"
            )
        }
        changed = []
        for ivoid, resource in sorted(built.items()):
            sha = digests[ivoid]
            known = stored.pop(ivoid, None)
            if known is not None and known[0] == sha and not known[2]:
                continue
            created = known[1] if known is not None else now
            stamp_dates(resource, Dates(created, now))
            conn.execute(
                "INSERT INTO registry.records AS r"
                " (ivoid, resource_xml, dc_xml, digest, created, updated)"
                " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (ivoid) DO UPDATE SET"
                " resource_xml = excluded.resource_xml, dc_xml = excluded.dc_xml,"
                " digest = excluded.digest, updated = excluded.updated, deleted = false",
                (ivoid, _fragment(resource), _fragment(dublin_core(resource)), sha, created, now),
            )
            changed.append(ivoid)
        # What is no longer generated stays, announced as deleted from now on.
        for ivoid, (_, _, deleted) in sorted(stored.items()):
            if not deleted:
                conn.execute(
                    "UPDATE registry.records SET deleted = true, updated = %s WHERE ivoid = %s",
                    (now, ivoid),
                )
                changed.append(ivoid)
        conn.execute(
            "INSERT INTO registry.sync_state (inputs, synced_at) VALUES (%s, %s)"
            " ON CONFLICT (singleton) DO UPDATE SET inputs = excluded.inputs,"
            " synced_at = excluded.synced_at",
            (inputs, now),
        )
    return changed


def _fragment(element: etree._Element) -> str:
    return str(etree.tostring(element, encoding="unicode"))


def _value(conn: psycopg.Connection, query: str) -> datetime:
    row = conn.execute(query).fetchone()
    assert row is not None
    return row[0]  # type: ignore[no-any-return]


def reading_time(conn: psycopg.Connection) -> datetime:
    """Start a read of the store: wait for a regeneration in progress to commit, and return
    the time from which this transaction sees every change (whole seconds, UTC): the
    response time a harvester takes as its next ``from``."""
    conn.execute("SELECT pg_advisory_xact_lock_shared(%s)", (_SYNC_LOCK,))
    return _value(conn, "SELECT date_trunc('second', clock_timestamp())").astimezone(UTC)


@dataclass(frozen=True)
class Window:
    """The records a harvest asks for: datestamps within [start, end], identifiers after
    ``after`` (the last one of the previous page)."""

    start: datetime | None
    end: datetime | None
    after: str = ""


def _where(window: Window) -> tuple[str, list[object]]:
    clauses: list[str] = ["true"]
    params: list[object] = []
    if window.after:
        clauses.append("ivoid > %s")
        params.append(window.after)
    if window.start is not None:
        clauses.append("updated >= %s")
        params.append(window.start)
    if window.end is not None:
        clauses.append("updated <= %s")
        params.append(window.end)
    return " AND ".join(clauses), params


def page(
    conn: psycopg.Connection, window: Window, size: int, prefix: str | None
) -> list[StoredRecord]:
    """Up to ``size`` records of ``window`` in identifier order, in the format ``prefix``
    (None: headers only)."""
    where, params = _where(window)
    column = _COLUMNS[prefix] if prefix else "''"
    rows = conn.execute(
        f"SELECT ivoid, updated, deleted, {column} FROM registry.records WHERE {where}"
        " ORDER BY ivoid LIMIT %s",
        [*params, size],
    ).fetchall()
    return [StoredRecord(i, u, d, x.encode()) for i, u, d, x in rows]


def count(conn: psycopg.Connection, window: Window) -> int:
    """How many records of ``window`` there are in all (after none)."""
    where, params = _where(Window(window.start, window.end))
    row = conn.execute(f"SELECT count(*) FROM registry.records WHERE {where}", params).fetchone()
    return int(row[0]) if row else 0


def record(conn: psycopg.Connection, ivoid: str, prefix: str | None) -> StoredRecord | None:
    """One record by identifier, in the format ``prefix`` (None: the header only); IVOA
    identifiers compare without regard to case."""
    column = _COLUMNS[prefix] if prefix else "''"
    row = conn.execute(
        f"SELECT ivoid, updated, deleted, {column} FROM registry.records"
        " WHERE lower(ivoid) = lower(%s)",
        (ivoid,),
    ).fetchone()
    return StoredRecord(row[0], row[1], row[2], row[3].encode()) if row else None


def earliest(conn: psycopg.Connection) -> datetime | None:
    row = conn.execute("SELECT min(updated) FROM registry.records").fetchone()
    return row[0] if row else None
