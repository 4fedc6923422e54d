"""The ingest's side of the database: registering products, the pending journal, the log.

Registration of a batch is one transaction: stars and runs are upserted, product rows and their
copy rows inserted, and the batch's pending-journal entries deleted. A product is therefore
visible exactly when its two copies are in place and its row is committed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from ingest.problems import Problem
from ingest.records import CollectionInfo, ProductRecord, RunInfo, StarInfo


def known_products(
    conn: psycopg.Connection,
) -> tuple[set[tuple[str, str, str]], dict[str, str]]:
    """(version, file name, checksum) of every stored product, and archive path -> checksum.

    The first is what "already there" means: the same bytes under another version label are
    another version (a release may carry a star's file unchanged) and are registered again.
    """
    rows = conn.execute(
        "SELECT version, file_name, archive_path, sha256 FROM archive.products"
    ).fetchall()
    keys = {(str(r[0]), str(r[1]), str(r[3])) for r in rows}
    by_path = {str(r[2]): str(r[3]) for r in rows}
    return keys, by_path


def stale_pending(conn: psycopg.Connection) -> list[str]:
    """Archive paths journalled by an ingest that never registered them (it was killed)."""
    return [r[0] for r in conn.execute("SELECT archive_path FROM archive.ingest_pending")]


def forget_pending(conn: psycopg.Connection, paths: Sequence[str]) -> None:
    """Drop journal entries: their products are registered, or their files removed."""
    conn.execute("DELETE FROM archive.ingest_pending WHERE archive_path = ANY(%s)", (list(paths),))


def add_pending(conn: psycopg.Connection, records: Sequence[ProductRecord]) -> None:
    """Journal the paths about to be written, committed before any byte is copied."""
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO archive.ingest_pending (archive_path, sha256) VALUES (%s, %s)"
            " ON CONFLICT (archive_path) DO UPDATE SET sha256 = excluded.sha256,"
            " started_at = now()",
            [(r.archive_path, r.sha256) for r in records],
        )


class Registrar:
    """Registers batches of products; caches the ids of collections and runs it has seen."""

    def __init__(self, conn: psycopg.Connection, sites: Sequence[str]) -> None:
        self.conn = conn
        self.sites = list(sites)
        self._collections: set[str] = set()
        self._runs: dict[tuple[str, str], int] = {}

    def register(
        self,
        records: Sequence[ProductRecord],
        ingest_id: int,
        also: Callable[[list[int]], None] | None = None,
    ) -> list[int]:
        """Insert the batch in one transaction; return the new product ids in order.

        ``also`` runs inside the same transaction with the new ids (e.g. to record an alert
        delivery, so that a crash cannot separate it from its products).
        """
        with self.conn.transaction():
            for record in records:
                self._collection(record.collection)
            run_ids = [self._run(record.run) for record in records]
            star_ids = self._stars([record.star for record in records])
            ids = self._products(records, run_ids, star_ids, ingest_id)
            with self.conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO archive.product_copies (product_id, site) VALUES (%s, %s)",
                    [(pid, site) for pid in ids for site in self.sites],
                )
                warnings = [
                    (ingest_id, str(r.source), p.code, "warning", p.message)
                    for r in records
                    for p in r.problems
                ]
                if warnings:
                    cur.executemany(
                        "INSERT INTO archive.ingest_problems"
                        " (ingest_id, source_path, code, severity, message)"
                        " VALUES (%s, %s, %s, %s, %s)",
                        warnings,
                    )
            forget_pending(self.conn, [r.archive_path for r in records])
            if also is not None:
                also(ids)
        return ids

    def _collection(self, info: CollectionInfo) -> None:
        if info.collection_id in self._collections:
            return
        self.conn.execute(
            "INSERT INTO archive.collections (collection_id, mission, title, description)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT (collection_id) DO NOTHING",
            (info.collection_id, info.mission, info.title, info.description),
        )
        self._collections.add(info.collection_id)

    def _run(self, run: RunInfo) -> int:
        key = (run.mission, run.code)
        if key in self._runs:
            return self._runs[key]
        pointing = (
            f"({run.ra}d, {run.dec}d)" if run.ra is not None and run.dec is not None else None
        )
        row = self.conn.execute(
            "INSERT INTO archive.runs (mission, code, eye, kind, start_time, end_time, pointing,"
            " release_date) VALUES (%s, %s, %s, %s, %s, %s, %s::spoint, %s)"
            " ON CONFLICT (mission, code) DO UPDATE SET"
            "  eye = coalesce(archive.runs.eye, excluded.eye),"
            "  kind = coalesce(archive.runs.kind, excluded.kind),"
            "  start_time = coalesce(archive.runs.start_time, excluded.start_time),"
            "  end_time = coalesce(archive.runs.end_time, excluded.end_time),"
            "  pointing = coalesce(archive.runs.pointing, excluded.pointing),"
            "  release_date = coalesce(archive.runs.release_date, excluded.release_date)"
            " RETURNING run_id",
            (
                run.mission,
                run.code,
                run.eye,
                run.kind,
                run.start,
                run.end,
                pointing,
                run.release_date,
            ),
        ).fetchone()
        if row is None:
            raise RuntimeError("INSERT ... RETURNING returned no row")
        self._runs[key] = int(row[0])
        return self._runs[key]

    def _stars(self, stars: Sequence[StarInfo]) -> list[int]:
        """Upsert the stars (pipelined); a later product fills what an earlier one lacked, and
        known values are never overwritten by missing ones."""
        params = [
            (
                star.mission,
                star.source_id,
                star.name,
                f"({star.ra}d, {star.dec}d)"
                if star.ra is not None and star.dec is not None
                else None,
                star.ra,
                star.dec,
                star.mag_b,
                star.mag_v,
                star.mag_r,
                star.mag_i,
                star.spectral_type,
                star.lum_class,
                star.teff,
                star.contamination,
            )
            for star in stars
        ]
        with self.conn.cursor() as cur:
            cur.executemany(_UPSERT_STAR, params, returning=True)
            return _returned(cur)

    def _products(
        self,
        records: Sequence[ProductRecord],
        run_ids: list[int],
        star_ids: list[int],
        ingest_id: int,
    ) -> list[int]:
        # Each product names its batch: the feed's entry per batch selects by it.
        params = [
            (
                r.collection.collection_id,
                run_id,
                star_id,
                r.level,
                r.product_type,
                r.series,
                r.version,
                r.version_rank,
                r.layout,
                r.file_name,
                r.archive_path,
                r.t_min,
                r.t_max,
                r.time_scale,
                r.time_refpos,
                r.n_points,
                r.n_good,
                r.sampling,
                r.bands,
                r.ccd,
                r.window_id,
                r.file_size,
                r.sha256,
                sorted({p.code for p in r.problems}),
                r.access_group,
                ingest_id,
            )
            for r, run_id, star_id in zip(records, run_ids, star_ids, strict=True)
        ]
        with self.conn.cursor() as cur:
            cur.executemany(_INSERT_PRODUCT, params, returning=True)
            return _returned(cur)


def _returned(cur: psycopg.Cursor) -> list[int]:
    """The id each statement of an ``executemany(..., returning=True)`` returned."""
    ids = []
    while True:
        row = cur.fetchone()
        if row is None:
            raise RuntimeError("INSERT ... RETURNING returned no row")
        ids.append(int(row[0]))
        if not cur.nextset():
            return ids


_UPSERT_STAR = (
    "INSERT INTO archive.stars (mission, source_id, name, pos, ra, dec, mag_b, mag_v,"
    " mag_r, mag_i, spectral_type, lum_class, teff, contamination)"
    " VALUES (%s, %s, %s, %s::spoint, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
    " ON CONFLICT (mission, source_id) DO UPDATE SET"
    "  pos = coalesce(excluded.pos, archive.stars.pos),"
    "  ra = coalesce(excluded.ra, archive.stars.ra),"
    "  dec = coalesce(excluded.dec, archive.stars.dec),"
    "  mag_b = coalesce(excluded.mag_b, archive.stars.mag_b),"
    "  mag_v = coalesce(excluded.mag_v, archive.stars.mag_v),"
    "  mag_r = coalesce(excluded.mag_r, archive.stars.mag_r),"
    "  mag_i = coalesce(excluded.mag_i, archive.stars.mag_i),"
    "  spectral_type = coalesce(excluded.spectral_type, archive.stars.spectral_type),"
    "  lum_class = coalesce(excluded.lum_class, archive.stars.lum_class),"
    "  teff = coalesce(excluded.teff, archive.stars.teff),"
    "  contamination = coalesce(excluded.contamination, archive.stars.contamination),"
    "  updated = now()"
    " RETURNING star_id"
)
_INSERT_PRODUCT = (
    "INSERT INTO archive.products (collection_id, run_id, star_id, level, product_type,"
    " series, version, version_rank, layout, file_name, archive_path, t_min, t_max,"
    " time_scale, time_refpos, n_points, n_good, sampling, bands, ccd, window_id,"
    " file_size, sha256, warnings, access_group, ingest_id) VALUES (%s, %s, %s, %s, %s, %s,"
    " %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
    " RETURNING product_id"
)


def record_delivery(
    conn: psycopg.Connection, delivery: str, ids: Sequence[int], mission: str, run_code: str
) -> None:
    """Record new alert light curves of a delivery as waiting for the handler."""
    conn.execute(
        "INSERT INTO archive.alert_deliveries (delivery, run_id, products, pending)"
        " SELECT %s, run_id, %s, %s FROM archive.runs WHERE mission = %s AND code = %s"
        " ON CONFLICT (delivery) DO UPDATE"
        " SET products = archive.alert_deliveries.products || excluded.products,"
        "     pending = archive.alert_deliveries.pending || excluded.pending",
        (delivery, list(ids), list(ids), mission, run_code),
    )


def pending_light_curves(conn: psycopg.Connection, delivery: str) -> list[dict[str, Any]]:
    """The delivery's light curves not yet handed to the alert-mode handler."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT p.product_id, s.source_id AS corotid, r.code AS run, p.product_type,"
            " p.archive_path, p.t_min AS t_min_mjd, p.t_max AS t_max_mjd, p.n_points,"
            " p.sha256"
            " FROM archive.alert_deliveries d"
            " JOIN archive.products p ON p.product_id = ANY(d.pending)"
            " JOIN archive.stars s USING (star_id) JOIN archive.runs r ON r.run_id = p.run_id"
            " WHERE d.delivery = %s ORDER BY s.source_id, p.product_id",
            (delivery,),
        ).fetchall()


