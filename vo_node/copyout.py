"""The COPY path of user queries (vo_node/query.py): learning a result's columns from a parse
of the query, running ``BEGIN; SET LOCAL ...; COPY (query) TO STDOUT (FORMAT binary);
ROLLBACK`` as one message, reading its rows as bytes, ending a COPY early, and the watchdog
that ends one a stalled reader keeps blocked.

psycopg's Copy takes no other statement in its message and spends a wait on every row, and its
pipeline cannot send a bare Parse and Describe: this drives libpq through psycopg's low-level
objects (``psycopg.generators`` and ``psycopg.waiting`` are not public API: the pinned
psycopg version is the one this is tested with). Must not import Flask.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, suppress
from functools import partial
from typing import Any

import psycopg
from psycopg import generators, sql
from psycopg.abc import PQGen
from psycopg.errors import error_from_result
from psycopg.pq import ConnStatus, ExecStatus, TransactionStatus
from psycopg.pq.abc import PGconn
from psycopg.waiting import Wait

from vo_node.queryresults import (
    QueryError,
    QueryTimeout,
    ResultColumn,
    ServiceUnavailable,
    message_of,
)

logger = logging.getLogger(__name__)

# The types a COPY result may have (those a writer of COPY rows can encode), by OID: the
# COPY casts each column to its described type (a no-op the planner removes).
COPY_CASTS = {
    16: "bool", 19: "name", 20: "int8", 21: "int2", 23: "int4", 25: "text", 700: "float4",
    701: "float8", 1042: "bpchar", 1043: "varchar", 1082: "date", 1114: "timestamp",
    1184: "timestamptz", 1005: "int2[]", 1007: "int4[]", 1016: "int8[]", 1021: "float4[]",
    1022: "float8[]",
}  # fmt: skip

# The start of a binary COPY stream, before its first row: the signature, no flags, no
# header extension.
COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
_COPY_TRAILER = b"\xff\xff"


def standard_strings(conn: psycopg.Connection) -> bool:
    # A simple-protocol message is parsed whole before its first statement runs, so the
    # SET LOCAL standard_conforming_strings in it comes too late for the COPY's query: the
    # session must already read strings as the translator writes them (PostgreSQL's
    # default since 9.1).
    return conn.info.parameter_status("standard_conforming_strings") == "on"


class Watchdog:
    """Ends COPYs that outlive their time limit by more than a grace period.

    statement_timeout is a cancel, and a backend blocked writing to a reader that stopped
    reading (a client that stalls without closing, so the service stops reading the COPY)
    ignores cancels until the write completes: its transaction and snapshot would stay for
    as long as the client does. Only a terminate reaches it. As in uws/cancel.py, it comes
    from a session of the query's own role, which may signal its own backends; no role
    gains a privilege. One thread per runner watches every COPY's deadline.
    """

    def __init__(self, conninfo: str | Callable[[], str], grace: float) -> None:
        self._conninfo = conninfo
        self._grace = grace  # beyond the limit statement_timeout enforces whenever it can
        self._due: list[tuple[float, int, int]] = []  # (deadline, watch, backend pid)
        self._live: set[int] = set()
        self._cond = threading.Condition()
        self._ids = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, pid: int, timeout_s: float) -> int:
        deadline = time.monotonic() + timeout_s + self._grace
        with self._cond:
            watch = next(self._ids)
            heapq.heappush(self._due, (deadline, watch, pid))
            self._live.add(watch)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="copy-watchdog")
                self._thread.daemon = True
                self._thread.start()
            self._cond.notify()
        return watch

    def release(self, watch: int) -> None:
        with self._cond:
            self._live.discard(watch)

    def _run(self) -> None:
        with self._cond:
            while True:
                while self._due and self._due[0][1] not in self._live:
                    heapq.heappop(self._due)  # released: nothing to do
                if not self._due:
                    self._cond.wait()
                    continue
                deadline, watch, pid = self._due[0]
                if time.monotonic() < deadline:
                    self._cond.wait(deadline - time.monotonic())
                    continue
                heapq.heappop(self._due)
                self._live.discard(watch)
                # Still under the lock: the query cannot release its backend to the pool (and
                # another query) while its pid is being terminated.
                self._terminate(pid)

    def _terminate(self, pid: int) -> None:
        try:
            conninfo = self._conninfo if isinstance(self._conninfo, str) else self._conninfo()
            with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as conn:
                conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
            logger.warning("ended a COPY (backend %d) running past its time limit", pid)
        except psycopg.Error as exc:
            logger.error("could not end the overdue COPY of backend %d: %s", pid, exc)


def begin_and_describe(
    conn: psycopg.Connection,
    before: Sequence[sql.SQL | sql.Composed],
    body: bytes,
    after: Sequence[sql.SQL] = (),
) -> tuple[ResultColumn, ...]:
    """Run ``before``, learn the result columns of ``body`` from the server's parse of it
    (into the unnamed prepared statement: no planning, no execution), then run ``after``,
    in one round trip.

    psycopg's pipeline cannot send a bare Parse and Describe, so this drives libpq's
    pipeline mode itself: one result set per command, then the sync's. (psycopg.generators
    is not public API: the pinned psycopg version is the one this is tested with.)"""
    pgconn = conn.pgconn
    statements = [s.as_bytes(conn) for s in before]
    sends: deque[Callable[[], None]] = deque(
        partial(pgconn.send_query_params, statement, None) for statement in statements
    )
    sends.append(partial(pgconn.send_prepare, b"", body))
    sends.append(partial(pgconn.send_describe_prepared, b""))
    sends.extend(partial(pgconn.send_query_params, s.as_bytes(conn), None) for s in after)
    sends.append(pgconn.pipeline_sync)
    expected = len(sends)
    pgconn.enter_pipeline_mode()
    try:
        fetched = conn.wait(generators.pipeline_communicate(pgconn, sends))
        while len(fetched) < expected and (more := conn.wait(generators.fetch_many(pgconn))):
            fetched.append(more)
    except BaseException:
        with suppress(psycopg.Error):
            pgconn.exit_pipeline_mode()
        raise
    pgconn.exit_pipeline_mode()
    for results in fetched:
        for result in results:
            _check(conn, result)  # the first error: the commands after it were skipped
    if len(fetched) != expected:
        raise psycopg.OperationalError("the server did not answer every command")
    description = fetched[len(statements) + 1][0]
    return tuple(
        ResultColumn(description.fname(i).decode(conn.info.encoding), description.ftype(i))
        for i in range(description.nfields)
    )


def _check(conn: psycopg.Connection, result: Any) -> None:
    """Raise the error a result carries; a lost connection as OperationalError (a result
    libpq makes for it has no SQLSTATE, so psycopg would not say so), which the runner
    retries once or answers with a 503."""
    if result.status != ExecStatus.FATAL_ERROR:
        return
    if conn.pgconn.status == ConnStatus.BAD:
        message = (result.error_message or b"").decode(conn.info.encoding, "replace").strip()
        raise psycopg.OperationalError(message or "the connection to the database was lost")
    raise error_from_result(result, encoding=conn.info.encoding)


def copy_rows(
    stack: ExitStack,
    conn: psycopg.Connection,
    prelude: Sequence[sql.SQL | sql.Composed],
    body: bytes,
    columns: Sequence[ResultColumn],
    limit: int | None,
    timeout_s: float,
) -> Iterator[bytes | memoryview]:
    """Send ``prelude`` and ``COPY (body) TO STDOUT`` in binary as one simple-protocol
    message and return the rows; the first is read now, so that an error before it (the
    settings, planning, a timeout) raises here. A COPY not read to its end is cancelled
    when ``stack`` ends.

    psycopg's Copy takes no other statement in its message, and spends a wait (a generator
    and a poll) on every row; rows already received are read here in a plain loop."""
    # Plain text around the query: names c0, c1... and type names from COPY_CASTS are all
    # it adds (composing it with psycopg.sql costs more than a small query). The simple
    # protocol runs every statement of a message, so what goes inside must be one query:
    # ``body`` was parsed alone, as one statement, by the describe (extended protocol, which
    # refuses more), and it stands on lines of its own, so that a trailing comment in it
    # cannot swallow the text after it.
    names = ", ".join(f"c{i}" for i in range(len(columns)))
    casts = ", ".join(f"c{i}::{COPY_CASTS[c.type_oid]}" for i, c in enumerate(columns))
    tail = f"\n) AS q ({names}){'' if limit is None else f' LIMIT {int(limit)}'}"
    copy = b"".join(
        [
            f"COPY (SELECT {casts} FROM (\n".encode(),
            body,
            f"{tail}) TO STDOUT (FORMAT binary)".encode(),
        ]
    )
    pgconn = conn.pgconn
    # Rolled back in the same message when the COPY succeeds (an error skips the rest of
    # the message, and the ROLLBACK comes from the runner's exit): nothing a query does
    # outlives it, not even a function that writes despite READ ONLY.
    pgconn.send_query(b"; ".join([*(s.as_bytes(conn) for s in prelude), copy, b"ROLLBACK"]))
    stack.callback(end_copy, conn)
    results = conn.wait(generators.execute(pgconn))
    for result in results:  # the settings' results, then the COPY's start (or the error)
        _check(conn, result)
    if not results or results[-1].status != ExecStatus.COPY_OUT:
        raise psycopg.OperationalError("the COPY did not start")
    rows = _copy_data(conn)
    first = bytes(next(rows, b""))
    # No flags and no header extension: PostgreSQL 15 writes none, and a later one that did
    # would be refused here rather than misread.
    if not first.startswith(COPY_HEADER):
        raise psycopg.DataError("a binary COPY stream without the expected header")
    return _copied(first[len(COPY_HEADER) :], rows, timeout_s)


def _copy_data(conn: psycopg.Connection) -> Iterator[memoryview]:
    """The data messages of a COPY TO until its end (the trailer included); raises the
    server's error if it ends with one."""
    pgconn = conn.pgconn
    receive = pgconn.get_copy_data
    while True:
        size, data = receive(1)  # without waiting: a message already received, or none
        if size > 0:
            yield data
        elif size == 0:  # none yet: wait for more (or for the end)
            conn.wait(_received(pgconn))
        else:  # the end: the COPY's result, then those of the statements after it
            for result in conn.wait(generators.fetch_many(pgconn)):
                _check(conn, result)
            return


