"""TAP sync speed against the database underneath it, measured in the same run.

A throwaway cluster gets ``--rows`` synthetic product versions (stars spread evenly over the
sky, ``RUNS`` products per star), written with SQL straight into the archive tables behind
``corot.products``; the real ``vo-node serve`` (gunicorn, gthread, the production worker and
thread counts) then serves it on 127.0.0.1. Each service figure is set against the same SQL,
as the ADQL translator writes it, run directly with psycopg as the service's read-only role
``vo_query``, over the same Unix socket:

(a) a cone search of about ``--cone-rows`` rows, interleaved: median latency of
    GET /tap/sync (RESPONSEFORMAT=votable, i.e. BINARY2, whole body read) over the median of
    execute + fetchall on one open connection. Target: ratio <= 3.
(b) the whole table (``--rows`` rows) as BINARY2 with MAXREC raised to match, against a
    binary ``COPY (<sql>) TO STDOUT`` of the same rows read with psycopg; best of
    ``--rounds``, as rows/s. Target: ratio service/COPY >= 0.4.
(c) the cone search from ``--clients`` threads (one requests.Session each) for
    ``--duration`` s: requests/s, p50 and p99 latency, and errors (must be 0).

Ratios are printed, never asserted: the machine's load decides timings, the ratios compare
like with like on the same machine at the same time.

    python benchmarks/tap.py [--rows 1000000] [--duration 30] [--columns 'corotid, ra']
"""

from __future__ import annotations

import argparse
import io
import math
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
import requests  # noqa: E402
from astropy.io.votable import parse_single_table  # noqa: E402

from tap_schema import METADATA  # noqa: E402
from vo_node.adql import translate  # noqa: E402
from vo_node.db.cluster import QUERY_ROLE, SUPERUSER  # noqa: E402
from vo_node.db.node import NodeDatabase  # noqa: E402
from vo_node.settings import Settings  # noqa: E402

# A throwaway cluster: durability off, as in the test suite (only reads are measured), and
# minimal WAL so that rows written into tables truncated in the same transaction skip it.
_FAST = (
    "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
    "wal_level = minimal\nmax_wal_senders = 0"
)
RUNS = ("LRa01", "LRc01", "SRa01", "LRa02")  # products per star: one N2 light curve per run
# The runs' release date. Since migration 0006 row-level security shows the anonymous caller
# (every query here) only the N2/N3 products that are released: their own release_date, else
# their run's (the synthetic products have none). A date in the past, with level N2 and access
# group 'coi', keeps every row visible to it: the benchmark returns all its rows, as before.
RELEASED = "2010-01-01"


@dataclass(frozen=True)
class Series:
    """One synthetic product per star: its run (created with ``release_date``; ``None``: not
    released) and its level, which decides its access group (N1: 'n1-community', else 'coi')."""

    run: str
    level: str = "N2"
    release_date: str | None = RELEASED


SERIES = tuple(Series(code) for code in RUNS)  # what this benchmark serves: all public
CENTRE = (102.5, -0.5)  # the cone's centre (ICRS degrees): in CoRoT's anticentre eye
# The tail of a BINARY2 document carries a second QUERY_STATUS only when the query did not
# end OK (vo_node/votable/document.py).
_BAD_STATUS = (b'value="ERROR"', b'value="OVERFLOW"')
# Every query selects all of corot.products (access_url included: since migration 0004 the
# view computes the node's base URL once per query, not once per row).
DEFAULT_COLUMNS = "*"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


# -- the data ---------------------------------------------------------------------------------


