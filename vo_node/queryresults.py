"""What a user query gives back, and how it fails: the result's columns, the open result, the
errors the services turn into protocol errors (DALI 400, a timeout, 503). Shared by the
runner (vo_node/query.py) and its COPY path (vo_node/copyout.py). Imports psycopg only for
its error messages; must not import Flask.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg

from vo_node.errors import NodeError


class QueryError(NodeError):
    """The database refused or aborted a user query; the message is safe to show."""


class QueryTimeout(QueryError):
    """The query ran longer than the execution-time limit."""


class ServiceUnavailable(QueryError):
    """The database cannot be reached (DALI: HTTP 503)."""


@dataclass(frozen=True)
class ResultColumn:
    """What the cursor says of a result column: enough to write a FIELD for it."""

    name: str
    type_oid: int


@dataclass
class QueryResult:
    """An open result: its columns and an iterator over at most ``maxrec + 1`` rows.

    ``copied``: the rows are binary COPY rows (bytes: an int16 field count, then per field an
    int32 length, -1 for null, and the value in PostgreSQL's binary form), not tuples.
    """

    columns: list[ResultColumn]
    rows: Iterator[Any]
    copied: bool = False


# The types a COPY result may have (those a writer of COPY rows can encode), by OID: the
# COPY casts each column to its described type (a no-op the planner removes).


def message_of(exc: psycopg.Error) -> str:
    diag = exc.diag
    text = diag.message_primary or str(exc).strip().splitlines()[0]
    return text if not diag.message_hint else f"{text} ({diag.message_hint})"
