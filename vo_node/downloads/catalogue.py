"""What a caller may download, read from the archive under the distribution policy, and the
members and manifest of the archive that carries it.

Every function reads through the connection it is given: call them inside the caller's
transaction (``caller_transaction()``), where row-level security shows exactly the products
the caller may see, so a product the caller may not see is never read, let alone sent.
Must not import Flask.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass

import psycopg

from vo_node.db.policy import MAX_ID
from vo_node.downloads.archive import FileMember, InlineMember, Member
from vo_node.storage import MirroredStore

# The channels of complete runs, as corot.products names them (its `channel` column, the
# view's CASE in migration 0009), and their collections.
CHANNELS = {"exo": "corot-exo", "astero": "corot-astero"}
MANIFEST_NAME = "MANIFEST.csv"
MANIFEST_COLUMNS = (
    "name",
    "product_id",
    "size",
    "sha256",
    "corotid",
    "run",
    "channel",
    "level",
    "product_type",
    "version",
)

_SELECT = """
SELECT p.product_id, p.archive_path, p.file_size, p.sha256,
       ARRAY(SELECT c.site FROM archive.product_copies c
              WHERE c.product_id = p.product_id AND c.status = 'ok' ORDER BY c.site),
       s.source_id, r.code,
       CASE p.collection_id WHEN 'corot-astero' THEN 'astero' ELSE 'exo' END,
       p.level, p.product_type, p.version, extract(epoch FROM p.ingested_at)::bigint
  FROM archive.products p
  JOIN archive.stars s USING (star_id)
  JOIN archive.runs r USING (run_id)
"""


@dataclass(frozen=True)
class Product:
    """A product file as a download carries it."""

    product_id: int
    archive_path: str  # also its name inside the archive: unique, and says version and run
    size: int
    sha256: str
    good_sites: tuple[str, ...]  # sites whose copy the last audit (or the ingest) found good
    corotid: int
    run: str
    channel: str  # 'exo' | 'astero'
    level: str
    product_type: str
    version: str
    mtime: int  # when it was ingested, seconds since the epoch

    @classmethod
    def from_row(cls, row: Sequence[object]) -> Product:
        values = list(row)
        values[3] = str(values[3]).strip()  # char(64)
        values[4] = tuple(values[4])  # type: ignore[arg-type]
        return cls(*values)  # type: ignore[arg-type]


@dataclass(frozen=True)
class RunChannel:
    """What a caller may download of one run and channel."""

    run: str
    channel: str
    products: int
    size: int


def visible_products(conn: psycopg.Connection, ids: Sequence[int]) -> list[Product]:
    """The products among ``ids`` that the caller may see, in the order of ``ids`` (each
    once); an id that does not exist and one the caller may not see are alike missing."""
    wanted = list(dict.fromkeys(i for i in ids if 0 < i <= MAX_ID))
    rows = conn.execute(_SELECT + " WHERE p.product_id = ANY(%s)", (wanted,)).fetchall()
    found = {int(row[0]): Product.from_row(row) for row in rows}
    return [found[i] for i in wanted if i in found]


def run_exists(conn: psycopg.Connection, run: str) -> bool:
    """Whether the archive has a run of this code (runs are public metadata)."""
    return conn.execute("SELECT 1 FROM archive.runs WHERE code = %s", (run,)).fetchone() is not None


def run_products(conn: psycopg.Connection, run: str, channel: str) -> list[Product]:
    """Every product of ``run`` in ``channel`` that the caller may see, by archive path."""
    return [
        Product.from_row(row)
        for row in conn.execute(
            _SELECT + " WHERE r.code = %s AND p.collection_id = %s ORDER BY p.archive_path",
            (run, CHANNELS[channel]),
        )
    ]


def run_channels(conn: psycopg.Connection) -> list[RunChannel]:
    """Per run and channel, the products the caller may see and their bytes."""
    rows = conn.execute(
        "SELECT r.code, CASE p.collection_id WHEN 'corot-astero' THEN 'astero' ELSE 'exo' END,"
        "       count(*), sum(p.file_size)"
        "  FROM archive.products p JOIN archive.runs r USING (run_id)"
        " WHERE p.collection_id = ANY(%s)"
        " GROUP BY 1, 2 ORDER BY 1, 2",
        (list(CHANNELS.values()),),
    ).fetchall()
    return [RunChannel(str(r[0]), str(r[1]), int(r[2]), int(r[3])) for r in rows]


def manifest(products: Sequence[Product]) -> bytes:
    """``MANIFEST.csv``: a row per product, with the checksum to check each file against."""
    text = io.StringIO()
    out = csv.writer(text, lineterminator="\r\n")  # RFC 4180
    out.writerow(MANIFEST_COLUMNS)
    for p in products:
        out.writerow(
            (
                p.archive_path,
                p.product_id,
                p.size,
                p.sha256,
                p.corotid,
                p.run,
                p.channel,
                p.level,
                p.product_type,
                p.version,
            )
        )
    return text.getvalue().encode()


def members(products: Sequence[Product], store: MirroredStore) -> list[Member]:
    """The archive's members: the manifest first (sizes and checksums come from the
    catalogue, so it can lead), then each product's file; each file's copies are tried on
    the sites the last audit found good first."""
    stamp = max((p.mtime for p in products), default=0)
    listed: list[Member] = [InlineMember(MANIFEST_NAME, manifest(products), stamp)]
    for p in products:
        good = set(p.good_sites)
        sites = sorted(store.sites, key=lambda s: (s.name not in good, s.name))
        listed.append(
            FileMember(
                name=p.archive_path,
                size=p.size,
                sha256=p.sha256,
                mtime=p.mtime,
                sources=tuple(site.path(p.archive_path) for site in sites),
                label=f"product {p.product_id}",
            )
        )
    return listed