def _load(db: NodeDatabase, rows: int, series: Sequence[Series] = SERIES) -> None:
    """``rows`` products over ``ceil(rows / len(series))`` stars, uniform on the sphere: one
    product of each of ``series`` per star.

    Written as the cluster's superuser with ``session_replication_role = replica``, which
    skips the foreign-key checks and the per-row triggers (``latest``, ``released_on``: the
    latter is written here, the run's date), into
    tables truncated in the same transaction (no WAL with ``wal_level = minimal``), with the
    indexes other than primary keys built after the rows are in: row by row, these cost
    over a minute for a million rows. The result is what ingest would leave: every product
    is the only version of its series, so ``latest`` keeps its default (true), and every
    reference holds by construction.
    """
    stars = math.ceil(rows / len(series))
    runs = {s.run: s.release_date for s in series}  # a run's date is the same in each series
    with db.cluster.connect(SUPERUSER, db.dbname, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute("SET maintenance_work_mem = '256MB'")
        conn.execute(
            "INSERT INTO archive.collections (collection_id, mission, title)"
            " VALUES ('corot-exo', 'CoRoT', 'CoRoT exoplanet channel (synthetic)')"
        )
        for i, (code, release_date) in enumerate(runs.items()):
            conn.execute(
                "INSERT INTO archive.runs (mission, code, eye, kind, start_time, end_time,"
                " pointing, release_date) VALUES ('CoRoT', %s, 'anticenter', 'long',"
                " %s::timestamptz, %s::timestamptz + interval '150 days',"
                " spoint(radians(102.5), radians(-0.5)), %s)",
                (code, f"{2007 + i}-10-15", f"{2007 + i}-10-15", release_date),
            )
        # Every index but the primary keys, as DDL to drop it and to build it again.
        indexes = conn.execute(
            "SELECT CASE WHEN c.conname IS NULL"
            "            THEN format('DROP INDEX %s', i.indexrelid::regclass)"
            "            ELSE format('ALTER TABLE %s DROP CONSTRAINT %I', i.indrelid::regclass,"
            "                        c.conname) END,"
            "       CASE WHEN c.conname IS NULL THEN pg_get_indexdef(i.indexrelid)"
            "            ELSE format('ALTER TABLE %s ADD CONSTRAINT %I %s', i.indrelid::regclass,"
            "                        c.conname, pg_get_constraintdef(c.oid)) END"
            "  FROM pg_index i LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid"
            " WHERE i.indrelid IN ('archive.products'::regclass, 'archive.stars'::regclass)"
            "   AND NOT i.indisprimary"
        ).fetchall()
        with conn.transaction():
            # Empty tables all (copies and features refer to products): new files, no WAL.
            conn.execute(
                "TRUNCATE archive.feature_frequencies, archive.features,"
                " archive.product_copies, archive.products, archive.stars"
            )
            for drop, _ in indexes:
                conn.execute(drop)
            conn.execute("SELECT setseed(0.42)")  # the same sky every run
            # dec = asin(2u - 1): uniform in area, so the density is known everywhere.
            conn.execute(
                "INSERT INTO archive.stars (mission, source_id, name, pos, ra, dec, mag_b,"
                " mag_v, mag_r, mag_i, spectral_type, lum_class, teff, contamination)"
                " SELECT 'CoRoT', id, 'CoRoT ' || id, spoint(radians(ra), radians(dec)), ra,"
                "        dec, v + 0.6, v, v - 0.4, v - 0.7, 'G2', 'V', 5800, 0.02"
                "   FROM (SELECT 100000000 + g AS id, 360 * random() AS ra,"
                "                degrees(asin(2 * random() - 1)) AS dec,"
                "                (11 + 5 * random())::real AS v"
                "           FROM generate_series(1, %s) g) x",
                (stars,),
            )
            # Per-run values computed once, per-row ones as cheaply as will look real: this
            # statement is most of the set-up time.
            conn.execute(
                "INSERT INTO archive.products (collection_id, run_id, star_id, level,"
                " product_type, series, version, version_rank, layout, file_name, archive_path,"
                " t_min, t_max, time_scale, time_refpos, n_points, n_good, sampling, bands, ccd,"
                " window_id, file_size, sha256, access_group, released_on)"
                " SELECT 'corot-exo', r.run_id, s.star_id, r.level, r.type, r.type,"
                "        r.level || '-4.4', '{4,4}', 'v4-exo', f.name, r.dir || f.name, r.t0,"
                "        r.t0 + 150, 'TT', 'BARYCENTER', 25000, 24300, '{32,512}',"
                "        '{red,green,blue}', 'E1', 1, 1209600, repeat(md5(f.name), 2),"
                "        CASE r.level WHEN 'N1' THEN 'n1-community' ELSE 'coi' END,"
                "        r.release_date"
                "   FROM archive.stars s"
                "  CROSS JOIN (SELECT run_id, code, v.level, 'E' || v.level || '_STAR_CHR' AS type,"
                "                     'corot/' || v.level || '-4.4/' || code || '/' AS dir,"
                "                     (extract(epoch FROM start_time) / 86400 + 40587)::float8"
                "                     AS t0, release_date"
                "                FROM unnest(%s::text[], %s::text[]) WITH ORDINALITY"
                "                     v(code, level, n)"
                "                JOIN archive.runs USING (code) ORDER BY v.n) r,"
                "        LATERAL (SELECT r.type || '_' || lpad(s.source_id::text, 10, '0')"
                "                        || '_' || r.code || '.fits' AS name) f"
                "  LIMIT %s",
                ([s.run for s in series], [s.level for s in series], rows),
            )
            for _, create in indexes:
                conn.execute(create)
        # Hint bits set and statistics fresh: the first measured scan must not write pages.
        conn.execute("VACUUM (ANALYZE) archive.stars, archive.products, archive.runs")


def _cone_radius(db: NodeDatabase, wanted: int, rows: int) -> tuple[float, int]:
    """A radius (degrees) around CENTRE holding about ``wanted`` products, and how many.

    Products come in groups of len(RUNS) at one position, so the radius is put halfway
    between the ``wanted``-th product's distance and the next larger one.
    """
    # Expected radius for a uniform sky: a cap of area fraction wanted/rows.
    guess = math.degrees(math.acos(1 - 2 * wanted / rows))
    with db.admin() as conn:
        search = 2 * guess
        while True:
            found = [
                r[0]
                for r in conn.execute(
                    "SELECT degrees(s.pos <-> spoint(radians(%s), radians(%s)))"
                    "  FROM archive.products p JOIN archive.stars s USING (star_id)"
                    " WHERE s.pos <@ scircle(spoint(radians(%s), radians(%s)), radians(%s))"
                    " ORDER BY 1",
                    (*CENTRE, *CENTRE, search),
                ).fetchall()
            ]
            if len(found) > wanted or search >= 180:
                break
            search *= 2
    if len(found) <= wanted:
        return search, len(found)
    inside = found[wanted - 1]
    beyond = next((d for d in found[wanted:] if d > inside), inside + 1e-6)
    return (inside + beyond) / 2, sum(1 for d in found if d <= inside)


# -- the server -------------------------------------------------------------------------------


@contextmanager
def _node(prefix: str, workers: int, threads: int) -> Iterator[tuple[Settings, NodeDatabase, Path]]:
    """A migrated throwaway cluster in a new directory, and the settings to serve it with
    (free ports); yields them and the directory, then stops the cluster and removes it all."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    work.chmod(0o755)  # the cluster's account must reach its data directory (when root)
    db = None
    try:
        var = work / "var"
        settings = Settings(
            var_dir=var,
            pg_data=var / "pg" / "data",
            pg_socket_dir=var / "pg" / "run",
            pg_port=_free_port(),
            database="vo_node_bench",
            storage_roots=(work / "storage" / "a", work / "storage" / "b"),
            port=_free_port(),
            workers=workers,
            threads=threads,
            fsync=False,
        )
        for root in settings.roots:
            root.mkdir(parents=True)
        db = NodeDatabase.from_settings(settings, extra_conf=_FAST)
        _timed("cluster created", lambda: db.ensure(settings.published_config()))
        yield settings, db, work
    finally:
        if db is not None:
            db.cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


def node_env(settings: Settings, db: NodeDatabase) -> dict[str, str]:
    """The environment of a ``vo-node`` command (serve, ingest...) on this throwaway node."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VO_NODE_")}
    env.update(
        VO_NODE_VAR_DIR=str(settings.var_dir),
        VO_NODE_PG_DATA=str(db.cluster.data_dir),
        VO_NODE_PG_SOCKET_DIR=str(db.cluster.socket_dir),
        VO_NODE_PG_PORT=str(settings.pg_port),
        VO_NODE_PG_OS_USER=settings.pg_os_user,
        **({"VO_NODE_PG_BIN": str(settings.pg_bin)} if settings.pg_bin else {}),
        VO_NODE_DATABASE=settings.database,
        VO_NODE_STORAGE_ROOTS=",".join(str(r) for r in settings.roots),
        VO_NODE_FSYNC="false",
    )
    return env


