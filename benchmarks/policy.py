"""The cost of the distribution policy (row-level security, migration 0006), measured in the
same run as ratios: time with row-level security on over time with it off.

The data is benchmarks/tap.py's (same loader, same sky, ``--rows`` products), with two more
products per star so that the policy has rows to hide: per star, the N2 light curves of four
released runs (everyone sees them), the N2 of a run released only in 2100 (the Co-Investigators
of group 'coi' see it, the anonymous caller does not) and an N1 light curve (group
'n1-community' only: neither caller here sees it). Two callers: the anonymous one, and a
member of 'coi' (not an administrator), whose rows differ.

Two queries, each on ``corot.products`` with every column, as tap.py asks them:

* the cone: the cone of tap.py, about ``--cone-rows`` products of the table (the callers see
  2/3 and 5/6 of them);
* the range: ``product_id BETWEEN lo AND hi`` over ``--range-rows`` consecutive products of the
  table (the products of a star are consecutive, so the callers again see 2/3 and 5/6).

Two levels:

(i)  SQL: the SQL the ADQL translator writes, run with psycopg as ``vo_query`` the way the
     runner runs a BINARY2 result (vo_node/query.py): its own opening statements (``BEGIN
     READ ONLY`` and its ``SET LOCAL``s, the caller's signed ticket among them) in one
     message, ``COPY (query) TO STDOUT (FORMAT binary)`` read to the end, ``ROLLBACK``; a
     fresh ticket for every transaction, as the runner makes.
(ii) HTTP: GET /tap/sync (RESPONSEFORMAT=votable: BINARY2, the whole body read) through the
     real ``vo-node serve``; the 'coi' member sends HTTP Basic credentials (the service
     checks the password once a minute per worker, then from its cache).

What is compared, and why. With row-level security on, a caller gets only its rows; the same
query with it off returns every row of the cone or range, and more rows cost more to read,
convert and send: that comparison would credit the policy with the work it saves. The
baseline is therefore the same query with it off plus an explicit ADQL condition that selects
exactly the caller's rows (anonymous: ``proc_level = 'N2' AND run_code IN (the released
runs)``; 'coi': ``proc_level = 'N2'``), what the query would cost if the table held only what
the caller may see. Equal work is checked, not assumed: the row counts (printed) must be equal
on both sides, and at the SQL level the binary COPY output must be the same number of bytes
in every sample. The ratio is then the price of the policy's mechanism: its InitPlans (the
ticket's MAC check and the membership look-ups, once per query), its per-row expression where
the baseline has a plain condition, and any plan it changes. The baseline's condition is not
free either, so the ratio slightly understates the policy's cost against a table holding
only public rows.

Row-level security is switched by the table's owner (``vo_admin``): ``ALTER TABLE
archive.products DISABLE ROW LEVEL SECURITY``, then ``ENABLE`` again. Each query is measured
in ``--rounds`` alternations of on and off (which side goes first alternates too), each of
``--repeat`` samples (``--range-repeat`` for the range; the cone's after a few unmeasured
queries that take the switch's cache invalidations); the ratio is that of the medians of all
samples, with the lowest and highest of the rounds' own ratios beside it to show the noise.
Target: ratio <= 1.2. Ratios are printed, never asserted.

Also printed: whether the cone's plan with the policy on still uses the spatial index
``stars_pos_idx`` (it must), each plan's nodes beside its baseline's, and the cone's time in
the database from EXPLAIN ANALYZE: in its InitPlans (the policy's look-ups of the caller's
rights, once per query) and in all.

    python benchmarks/policy.py [--rows 1000000] [--rounds 5] [--repeat 30]
"""

from __future__ import annotations

import argparse
import functools
import io
import itertools
import re
import signal
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg
import requests
from astropy.io.votable import parse_single_table
from psycopg import sql

