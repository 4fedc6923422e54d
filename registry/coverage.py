"""What a data collection covers, computed from its products: a spatial MOC of its stars'
positions, the time intervals of its runs (MJD), and when its content last changed.

Read through a transaction of the anonymous caller (row-level security): a registry record is
public, so it describes what everyone may see. Must not import Flask.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import astropy.units as u
import numpy as np
import psycopg
from mocpy import MOC

# Order 8: cells of about 0.23 degrees, finer than a CoRoT field (1.3 x 1.3 degrees per CCD
# pair) and a MOC of a few kB (VODataService 1.2 asks for at least order 6).
MOC_ORDER = 8


@dataclass(frozen=True)
class CollectionFacts:
    collection_id: str
    title: str
    description: str
    created: datetime
    updated: datetime  # the latest of the record itself, an ingest and a release
    products: int
    moc: str  # ASCII MOC (MOC 1.1), ICRS; '' without positions
    intervals: tuple[tuple[float, float], ...]  # per run: first and last point, MJD


def collection_facts(conn: psycopg.Connection, order: int = MOC_ORDER) -> list[CollectionFacts]:
    """The facts of every collection, as the caller of ``conn`` may see its products."""
    collections = conn.execute(
        "SELECT collection_id, title, description, created, updated"
        " FROM archive.collections ORDER BY collection_id"
    ).fetchall()
    facts = []
    for collection_id, title, description, created, updated in collections:
        counted, last_ingest, last_release = conn.execute(
            "SELECT count(*), max(ingested_at),"
            " max(released_on) FILTER (WHERE released_on <= current_date)"
            " FROM archive.products WHERE collection_id = %s",
            (collection_id,),
        ).fetchone() or (0, None, None)
        positions = conn.execute(
            "SELECT s.ra, s.dec FROM archive.stars s WHERE s.star_id IN"
            " (SELECT star_id FROM archive.products WHERE collection_id = %s)"
            " AND s.ra IS NOT NULL AND s.dec IS NOT NULL",
            (collection_id,),
        ).fetchall()
        intervals = conn.execute(
            "SELECT min(t_min), max(t_max) FROM archive.products WHERE collection_id = %s"
            " GROUP BY run_id ORDER BY 1",
            (collection_id,),
        ).fetchall()
        moments = [updated, last_ingest]
        if last_release is not None:
            moments.append(datetime.combine(last_release, datetime.min.time(), updated.tzinfo))
        facts.append(
            CollectionFacts(
                collection_id,
                title,
                description,
                created,
                max(m for m in moments if m is not None),
                int(counted),
                _moc(positions, order),
                tuple((float(a), float(b)) for a, b in intervals),
            )
        )
    return facts


def _moc(positions: list[tuple[float, float]], order: int) -> str:
    if not positions:
        return ""
    coordinates = np.array(positions, dtype=float)
    moc = MOC.from_lonlat(
        lon=coordinates[:, 0] * u.deg, lat=coordinates[:, 1] * u.deg, max_norder=order
    )
    return str(moc.to_string(format="ascii"))