@contextmanager
def _served(settings: Settings, db: NodeDatabase, log: Path) -> Iterator[str]:
    """``vo-node serve`` on 127.0.0.1 with the production gunicorn configuration; yields its
    base URL. No async worker: only sync queries are measured."""
    env = node_env(settings, db)
    env.update(
        VO_NODE_HOST="127.0.0.1",
        VO_NODE_PORT=str(settings.port),
        VO_NODE_WORKERS=str(settings.workers),
        VO_NODE_THREADS=str(settings.threads),
    )
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "vo_node", "serve"],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            base = f"http://127.0.0.1:{settings.port}"
            deadline = time.monotonic() + 60
            with _session() as session:
                while True:
                    try:
                        health = session.get(base + "/health", timeout=10)
                        if health.ok:
                            break
                        last = f"/health answered {health.status_code}: {health.text[:300]}"
                    except requests.RequestException as exc:  # not listening yet, or booting
                        last = str(exc)
                    if proc.poll() is not None or time.monotonic() > deadline:
                        sys.exit(f"the server did not start ({last}):\n{log.read_text()[-3000:]}")
                    time.sleep(0.2)
            yield base
        finally:
            proc.terminate()  # gunicorn: graceful stop of its workers
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # no proxy from the environment: everything stays on 127.0.0.1
    return session


