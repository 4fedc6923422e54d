"""What the node holds, for the landing page and the health check (read-only queries)."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row


def node_summary(conn: psycopg.Connection) -> dict[str, Any]:
    """Collections with counts, runs, and the latest ingest."""
    with conn.cursor(row_factory=dict_row) as cur:
        collections = cur.execute(
            "SELECT c.collection_id, c.title, c.description,"
            " count(p.product_id) AS products, count(DISTINCT p.star_id) AS stars,"
            " count(DISTINCT p.run_id) AS runs, coalesce(sum(p.file_size), 0)::bigint AS bytes"
            " FROM archive.collections c LEFT JOIN archive.products p USING (collection_id)"
            " GROUP BY c.collection_id ORDER BY c.collection_id"
        ).fetchall()
        runs = cur.execute(
            "SELECT r.code, r.eye, r.kind, r.start_time, r.end_time,"
            " count(p.product_id) AS products, count(DISTINCT p.star_id) AS stars,"
            " array_agg(DISTINCT p.version ORDER BY p.version) AS versions"
            " FROM archive.runs r JOIN archive.products p USING (run_id)"
            " GROUP BY r.run_id ORDER BY r.start_time NULLS LAST, r.code"
        ).fetchall()
        levels = cur.execute(
            "SELECT level, count(*) AS products FROM archive.products GROUP BY level ORDER BY level"
        ).fetchall()
        # When, not how many: the ingest's counts include products the caller may not see
        # (`vo-node` reports them to the operator).
        latest = cur.execute(
            "SELECT ingest_id, started_at, finished_at"
            " FROM archive.ingest_runs WHERE finished_at IS NOT NULL"
            " ORDER BY finished_at DESC LIMIT 1"
        ).fetchone()
        totals = cur.execute(
            "SELECT count(*) AS products, count(DISTINCT star_id) AS stars,"
            " coalesce(sum(file_size), 0)::bigint AS bytes FROM archive.products"
        ).fetchone()
    return {
        "collections": collections,
        "runs": runs,
        "levels": levels,
        "latest_ingest": latest,
        "totals": totals,
    }
