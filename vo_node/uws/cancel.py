"""Cancelling the query of a running job (DESIGN.md: abort = ``pg_cancel_backend``).

The roles (vo_node/db/cluster.py): a job's query runs as ``vo_query``. PostgreSQL lets a
session cancel another's query only if its role has the privileges of the other's role, or
has ``pg_signal_backend``. ``vo_service`` (web tier and workers) has neither, and neither can
be granted by a migration: both need the superuser, and ``pg_signal_backend`` would also let
the web tier cancel (or, with pg_terminate_backend, kill) the admin's ingest. So the cancel is
sent from a session of ``vo_query`` itself: the role of the query cancels its own kind, and no
role gains a privilege. The web tier opens such a session for one ABORT; a worker keeps one.

The pid is paired with the session's start time (``public.query_backend_start``: the query
role may not read ``pg_stat_activity``, whose query texts hold other callers' tickets, so the
superuser gives it this one fact about its own sessions), so a later session that reuses the
pid is never hit.
Imports psycopg; must not import Flask.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

import psycopg

Conn = psycopg.Connection[Any]


class BackendCanceller:
    """Cancels job queries from a session of the role that runs them.

    The connection is made when first needed and made again after a failure; the web tier uses
    one per ABORT, a worker keeps one for its life (shared by its threads: psycopg serialises
    the statements, the lock keeps them from connecting twice).
    """

    def __init__(self, conninfo: str) -> None:
        self._conninfo = conninfo
        self._conn: Conn | None = None
        self._lock = threading.Lock()

    def _connection(self) -> Conn:
        with self._lock:
            if self._conn is None or self._conn.closed:
                self._conn = psycopg.connect(self._conninfo, autocommit=True)
            return self._conn

    def started(self, pid: int) -> datetime | None:
        """When the session ``pid`` began (visible to its own role only): with the pid, it
        names the session, so a later one that reuses the pid is never cancelled. None when it
        cannot be told: the pid alone will do."""
        try:
            row = (
                self._connection()
                .execute("SELECT public.query_backend_start(%s)", (pid,))
                .fetchone()
            )
        except psycopg.OperationalError:
            self.close()
            return None
        return row[0] if row else None

    def cancel(self, pid: int, started: datetime | None) -> bool:
        """Cancel the query the session is running (if any); True if a signal was sent."""
        try:
            row = (
                self._connection()
                .execute(
                    "SELECT pg_cancel_backend(%s)"
                    " WHERE %s::timestamptz IS NULL OR public.query_backend_start(%s) = %s",
                    (pid, started, pid, started),
                )
                .fetchone()
            )
        except psycopg.OperationalError:
            self.close()  # made again on the next call
            return False
        return bool(row and row[0])

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> BackendCanceller:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