def _params(adql: str, maxrec: int | None = None) -> dict[str, str]:
    params = {"LANG": "ADQL", "QUERY": adql, "RESPONSEFORMAT": "votable"}
    if maxrec is not None:
        params["MAXREC"] = str(maxrec)
    return params


def _get(session: requests.Session, url: str, params: dict[str, str]) -> bytes:
    """One sync query, the whole body read; raises unless it is a complete OK result."""
    response = session.get(url, params=params, timeout=120)
    body = response.content
    if response.status_code != 200 or any(s in body[-4096:] for s in _BAD_STATUS):
        raise RuntimeError(f"HTTP {response.status_code}: {body[-500:]!r}")
    return body


# -- the measures -----------------------------------------------------------------------------


def _cone(
    session: requests.Session, url: str, adql: str, conn: psycopg.Connection, query: str, n: int
) -> tuple[list[float], list[float], int, bytes]:
    """Interleaved service/psycopg timings; also the row count psycopg saw and the last body."""
    service: list[float] = []
    direct: list[float] = []
    params = _params(adql)
    body, rows = b"", 0
    for i in range(n + 10):  # the first 10 of each warm pools, caches and plans
        start = time.perf_counter()
        body = _get(session, url, params)
        elapsed_service = time.perf_counter() - start
        start = time.perf_counter()
        rows = len(conn.execute(query).fetchall())
        elapsed_direct = time.perf_counter() - start
        if i >= 10:
            service.append(elapsed_service)
            direct.append(elapsed_direct)
    return service, direct, rows, body


def _timed_get(session: requests.Session, url: str) -> float:
    start = time.perf_counter()
    _get(session, url, {})
    return time.perf_counter() - start


def _stream_service(session: requests.Session, url: str, adql: str, maxrec: int) -> int:
    """Bytes of the whole result document, read as it streams."""
    total = 0
    tail = b""
    with session.get(url, params=_params(adql, maxrec), stream=True, timeout=600) as response:
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}: {response.text[:500]}")
        for chunk in response.iter_content(chunk_size=1 << 20):
            total += len(chunk)
            tail = (tail + chunk)[-4096:]
    if any(s in tail for s in _BAD_STATUS):
        raise RuntimeError(f"the result did not end OK: {tail[-500:]!r}")
    return total