# The benchmark next to this one: its cluster, data, server and HTTP helpers (it also puts
# the checkout on sys.path).
from tap import (
    CENTRE,
    DEFAULT_COLUMNS,
    RUNS,
    SERIES,
    Series,
    _cone_radius,
    _copy,
    _get,
    _interrupt,
    _load,
    _node,
    _params,
    _served,
    _session,
    _stream_service,
    _timed,
)

from tap_schema import METADATA
from vo_node.adql import translate
from vo_node.auth import store
from vo_node.auth.passwords import hash_password
from vo_node.auth.tickets import Tickets
from vo_node.db.cluster import QUERY_ROLE
from vo_node.db.node import NodeDatabase
from vo_node.query import _opening  # the runner's own opening statements
from vo_node.settings import Settings

TARGET = 1.2
UNRELEASED = Series("LRc10", "N2", release_date="2100-01-01")  # Co-Is only, until 2100
N1 = Series(RUNS[0], "N1")  # group 'n1-community' only
POLICY_SERIES = (*SERIES, UNRELEASED, N1)
COI_USER = "bench-coi"
COI_PASSWORD = "bench-coi-password"
TIMEOUT_S = 600.0  # the statement timeout the opening sets: never reached here


@dataclass(frozen=True)
class Caller:
    label: str
    user: str | None  # None: anonymous
    baseline: str  # the ADQL condition selecting its rows, for the baseline


@dataclass(frozen=True)
class Query:
    name: str
    condition: str  # ADQL, on corot.products
    columns: str

    def adql(self, extra: str | None = None) -> str:
        where = self.condition + (f" AND {extra}" if extra else "")
        return f"SELECT {self.columns} FROM corot.products WHERE {where}"

    def sql(self, extra: str | None = None) -> str:
        return translate(self.adql(extra), METADATA).sql


@dataclass
class Case:
    level: str  # 'SQL' | 'HTTP'
    query: Query
    caller: Caller
    rows: int
    repeat: int
    warmup: int
    run: Callable[[bool], int]  # one query (policy on, or the baseline): bytes read
    on: list[float] = field(default_factory=list)
    off: list[float] = field(default_factory=list)
    round_ratios: list[float] = field(default_factory=list)
    sizes: dict[bool, set[int]] = field(default_factory=lambda: {True: set(), False: set()})

    @property
    def ratio(self) -> float:
        return statistics.median(self.on) / statistics.median(self.off)


def _rls(admin: psycopg.Connection, on: bool) -> None:
    admin.execute(
        f"ALTER TABLE archive.products {'ENABLE' if on else 'DISABLE'} ROW LEVEL SECURITY"
    )


class Direct:
    """Transactions of ``vo_query`` opened as the runner opens them, on one connection."""

    def __init__(self, db: NodeDatabase, tickets: Tickets) -> None:
        self.conn = psycopg.connect(db.query_conninfo(), autocommit=True)
        self.tickets = tickets

    def _begin(self, caller: Caller) -> None:
        ticket = self.tickets.issue(caller.user, self.conn.info.backend_pid)
        opening = _opening(TIMEOUT_S, ticket, writable=False)
        self.conn.execute(sql.SQL("; ").join(opening))  # one message, as the runner sends it

    def copy(self, caller: Caller, query: str) -> int:
        self._begin(caller)
        try:
            return _copy(self.conn, query)
        finally:
            self.conn.execute("ROLLBACK")

    def rows(self, caller: Caller, query: str, explain: str = "") -> list[tuple[object, ...]]:
        self._begin(caller)
        try:
            return self.conn.execute(f"{explain}{query}").fetchall()
        finally:
            self.conn.execute("ROLLBACK")

    def count(self, caller: Caller, query: str) -> int:
        (n,) = self.rows(caller, f"SELECT count(*) FROM ({query}) q")[0]
        assert isinstance(n, int)
        return n

    def plan(self, caller: Caller, query: str) -> list[str]:
        return [str(r[0]) for r in self.rows(caller, query, "EXPLAIN (COSTS OFF) ")]


_ANALYZE = 9  # EXPLAIN ANALYZE runs of the cone, each side


