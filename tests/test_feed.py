"""The Atom and RSS 2.0 feeds of new data, over HTTP, against the policy matrix's callers.

What each feed must hold is worked out here from the archive's rows and the callers' rights
(policy_archive, independent of the SQL): the public feed counts each public product once
(in its batch's entry if it was public on the day it was ingested, else in its release's
entry) and no proprietary product; a reader with rights gets every product it may see in its
batches. Every entry's TAP query must return exactly the products the entry counts.
feedparser is the client oracle (no errors, the right format); RFC 4287's and RSS 2.0's
required elements are checked on the documents themselves.
"""

from __future__ import annotations

import io
import re
import shutil
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path

import feedparser
import requests
from astropy.io import fits
from astropy.io.votable import parse_single_table
from conftest import Node
from lxml import etree
from policy_archive import TODAY, Archive, Caller, make_archive

A = "{http://www.w3.org/2005/Atom}"
X = "{http://www.w3.org/1999/xhtml}"
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})\Z")
_ABSOLUTE_IRI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s<>\"{}|\\^`]+\Z")


@dataclass(frozen=True)
class FeedEntry:
    """What a test reads of an Atom entry."""

    key: str  # the id's fragment: 'ingest-3', 'release-LRa01-2024-05-01'
    updated: datetime
    title: str
    counts: dict[tuple[str, str, str], int]  # (run, level, collection) -> products
    tap_url: str


def _atom(body: bytes, self_url: str) -> list[FeedEntry]:
    """Validate an Atom document (feedparser, then RFC 4287's requirements); its entries."""
    parsed = feedparser.parse(body)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    root = etree.fromstring(body)
    assert root.tag == f"{A}feed"
    items = root.findall(f"{A}entry")
    for element in [root, *items]:
        for name in ("id", "title", "updated"):
            assert len(element.findall(f"{A}{name}")) == 1, (name, element.findtext(f"{A}id"))
        assert _RFC3339.match(element.findtext(f"{A}updated") or "")
        assert _ABSOLUTE_IRI.match(element.findtext(f"{A}id") or "")
        alternates = [
            (link.get("type"), link.get("hreflang"))
            for link in element.findall(f"{A}link[@rel='alternate']")
        ]
        assert len(alternates) == len(set(alternates))
    assert root.findtext(f"{A}author/{A}name")
    assert [link.get("href") for link in root.findall(f"{A}link[@rel='self']")] == [self_url]
    assert root.find(f"{A}generator") is not None
    ids = [item.findtext(f"{A}id") for item in items]
    assert len(ids) == len(set(ids))
    newest = max((_when(item.findtext(f"{A}updated")) for item in items), default=None)
    feed_updated = _when(root.findtext(f"{A}updated"))
    assert feed_updated == (newest or datetime(1970, 1, 1, tzinfo=UTC))
    entries = []
    for item in items:
        # Every entry has content or an alternate link (RFC 4287, 4.1.1): this one has both.
        assert item.find(f"{A}content[@type='xhtml']/{X}div") is not None
        cells = [
            [td.text or "" for td in row.findall(f"{X}td")]
            for row in item.iterfind(f"{A}content/{X}div/{X}table/{X}tr")
        ]
        counts = {(r, lv, c): int(n) for r, lv, c, n in (row for row in cells if row)}
        links = {link.get("rel"): link.get("href") for link in item.findall(f"{A}link")}
        entries.append(
            FeedEntry(
                key=str(item.findtext(f"{A}id")).rsplit("#", 1)[1],
                updated=_when(item.findtext(f"{A}updated")),
                title=str(item.findtext(f"{A}title")),
                counts=counts,
                tap_url=str(links["alternate"]),
            )
        )
    assert [e.updated for e in entries] == sorted((e.updated for e in entries), reverse=True)
    return entries


