"""The feed as documents: Atom 1.0 (RFC 4287) and RSS 2.0, written with lxml.

Both formats carry the same entries with the same titles, summaries, dates and identifiers
(an Atom entry's ``id`` is the RSS item's ``guid``). Must not import Flask or psycopg.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import urlencode

from lxml import etree

from vo_node import __version__
from vo_node.feed.entries import Entry

ATOM = "http://www.w3.org/2005/Atom"
XHTML = "http://www.w3.org/1999/xhtml"
ATOM_MIME = "application/atom+xml"
RSS_MIME = "application/rss+xml"
VOTABLE_MIME = "application/x-votable+xml"
# An empty feed still needs an atom:updated (RFC 4287, 4.1.1): a fixed instant, so that it
# does not change from one request to the next.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class FeedHead:
    """What a feed says about itself, and where its links lead."""

    feed_id: str  # an absolute IRI that stays when the node moves: ivo://AUTHORITY/feed...
    title: str
    description: str
    base_url: str  # the node's public URL: TAP queries
    self_url: str  # this document
    html_url: str  # the page the feed is about
    other_url: str  # the same feed in the other format
    author: str
    author_email: str

    def entry_id(self, entry: Entry) -> str:
        return f"{self.feed_id}#{entry.key}"

    def tap_url(self, entry: Entry) -> str:
        """A TAP sync query returning exactly the entry's products; MAXREC as many as they
        are, so that the result is never cut short by the default limit."""
        params = {
            "REQUEST": "doQuery",
            "LANG": "ADQL",
            "QUERY": entry.adql,
            "MAXREC": str(entry.total),
        }
        return f"{self.base_url}/tap/sync?{urlencode(params)}"


def _n(count: int, one: str, many: str) -> str:
    return f"{count:,} {one if count == 1 else many}"


def title(entry: Entry) -> str:
    """'LRa01, LRc02: 1,234 new light curves (corot-exo)'."""
    runs = ", ".join(entry.runs)
    collections = ", ".join(entry.collections)
    if entry.kind == "ingest":
        what = _n(entry.total, "new light curve", "new light curves")
    else:
        what = _n(entry.total, "light curve", "light curves") + " made public"
    return f"{runs}: {what} ({collections})"


def summary(entry: Entry) -> str:
    """One paragraph of plain text with the counts."""
    parts = "; ".join(f"{c.run} {c.level} {c.collection_id}: {c.products:,}" for c in entry.counts)
    if entry.kind == "ingest":
        when = _atom_date(entry.updated).replace("T", " ").replace("Z", " UTC")
        lead = f"Ingest batch {entry.ingest_id} finished {when}"
    else:
        lead = f"Public since {entry.released_on}, after they were ingested"
    return f"{lead}: {_n(entry.total, 'light curve', 'light curves')} ({parts})."


def _atom_date(when: datetime) -> str:
    """RFC 3339 in UTC, to the second: '2009-05-01T00:00:00Z'."""
    return when.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _updated(entries: Sequence[Entry]) -> datetime:
    return max((e.updated for e in entries), default=EPOCH)


def _body(parent: etree._Element, head: FeedHead, entry: Entry, ns: str = "") -> None:
    """The counts as a table and the TAP query, as XHTML (Atom) or HTML (RSS)."""
    p = etree.SubElement(parent, f"{ns}p")
    p.text = summary(entry)
    table = etree.SubElement(parent, f"{ns}table")
    row = etree.SubElement(table, f"{ns}tr")
    for name in ("run", "level", "collection", "products"):
        etree.SubElement(row, f"{ns}th").text = name
    for count in entry.counts:
        row = etree.SubElement(table, f"{ns}tr")
        for value in (count.run, count.level, count.collection_id, str(count.products)):
            etree.SubElement(row, f"{ns}td").text = value
    links = etree.SubElement(parent, f"{ns}p")
    tap = etree.SubElement(links, f"{ns}a", href=head.tap_url(entry))
    tap.text = "TAP query"
    tap.tail = f" ({entry.adql})"


def atom(head: FeedHead, entries: Sequence[Entry]) -> bytes:
    """The Atom 1.0 document (RFC 4287)."""

    def el(
        parent: etree._Element, name: str, text: str | None = None, **attrs: str
    ) -> etree._Element:
        child = etree.SubElement(parent, f"{{{ATOM}}}{name}", attrs)
        child.text = text
        return child

    feed = etree.Element(f"{{{ATOM}}}feed", nsmap={None: ATOM})
    el(feed, "id", head.feed_id)
    el(feed, "title", head.title)
    el(feed, "subtitle", head.description)
    el(feed, "updated", _atom_date(_updated(entries)))
    author = el(feed, "author")
    el(author, "name", head.author)
    el(author, "uri", head.base_url + "/")
    el(author, "email", head.author_email)
    el(feed, "link", rel="self", type=ATOM_MIME, href=head.self_url)
    el(feed, "link", rel="alternate", type="text/html", href=head.html_url)
    el(feed, "link", rel="alternate", type=RSS_MIME, href=head.other_url)
    el(feed, "generator", "vo-node", uri=head.base_url + "/", version=__version__)
    for entry in entries:
        item = el(feed, "entry")
        el(item, "id", head.entry_id(entry))
        el(item, "title", title(entry))
        el(item, "updated", _atom_date(entry.updated))
        for collection in entry.collections:
            el(item, "category", term=collection, label=f"collection {collection}")
        for run in entry.runs:
            el(item, "category", term=run, label=f"run {run}")
        # The products themselves, as a VOTable any VO client reads (the web search of
        # the same products joins as the page's link when the search interface exists).
        el(
            item,
            "link",
            rel="alternate",
            type=VOTABLE_MIME,
            href=head.tap_url(entry),
            title="TAP query: " + entry.adql,
        )
        el(item, "summary", summary(entry), type="text")
        content = el(item, "content", type="xhtml")
        div = etree.SubElement(content, f"{{{XHTML}}}div", nsmap={None: XHTML})
        _body(div, head, entry, f"{{{XHTML}}}")
    return etree.tostring(feed, xml_declaration=True, encoding="utf-8", pretty_print=True)


def rss(head: FeedHead, entries: Sequence[Entry]) -> bytes:
    """The RSS 2.0 document (RSS Advisory Board's specification), with an ``atom:link`` to
    itself as that board recommends."""
    root = etree.Element("rss", version="2.0", nsmap={"atom": ATOM})
    channel = etree.SubElement(root, "channel")

    def el(parent: etree._Element, name: str, text: str | None = None, **attrs: str) -> None:
        etree.SubElement(parent, name, attrs).text = text

    el(channel, "title", head.title)
    el(channel, "link", head.html_url)
    el(channel, "description", head.description)
    el(channel, "language", "en")
    el(channel, "lastBuildDate", _rss_date(_updated(entries)))
    el(channel, "generator", f"vo-node {__version__}")
    etree.SubElement(channel, f"{{{ATOM}}}link", rel="self", type=RSS_MIME, href=head.self_url)
    for entry in entries:
        item = etree.SubElement(channel, "item")
        el(item, "title", title(entry))
        el(item, "link", head.tap_url(entry))
        # RSS descriptions are HTML as text: the HTML is serialised, then escaped as text.
        body = etree.Element("div")
        _body(body, head, entry)
        el(item, "description", etree.tostring(body, encoding="unicode", method="html"))
        el(item, "guid", head.entry_id(entry), isPermaLink="false")
        el(item, "pubDate", _rss_date(entry.updated))
        for collection in entry.collections:
            el(item, "category", collection)
        for run in entry.runs:
            el(item, "category", run)
    return etree.tostring(root, xml_declaration=True, encoding="utf-8", pretty_print=True)


def _rss_date(when: datetime) -> str:
    """RFC 822 (with a four-digit year, as RSS 2.0 allows): 'Fri, 01 May 2009 00:00:00 GMT'."""
    return format_datetime(when.astimezone(UTC).replace(microsecond=0), usegmt=True)
