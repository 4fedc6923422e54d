"""The one place user SQL runs (DESIGN.md, "the straight paths").

Every user query (translated ADQL, SSA's parameterised SQL) goes through :class:`QueryRunner`:
a connection of the read-only ``vo_query`` role, a read-only transaction, a statement timeout
set with ``SET LOCAL``, the caller's signed ticket for row-level security (vo_node.auth.tickets),
and a server-side binary cursor whose rows are streamed in batches: memory does not grow with
the result. At most ``maxrec + 1`` rows are fetched, so the caller can tell an overflow from a
result that is exactly ``maxrec`` rows long.

Uploaded tables (TAP UPLOAD) are loaded first, into temporary tables that the transaction
drops: the transaction is read-write only for that, and read-only before the user's SQL runs.

Rows come one of two ways. The cursor path (any query, any writer): ``DECLARE`` and
``FETCH`` in batches, rows as tuples. The COPY path, for a writer that encodes binary COPY
rows itself (VOTable BINARY2) and a result of types it handles: the result's columns are
described first (kept per query text), then ``BEGIN; SET LOCAL ...; COPY (query) TO STDOUT
(FORMAT binary); ROLLBACK`` goes as one message and the rows arrive as bytes, several times
faster for large results and one round trip for small ones. A COPY is one statement: its time
limit covers sending the rows, and a watchdog ends one that a stalled reader keeps blocked.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager, suppress
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg.abc import Query
from psycopg.pq import TransactionStatus
from psycopg_pool import ConnectionPool, PoolTimeout

from vo_node.auth.tickets import ANONYMOUS, Tickets
from vo_node.copyout import (
    COPY_CASTS,
    Watchdog,
    begin_and_describe,
    copy_rows,
    standard_strings,
)
from vo_node.queryresults import (
    QueryError,
    QueryResult,
    QueryTimeout,
    ResultColumn,
    ServiceUnavailable,
    message_of,
)

__all__ = [
    "UPLOAD_TYPES",
    "QueryError",
    "QueryResult",
    "QueryRunner",
    "QueryTimeout",
    "ResultColumn",
    "ServiceUnavailable",
    "TempTable",
]

_BATCH = 5000
# The column types an uploaded table may have; the loader names nothing else.
UPLOAD_TYPES = frozenset(
    {
        "boolean", "smallint", "integer", "bigint", "real", "double precision", "text",
        "timestamp", "spoint", "scircle", "spoly", "smallint[]", "integer[]", "bigint[]",
        "real[]", "double precision[]", "boolean[]",
    }
)  # fmt: skip


_DESCRIBED = 1024  # descriptions kept


@dataclass(frozen=True)
class TempTable:
    """Rows to load into a temporary table ``pg_temp.<name>`` before the query runs.

    ``columns`` are (name, type) pairs, types from :data:`UPLOAD_TYPES`; row values are in
    PostgreSQL's text input form or plain Python values. ``spatial`` columns (``spoint``) get
    a GiST index, so that a crossmatch can probe the upload as well as the archive.
    """

    name: str
    columns: Sequence[tuple[str, str]]
    rows: Iterable[Sequence[Any]]
    spatial: Sequence[str] = ()
    label: str = ""  # what the client calls it, for error messages


def _rollback(conn: psycopg.Connection) -> None:
    """End the user's transaction, whatever it did; a connection that cannot is dropped by
    the pool (it sees the state), so a failure here must not hide the error being raised."""
    if not conn.broken and conn.info.transaction_status != TransactionStatus.IDLE:
        with suppress(psycopg.Error):
            conn.execute("ROLLBACK")


class QueryRunner:
    """Runs user SQL on a pool of ``vo_query`` connections."""

    def __init__(
        self,
        pool: ConnectionPool,
        connect_timeout: float = 5.0,
        copy_grace: float = 5.0,
        tickets: Tickets | None = None,
    ) -> None:
        self.pool = pool
        # Names callers to the database's policy; without it every query is anonymous.
        self.tickets = tickets
        self.connect_timeout = connect_timeout
        # The result columns of queries on the archive's tables, by SQL text: clients repeat
        # their queries, and a description costs a round trip and a parse. A COPY casts
        # each column to its described type, so a description that a schema change made
        # stale can fail a query, never mislabel its values. (Not for uploads: the same
        # text reads different tables.)
        self._described: OrderedDict[bytes, tuple[ResultColumn, ...]] = OrderedDict()
        self._described_lock = threading.Lock()
        # A COPY still running copy_grace seconds past its limit is ended (copyout.Watchdog).
        self._watchdog = Watchdog(pool.conninfo, copy_grace)

    def _ticket(self, identity: str | None, conn: psycopg.Connection) -> str:
        if not identity:
            return ANONYMOUS
        if self.tickets is None:
            # Never run a named caller's query as anonymous by mistake.
            raise RuntimeError("a QueryRunner without tickets cannot name a caller")
        return self.tickets.issue(identity, conn.info.backend_pid)

    @contextmanager
    def run(
        self,
        query: Query,
        params: Sequence[Any] | None = None,
        *,
        maxrec: int | None,
        timeout_s: float,
        identity: str | None = None,
        on_backend: Callable[[int], None] | None = None,
        uploads: Sequence[TempTable] = (),
        copy_if: Callable[[list[ResultColumn]], bool] | None = None,
    ) -> Iterator[QueryResult]:
        """Execute ``query`` and yield its result; rows are read while the caller iterates.

        ``uploads`` are loaded into temporary tables that ``query`` may read.

        ``copy_if``, given the result's columns (described before the query runs), may ask
        for the rows as binary COPY rows (:attr:`QueryResult.copied`): a writer that encodes
        those directly is several times faster on large results than one that takes tuples.
        Only for queries without parameters (COPY takes none).

        ``on_backend`` learns the backend pid before the query starts (an async job's ABORT
        cancels that backend).

        The transaction (and the connection) ends when the ``with`` block ends, whether or
        not every row was read: a client that goes away stops its query.
        """
        limit = None if maxrec is None else maxrec + 1
        first_size = _BATCH if limit is None else min(_BATCH, limit)
        name = sql.Identifier(f"q_{uuid.uuid4().hex[:12]}")
        if isinstance(query, bytes):
            query = query.decode()
        if not isinstance(query, str | sql.Composable):
            raise TypeError("a user query is SQL text or composed SQL")
        body = sql.SQL(query) if isinstance(query, str) else query
        declare = sql.SQL("DECLARE {} NO SCROLL CURSOR FOR ").format(name) + body
        for attempt in (1, 2):
            with ExitStack() as stack:
                try:
                    conn = stack.enter_context(self.pool.connection(timeout=self.connect_timeout))
                except (PoolTimeout, psycopg.OperationalError) as exc:
                    raise ServiceUnavailable(
                        "the database is not reachable at the moment", hint="try again shortly"
                    ) from exc
                opening: list[sql.SQL | sql.Composed] = _opening(
                    timeout_s, self._ticket(identity, conn), writable=bool(uploads)
                )
                # The transaction is begun and ended by hand (psycopg would spend a round
                # trip on its own BEGIN) and always rolled back: nothing a query does
                # outlives it, not even a function that writes despite READ ONLY.
                conn.autocommit = True
                stack.callback(_rollback, conn)
                if on_backend is not None:
                    on_backend(conn.info.backend_pid)
                cursor = conn.cursor(binary=True)
                loading = False  # upload rows are read once: no second try after this
                copied: QueryResult | None = None
                try:
                    if uploads:
                        _pipelined(conn, opening)
                        loading = True
                        for table in uploads:
                            self._load(conn, table, timeout_s)
                        # Read-only again before the user's SQL (allowed after writes).
                        opening = [sql.SQL("SET TRANSACTION READ ONLY")]
                    if copy_if is not None and params is None:
                        # Without uploads there is no transaction yet: it begins, runs the
                        # COPY and is rolled back in one simple-protocol message (no round
                        # trip of its own for BEGIN or ROLLBACK).
                        prelude = [] if uploads else opening
                        text = body.as_bytes(conn)
                        if uploads:
                            columns = list(begin_and_describe(conn, opening, text))
                        else:
                            columns = list(self._describe(conn, text, timeout_s))
                        if (
                            columns
                            and all(c.type_oid in COPY_CASTS for c in columns)
                            and standard_strings(conn)
                            and copy_if(columns)
                        ):
                            watch = self._watchdog.watch(conn.info.backend_pid, timeout_s)
                            stack.callback(self._watchdog.release, watch)
                            rows = copy_rows(stack, conn, prelude, text, columns, limit, timeout_s)
                            copied = QueryResult(columns, rows, copied=True)
                        elif uploads:
                            opening = []
                    if copied is None:
                        # One round trip to begin, declare the cursor and fetch the first
                        # batch (which also reports the columns, and any error before the
                        # first byte).
                        _pipelined(
                            conn, [*opening, (declare, params)], cursor, _fetch(name, first_size)
                        )
                        first = cursor.fetchall()
                except psycopg.errors.QueryCanceled as exc:
                    raise QueryTimeout(
                        f"the query ran longer than the limit of {timeout_s:g} s",
                        hint="add constraints, or use the async endpoint with a longer limit",
                    ) from exc
                except psycopg.OperationalError as exc:
                    if attempt == 2 or not conn.broken or loading:
                        raise ServiceUnavailable(message_of(exc)) from exc
                except psycopg.Error as exc:
                    raise QueryError(message_of(exc)) from exc
                else:
                    if copied is not None:
                        yield copied
                        return
                    columns = [
                        ResultColumn(d.name, d.type_code) for d in (cursor.description or [])
                    ]
                    yield QueryResult(
                        columns, self._rows(cursor, name, first, first_size, limit, timeout_s)
                    )
                    return
            # A pooled connection died with a database restart, which kills every idle one
            # alike: the pool tests them all, and the query tries once more. (Checking each
            # connection as it leaves the pool would cost a round trip on every query.)
            self.pool.check()

    def _describe(
        self, conn: psycopg.Connection, body: bytes, timeout_s: float
    ) -> tuple[ResultColumn, ...]:
        with self._described_lock:
            found = self._described.get(body)
            if found is not None:
                self._described.move_to_end(body)
                return found
        # In a read-only transaction of its own, with the query's time limit: parsing runs
        # the input functions of the query's literals (a polygon of a million vertices...).
        opening = _opening(timeout_s, ANONYMOUS, writable=False)
        found = begin_and_describe(conn, opening, body, [sql.SQL("ROLLBACK")])
        with self._described_lock:
            self._described[body] = found
            while len(self._described) > _DESCRIBED:
                self._described.popitem(last=False)
        return found

    @staticmethod
    def _load(conn: psycopg.Connection, table: TempTable, timeout_s: float) -> None:
        unknown = [t for _, t in table.columns if t not in UPLOAD_TYPES]
        if unknown:
            raise ValueError(f"temporary table {table.name}: unsupported types {unknown}")
        name = sql.Identifier(table.name)
        definition = sql.SQL(", ").join(
            sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(t)) for c, t in table.columns
        )
        names = sql.SQL(", ").join(sql.Identifier(c) for c, _ in table.columns)
        try:
            conn.execute(
                sql.SQL("CREATE TEMP TABLE {} ({}) ON COMMIT DROP").format(name, definition)
            )
            with conn.cursor().copy(
                sql.SQL("COPY pg_temp.{} ({}) FROM STDIN").format(name, names)
            ) as copy:
                for row in table.rows:
                    copy.write_row(row)
            for column in table.spatial:
                conn.execute(
                    sql.SQL("CREATE INDEX ON pg_temp.{} USING gist ({})").format(
                        name, sql.Identifier(column)
                    )
                )
            # Temporary tables are never analysed automatically: without statistics the
            # planner guesses their size, and may not probe the archive's spatial index.
            conn.execute(sql.SQL("ANALYZE pg_temp.{}").format(name))
        except psycopg.errors.QueryCanceled as exc:
            raise QueryTimeout(
                f"loading an upload ran longer than the limit of {timeout_s:g} s"
            ) from exc
        except psycopg.Error as exc:
            if isinstance(exc, psycopg.OperationalError):
                raise
            raise QueryError(f"upload {table.label or table.name}: {message_of(exc)}") from exc

    @staticmethod
    def _rows(
        cursor: psycopg.Cursor,
        name: sql.Identifier,
        first: list[tuple[Any, ...]],
        size: int,
        limit: int | None,
        timeout_s: float,
    ) -> Iterator[tuple[Any, ...]]:
        batch, fetched = first, 0
        while True:
            fetched += len(batch)
            yield from batch
            if len(batch) < size or (limit is not None and fetched >= limit):
                return  # exhausted (no FETCH just to learn that), or MAXREC + 1 rows read
            size = _BATCH if limit is None else min(_BATCH, limit - fetched)
            try:
                cursor.execute(_fetch(name, size))
                batch = cursor.fetchall()
            except psycopg.errors.QueryCanceled as exc:
                raise QueryTimeout(
                    f"the query ran longer than the limit of {timeout_s:g} s"
                ) from exc
            except psycopg.OperationalError as exc:
                raise ServiceUnavailable(message_of(exc)) from exc
            except psycopg.Error as exc:
                raise QueryError(message_of(exc)) from exc


_Statement = sql.SQL | sql.Composed | tuple[sql.SQL | sql.Composed, Sequence[Any] | None]


def _fetch(name: sql.Identifier, size: int) -> sql.Composed:
    return sql.SQL("FETCH FORWARD {} FROM {}").format(sql.Literal(size), name)


def _opening(timeout_s: float, ticket: str, writable: bool) -> list[sql.SQL | sql.Composed]:
    """The statements that begin a user query's transaction. Translated string literals
    assume standard strings (backslash is literal)."""
    millis = sql.Literal(max(1, int(timeout_s * 1000)))
    return [
        # The role's transactions start read-only: writable only to load uploads.
        sql.SQL(f"BEGIN TRANSACTION READ {'WRITE' if writable else 'ONLY'}"),
        sql.SQL("SET LOCAL standard_conforming_strings = on"),
        # Times leave in UTC (DALI); psycopg then needs no per-value zone lookup.
        sql.SQL("SET LOCAL TimeZone = 'UTC'"),
        # Each statement (each FETCH of a batch) within the limit...
        sql.SQL("SET LOCAL statement_timeout = {}").format(millis),
        # ... and a reader that stalls that long between batches loses its session: a stuck
        # client cannot keep a transaction (and a snapshot) open for ever. (A COPY is never
        # idle: for it, the runner's watchdog does this.)
        sql.SQL("SET LOCAL idle_in_transaction_session_timeout = {}").format(millis),
        # Who asks, for row-level security: only the service can make a valid ticket.
        sql.SQL("SET LOCAL vo_node.caller = {}").format(sql.Literal(ticket)),
    ]


def _pipelined(
    conn: psycopg.Connection,
    statements: Sequence[_Statement],
    cursor: psycopg.Cursor | None = None,
    last: sql.Composed | None = None,
) -> None:
    """Send ``statements`` (and ``last`` on ``cursor``, whose rows are read afterwards) in
    one pipeline, one round trip; the first failure raises when the pipeline ends."""
    with conn.pipeline():
        for statement in statements:
            query, params = statement if isinstance(statement, tuple) else (statement, None)
            conn.execute(query, params)
        if cursor is not None and last is not None:
            cursor.execute(last)


def streamed(
    context: AbstractContextManager[QueryResult],
    write: Callable[[QueryResult], Iterable[bytes]],
) -> Iterator[bytes]:
    """Start the query of ``context`` (what :meth:`QueryRunner.run` returns) and hand its
    result to ``write``; return the document's chunks, which end the query when they are
    exhausted or closed (a client that goes away ends its query). Errors before the first
    row raise here, so that a service can still answer with an error document."""
    result = context.__enter__()
    try:
        chunks = write(result)
    except BaseException:
        context.__exit__(None, None, None)
        raise

    def stream() -> Iterator[bytes]:
        try:
            yield from chunks
        finally:
            context.__exit__(None, None, None)

    return stream()