def _rss(body: bytes, atom_entries: list[FeedEntry]) -> None:
    """Validate an RSS 2.0 document (feedparser, then the required elements); it must hold
    the Atom feed's entries, in order, with the same titles and dates."""
    parsed = feedparser.parse(body)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    assert parsed.version == "rss20"
    root = etree.fromstring(body)
    assert root.tag == "rss" and root.get("version") == "2.0"
    (channel,) = root.findall("channel")
    for name in ("title", "link", "description"):
        assert channel.findtext(name), name
    items = channel.findall("item")
    assert len(items) == len(atom_entries)
    for item, entry in zip(items, atom_entries, strict=True):
        assert item.findtext("title") or item.findtext("description")
        assert item.findtext("title") == entry.title
        guid = item.find("guid")
        assert guid is not None and guid.get("isPermaLink") == "false"
        assert str(guid.text).endswith("#" + entry.key)
        assert parsedate_to_datetime(str(item.findtext("pubDate"))) == entry.updated
        assert item.findtext("link") == entry.tap_url


def _when(text: str | None) -> datetime:
    return datetime.fromisoformat(str(text).replace("Z", "+00:00"))


def _get(caller: Caller, url: str, **headers: str) -> requests.Response:
    return caller.session.get(url, headers=headers, timeout=60)


def _expected(
    archive: Archive, caller: Caller, collection: str | None = None
) -> dict[str, set[int]]:
    """Entry key -> the product ids the entry must count for ``caller``, from the rows."""
    rows = archive.node.rows(
        "SELECT p.product_id, p.ingest_id, p.ingested_at, coalesce(p.release_date,"
        " r.release_date), r.code, p.level, p.collection_id, i.finished_at IS NOT NULL"
        " FROM archive.products p JOIN archive.runs r USING (run_id)"
        " JOIN archive.ingest_runs i USING (ingest_id)"
    )
    visible = archive.expected(caller)
    anonymous = caller.scheme == "none"
    wanted: dict[str, set[int]] = {}
    for pid, ingest_id, ingested_at, released, run, level, coll, finished in rows:
        if pid not in visible or not finished or collection not in (None, coll):
            continue
        day = ingested_at.astimezone(UTC).date()  # type: ignore[attr-defined]
        public = level in ("N2", "N3") and released is not None and released <= TODAY  # type: ignore[operator]
        if public and released > day:  # type: ignore[operator]
            wanted.setdefault(f"release-{run}-{released}", set()).add(int(pid))  # type: ignore[call-overload]
            if anonymous:
                continue  # counted once, by its release
        wanted.setdefault(f"ingest-{ingest_id}", set()).add(int(pid))  # type: ignore[call-overload]
    return wanted


def _check(archive: Archive, caller: Caller, collection: str | None = None) -> list[FeedEntry]:
    """One caller's feed (the whole archive or a collection) in both formats, and the TAP
    query of every entry."""
    path = "/feed" + (f"/{collection}" if collection else "")
    atom_url, rss_url = archive.base + path, archive.base + path + ".rss"
    resp = _get(caller, atom_url)
    assert resp.status_code == 200, resp.text[:300]
    assert resp.headers["Content-Type"].startswith("application/atom+xml")
    entries = _atom(resp.content, atom_url)
    if caller.scheme == "none":
        assert resp.headers["Cache-Control"] == "public, max-age=300"
    else:
        assert "private" in resp.headers["Cache-Control"]
    again = _get(caller, atom_url, **{"If-None-Match": resp.headers["ETag"]})
    assert again.status_code == 304 and not again.content
    rss = _get(caller, rss_url)
    assert rss.status_code == 200
    assert rss.headers["Content-Type"].startswith("application/rss+xml")
    _rss(rss.content, entries)

    kinds = {
        int(r[0]): (str(r[1]), str(r[2]), str(r[3]))  # type: ignore[call-overload]
        for r in archive.node.rows(
            "SELECT p.product_id, r.code, p.level, p.collection_id"
            " FROM archive.products p JOIN archive.runs r USING (run_id)"
        )
    }
    found = {}
    for entry in entries:
        tap = _get(caller, entry.tap_url)
        assert tap.status_code == 200, tap.text[:300]
        table = parse_single_table(io.BytesIO(tap.content)).to_table()
        ids = {int(v) for v in table["product_id"]}
        assert len(ids) == len(table) == sum(entry.counts.values()), entry.key
        assert Counter(kinds[i] for i in ids) == entry.counts, entry.key
        if collection:
            assert {c for _, _, c in entry.counts} == {collection}
        found[entry.key] = ids
    assert found == _expected(archive, caller, collection), f"{caller.name} {path}"
    return entries


