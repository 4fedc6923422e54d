"""Light-curve services against what they cannot beat, measured in the same run.

One throwaway node holds ``--rows`` synthetic products (benchmarks/tap.py's loader: metadata
only, no files), then a generated sample delivery (the test suite's ``sample_dir`` spec:
real FITS files, every layout) and one big light curve, both put in with ``vo-node ingest``
as an operator would. The real ``vo-node serve`` (gunicorn, production worker and thread
counts) serves it on 127.0.0.1. Four comparisons, each printed as medians and a ratio:

1. SSA cone. Median latency of ``GET /ssa?REQUEST=queryData&POS=..&SIZE=..`` (a cone of about
   ``--cone-rows`` synthetic products, whole VOTable read) over the median of the same SQL
   (``ssa.query.build`` of the same request as ``SsaQuery.parse`` reads it: statement and
   parameters) run with psycopg as ``vo_query``, opened as the runner opens a transaction (the
   anonymous caller's ticket, ``BEGIN READ ONLY`` and its ``SET LOCAL``s, in one message),
   every row fetched with a binary cursor; interleaved, on one open connection. The row count
   must be equal on both sides. Target: ratio <= 3. Measured before the sample is ingested:
   the sample's stars lie in the cone's CoRoT eye and would change its rows.
2. DataLink {links}. One ``POST /datalink/links`` with ``--ids`` DIDs of public sample
   products (median) against one call per DID (the sum of a round), and the cost per
   identifier. A {links} response lists each product's cut-out columns, read from the FITS
   header of its stored file (once per worker process, then cached): the products must have
   real files. Every identifier must get its expected rows (its own links, one per other
   version, the documentation; no fault row) both ways, and every cut-out descriptor its
   COLUMN choices. The first, cold call (no header cached yet in that worker; the files in
   the page cache) is shown apart. No target: the ratio says what batching saves.
3. SODA cut-out of a one-day window (2,700 points at 32 s) from a 150-day light curve at 32 s
   (``--big-rows`` rows, v4 exo layout). The file is made from the sample's first v4
   ``EN2_STAR_CHR`` file: the same primary header (but another COROTID, FILENAME and EXPTIME:
   a new star of the same run), the same tables and columns, its rows repeated to the length
   asked for and its times continued at 32 s from its first point; BARFILL and SYSTEMATIC are
   as long as BAR, as in a 32 s file (so the file is ~47 MB, its BAR table ~29 MB). It is
   ingested with ``vo-node ingest`` as a real product. Against the whole light curve:
   (a) in-process, ``read_lightcurve`` without and with the window, and ``fits_cutout`` of
       the whole table against ``fits_cutout`` of the window;
   (b) over HTTP, ``GET /products/<id>.vot`` (the whole light curve as a VOTable) against
       ``GET /datalink/soda?ID=..&TIME=t t+1`` (FITS, the default, and
       ``RESPONSEFORMAT=votable``). Target: the cut-out at least 10x faster than the whole.
   Every way of cutting must give the same points, within 2 of 2,700.
4. Download. ``GET /products/<id>.fits`` of the big file in MB/s, read with http.client into
   one 1 MB buffer (what server and loopback deliver) and with requests, streamed (what a
   Python client sees), against reading the same stored file from disk with the page cache
   warm: ``open().read()``, and in 1 MB pieces into one buffer (no allocation of the whole
   file per read, as the download itself reads). No target: the ratio says what serving a
   file through the node costs.

Ratios are printed, never asserted: the machine's load decides timings, the ratios compare
like with like on the same machine at the same time. Checks (row counts, fault rows) end the
run with an error when they fail.

Defaults take about two minutes on two cores, most of it writing the synthetic products.

    python benchmarks/lightcurves.py [--rows 1000000] [--big-rows 405000] [--repeat 100]
"""

from __future__ import annotations

