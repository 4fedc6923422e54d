"""The database side of the features: parameter sets, the work left to do, and the results.

Read and written as the archive's owner (the admin role: like the ingest, the computation
covers every light curve, proprietary ones included; readers see the results through the
policy of migration 0012). Every light curve is an N2 product; a result counts as current
when it was computed by the same algorithm version with the same parameters (the software's
own versions are recorded, not compared).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import psycopg

from vo_node.features.model import ALGORITHM_VERSION, FeatureParams, Features
from vo_node.features.task import Outcome, Task
from vo_node.storage import MirroredStore

# One computation at a time per archive (`vo-node features`, the worker's watcher): the
# advisory lock key, 'vofe'.
LOCK_KEY = 0x766F6665

# The products that have features: the N2 light curves (N1 ones are not computed).
_LIGHT_CURVES = "p.level = 'N2'"


def parameter_set(conn: psycopg.Connection, params: FeatureParams, software: str) -> int:
    """The id of this parameter set and software, created on first use."""
    row = conn.execute(
        "INSERT INTO archive.feature_parameters (algorithm_version, software, parameters)"
        " VALUES (%s, %s, %s::jsonb)"
        " ON CONFLICT (algorithm_version, software, parameters) DO UPDATE"
        " SET algorithm_version = excluded.algorithm_version"
        " RETURNING params_id",
        (ALGORITHM_VERSION, software, params.to_json()),
    ).fetchone()
    assert row is not None
    return int(row[0])


def _current_sets(conn: psycopg.Connection, params: FeatureParams) -> list[int]:
    """The parameter sets whose results count as current for ``params``."""
    rows = conn.execute(
        "SELECT params_id FROM archive.feature_parameters"
        " WHERE algorithm_version = %s AND parameters = %s::jsonb",
        (ALGORITHM_VERSION, params.to_json()),
    ).fetchall()
    return [int(r[0]) for r in rows]


@dataclass(frozen=True)
class Progress:
    """How far the archive is: light curves with current results, stale ones (another
    version or parameters), missing ones, and unreadable ones (stored with their error)."""

    light_curves: int
    current: int
    stale: int
    missing: int
    failed: int

    @property
    def pending(self) -> int:
        return self.stale + self.missing


def progress(conn: psycopg.Connection, params: FeatureParams) -> Progress:
    current = _current_sets(conn, params)
    row = conn.execute(
        "SELECT count(*), count(f.product_id) FILTER (WHERE f.params_id = ANY(%(c)s)),"
        " count(f.product_id) FILTER (WHERE NOT f.params_id = ANY(%(c)s)),"
        " count(*) FILTER (WHERE f.product_id IS NULL),"
        " count(f.product_id) FILTER (WHERE f.params_id = ANY(%(c)s) AND f.error IS NOT NULL)"
        f" FROM archive.products p LEFT JOIN archive.features f USING (product_id)"
        f" WHERE {_LIGHT_CURVES}",
        {"c": current},
    ).fetchone()
    assert row is not None
    return Progress(*(int(v) for v in row))


def pending_tasks(
    conn: psycopg.Connection,
    store: MirroredStore,
    params: FeatureParams,
    product_ids: Sequence[int] | None = None,
    *,
    retry_unreadable: bool = False,
) -> list[Task]:
    """The light curves to compute, in product order: without a current result (missing or
    stale; with ``retry_unreadable`` also those whose file could not be read last time), or
    exactly ``product_ids`` (computed again whatever they have; ids that are not N2 light
    curves are left out)."""
    if product_ids is not None:
        where, args = "p.product_id = ANY(%(ids)s)", {"ids": list(product_ids)}
    else:
        unreadable = " AND f.error IS NULL" if retry_unreadable else ""
        where = (
            "NOT EXISTS (SELECT 1 FROM archive.features f WHERE f.product_id = p.product_id"
            f" AND f.params_id = ANY(%(c)s){unreadable})"
        )
        args = {"c": _current_sets(conn, params)}
    rows = conn.execute(
        "SELECT p.product_id, p.layout, p.archive_path,"
        " coalesce((SELECT array_agg(c.site ORDER BY c.site) FROM archive.product_copies c"
        "           WHERE c.product_id = p.product_id AND c.status = 'ok'), '{}')"
        f" FROM archive.products p WHERE {_LIGHT_CURVES} AND {where} ORDER BY p.product_id",
        args,
    ).fetchall()
    tasks = []
    for product_id, layout, relpath, good in rows:
        good_first = sorted(store.sites, key=lambda s: s.name not in good)
        paths = tuple(str(site.path(relpath)) for site in good_first)
        tasks.append(Task(int(product_id), layout, paths))
    return tasks


def _feature_row(params_id: int, outcome: Outcome) -> tuple[object, ...]:
    f: Features | None = outcome.features
    if f is None:
        return (outcome.product_id, params_id, outcome.error or "not computed") + (None,) * 13
    top = f.dominant
    return (
        outcome.product_id,
        params_id,
        None,
        f.n_used,
        f.epoch,
        f.time_span,
        len(f.frequencies),
        None if top is None else top.frequency,
        None if top is None else top.amplitude,
        None if top is None else top.snr,
        f.fap,
        f.total_amplitude,
        f.rms,
        f.noise,
        f.skewness,
        f.var_class,
    )


def save(conn: psycopg.Connection, params_id: int, outcomes: Iterable[Outcome]) -> int:
    """Write the results of one batch in one transaction (a product's earlier result and
    frequencies are replaced); a product deleted meanwhile is skipped. Returns the rows
    written."""
    outcomes = list(outcomes)
    if not outcomes:
        return 0
    ids = [o.product_id for o in outcomes]
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(
            "SELECT product_id FROM archive.products WHERE product_id = ANY(%s) FOR KEY SHARE",
            (ids,),
        )
        alive = {int(r[0]) for r in cur.fetchall()}
        outcomes = [o for o in outcomes if o.product_id in alive]
        cur.execute("DELETE FROM archive.features WHERE product_id = ANY(%s)", (ids,))
        cur.executemany(
            "INSERT INTO archive.features (product_id, params_id, error, n_used, epoch,"
            " time_span, n_frequencies, dominant_frequency, dominant_amplitude, dominant_snr,"
            " fap, total_amplitude, rms, noise, skewness, var_class)"
            " VALUES (%s, %s, %s, coalesce(%s, 0), %s, %s, coalesce(%s, 0), %s, %s, %s, %s,"
            " %s, %s, %s, %s, %s)",
            [_feature_row(params_id, o) for o in outcomes],
        )
        cur.executemany(
            "INSERT INTO archive.feature_frequencies (product_id, rank, frequency, amplitude,"
            " phase, snr, harmonic_of, kind) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            [
                (
                    o.product_id,
                    q.rank,
                    q.frequency,
                    q.amplitude,
                    q.phase,
                    q.snr,
                    q.harmonic_of,
                    q.kind,
                )
                for o in outcomes
                if o.features is not None
                for q in o.features.frequencies
            ],
        )
    return len(outcomes)


def try_lock(conn: psycopg.Connection) -> bool:
    """Take the computation's lock for this session if nobody holds it."""
    row = conn.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone()
    return bool(row and row[0])


def unlock(conn: psycopg.Connection) -> None:
    conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
