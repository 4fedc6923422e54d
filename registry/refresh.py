"""Keeping the record store current: regenerate when what the records are made of changed.

What they are made of: the public part of the archive (summarised by one query as the
anonymous caller), the services' capabilities and tables as served now, the node's identity
settings, and the code that writes records. Checking costs one query; regenerating (coverage
MOCs included) happens only after a change. Must not import Flask.
"""

from __future__ import annotations

import functools
from pathlib import Path

import psycopg

from registry import store
from registry.coverage import collection_facts
from registry.inventory import Sources, node_records
from vo_node.db.revision import archive_revision


@functools.cache
def _code() -> str:
    """The record writers' source: a new version of them may write other records."""
    here = Path(__file__).resolve().parent
    return store.digest(*(p.read_bytes() for p in sorted(here.glob("*.py"))))


def inputs(conn: psycopg.Connection, sources: Sources) -> str:
    identity = sources.identity
    return store.digest(
        _code(),
        archive_revision(conn),
        repr(identity),
        *(f"{service!r}" for service, _ in sources.services),
        *(document for _, document in sources.services),
        sources.tableset,
        repr((tuple(sources.schemas), tuple(sources.auxiliary), sources.oai_url, sources.page)),
    )


def refresh(conn: psycopg.Connection, sources: Sources) -> list[str]:
    """Regenerate the records if their inputs changed; the identifiers that changed."""
    digest = inputs(conn, sources)
    if store.is_current(conn, digest):
        return []
    return store.sync(conn, digest, lambda: node_records(sources, collection_facts(conn)))