import argparse
import io
import re
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import requests
from astropy.io import fits
from astropy.io.votable import parse, parse_single_table
from interleaved import interleaved, median, ms
from lightcurve_downloads import measure_download
from lightcurve_files import CADENCE_S, big_file, ingest, v4_chr_file
from psycopg import sql

# The benchmark next to this one: its cluster, data, server and HTTP helpers (it also puts
# the checkout on sys.path).
from tap import (
    CENTRE,
    _cone_radius,
    _get,
    _interrupt,
    _load,
    _node,
    _served,
    _session,
    _timed,
)

from ingest.sample import SampleSpec, generate
from ssa.params import SsaQuery
from ssa.query import build
from vo_node.auth.tickets import ANONYMOUS
from vo_node.datalink.soda import CutoutRequest, fits_cutout
from vo_node.db.cluster import QUERY_ROLE
from vo_node.db.node import NodeDatabase
from vo_node.db.policy import ProductFile, visible_file
from vo_node.http.params import DaliParams
from vo_node.products.lightcurve import read_lightcurve
from vo_node.query import _opening  # the runner's own opening statements
from vo_node.settings import Settings
from vo_node.storage import MirroredStore

# The test suite's sample (tests/conftest.py, sample_dir): every layout, version and oddity.
SAMPLE = {"stars": 120, "runs": 3, "seed": 7, "days": 6.0, "n1_fraction": 0.3}
BIG_COROTID = 990000001  # the big light curve's star: a CoRoT ID neither data set uses
TIMEOUT_S = 600.0  # the statement timeout of the direct transactions: never reached here
_NROWS = re.compile(rb'<TABLE[^>]*\snrows="(\d+)"')


# -- 1. SSA -----------------------------------------------------------------------------------


