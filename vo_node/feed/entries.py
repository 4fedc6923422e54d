"""The feed's entries, read from the archive under the distribution policy.

Two kinds of news:

* an **ingest** entry per finished ingest batch (one ``vo-node ingest`` command), dated when
  it finished, counting the batch's products the reader may see;
* a **release** entry per (run, release date) whose products became public on a day after the
  day they were ingested, dated at the start of that day.

No product is counted twice in the public feed: a public product is either public on the day
it is ingested (its batch's entry counts it) or becomes so later (its release's entry does).
So, for the anonymous reader, an ingest entry counts only the products already public when
they were ingested; a reader with rights sees everything it may see in its batches, and the
releases as everyone does. Days are UTC days, as ADQL sees them.

Each entry carries an ADQL query that selects exactly the products it counts from the
published ``corot.products`` (whoever runs it: the policy cannot widen it). Must not import
Flask.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

import psycopg
from psycopg import sql

# The collections corot.products publishes, with the value of its `channel` column (the
# view's CASE in migration 0009): the feed announces only what TAP can select.
CHANNELS = {"corot-exo": "exo", "corot-astero": "astero"}
# Entries per feed document, newest first.
LIMIT = 50

# Public when ingested: public today (released on or before the day of the ingest) and
# counted by the batch's entry. Mirrored in ADQL by `release_date <= ingested_at`.
_PUBLIC_AT_INGEST = sql.SQL("p.level IN ('N2', 'N3') AND p.released_on <= p.ingested_at::date")
# Released on a later day than the ingest, and by today: counted by a release entry.
# Mirrored in ADQL by `ingested_at < release_date`.
_RELEASED_LATER = sql.SQL(
    "p.level IN ('N2', 'N3') AND p.released_on <= current_date"
    " AND p.released_on > p.ingested_at::date"
)
_ALL = sql.SQL("true")

_INGESTS = sql.SQL(
    """WITH batches AS (
    SELECT i.ingest_id, i.finished_at FROM archive.ingest_runs i
     WHERE i.finished_at IS NOT NULL
       AND EXISTS (SELECT 1 FROM archive.products p
                    WHERE p.ingest_id = i.ingest_id AND p.collection_id = ANY(%(collections)s)
                      AND {shown})
     ORDER BY i.finished_at DESC, i.ingest_id DESC
     LIMIT %(limit)s)
SELECT b.ingest_id, b.finished_at, r.code, p.level, p.collection_id, count(*)
  FROM batches b
  JOIN archive.products p ON p.ingest_id = b.ingest_id
  JOIN archive.runs r ON r.run_id = p.run_id
 WHERE p.collection_id = ANY(%(collections)s) AND {shown}
 GROUP BY b.ingest_id, b.finished_at, r.code, p.level, p.collection_id
 ORDER BY r.code, p.level, p.collection_id"""
)

_RELEASES = sql.SQL(
    """WITH releases AS (
    SELECT p.run_id, p.released_on FROM archive.products p
     WHERE p.collection_id = ANY(%(collections)s) AND {released}
     GROUP BY p.run_id, p.released_on
     ORDER BY p.released_on DESC, p.run_id
     LIMIT %(limit)s)