def _received(pgconn: PGconn) -> PQGen[None]:
    """Wait until the server has sent something, and take it in (psycopg's wait protocol)."""
    while not (yield Wait.R):
        continue
    pgconn.consume_input()


def end_copy(conn: psycopg.Connection) -> None:
    """End a COPY whose reader stopped early (MAXREC, an error, a client that went away):
    if the server has already sent its end (a LIMITed COPY stopped one row short), read
    it; otherwise cancel the COPY and drain it. A connection that cannot be brought back
    is closed (the pool then replaces it) rather than drained for as long as it takes."""
    if conn.broken or conn.pgconn.transaction_status != TransactionStatus.ACTIVE:
        return
    pgconn = conn.pgconn
    with suppress(psycopg.Error):
        pgconn.consume_input()
        while (size := pgconn.get_copy_data(1)[0]) > 0:
            pass
        if size < 0:  # it had ended: its result and those after it
            for result in conn.wait(generators.fetch_many(pgconn)):
                _check(conn, result)
            return
    try:
        conn.cancel_safe(timeout=5.0)
        with suppress(psycopg.errors.QueryCanceled):
            for _ in _copy_data(conn):
                pass
    except psycopg.Error:
        conn.close()


def _copied(first: bytes, chunks: Iterator[Any], timeout_s: float) -> Iterator[bytes | memoryview]:
    try:
        if first and first != _COPY_TRAILER:
            yield first
        for chunk in chunks:
            # psycopg's memoryviews own their buffers: kept without a copy.
            if chunk != _COPY_TRAILER:
                yield chunk
    except psycopg.errors.QueryCanceled as exc:
        raise QueryTimeout(f"the query ran longer than the limit of {timeout_s:g} s") from exc
    except psycopg.OperationalError as exc:
        raise ServiceUnavailable(message_of(exc)) from exc
    except psycopg.Error as exc:
        raise QueryError(message_of(exc)) from exc