class Direct:
    """The anonymous caller's transactions on ``vo_query``, opened as the runner opens them
    (vo_node/query.py), on one connection; rows read with a binary cursor, as it reads them."""

    def __init__(self, db: NodeDatabase) -> None:
        self.conn = psycopg.connect(db.query_conninfo(), autocommit=True)
        self.opening = sql.SQL("; ").join(_opening(TIMEOUT_S, ANONYMOUS, writable=False))

    def rows(self, statement: sql.Composed, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        self.conn.execute(self.opening)  # one message, as the runner sends it
        try:
            with self.conn.cursor(binary=True) as cur:
                cur.execute(statement, params)
                return cur.fetchall()
        finally:
            self.conn.execute("ROLLBACK")


def _measure_ssa(
    session: requests.Session,
    base: str,
    settings: Settings,
    db: NodeDatabase,
    radius: float,
    expected: int,
    repeat: int,
) -> list[str]:
    """1: interleaved SSA/psycopg timings of the cone."""
    params = {
        "REQUEST": "queryData",
        "POS": f"{CENTRE[0]!r},{CENTRE[1]!r}",
        "SIZE": repr(2 * radius),  # a diameter (SSA 1.1, 8.4.1.2)
    }
    # The request as the service reads it, and the very SQL it runs for it.
    query = SsaQuery.parse(DaliParams(params.items()), settings)
    built = build(
        query, settings.published_config()["did_base"], settings.node_title, settings.public_url
    )
    url = base + "/ssa"
    seen: dict[str, Any] = {}
    direct = Direct(db)
    with direct.conn:
        times = interleaved(
            {
                "service": lambda: seen.update(body=_get(session, url, params)),
                "psycopg": lambda: seen.update(
                    rows=len(direct.rows(built.statement, built.params))
                ),
            },
            repeat,
            warmup=10,
        )
    served = len(parse_single_table(io.BytesIO(seen["body"])).array)
    if not served == seen["rows"] == expected:
        sys.exit(
            f"the SSA cone returned {served} rows (service), {seen['rows']} (psycopg), "
            f"not the {expected} expected"
        )
    service, database = median(times["service"]), median(times["psycopg"])
    return [
        f"1. SSA cone of {served} rows (POS={params['POS']}, SIZE={2 * radius:.4f} deg), "
        f"median of {repeat}: service {ms(service)} ({len(seen['body']) / 1e3:.0f} kB "
        f"VOTable), psycopg {ms(database)} (same SQL and parameters, {seen['rows']} rows)",
        f"   ratio service/psycopg: {service / database:.2f} (target <= 3)",
    ]


# -- 2. DataLink {links} ----------------------------------------------------------------------


def _links_ids(admin: psycopg.Connection, ids: int, exclude: int) -> list[tuple[int, int]]:
    """(product_id, expected rows) of ``ids`` public products with stored files.

    Public (released N2/N3): the anonymous caller sees them, and sees no N1 product (no
    ``#progenitor`` row). Expected rows: the five links of the product itself (FITS, VOTable,
    CSV, preview, cut-out), one per other public version of the same series, star and run
    (``#coderived``), and the documentation (vo_node/datalink/links.py)."""
    found = admin.execute(
        "SELECT p.product_id, 6 + (SELECT count(*) FROM archive.products q"
        "   WHERE q.star_id = p.star_id AND q.run_id = p.run_id AND q.level = p.level"
        "     AND q.series = p.series AND q.product_id <> p.product_id"
        "     AND q.level IN ('N2', 'N3') AND q.released_on <= current_date)"
        "  FROM archive.products p"
        " WHERE p.level IN ('N2', 'N3') AND p.released_on <= current_date"
        "   AND p.product_id <> %s"
        "   AND EXISTS (SELECT 1 FROM archive.product_copies c"
        "                WHERE c.product_id = p.product_id AND c.status = 'ok')"
        " ORDER BY p.product_id LIMIT %s",
        (exclude, ids),
    ).fetchall()
    if len(found) < ids:
        sys.exit(f"only {len(found)} public products with files for {ids} IDs")
    return [(int(pid), int(rows)) for pid, rows in found]


def _post_links(session: requests.Session, url: str, dids: Sequence[str]) -> bytes:
    response = session.post(url, data=[("ID", d) for d in dids], timeout=120)
    if response.status_code != 200:
        raise RuntimeError(f"HTTP {response.status_code}: {response.text[:500]}")
    return response.content


def _links_rows(body: bytes) -> tuple[Counter[str], int, int]:
    """Rows per ID, fault rows, and SODA descriptors offering COLUMN choices (read from
    the files' headers) in a {links} response."""
    document = parse(io.BytesIO(body), verify="exception")
    table = document.get_first_table().array
    per_id = Counter(str(x) for x in table["ID"])
    errors = table["error_message"]
    faults = sum(
        1
        for text, masked in zip(errors, np.ma.getmaskarray(errors), strict=True)
        if not masked and str(text).strip()
    )
    with_columns = 0
    resources = list(document.resources)
    while resources:
        resource = resources.pop()
        resources.extend(resource.resources)
        for group in resource.groups:
            for param in group.entries:
                if getattr(param, "name", "") == "COLUMN" and param.values.options:
                    with_columns += 1
    return per_id, faults, with_columns


def _measure_links(
    session: requests.Session, base: str, did_base: str, chosen: list[tuple[int, int]], rounds: int
) -> list[str]:
    """2: one {links} call for every identifier against one call each."""
    url = base + "/datalink/links"
    dids = [f"{did_base}?{pid}" for pid, _ in chosen]
    expected = Counter({f"{did_base}?{pid}": rows for pid, rows in chosen})
    start = time.perf_counter()
    cold_body = _post_links(session, url, dids)
    cold = time.perf_counter() - start
    seen: dict[str, Any] = {}
    times = interleaved(
        {
            "batch": lambda: seen.update(batch=_post_links(session, url, dids)),
            "single": lambda: seen.update(single=[_post_links(session, url, [d]) for d in dids]),
        },
        rounds,
        warmup=2,
    )
    single_rows: Counter[str] = Counter()
    for body in seen["single"]:
        per_id, faults, _ = _links_rows(body)
        single_rows += per_id
        if faults:
            sys.exit(f"a single-ID {{links}} answered with a fault row: {body[:500]!r}")
    for label, body in (("first", cold_body), ("last", seen["batch"])):
        per_id, faults, with_columns = _links_rows(body)
        if per_id != expected or faults or with_columns != len(dids):
            sys.exit(
                f"the {label} {{links}} call: rows per ID {dict(per_id)}, {faults} faults, "
                f"{with_columns} descriptors with COLUMN choices; expected {dict(expected)}"
            )
    if single_rows != expected:
        sys.exit(f"{{links}} one ID at a time: rows {dict(single_rows)}, not {dict(expected)}")
    batch, single = median(times["batch"]), median(times["single"])
    n = len(dids)
    return [
        f"2. DataLink {{links}}, {n} IDs ({sum(expected.values())} rows, "
        f"{min(expected.values())}-{max(expected.values())} per ID, no fault; every descriptor "
        f"lists the file's columns), median of {rounds}: one call {ms(batch)}, {n} calls of "
        f"one ID {ms(single)} in all",
        f"   ratio {n} calls / one call: {single / batch:.1f}; per ID: {ms(batch / n)} in one "
        f"call, {ms(single / n)} alone",
        f"   first call, cold (headers not yet read in that worker): {ms(cold)}",
    ]


# -- 3. SODA cut-out --------------------------------------------------------------------------


def _fetch(session: requests.Session, url: str, params: dict[str, str] | None = None) -> bytes:
    response = session.get(url, params=params, timeout=300)
    if response.status_code != 200:
        raise RuntimeError(f"HTTP {response.status_code}: {response.text[:500]}")
    return response.content


def _fits_rows(body: bytes, hdu: str) -> int:
    with fits.open(io.BytesIO(body)) as hdul:
        return len(hdul[hdu].data)


def _votable_rows(body: bytes) -> int:
    found = _NROWS.search(body[:20000])
    return int(found.group(1)) if found else len(parse_single_table(io.BytesIO(body)).array)


def _measure_cutouts(
    session: requests.Session,
    base: str,
    did: str,
    big: ProductFile,
    stored: Path,
    cut_repeat: int,
    whole_repeat: int,
) -> list[str]:
    """3: one day of the big light curve against all of it, in-process and over HTTP."""
    low = big.t_min + (big.t_max - big.t_min) / 2  # a day in the middle
    window = (low, low + 1.0)
    path, layout = str(stored), big.layout
    whole_request = CutoutRequest(did, big.product_id, None, None, "application/fits")
    cut_request = CutoutRequest(did, big.product_id, window, None, "application/fits")
    soda = base + "/datalink/soda"
    fits_params = {"ID": did, "TIME": f"{window[0]!r} {window[1]!r}"}
    vot_params = {**fits_params, "RESPONSEFORMAT": "votable"}
    seen: dict[str, Any] = {}

    def keep(name: str, action: Callable[[], Any]) -> Callable[[], None]:
        return lambda: seen.update({name: action()})

    reads = _timed(
        "3a. in-process reads of the whole light curve and of one day",
        lambda: interleaved(
            {
                "whole": keep("whole", lambda: len(read_lightcurve(path, layout))),
                "window": keep("window", lambda: len(read_lightcurve(path, layout, window=window))),
            },
            cut_repeat,
            warmup=2,
        ),
    )
    cutouts = _timed(
        "3a. in-process FITS cut-outs of the whole table and of one day",
        lambda: interleaved(
            {
                "fits whole": keep("fits whole", lambda: fits_cutout(path, big, whole_request)),
                "fits window": keep("fits window", lambda: fits_cutout(path, big, cut_request)),
            },
            whole_repeat,
            warmup=1,
        ),
    )
    whole_vot = f"{base}/products/{big.product_id}.vot"
    served = _timed(
        "3b. the whole light curve and cut-outs over HTTP",
        lambda: interleaved(
            {
                "vot whole": keep("vot whole", lambda: _fetch(session, whole_vot)),
                "soda fits": keep("soda fits", lambda: _fetch(session, soda, fits_params)),
                "soda vot": keep("soda vot", lambda: _fetch(session, soda, vot_params)),
            },
            whole_repeat,
            warmup=1,
        ),
    )
    # More cut-outs than whole documents: they are cheap, and noisier.
    more = interleaved(
        {
            "soda fits": lambda: _fetch(session, soda, fits_params),
            "soda vot": lambda: _fetch(session, soda, vot_params),
        },
        cut_repeat,
        warmup=0,
    )
    for name in more:
        served[name] += more[name]

    day_rows = {
        "read_lightcurve": seen["window"],
        "fits_cutout": _fits_rows(seen["fits window"], "BAR"),
        "SODA FITS": _fits_rows(seen["soda fits"], "BAR"),
        "SODA VOTable": _votable_rows(seen["soda vot"]),
    }
    whole_rows = {
        "read_lightcurve": seen["whole"],
        "fits_cutout": _fits_rows(seen["fits whole"], "BAR"),
        "/products/<id>.vot": _votable_rows(seen["vot whole"]),
    }
    per_day = 86400 // CADENCE_S
    if len(set(day_rows.values())) != 1 or abs(day_rows["SODA FITS"] - per_day) > 2:
        sys.exit(f"one day should hold {per_day} points; the cut-outs have {day_rows}")
    if set(whole_rows.values()) != {big.n_points}:
        sys.exit(f"the whole light curve has {big.n_points} points; read: {whole_rows}")
    m = {name: median(v) for name, v in (reads | cutouts | served).items()}
    kb = {name: len(seen[name]) / 1e3 for name in ("fits whole", "fits window", "vot whole")}
    kb |= {name: len(seen[name]) / 1e3 for name in ("soda fits", "soda vot")}
    return [
        f"3. SODA cut-out of one day (MJD {window[0]:.4f} to {window[1]:.4f}: "
        f"{day_rows['SODA FITS']} points, the same in every way of cutting) from a light curve "
        f"of {big.n_points:,} points at {CADENCE_S} s ({big.t_max - big.t_min:.1f} days, "
        f"file {big.file_size / 1e6:.1f} MB), product {big.product_id}",
        f"   (a) in-process, median of {cut_repeat}: read_lightcurve whole {ms(m['whole'])}, "
        f"one day {ms(m['window'])}: ratio {m['whole'] / m['window']:.1f} (target >= 10)",
        f"       fits_cutout, median of {whole_repeat}: whole table {ms(m['fits whole'])} "
        f"({kb['fits whole'] / 1e3:.1f} MB), one day {ms(m['fits window'])} "
        f"({kb['fits window']:.0f} kB): ratio {m['fits whole'] / m['fits window']:.1f}; "
        f"read_lightcurve whole / fits_cutout one day: {m['whole'] / m['fits window']:.1f}",
        f"   (b) HTTP: GET /products/{big.product_id}.vot (whole, {kb['vot whole'] / 1e3:.1f} MB)"
        f", median of {whole_repeat}: {ms(m['vot whole'])}; GET /datalink/soda, median of "
        f"{whole_repeat + cut_repeat}: FITS {ms(m['soda fits'])} ({kb['soda fits']:.0f} kB), "
        f"VOTable {ms(m['soda vot'])} ({kb['soda vot']:.0f} kB)",
        f"       ratio whole VOTable / cut-out: FITS {m['vot whole'] / m['soda fits']:.1f}, "
        f"VOTable {m['vot whole'] / m['soda vot']:.1f} (target >= 10)",
    ]


# -- 4. download ------------------------------------------------------------------------------


# -- the run ----------------------------------------------------------------------------------


def main() -> None:
    # The production defaults of the settings, not whatever this shell's VO_NODE_* says.
    defaults = Settings.model_fields
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="synthetic products")
    parser.add_argument("--cone-rows", type=int, default=300, help="rows the SSA cone holds")
    parser.add_argument("--repeat", type=int, default=100, help="SSA cones timed, each way")
    parser.add_argument("--ids", type=int, default=50, help="identifiers per {links} call")
    parser.add_argument("--links-rounds", type=int, default=10, help="{links} rounds timed")
    parser.add_argument("--big-rows", type=int, default=405_000, help="points of the big file")
    parser.add_argument("--cut-repeat", type=int, default=30, help="cut-outs timed, each way")
    parser.add_argument(
        "--whole-repeat", type=int, default=7, help="whole light curves and downloads timed"
    )
    parser.add_argument(
        "--workers", type=int, default=defaults["workers"].default, help="gunicorn workers"
    )
    parser.add_argument(
        "--threads", type=int, default=defaults["threads"].default, help="threads each"
    )
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _interrupt)

    began = time.perf_counter()
    out: list[str] = []  # the results, printed together at the end
    with _node("vo-node-bench-lightcurves-", args.workers, args.threads) as (settings, db, work):
        _timed(f"{args.rows:,} synthetic products written", lambda: _load(db, args.rows))
        radius, cone_rows = _cone_radius(db, args.cone_rows, args.rows)
        sample = work / "sample"
        _timed(
            "sample generated",
            lambda: generate(SampleSpec(out_dir=sample, **SAMPLE)),  # type: ignore[arg-type]
        )
        source = v4_chr_file(sample)
        big_path = _timed(
            f"big light curve written ({args.big_rows:,} points, from {source.name})",
            lambda: big_file(source, work / "big", args.big_rows, BIG_COROTID),
        )
        did_base = settings.published_config()["did_base"]

        with _served(settings, db, work / "serve.log") as base, _session() as session:
            print(
                f"serving on {base} (gunicorn gthread, {settings.workers} workers x "
                f"{settings.threads} threads); direct SQL as role {QUERY_ROLE}, psycopg "
                f"{psycopg.__version__}"
            )
            # 1, before the sample's stars join those of the cone (the same CoRoT eye).
            out += _timed(
                f"1. {args.repeat} SSA cones each way",
                lambda: _measure_ssa(session, base, settings, db, radius, cone_rows, args.repeat),
            )

            # Real files, through the operator's command.
            for label, path in (("sample", sample), ("big light curve", big_path)):
                summary = _timed(f"{label} ingested", partial(ingest, settings, db, path))
                print(f"   {summary}")
            with db.admin(autocommit=True) as admin:
                found = admin.execute(
                    "SELECT product_id FROM archive.products WHERE file_name = %s",
                    (big_path.name,),
                ).fetchone()
                big = None if found is None else visible_file(admin, int(found[0]))
                if big is None:
                    sys.exit(f"{big_path.name} is not in the archive after its ingest")
                chosen = _links_ids(admin, args.ids, big.product_id)
            stored = MirroredStore.from_roots(settings.roots).readable(
                big.archive_path, big.good_sites
            )
            if stored is None:
                sys.exit(f"no stored copy of {big.archive_path}")

            out += _timed(
                f"2. {args.links_rounds} rounds of {{links}} calls",
                lambda: _measure_links(session, base, did_base, chosen, args.links_rounds),
            )
            out += _measure_cutouts(
                session,
                base,
                f"{did_base}?{big.product_id}",
                big,
                stored,
                args.cut_repeat,
                args.whole_repeat,
            )
            out += measure_download(session, base, big, stored, args.whole_repeat)

    print()
    print("\n".join(out))
    print(f"total run time {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # everything is cleaned up by now; no traceback for that
        sys.exit("interrupted")
