"""``/feed`` (Atom) and ``/feed.rss`` (RSS 2.0): new and newly public data; per collection
``/feed/<collection_id>`` and ``/feed/<collection_id>.rss``.

The entries are read in the caller's transaction: an anonymous reader gets the public feed,
a reader with credentials (Basic, Bearer, the login cookie) the feed of what it may see,
marked private so that no shared cache hands it to anyone else. Each document carries a
strong ETag (a hash of its bytes) and answers If-None-Match with 304. There is no
Last-Modified: the feed changes when a release date passes at midnight or is edited, which no
stored time records, so only the content can say whether it changed.
"""

from __future__ import annotations

import hashlib

import psycopg
from flask import Blueprint, Response, current_app, request

from vo_node.auth.views import caller, caller_transaction
from vo_node.db.revision import archive_revision
from vo_node.feed import documents
from vo_node.feed.entries import CHANNELS, collection_title, read_entries
from vo_node.settings import Settings

bp = Blueprint("feed", __name__)

# Seconds a shared cache may keep the public feed: new data need not be news within seconds.
PUBLIC_MAX_AGE = 300
_RSS_SUFFIX = ".rss"


@bp.get("/feed")
def atom() -> Response:
    return _feed(None, rss=False)


@bp.get("/feed.rss")
def rss() -> Response:
    return _feed(None, rss=True)


@bp.get("/feed/<name>")
def collection(name: str) -> Response:
    # One rule for both formats: the default converter would take 'corot-exo.rss' whole.
    if name.endswith(_RSS_SUFFIX):
        return _feed(name.removesuffix(_RSS_SUFFIX), rss=True)
    return _feed(name, rss=False)


def _feed(collection_id: str | None, rss: bool) -> Response:
    public = caller() is None
    with caller_transaction() as conn:
        label = None
        if collection_id is not None:
            label = collection_title(conn, collection_id)
            if label is None:
                return Response(
                    f"no collection {collection_id!r} here: the feeds are /feed, /feed.rss and "
                    f"/feed/<collection>[.rss] for {', '.join(sorted(CHANNELS))}\n",
                    status=404,
                    mimetype="text/plain",
                )
        if public:
            # The public feed is made again only when what anonymous readers see changed:
            # it is polled, and counting a big archive's releases takes a while.
            revision = archive_revision(conn)
            cache = current_app.extensions.setdefault("vo_node.feed_cache", {})
            cached = cache.get((collection_id, rss))
            if cached is not None and cached[0] == revision:
                body = cached[1]
            else:
                body = _document(conn, collection_id, label, rss, public)
                cache[(collection_id, rss)] = (revision, body)
        else:
            body = _document(conn, collection_id, label, rss, public)
    response = Response(body, mimetype=documents.RSS_MIME if rss else documents.ATOM_MIME)
    response.set_etag(hashlib.sha256(body).hexdigest()[:32])
    if public:
        response.cache_control.public = True
        response.cache_control.max_age = PUBLIC_MAX_AGE
    else:
        # What a reader with rights sees: never for a shared cache.
        response.cache_control.private = True
        response.cache_control.no_cache = True
    # The same URL answers each reader differently.
    response.vary.update(("Authorization", "Cookie"))
    # A matching If-None-Match turns the response into a 304 in place.
    response.make_conditional(request)
    return response


def _document(
    conn: psycopg.Connection, collection_id: str | None, label: str | None, rss: bool, public: bool
) -> bytes:
    settings: Settings = current_app.config["VO_NODE_SETTINGS"]
    entries = read_entries(conn, public=public, collection_id=collection_id)
    path = "/feed" + (f"/{collection_id}" if collection_id else "")
    atom_url = f"{settings.public_url}{path}"
    rss_url = atom_url + (_RSS_SUFFIX if collection_id else ".rss")
    head = documents.FeedHead(
        feed_id=f"ivo://{settings.authority}{path}",
        title=f"{settings.node_title}: new data" + (f" ({label})" if label else ""),
        description=(
            "New and newly public light curves"
            + (f" of the collection {label}" if label else "")
            + ": an entry per ingest batch and per release of a run's products, each with "
            "its counts and a TAP query that selects exactly those products."
        ),
        base_url=settings.public_url,
        self_url=rss_url if rss else atom_url,
        html_url=f"{settings.public_url}/",
        other_url=atom_url if rss else rss_url,
        author=settings.publisher,
        author_email=settings.contact_email,
    )
    return documents.rss(head, entries) if rss else documents.atom(head, entries)