def _backdate_first_ingest(node: Node, days: int) -> None:
    """Move the ingest (and its products) into the past, so that releases can follow it."""
    with node.db.admin() as conn:
        conn.execute(
            "UPDATE archive.ingest_runs SET started_at = started_at - %s,"
            " finished_at = finished_at - %s",
            (timedelta(days=days), timedelta(days=days)),
        )
        conn.execute(
            "UPDATE archive.products SET ingested_at = ingested_at - %s",
            (timedelta(days=days),),
        )


def test_feeds_hold_what_each_caller_may_see(
    served: tuple[Node, str], sample_dir: Path, tmp_path: Path
) -> None:
    node, base = served
    _backdate_first_ingest(node, 30)
    archive = make_archive(served)
    anonymous, admin, n1 = (archive.callers[n] for n in ("anonymous", "admin", "n1"))
    public_run = str(
        node.scalar("SELECT code FROM archive.runs WHERE release_date < current_date - 100")
    )

    # The public feed: the released run in its batch's entry, the product released (by its
    # own date) after the ingest in a release entry, nothing proprietary.
    public = _check(archive, anonymous)
    keys = {e.key for e in public}
    assert len(keys) == 2 and f"release-{archive.gi_run}-{TODAY - timedelta(days=1)}" in keys
    public_total = sum(sum(e.counts.values()) for e in public)
    assert public_total == len(archive.expected(anonymous))
    # Readers with rights: more in the batch's entry, privately.
    for caller in (admin, n1):
        mine = _check(archive, caller)
        assert sum(sum(e.counts.values()) for e in mine) > public_total
    # Per collection: only the collection, and together the whole.
    for caller in (anonymous, admin):
        whole = {e.key: Counter(e.counts) for e in _check(archive, caller)}
        parts: dict[str, Counter[tuple[str, str, str]]] = {}
        for collection in ("corot-exo", "corot-astero"):
            for entry in _check(archive, caller, collection):
                parts.setdefault(entry.key, Counter()).update(entry.counts)
        assert parts == whole
    for path in ("/feed/nope", "/feed/nope.rss"):
        missing = _get(anonymous, base + path)
        assert missing.status_code == 404
        assert missing.headers["Content-Type"].startswith("text/plain")
        assert "nope" in missing.text

    # The run's release date moves into the past: its N2 products make a release entry.
    released = TODAY - timedelta(days=2)
    node.rows(
        "UPDATE archive.runs SET release_date = %s WHERE code = %s RETURNING 1",
        released,
        archive.gi_run,
    )
    after = _check(archive, anonymous)
    release = next(e for e in after if e.key == f"release-{archive.gi_run}-{released}")
    assert {lv for _, lv, _ in release.counts} == {"N2"} and release.title.startswith(
        f"{archive.gi_run}: "
    )
    _check(archive, admin)

    # A second ingest (a new version of three files of the public run): a new entry on top.
    names = [
        str(r[0])
        for r in node.rows(
            "SELECT file_name FROM archive.products JOIN archive.runs USING (run_id)"
            " WHERE code = %s AND level = 'N2' AND version = 'N2-4.4' ORDER BY 1 LIMIT 3",
            public_run,
        )
    ]
    delivery = tmp_path / "delivery"
    for name in names:
        original = next((sample_dir / "N2-4.4").rglob(name))
        newer = delivery / "N2-4.5" / original.relative_to(sample_dir / "N2-4.4")
        newer.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(original, newer)
        with fits.open(newer, mode="update") as hdul:
            hdul[0].header["HISTORY"] = "re-processed"
    node.cli("ingest", str(delivery), check=True)
    newest = node.scalar("SELECT max(ingest_id) FROM archive.ingest_runs")
    for caller in (anonymous, admin):
        top = _check(archive, caller)[0]
        assert top.key == f"ingest-{newest}"
        assert sum(top.counts.values()) == 3
        assert top.title.startswith(f"{public_run}: 3 new light curves (")

    landing = anonymous.session.get(base + "/", headers={"Accept": "text/html"}, timeout=30)
    page = etree.fromstring(landing.content, etree.HTMLParser())
    head = page.xpath("//head/link[@rel='alternate' and @type='application/atom+xml']/@href")
    assert head == [base + "/feed"]
    assert page.xpath("//body//a[@href='feed']")