def _analyze(direct: Direct, caller: Caller, query: str) -> tuple[float, float]:
    """Median ms spent in InitPlans, and median execution ms, of ``query`` (EXPLAIN ANALYZE).

    An InitPlan's time is that of its Result node; it runs when the filter first needs it.
    """
    initplans: list[float] = []
    execution: list[float] = []
    for _ in range(_ANALYZE):
        lines = [str(r[0]) for r in direct.rows(caller, query, "EXPLAIN (ANALYZE, COSTS OFF) ")]
        total = 0.0
        for above, line in itertools.pairwise(lines):
            found = re.search(r"actual time=[\d.]+\.\.([\d.]+)", line)
            if "InitPlan" in above and found:
                total += float(found.group(1))
        initplans.append(total)
        execution.extend(
            float(line.split(":")[1].split()[0]) for line in lines if "Execution Time" in line
        )
    return statistics.median(initplans), statistics.median(execution)


def _shape(plan: list[str]) -> str:
    """A plan's nodes in order, without their details; InitPlans counted."""
    nodes: list[str] = []
    initplans = 0
    skip = False
    for i, line in enumerate(plan):
        text = line.strip()
        if text.startswith("InitPlan"):
            initplans += 1
            skip = True  # its Result node
        elif i == 0 or text.startswith("->"):
            if not skip:
                nodes.append(text.removeprefix("->").strip())
            skip = False
    return ", ".join(nodes) + (
        f" (+{initplans} InitPlan{'s' if initplans > 1 else ''})" if initplans else ""
    )


def _served_count(session: requests.Session, url: str, query: Query, extra: str | None) -> int:
    where = query.condition + (f" AND {extra}" if extra else "")
    adql = f"SELECT COUNT(*) FROM corot.products WHERE {where}"
    body = _get(session, url, _params(adql))
    return int(parse_single_table(io.BytesIO(body)).array[0][0])


def _measure(case: Case, admin: psycopg.Connection, rounds: int) -> None:
    for r in range(rounds):
        medians: dict[bool, float] = {}
        for on in (True, False) if r % 2 == 0 else (False, True):
            _rls(admin, on)
            for _ in range(case.warmup):
                case.run(on)
            times = []
            for _ in range(case.repeat):
                start = time.perf_counter()
                size = case.run(on)
                times.append(time.perf_counter() - start)
                case.sizes[on].add(size)
            (case.on if on else case.off).extend(times)
            medians[on] = statistics.median(times)
        case.round_ratios.append(medians[True] / medians[False])
    _rls(admin, True)
    # The same rows every time: one result size per side, and at the SQL level the same
    # COPY bytes with the policy as with the baseline's condition.
    same = len(case.sizes[True]) == 1 and len(case.sizes[False]) == 1
    if not same or (case.level == "SQL" and case.sizes[True] != case.sizes[False]):
        sys.exit(f"{case.level} {case.query.name} {case.caller.label}: sizes {case.sizes}")


