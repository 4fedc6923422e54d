"""A cheap summary of what the anonymous caller can see of the archive, to tell whether
anything derived from it (registry records, the public feed) must be made again.

What anonymous callers see changes only when an ingest adds products (its batch row
changes), when a release date is set or moved (of a run, or a product's own), when a release
date passes, or when a collection changes: the summary reads those, through indexes and small
tables, never the whole product table. Read it in a transaction of the caller whose view it
summarises. Must not import Flask.
"""

from __future__ import annotations

import psycopg

_REVISION = """
SELECT concat_ws('|',
    (SELECT count(*) || ':' || coalesce(max(ingest_id), 0) || ':' || count(finished_at)
            || ':' || coalesce(max(finished_at)::text, '')
       FROM archive.ingest_runs),
    (SELECT string_agg(run_id || '=' || coalesce(release_date::text, '-'), ',' ORDER BY run_id)
            || ':' || count(*) FILTER (WHERE release_date <= current_date)
       FROM archive.runs),
    (SELECT count(*) || ':' || coalesce(sum(product_id), 0) || ':'
            || coalesce(sum(release_date - date '2000-01-01'), 0) || ':'
            || count(*) FILTER (WHERE release_date <= current_date)
       FROM archive.products WHERE release_date IS NOT NULL),
    (SELECT string_agg(collection_id || '=' || updated, ',' ORDER BY collection_id)
       FROM archive.collections))
"""


def archive_revision(conn: psycopg.Connection) -> str:
    # Release dates pass at midnight UTC for this transaction, as in user queries (which
    # run in UTC) and the feed.
    conn.execute("SET LOCAL TimeZone = 'UTC'")
    row = conn.execute(_REVISION).fetchone()
    return str(row[0]) if row else ""
