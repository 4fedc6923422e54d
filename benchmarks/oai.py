"""The OAI-PMH publishing registry against the database underneath it, in the same run.

A throwaway node gets ``--products`` synthetic products (benchmarks/tap.py's loader) and is
served by the real ``vo-node serve`` (gunicorn, production worker and thread counts, the
production page size). Its first OAI-PMH request generates the node's own records; then
``--records`` records in all are put in the record store, copies of the node's own records
(a mix of service, collection, authority, organisation and registry records, 1-40 kB each)
under new identifiers, as if a large node published them. Then:

1. A full harvest: ListRecords with ``metadataPrefix=ivo_vor``, following every resumption
   token (``--page`` records a response), each response read whole; records per second,
   best of ``--rounds``. Against it, reading the same rows from the database with psycopg
   as the service role, (a) in one query and (b) in the same pages the service reads
   (keyset pagination by identifier), best of ``--rounds``. The ratio harvest / (b) is what
   the protocol (XML, HTTP, a token per page) costs over the bare reads.
2. The same harvest in ``oai_dc`` (each record converted), and ListIdentifiers.
3. sickle, the harvesting client of the tests, over the same ivo_vor harvest: what a Python
   harvester sees (it parses every record).

Every harvest must deliver every identifier once: the run ends with an error otherwise.
Ratios are printed, never asserted: the machine's load decides timings.

    python benchmarks/oai.py [--records 10000] [--products 20000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import re
import signal
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import requests
from sickle import Sickle

# The benchmark next to this one: its cluster, loader, server and helpers (it also puts the
# checkout on sys.path).
from tap import _interrupt, _load, _node, _served, _session, _timed

from vo_node.settings import Settings

_TOKEN = re.compile(rb"<oai:resumptionToken[^>]*>([^<]+)</oai:resumptionToken>")
_IDENTIFIER = re.compile(rb"<oai:identifier>([^<]+)</oai:identifier>")


def _harvest(session: requests.Session, url: str, verb: str, prefix: str) -> tuple[int, int]:
    """One whole harvest: (identifiers, bytes); every identifier must come once."""
    params = {"verb": verb, "metadataPrefix": prefix}
    seen: set[bytes] = set()
    size = 0
    while True:
        resp = session.get(url, params=params, timeout=120)
        resp.raise_for_status()
        body = resp.content
        size += len(body)
        if b"<oai:error" in body:
            sys.exit(f"{verb} answered an error: {body[:500]!r}")
        found = _IDENTIFIER.findall(body)
        if seen.intersection(found):
            sys.exit(f"{verb} delivered an identifier twice")
        seen.update(found)
        token = _TOKEN.search(body)
        if token is None:
            return len(seen), size
        params = {"verb": verb, "resumptionToken": token.group(1).decode()}


def _read_whole(conninfo: str) -> int:
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(
            "SELECT ivoid, resource_xml, updated, deleted FROM registry.records ORDER BY ivoid"
        ).fetchall()
    return len(rows)


def _read_pages(conninfo: str, page: int) -> int:
    """The rows as the service reads them: a page at a time after the last identifier."""
    total, after = 0, ""
    with psycopg.connect(conninfo) as conn:
        while True:
            rows = conn.execute(
                "SELECT ivoid, resource_xml, updated, deleted FROM registry.records"
                " WHERE ivoid > %s ORDER BY ivoid LIMIT %s",
                (after, page + 1),
            ).fetchall()
            total += min(len(rows), page)
            if len(rows) <= page:
                return total
            after = rows[page - 1][0]


def _best(rounds: int, action: Callable[[], object]) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(rounds):
        start = time.perf_counter()
        result = action()
        best = min(best, time.perf_counter() - start)
    return best, result


def _fill(conninfo: str, wanted: int) -> tuple[int, int]:
    """Copies of the stored records under new identifiers, up to ``wanted`` records in all;
    returns (records, bytes of XML)."""
    with psycopg.connect(conninfo) as conn:
        own = conn.execute("SELECT ivoid, resource_xml, dc_xml FROM registry.records").fetchall()
        if not own:
            sys.exit("the node generated no records")
        now = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=2)

        def copies() -> Iterator[tuple[object, ...]]:
            for i in range(wanted - len(own)):
                ivoid, xml, dc = own[i % len(own)]
                new = f"{ivoid}/copy{i:06d}"
                for tag in ("identifier", "dc:identifier"):
                    old, renamed = f"<{tag}>{ivoid}</{tag}>", f"<{tag}>{new}</{tag}>"
                    xml, dc = xml.replace(old, renamed), dc.replace(old, renamed)
                yield (new, xml, dc, f"{i:064x}", now - timedelta(days=1), now)

        with (
            conn.cursor() as cur,
            cur.copy(
                "COPY registry.records (ivoid, resource_xml, dc_xml, digest, created, updated)"
                " FROM STDIN"
            ) as copy,
        ):
            for row in copies():
                copy.write_row(row)
        row = conn.execute(
            "SELECT count(*), sum(octet_length(resource_xml)) FROM registry.records"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def main() -> None:
    defaults = Settings.model_fields
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000, help="records in the registry")
    parser.add_argument("--products", type=int, default=20_000, help="synthetic products")
    parser.add_argument("--rounds", type=int, default=3, help="harvests timed, each way")
    parser.add_argument(
        "--workers", type=int, default=defaults["workers"].default, help="gunicorn workers"
    )
    parser.add_argument(
        "--threads", type=int, default=defaults["threads"].default, help="threads each"
    )
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _interrupt)
    page = defaults["oai_page_size"].default

    began = time.perf_counter()
    out: list[str] = []
    with _node("vo-node-bench-oai-", args.workers, args.threads) as (settings, db, work):
        _timed(f"{args.products:,} synthetic products written", lambda: _load(db, args.products))
        with _served(settings, db, work / "serve.log") as base, _session() as session:
            url = f"{base}/oai"
            # The node's own records, generated by its first request.
            _timed("records generated", lambda: session.get(url, params={"verb": "Identify"}))
            conninfo = db.service_conninfo()
            records, size = _timed("record store filled", lambda: _fill(conninfo, args.records))
            print(
                f"serving on {base} ({settings.workers} workers x {settings.threads} threads); "
                f"{records:,} records, {size / 1e6:.1f} MB of XML, {page} a page"
            )
            harvests = {}
            for verb, prefix in (
                ("ListRecords", "ivo_vor"),
                ("ListRecords", "oai_dc"),
                ("ListIdentifiers", "ivo_vor"),
            ):
                seconds, (count, body) = _best(  # type: ignore[misc]
                    args.rounds, lambda v=verb, p=prefix: _harvest(session, url, v, p)
                )
                if count != records:
                    sys.exit(f"{verb} {prefix} delivered {count:,} of {records:,} records")
                harvests[(verb, prefix)] = seconds
                out.append(
                    f"{verb} {prefix}: {seconds:.2f} s, {records / seconds:,.0f} records/s, "
                    f"{body / seconds / 1e6:.0f} MB/s"
                )
            whole, counted = _best(args.rounds, lambda: _read_whole(conninfo))
            paged, counted_pages = _best(args.rounds, lambda: _read_pages(conninfo, page))
            if counted != records or counted_pages != records:
                sys.exit("the direct reads did not see every record")
            out.append(
                f"database, one query: {whole:.3f} s, {records / whole:,.0f} records/s; "
                f"in pages of {page}: {paged:.3f} s, {records / paged:,.0f} records/s"
            )
            harvest = harvests[("ListRecords", "ivo_vor")]
            out.append(
                f"ratio full ivo_vor harvest / paged database read: {harvest / paged:.1f} "
                f"(/ one query: {harvest / whole:.1f})"
            )

            def sickle_harvest() -> int:
                return sum(1 for _ in Sickle(url).ListRecords(metadataPrefix="ivo_vor"))

            seconds, count = _best(1, sickle_harvest)
            if count != records:
                sys.exit(f"sickle harvested {count} of {records} records")
            out.append(
                f"sickle ivo_vor harvest: {seconds:.2f} s, {records / seconds:,.0f} records/s"
            )
    print("\n".join(out))
    print(f"whole run {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