def main() -> None:
    defaults = Settings.model_fields
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="products in the table")
    parser.add_argument("--cone-rows", type=int, default=100, help="products in the cone")
    parser.add_argument(
        "--range-rows", type=int, default=100_000, help="products in the product_id range"
    )
    parser.add_argument("--rounds", type=int, default=5, help="on/off alternations per query")
    parser.add_argument("--repeat", type=int, default=30, help="cone samples per side per round")
    parser.add_argument(
        "--range-repeat", type=int, default=3, help="range samples per side per round"
    )
    parser.add_argument(
        "--workers", type=int, default=defaults["workers"].default, help="gunicorn workers"
    )
    parser.add_argument(
        "--threads", type=int, default=defaults["threads"].default, help="threads each"
    )
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _interrupt)
    if args.range_rows > args.rows:
        parser.error("--range-rows is more than --rows")

    began = time.perf_counter()
    with _node("vo-node-bench-policy-", args.workers, args.threads) as (settings, db, work):
        _timed(
            f"{args.rows:,} products written ({len(POLICY_SERIES)} per star)",
            lambda: _load(db, args.rows, POLICY_SERIES),
        )
        radius, _ = _cone_radius(db, args.cone_rows, args.rows)
        with db.admin(autocommit=True) as admin:
            admin.execute("SET lock_timeout = '10s'")  # a switch never waits unseen
            first = admin.execute("SELECT min(product_id) FROM archive.products").fetchone()
            lo = (first[0] if first else 1) + (args.rows - args.range_rows) // 2
            store.create_user(admin, COI_USER, password_hash=hash_password(COI_PASSWORD))
            store.add_member(admin, COI_USER, "coi")
            tickets = Tickets(store.caller_key(admin))

            released = ", ".join(f"'{s.run}'" for s in SERIES)
            callers = (
                Caller("anonymous", None, f"proc_level = 'N2' AND run_code IN ({released})"),
                Caller("coi", COI_USER, "proc_level = 'N2'"),
            )
            cone = Query(
                "cone",
                f"DISTANCE(pos, POINT('ICRS', {CENTRE[0]}, {CENTRE[1]})) < {radius!r}",
                DEFAULT_COLUMNS,
            )
            span = Query(
                "range",
                f"product_id BETWEEN {lo} AND {lo + args.range_rows - 1}",
                DEFAULT_COLUMNS,
            )
            direct = Direct(db, tickets)
            # The products in the cone and the range: every one, with the policy off.
            _rls(admin, False)
            nobody = Caller("", None, "")
            table = {q.name: direct.count(nobody, q.sql()) for q in (cone, span)}

            with (
                _served(settings, db, work / "serve.log") as base,
                _session() as anonymous_session,
                _session() as coi_session,
                direct.conn,
            ):
                coi_session.auth = (COI_USER, COI_PASSWORD)
                sessions = {"anonymous": anonymous_session, "coi": coi_session}
                url = base + "/tap/sync"
                print(
                    f"serving on {base} (gunicorn gthread, {settings.workers} workers x "
                    f"{settings.threads} threads); direct SQL as role {QUERY_ROLE}, psycopg "
                    f"{psycopg.__version__}, one connection"
                )
                for q in (cone, span):
                    print(f"{q.name}: {q.adql()}  ({table[q.name]:,} products in the table)")
                for c in callers:
                    print(f"baseline of {c.label}: policy off, AND {c.baseline}")

                # Row counts: the policy's (on) and the baseline's (off), each level.
                counts: dict[tuple[str, str, str, bool], int] = {}
                for on in (False, True):
                    _rls(admin, on)
                    for q in (cone, span):
                        for c in callers:
                            extra = None if on else c.baseline
                            counts["SQL", q.name, c.label, on] = direct.count(c, q.sql(extra))
                            counts["HTTP", q.name, c.label, on] = _served_count(
                                sessions[c.label], url, q, extra
                            )
                rows: dict[tuple[str, str], int] = {}
                for q in (cone, span):
                    for c in callers:
                        found = {v for k, v in counts.items() if k[1:3] == (q.name, c.label)}
                        if len(found) != 1:
                            sys.exit(f"{q.name} {c.label}: row counts differ: {counts}")
                        rows[q.name, c.label] = found.pop()
                for q in (cone, span):  # each caller sees less than the table, and not alike
                    seen = {rows[q.name, c.label] for c in callers}
                    if len(seen) != len(callers) or table[q.name] in seen:
                        sys.exit(f"the policy does not filter the {q.name} here: {rows}")

                # Plans (the cone must keep its spatial index with the policy on), and where
                # the cone's time goes in the database.
                plans: dict[tuple[str, str, bool], list[str]] = {}
                spent: dict[tuple[str, bool], tuple[float, float]] = {}
                for on in (True, False):
                    _rls(admin, on)
                    for q in (cone, span):
                        for c in callers:
                            text = q.sql(None if on else c.baseline)
                            plans[q.name, c.label, on] = direct.plan(c, text)
                            if q is cone:
                                spent[c.label, on] = _analyze(direct, c, text)

                cases: list[Case] = []
                for level in ("SQL", "HTTP"):
                    for q in (cone, span):
                        for c in callers:
                            cases.append(_case(level, q, c, rows, args, direct, sessions, url))
                for case in cases:
                    _timed(
                        f"{case.level} {case.query.name} {case.caller.label}: {args.rounds} "
                        f"rounds x {case.repeat} each way",
                        functools.partial(_measure, case, admin, args.rounds),
                    )

        print()
        print(
            "ratio = median time with row-level security on / median with it off and the "
            "caller's rows selected by an explicit condition (same rows, checked)"
        )
        header = (
            f"{'level':<5} {'query':<6} {'caller':<9} {'rows':>8} {'ms on':>9} {'ms off':>9} "
            f"{'ratio':>6}  {'rounds min-max':<14} {'target':<7}"
        )
        print(header)
        print("-" * len(header))
        for case in cases:
            low, high = min(case.round_ratios), max(case.round_ratios)
            print(
                f"{case.level:<5} {case.query.name:<6} {case.caller.label:<9} {case.rows:>8,} "
                f"{statistics.median(case.on) * 1000:>9.2f} "
                f"{statistics.median(case.off) * 1000:>9.2f} {case.ratio:>6.2f}  "
                f"{f'{low:.2f}-{high:.2f}':<14} <= {TARGET}"
            )
        print(
            f"(cone: {table[cone.name]} products in the table, range: {table[span.name]:,}; "
            f"samples per side: cone {args.rounds * args.repeat}, "
            f"range {args.rounds * args.range_repeat})"
        )
        print()
        for c in callers:
            uses_index = any("stars_pos_idx" in line for line in plans[cone.name, c.label, True])
            print(
                f"cone with the policy on, {c.label}: uses the GiST index stars_pos_idx: "
                f"{'yes' if uses_index else 'NO'}"
            )
        print("plans, baseline then policy (nodes in plan order):")
        for q in (cone, span):
            for c in callers:
                print(f"  {q.name} {c.label}:")
                print(f"    off: {_shape(plans[q.name, c.label, False])}")
                print(f"    on:  {_shape(plans[q.name, c.label, True])}")
        policy_filter = next(
            (x.strip() for x in plans[cone.name, "anonymous", True] if "Filter: (($" in x), "-"
        )
        print(f"  the policy on products: {policy_filter}")
        print(
            f"where the cone's database time goes (EXPLAIN ANALYZE, median of {_ANALYZE}): "
            "the InitPlans (once per query; with the policy: its caller and release look-ups, "
            "both sides: the view's base URL) / execution"
        )
        for c in callers:
            (init_on, run_on), (init_off, run_off) = spent[c.label, True], spent[c.label, False]
            print(
                f"  {c.label}: policy {init_on:.2f} / {run_on:.2f} ms, "
                f"baseline {init_off:.2f} / {run_off:.2f} ms"
            )
        print(f"total run time {time.perf_counter() - began:.0f} s")


def _case(
    level: str,
    query: Query,
    caller: Caller,
    rows: dict[tuple[str, str], int],
    args: argparse.Namespace,
    direct: Direct,
    sessions: dict[str, requests.Session],
    url: str,
) -> Case:
    big = query.name == "range"
    texts = {True: query.sql(), False: query.sql(caller.baseline)}
    adql = {True: query.adql(), False: query.adql(caller.baseline)}
    session = sessions[caller.label]
    n = rows[query.name, caller.label]

    def run(on: bool) -> int:
        if level == "SQL":
            return direct.copy(caller, texts[on])
        if big:
            return _stream_service(session, url, adql[on], n)
        return len(_get(session, url, _params(adql[on])))

    return Case(
        level,
        query,
        caller,
        n,
        repeat=args.range_repeat if big else args.repeat,
        warmup=0 if big else 4,
        run=run,
    )


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # everything is cleaned up by now; no traceback for that
        sys.exit("interrupted")