def mark_handled(
    conn: psycopg.Connection, delivery: str, handler: str, status: str, handed: Sequence[int]
) -> None:
    """Record the handler's answer; on success the handed light curves leave the queue."""
    conn.execute(
        "UPDATE archive.alert_deliveries SET handler = %s, handler_status = %s,"
        " handled_at = CASE WHEN %s = 'ok' THEN now() ELSE handled_at END,"
        " pending = CASE WHEN %s = 'ok'"
        "   THEN ARRAY(SELECT unnest(pending) EXCEPT SELECT unnest(%s::bigint[]))"
        "   ELSE pending END"
        " WHERE delivery = %s",
        (handler, status, status, status, list(handed), delivery),
    )


def deliveries_pending(conn: psycopg.Connection) -> list[str]:
    """Deliveries with light curves the handler has not taken (it failed, or a crash)."""
    rows = conn.execute(
        "SELECT delivery FROM archive.alert_deliveries WHERE cardinality(pending) > 0"
        " ORDER BY delivery"
    ).fetchall()
    return [str(r[0]) for r in rows]


def start_ingest(conn: psycopg.Connection, argv: Sequence[str]) -> int:
    """Open the ingest's log row; its id names the quarantine directory too."""
    row = conn.execute(
        "INSERT INTO archive.ingest_runs (argv) VALUES (%s) RETURNING ingest_id", (list(argv),)
    ).fetchone()
    if row is None:
        raise RuntimeError("INSERT ... RETURNING returned no row")
    return int(row[0])


