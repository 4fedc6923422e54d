"""The statistics' SQL: writing batches of accesses, and the administrators' reports.

Writes go through the service role's pool (vo_service may only INSERT and run
``stats.day_salt()``); reports read either in the caller's transaction, where row-level
security shows the rows to administrators only (migration 0010), or as the owner
(``vo-node stats``). Every month is a UTC month. Must not import Flask.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime

import psycopg
from psycopg_pool import ConnectionPool

from vo_node.stats.clients import CountryLookup, visitor_key
from vo_node.stats.period import Period
from vo_node.stats.recorder import Hit

# A visit: one visitor's accesses with gaps under this (the usual web-analytics rule).
VISIT_GAP = "30 minutes"
# Who: a logged-in user by name, else the anonymous visitor key of the day.
_WHO = "coalesce('u:' || user_name, 'v:' || visitor)"
_MONTH = "date_trunc('month', at AT TIME ZONE 'UTC')"  # as in the index accesses_month_idx
_INSERT = (
    "INSERT INTO stats.accesses (at, channel, status, bytes, products, runs, collections,"
    " user_name, country, visitor) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)


class AccessStore:
    """Writes batches of :class:`Hit`; the recorder's sink. Turns each address into a country
    and a visitor key here, in the writer's thread, so that no request pays for it."""

    def __init__(self, pool: ConnectionPool, countries: CountryLookup) -> None:
        self._pool = pool
        self._countries = countries

    def __call__(self, hits: Sequence[Hit]) -> None:
        with self._pool.connection(timeout=10) as conn, conn.transaction():
            salt = conn.execute("SELECT stats.day_salt()").fetchone()
            assert salt is not None and salt[0] is not None  # the function always makes one
            rows = [
                (
                    h.at,
                    h.channel,
                    h.status,
                    h.sent,
                    h.products,
                    sorted(h.runs),
                    sorted(h.collections),
                    h.user,
                    self._countries.country(h.address),
                    visitor_key(bytes(salt[0]), h.address),
                )
                for h in hits
            ]
            with conn.cursor() as cur:
                cur.executemany(_INSERT, rows)


def caller_is_admin(conn: psycopg.Connection) -> bool:
    """Whether the caller of ``conn``'s transaction is an administrator."""
    row = conn.execute("SELECT archive.caller_is_admin()").fetchone()
    return bool(row and row[0])


def _where(period: Period) -> tuple[str, list[object]]:
    """The period as a WHERE condition: fixed text, the dates as parameters."""
    clauses: list[str] = ["true"]
    params: list[object] = []
    if period.start is not None:
        clauses.append("at >= %s")
        params.append(period.start)
    if period.end is not None:
        clauses.append("at < %s")
        params.append(period.end)
    return " AND ".join(clauses), params


@dataclass(frozen=True)
class Volume:
    """One month of one channel."""

    month: str  # 'YYYY-MM'
    channel: str
    requests: int
    errors: int  # responses with status >= 400
    bytes: int
    products: int


def volume(conn: psycopg.Connection, period: Period) -> list[Volume]:
    """Requests, bytes and products per month and channel."""
    where, params = _where(period)
    rows = conn.execute(
        f"SELECT {_MONTH}, channel, count(*), count(*) FILTER (WHERE status >= 400),"
        f" coalesce(sum(bytes), 0), coalesce(sum(products), 0)"
        f" FROM stats.accesses WHERE {where} GROUP BY 1, 2 ORDER BY 1, 2",
        params,
    ).fetchall()
    return [Volume(_month(r[0]), r[1], r[2], r[3], int(r[4]), int(r[5])) for r in rows]


@dataclass(frozen=True)
class Audience:
    """One month's visits and visitors."""

    month: str
    visits: int  # visits that started in the month
    users: int  # distinct logged-in users
    anonymous: int  # distinct anonymous visitors, counted per day (their key lasts a day)


def audience(conn: psycopg.Connection, period: Period) -> list[Audience]:
    """Visits and distinct users per month. An anonymous visitor's key changes every day
    (migration 0010), so a month's anonymous count is of visitor-days, and a visit that runs
    over midnight UTC counts twice; users by name have neither limit."""
    where, params = _where(period)
    rows = conn.execute(
        f"WITH a AS (SELECT at, {_WHO} AS who FROM stats.accesses WHERE {where}),"
        f" s AS (SELECT at, who, (lag(at) OVER (PARTITION BY who ORDER BY at)"
        f"   > at - interval '{VISIT_GAP}') IS NOT TRUE AS starts FROM a)"
        f" SELECT {_MONTH}, count(*) FILTER (WHERE starts),"
        f" count(DISTINCT who) FILTER (WHERE who LIKE 'u:%%'),"
        f" count(DISTINCT who) FILTER (WHERE who LIKE 'v:%%')"
        f" FROM s GROUP BY 1 ORDER BY 1",
        params,
    ).fetchall()
    return [Audience(_month(r[0]), r[1], r[2], r[3]) for r in rows]


@dataclass(frozen=True)
class Country:
    code: str  # ISO 3166 alpha-2, '--' unknown
    requests: int
    bytes: int
    products: int


def countries(conn: psycopg.Connection, period: Period) -> list[Country]:
    """Requests, bytes and products per country, the most requests first."""
    where, params = _where(period)
    rows = conn.execute(
        f"SELECT coalesce(country, '--'), count(*), coalesce(sum(bytes), 0),"
        f" coalesce(sum(products), 0) FROM stats.accesses WHERE {where}"
        f" GROUP BY 1 ORDER BY 2 DESC, 1",
        params,
    ).fetchall()
    return [Country(r[0], r[1], int(r[2]), int(r[3])) for r in rows]


@dataclass(frozen=True)
class RunUse:
    """What was delivered of one run. A response carrying several runs is shared equally
    among them, so that the runs' figures add up to the totals."""

    run: str
    requests: int
    products: float
    bytes: float


def top_runs(conn: psycopg.Connection, period: Period, limit: int = 20) -> list[RunUse]:
    """The runs most delivered: by products, then bytes."""
    where, params = _where(period)
    rows = conn.execute(
        f"SELECT run, count(*), sum(products::float8 / cardinality(runs)),"
        f" sum(bytes::float8 / cardinality(runs))"
        f" FROM stats.accesses, unnest(runs) AS run WHERE {where}"
        f" GROUP BY run ORDER BY 3 DESC, 4 DESC, run LIMIT %s",
        [*params, limit],
    ).fetchall()
    return [RunUse(r[0], r[1], float(r[2]), float(r[3])) for r in rows]


ACCESS_COLUMNS = (
    "time", "channel", "status", "bytes", "products", "runs", "collections", "user",
    "country", "visitor",
)  # fmt: skip


def accesses(conn: psycopg.Connection, period: Period) -> Iterator[tuple[object, ...]]:
    """Every access in ``period``, oldest first, as :data:`ACCESS_COLUMNS` (streamed from a
    server-side cursor: a year of accesses is not held in memory)."""
    where, params = _where(period)
    with conn.cursor(name="stats_accesses") as cur:
        cur.execute(
            "SELECT to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"
            " channel, status, bytes, products, array_to_string(runs, ' '),"
            " array_to_string(collections, ' '), coalesce(user_name, ''),"
            f" coalesce(country, '--'), visitor FROM stats.accesses WHERE {where}"
            " ORDER BY at, access_id",
            params,
        )
        yield from cur


def _month(value: datetime | date) -> str:
    return f"{value.year:04d}-{value.month:02d}"
