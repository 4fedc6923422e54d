"""The web tier's reads under the distribution policy.

Every read of the products by the service role happens inside a transaction that names the
caller (``SET LOCAL vo_node.caller``, a ticket from :mod:`vo_node.auth.tickets`): row-level
security then shows exactly the rows the caller may see, as it does for user queries.
Without a ticket a transaction reads as the anonymous caller.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool

from vo_node.auth.tickets import Tickets

# Product ids are bigint; a larger number in a URL is simply no product.
MAX_ID = 2**63 - 1


@contextmanager
def as_caller(
    pool: ConnectionPool, tickets: Tickets, user: str | None
) -> Iterator[psycopg.Connection]:
    """A connection in a read-only transaction that reads as ``user`` (None: anonymous)."""
    with pool.connection() as conn, conn.transaction():
        ticket = tickets.issue(user, conn.info.backend_pid)
        conn.execute(
            sql.SQL("SET TRANSACTION READ ONLY; SET LOCAL vo_node.caller = {}").format(
                sql.Literal(ticket)
            )
        )
        yield conn


@dataclass(frozen=True)
class ProductFile:
    product_id: int
    archive_path: str
    file_name: str
    file_size: int
    sha256: str
    good_sites: tuple[str, ...]  # sites whose copy the last audit (or the ingest) found good
    # What the light-curve documents (/products/<id>.vot, .csv) say about the file.
    layout: str = ""  # the reader's layout name, e.g. 'v4-exo'
    time_scale: str = "TT"
    time_refpos: str = ""
    corotid: int = 0
    run_code: str = ""
    version: str = ""
    level: str = ""
    product_type: str = ""
    n_points: int = 0
    t_min: float = 0.0  # MJD of the first and last valid point
    t_max: float = 0.0
    channel: str = ""  # the collection's channel, 'exo' or 'astero' (as corot.products says)


def visible_file(conn: psycopg.Connection, product_id: int) -> ProductFile | None:
    """The stored file of a product the caller may see; ``None`` for a product that does not
    exist and for one the caller may not see alike."""
    if not 0 < product_id <= MAX_ID:
        return None
    row = conn.execute(
        "SELECT p.product_id, p.archive_path, p.file_name, p.file_size, p.sha256,"
        " coalesce(array_agg(c.site ORDER BY c.site) FILTER (WHERE c.status = 'ok'), '{}'),"
        " p.layout, p.time_scale, p.time_refpos, s.source_id, r.code, p.version, p.level,"
        " p.product_type, p.n_points, p.t_min, p.t_max,"
        " CASE p.collection_id WHEN 'corot-astero' THEN 'astero' ELSE 'exo' END"
        " FROM archive.products p LEFT JOIN archive.product_copies c USING (product_id)"
        " JOIN archive.stars s USING (star_id) JOIN archive.runs r USING (run_id)"
        " WHERE p.product_id = %s GROUP BY p.product_id, s.star_id, r.run_id",
        (product_id,),
    ).fetchone()
    if row is None:
        return None
    return ProductFile(row[0], row[1], row[2], row[3], row[4].strip(), tuple(row[5]), *row[6:])