def _copy(conn: psycopg.Connection, query: str) -> int:
    total = 0
    with conn.cursor() as cur, cur.copy(f"COPY ({query}) TO STDOUT (FORMAT binary)") as copy:
        for data in copy:
            total += len(data)
    return total


@dataclass
class _Load:
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _concurrent(url: str, adql: str, clients: int, duration: float) -> tuple[_Load, float]:
    """``clients`` threads, each with its own keep-alive session, for ``duration`` s."""
    params = _params(adql)
    stop = threading.Event()
    loads = [_Load() for _ in range(clients)]

    def client(load: _Load) -> None:
        with _session() as session:
            while not stop.is_set():
                start = time.perf_counter()
                try:
                    _get(session, url, params)
                except Exception as exc:  # counted and shown, never fatal to the run
                    load.errors.append(f"{type(exc).__name__}: {exc}"[:300])
                    continue
                load.latencies.append(time.perf_counter() - start)

    threads = [threading.Thread(target=client, args=(load,), daemon=True) for load in loads]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    try:
        stop.wait(duration)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=150)
    elapsed = time.perf_counter() - start
    merged = _Load(
        [x for load in loads for x in load.latencies], [e for load in loads for e in load.errors]
    )
    return merged, elapsed


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def _timed(step: str, action: Callable[[], Any]) -> Any:
    start = time.perf_counter()
    result = action()
    print(f"{step} in {time.perf_counter() - start:.1f} s", flush=True)
    return result


def _interrupt(signum: int, frame: FrameType | None) -> None:
    # SIGTERM ends the run like Ctrl-C does: through the finally blocks that clean up.
    raise KeyboardInterrupt