SELECT x.released_on, x.released_on::timestamptz, r.code, p.level, p.collection_id, count(*)
  FROM releases x
  JOIN archive.products p ON p.run_id = x.run_id AND p.released_on = x.released_on
  JOIN archive.runs r ON r.run_id = x.run_id
 WHERE p.collection_id = ANY(%(collections)s) AND {released}
 GROUP BY x.released_on, r.code, p.level, p.collection_id
 ORDER BY r.code, p.level, p.collection_id"""
)


@dataclass(frozen=True)
class Count:
    """Products of one run, level and collection in an entry."""

    run: str
    level: str
    collection_id: str
    products: int


@dataclass(frozen=True)
class Entry:
    """One piece of news: an ingest batch or a release, as the reader may see it."""

    kind: Literal["ingest", "release"]
    key: str  # 'ingest-12', 'release-LRa01-2009-05-01': what makes the entry's id
    updated: datetime
    counts: tuple[Count, ...]
    adql: str  # selects exactly the counted products from corot.products
    ingest_id: int | None = None
    released_on: date | None = None

    @property
    def total(self) -> int:
        return sum(c.products for c in self.counts)

    @property
    def runs(self) -> tuple[str, ...]:
        return tuple(sorted({c.run for c in self.counts}))

    @property
    def collections(self) -> tuple[str, ...]:
        return tuple(sorted({c.collection_id for c in self.counts}))


def collection_title(conn: psycopg.Connection, collection_id: str) -> str | None:
    """The title of a collection the feed can announce; None for any other name."""
    if collection_id not in CHANNELS:
        return None
    row = conn.execute(
        "SELECT title FROM archive.collections WHERE collection_id = %s", (collection_id,)
    ).fetchone()
    return str(row[0]) if row else None


def read_entries(
    conn: psycopg.Connection,
    public: bool,
    collection_id: str | None = None,
    limit: int = LIMIT,
) -> list[Entry]:
    """The newest ``limit`` entries, newest first, of the whole archive or of one collection.

    ``conn`` is a transaction of the reader (the policy shows what it may see); ``public``
    says the reader is anonymous and gets the public feed's counting (module docstring).
    """
    collections = [collection_id] if collection_id else list(CHANNELS)
    params: dict[str, Any] = {"collections": collections, "limit": limit}
    # The ingest day and "today" of the SQL below are UTC days, as in user queries (which
    # run in UTC): the entries' ADQL then selects what the SQL counted.
    conn.execute("SET LOCAL TimeZone = 'UTC'")
    shown = _PUBLIC_AT_INGEST if public else _ALL
    ingests: dict[tuple[int, datetime], list[Count]] = {}
    for ingest_id, finished, run, level, coll, n in conn.execute(
        _INGESTS.format(shown=shown), params
    ):
        ingests.setdefault((int(ingest_id), finished), []).append(
            Count(str(run), str(level), str(coll), int(n))
        )
    releases: dict[tuple[str, date, datetime], list[Count]] = {}
    for released_on, start, run, level, coll, n in conn.execute(
        _RELEASES.format(released=_RELEASED_LATER), params
    ):
        releases.setdefault((str(run), released_on, start), []).append(
            Count(str(run), str(level), str(coll), int(n))
        )
    entries = [
        _ingest_entry(ingest_id, finished, counts, public, collection_id)
        for (ingest_id, finished), counts in ingests.items()
    ] + [
        _release_entry(run, released_on, start, counts, collection_id)
        for (run, released_on, start), counts in releases.items()
    ]
    # Newest first; on the same instant, ingests (later in a day) before releases, then by key
    # so that the order is the same on every request.
    entries.sort(key=lambda e: (e.updated, e.kind == "ingest", e.key), reverse=True)
    return entries[:limit]


def _ingest_entry(
    ingest_id: int,
    finished: datetime,
    counts: list[Count],
    public: bool,
    collection_id: str | None,
) -> Entry:
    conditions = [f"ingest_id = {ingest_id}"]
    if public:
        # A date compared with a timestamp is its midnight: released on or before the day.
        conditions += ["proc_level IN ('N2', 'N3')", "release_date <= ingested_at"]
    return Entry(
        kind="ingest",
        key=f"ingest-{ingest_id}",
        updated=finished,
        counts=tuple(counts),
        adql=_select(conditions, collection_id),
        ingest_id=ingest_id,
    )


def _release_entry(
    run: str,
    released_on: date,
    start: datetime,
    counts: list[Count],
    collection_id: str | None,
) -> Entry:
    day = released_on.isoformat()
    conditions = [
        f"run_code = {_literal(run)}",
        f"release_date = '{day}'",
        "proc_level IN ('N2', 'N3')",
        # Ingested before the day of the release (those on or after it are in their batch's
        # entry): before its midnight.
        "ingested_at < release_date",
    ]
    return Entry(
        kind="release",
        key=f"release-{run}-{day}",
        updated=start,
        counts=tuple(counts),
        adql=_select(conditions, collection_id),
        released_on=released_on,
    )


def _select(conditions: Iterable[str], collection_id: str | None) -> str:
    wanted = list(conditions)
    if collection_id is not None:
        wanted.append(f"channel = {_literal(CHANNELS[collection_id])}")
    return "SELECT * FROM corot.products WHERE " + " AND ".join(wanted)


def _literal(text: str) -> str:
    """An ADQL string literal (a quote inside is doubled, as in SQL)."""
    return "'" + text.replace("'", "''") + "'"