def finish_ingest(
    conn: psycopg.Connection,
    ingest_id: int,
    seen: int,
    ingested: int,
    skipped: int,
    rejected: int,
    outcome: str = "ok",
) -> None:
    """Close the ingest's log row with its counts and outcome ('ok' or 'failed'; a row left
    open is a killed ingest, see :func:`close_interrupted`)."""
    conn.execute(
        "UPDATE archive.ingest_runs SET finished_at = %s, seen = %s, ingested = %s,"
        " skipped = %s, rejected = %s, outcome = %s WHERE ingest_id = %s",
        (datetime.now(UTC), seen, ingested, skipped, rejected, outcome, ingest_id),
    )
    # Tells whoever listens (the worker's feature computation) that new products may be
    # there; delivered when this command commits, never before.
    conn.execute("NOTIFY vo_node_ingested")


def record_rejection(
    conn: psycopg.Connection,
    ingest_id: int,
    source: str,
    problems: Iterable[Problem],
    strict: bool,
) -> None:
    """Log the problems that rejected a file, with the severity they had in this run."""
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO archive.ingest_problems (ingest_id, source_path, code, severity, message)"
            " VALUES (%s, %s, %s, %s, %s)",
            [(ingest_id, source, p.code, p.severity(strict).value, p.message) for p in problems],
        )


def close_interrupted(conn: psycopg.Connection) -> None:
    """Close the log rows of ingests that were killed (run under the ingest lock, so none of
    them is running): finished when their last product was registered, or when they began."""
    conn.execute(
        "UPDATE archive.ingest_runs i SET outcome = 'interrupted', finished_at = coalesce("
        " (SELECT max(p.ingested_at) FROM archive.products p WHERE p.ingest_id = i.ingest_id),"
        " i.started_at) WHERE i.finished_at IS NULL"
    )