def main() -> None:
    # The production defaults of the settings, not whatever this shell's VO_NODE_* says.
    defaults = Settings.model_fields
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="products in the table")
    parser.add_argument("--cone-rows", type=int, default=100, help="rows the cone should hold")
    parser.add_argument(
        "--columns",
        default=DEFAULT_COLUMNS,
        help="ADQL select list of every query (default: every column)",
    )
    parser.add_argument("--repeat", type=int, default=200, help="cone queries timed, each way")
    parser.add_argument("--rounds", type=int, default=2, help="full-table runs; best kept")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients in (c)")
    parser.add_argument("--duration", type=float, default=30, help="seconds of (c)")
    parser.add_argument(
        "--workers", type=int, default=defaults["workers"].default, help="gunicorn workers"
    )
    parser.add_argument(
        "--threads", type=int, default=defaults["threads"].default, help="threads each"
    )
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _interrupt)

    began = time.perf_counter()
    with _node("vo-node-bench-tap-", args.workers, args.threads) as (settings, db, work):
        _timed(f"{args.rows:,} products written", lambda: _load(db, args.rows))
        radius, cone_rows = _cone_radius(db, args.cone_rows, args.rows)

        cone_adql = (
            f"SELECT {args.columns} FROM corot.products "
            f"WHERE DISTANCE(pos, POINT('ICRS', {CENTRE[0]}, {CENTRE[1]})) < {radius!r}"
        )
        all_adql = f"SELECT {args.columns} FROM corot.products"
        cone_sql = translate(cone_adql, METADATA).sql
        all_sql = translate(all_adql, METADATA).sql
        print(f"cone: {cone_adql}\n  -> {cone_rows} rows expected")

        with (
            _served(settings, db, work / "serve.log") as base,
            _session() as session,
            psycopg.connect(db.query_conninfo(), autocommit=True) as conn,
        ):
            url = base + "/tap/sync"
            print(
                f"serving on {base} (gunicorn gthread, {settings.workers} workers x "
                f"{settings.threads} threads); direct SQL as role {QUERY_ROLE}, psycopg "
                f"{psycopg.__version__}, one connection, autocommit"
            )

            # (a)
            service, direct, rows, body = _timed(
                f"(a) {args.repeat} cone queries each way",
                lambda: _cone(session, url, cone_adql, conn, cone_sql, args.repeat),
            )
            served_rows = len(parse_single_table(io.BytesIO(body)).array)
            if rows != cone_rows or served_rows != cone_rows:
                sys.exit(
                    f"the cone returned {served_rows} rows (service), {rows} (psycopg), "
                    f"not the {cone_rows} expected"
                )
            a_service, a_direct = statistics.median(service), statistics.median(direct)
            # What an answer costs over HTTP here without the database (the same client and
            # server, a small generated document): the floor under (a)'s service time.
            floor = statistics.median(
                _timed_get(session, base + "/tap/capabilities") for _ in range(args.repeat)
            )

            # The anonymous caller sees the whole table (RELEASED), through either path.
            counted = conn.execute(f"SELECT count(*) FROM ({all_sql}) q").fetchone()
            count_body = _get(session, url, _params("SELECT COUNT(*) FROM corot.products"))
            served_count = int(parse_single_table(io.BytesIO(count_body)).array[0][0])
            if counted is None or counted[0] != args.rows or served_count != args.rows:
                sys.exit(
                    f"the table shows {served_count} rows (service), "
                    f"{counted[0] if counted else None} (psycopg), not {args.rows:,}"
                )

            # (b) interleaved, the order alternating: neither side always gets the warm turn.
            stream_runs: list[float] = []
            copy_runs: list[float] = []
            doc_bytes = copy_bytes = 0
            b_start = time.perf_counter()
            for attempt in range(args.rounds):
                for side in ("service", "copy") if attempt % 2 == 0 else ("copy", "service"):
                    start = time.perf_counter()
                    if side == "service":
                        doc_bytes = _stream_service(session, url, all_adql, args.rows)
                        stream_runs.append(time.perf_counter() - start)
                    else:
                        copy_bytes = _copy(conn, all_sql)
                        copy_runs.append(time.perf_counter() - start)
            b_took = time.perf_counter() - b_start
            print(f"(b) {args.rounds} full-table runs each way in {b_took:.1f} s")
            stream_s, copy_s = min(stream_runs), min(copy_runs)

            # (c)
            load, elapsed = _timed(
                f"(c) {args.clients} clients for {args.duration:g} s",
                lambda: _concurrent(url, cone_adql, args.clients, args.duration),
            )

        n = args.rows
        print()
        print(
            f"(a) cone of {rows} rows ({len(body) / 1e3:.1f} kB BINARY2), median of {args.repeat}: "
            f"service {_ms(a_service)} (p90 {_ms(_quantile(service, 0.9))}), "
            f"psycopg {_ms(a_direct)} (p90 {_ms(_quantile(direct, 0.9))})"
        )
        print(f"    ratio service/psycopg: {a_service / a_direct:.2f}x (target <= 3)")
        print(f"    HTTP alone, at least: {_ms(floor)} (GET /tap/capabilities, no database)")
        print(
            f"(b) {n:,} rows, best of {args.rounds}: service BINARY2 {stream_s:.2f} s "
            f"{n / stream_s:,.0f} rows/s ({doc_bytes / 1e6:.0f} MB), "
            f"COPY binary {copy_s:.2f} s {n / copy_s:,.0f} rows/s ({copy_bytes / 1e6:.0f} MB)"
        )
        print(
            f"    runs: service {', '.join(f'{s:.2f} s' for s in stream_runs)}; "
            f"COPY {', '.join(f'{s:.2f} s' for s in copy_runs)}"
        )
        print(f"    ratio service/COPY rows/s: {copy_s / stream_s:.2f} (target >= 0.4)")
        ok = load.latencies
        print(
            f"(c) {args.clients} clients, {elapsed:.1f} s: {len(ok) / elapsed:.1f} requests/s, "
            f"p50 {_ms(_quantile(ok, 0.5)) if ok else '-'}, "
            f"p99 {_ms(_quantile(ok, 0.99)) if ok else '-'}, {len(ok)} ok, "
            f"errors {len(load.errors)} (must be 0)"
        )
        for error in sorted(set(load.errors))[:5]:
            print(f"    error: {error}")
        print(f"total run time {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # everything is cleaned up by now; no traceback for that
        sys.exit("interrupted")
