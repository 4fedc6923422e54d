"""The one place user SQL runs (DESIGN.md, "the straight paths").

Every user query (translated ADQL, SSA's parameterised SQL) goes through :class:`QueryRunner`:
a connection of the read-only ``vo_query`` role, a read-only transaction, a statement timeout
set with ``SET LOCAL``, the caller's identity for row-level security (issue 4), and a
server-side binary cursor whose rows are streamed in batches: memory does not grow with the
result. At most ``maxrec + 1`` rows are fetched, so the caller can tell an overflow from a
result that is exactly ``maxrec`` rows long.

Uploaded tables (TAP UPLOAD) are loaded first, into temporary tables that the transaction
drops: the transaction is read-write only for that, and read-only before the user's SQL runs.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from functools import partial
from typing import Any

import psycopg
from psycopg import generators, sql
from psycopg.abc import PQGen, Query
from psycopg.errors import error_from_result
from psycopg.pq import ConnStatus, ExecStatus, TransactionStatus
from psycopg.pq.abc import PGconn
from psycopg.waiting import Wait
from psycopg_pool import ConnectionPool, PoolTimeout

from vo_node.errors import NodeError

_BATCH = 5000
# The column types an uploaded table may have; the loader names nothing else.
UPLOAD_TYPES = frozenset(
    {
        "boolean", "smallint", "integer", "bigint", "real", "double precision", "text",
        "timestamp", "spoint", "scircle", "spoly", "smallint[]", "integer[]", "bigint[]",
        "real[]", "double precision[]", "boolean[]",
    }
)  # fmt: skip


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
COPY_CASTS = {
    16: "bool", 19: "name", 20: "int8", 21: "int2", 23: "int4", 25: "text", 700: "float4",
    701: "float8", 1042: "bpchar", 1043: "varchar", 1082: "date", 1114: "timestamp",
    1184: "timestamptz", 1005: "int2[]", 1007: "int4[]", 1016: "int8[]", 1021: "float4[]",
    1022: "float8[]",
}  # fmt: skip
_DESCRIBED = 1024  # descriptions kept

# The start of a binary COPY stream, before its first row: the signature, no flags, no
# header extension.
COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
_COPY_TRAILER = b"\xff\xff"


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


def _message(exc: psycopg.Error) -> str:
    diag = exc.diag
    text = diag.message_primary or str(exc).strip().splitlines()[0]
    return text if not diag.message_hint else f"{text} ({diag.message_hint})"


class QueryRunner:
    """Runs user SQL on a pool of ``vo_query`` connections."""

    def __init__(self, pool: ConnectionPool, connect_timeout: float = 5.0) -> None:
        self.pool = pool
        self.connect_timeout = connect_timeout
        # The result columns of queries on the archive's tables, by SQL text: clients repeat
        # their queries, and a description costs a round trip and a parse. A COPY casts
        # each column to its described type, so a description that a schema change made
        # stale can fail a query, never mislabel its values. (Not for uploads: the same
        # text reads different tables.)
        self._described: OrderedDict[bytes, list[ResultColumn]] = OrderedDict()
        self._described_lock = threading.Lock()

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
            opening: list[sql.SQL | sql.Composed] = _opening(
                timeout_s, identity, writable=bool(uploads)
            )
            with ExitStack() as stack:
                try:
                    conn = stack.enter_context(self.pool.connection(timeout=self.connect_timeout))
                except (PoolTimeout, psycopg.OperationalError) as exc:
                    raise ServiceUnavailable(
                        "the database is not reachable at the moment", hint="try again shortly"
                    ) from exc
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
                        if uploads:
                            columns = _begin_and_describe(conn, opening, body)
                        else:
                            columns = self._describe(conn, body)
                        if copy_if(columns) and all(c.type_oid in COPY_CASTS for c in columns):
                            text = body.as_bytes(conn)
                            rows = _copy_rows(stack, conn, prelude, text, columns, limit, timeout_s)
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
                        raise ServiceUnavailable(_message(exc)) from exc
                except psycopg.Error as exc:
                    raise QueryError(_message(exc)) from exc
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

    def _describe(self, conn: psycopg.Connection, body: sql.Composable) -> list[ResultColumn]:
        key = body.as_bytes(conn)
        with self._described_lock:
            found = self._described.get(key)
            if found is not None:
                self._described.move_to_end(key)
                return found
        found = _begin_and_describe(conn, [], body)
        with self._described_lock:
            self._described[key] = found
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
            raise QueryError(f"upload {table.label or table.name}: {_message(exc)}") from exc

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
                raise ServiceUnavailable(_message(exc)) from exc
            except psycopg.Error as exc:
                raise QueryError(_message(exc)) from exc


_Statement = sql.SQL | sql.Composed | tuple[sql.SQL | sql.Composed, Sequence[Any] | None]


def _fetch(name: sql.Identifier, size: int) -> sql.Composed:
    return sql.SQL("FETCH FORWARD {} FROM {}").format(sql.Literal(size), name)


def _opening(
    timeout_s: float, identity: str | None, writable: bool
) -> list[sql.SQL | sql.Composed]:
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
        # client cannot keep a transaction (and a snapshot) open for ever.
        sql.SQL("SET LOCAL idle_in_transaction_session_timeout = {}").format(millis),
        sql.SQL("SET LOCAL vo_node.caller = {}").format(sql.Literal(identity or "")),
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


def _begin_and_describe(
    conn: psycopg.Connection, statements: Sequence[sql.SQL | sql.Composed], body: sql.Composable
) -> list[ResultColumn]:
    """Run ``statements`` and learn the result columns of ``body`` from the server's parse of
    it (into the unnamed prepared statement: no planning, no execution), in one round trip.

    psycopg's pipeline cannot send a bare Parse and Describe, so this drives libpq's
    pipeline mode itself: one result set per command, then the sync's."""
    pgconn = conn.pgconn
    sends: deque[Callable[[], None]] = deque(
        partial(pgconn.send_query_params, statement.as_bytes(conn), None)
        for statement in statements
    )
    sends.append(partial(pgconn.send_prepare, b"", body.as_bytes(conn)))
    sends.append(partial(pgconn.send_describe_prepared, b""))
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
            if result.status == ExecStatus.FATAL_ERROR:  # the first: the others were skipped
                raise error_from_result(result, encoding=conn.info.encoding)
    if len(fetched) != expected:
        raise psycopg.OperationalError("the server did not answer every command")
    description = fetched[-2][0]
    return [
        ResultColumn(description.fname(i).decode(conn.info.encoding), description.ftype(i))
        for i in range(description.nfields)
    ]


def _copy_rows(
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
    stack.callback(_end_copy, conn)
    results = conn.wait(generators.execute(pgconn))
    for result in results:  # the settings' results, then the COPY's start (or the error)
        if result.status == ExecStatus.FATAL_ERROR:
            if pgconn.status == ConnStatus.BAD:  # the server went away: retried, or a 503
                message = result.error_message.decode(conn.info.encoding, "replace")
                raise psycopg.OperationalError(message.strip() or "the connection was lost")
            raise error_from_result(result, encoding=conn.info.encoding)
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
                if result.status != ExecStatus.COMMAND_OK:
                    raise error_from_result(result, encoding=conn.info.encoding)
            return


def _received(pgconn: PGconn) -> PQGen[None]:
    """Wait until the server has sent something, and take it in (psycopg's wait protocol)."""
    while not (yield Wait.R):
        continue
    pgconn.consume_input()


def _end_copy(conn: psycopg.Connection) -> None:
    """Cancel a COPY whose reader stopped before its end (a client went away, MAXREC, an
    error) and drain what the server already sent, so the connection is usable again."""
    if conn.broken or conn.pgconn.transaction_status != TransactionStatus.ACTIVE:
        return
    # If the cancel fails, the drain ends with the COPY anyway, or the pool drops the
    # connection.
    with suppress(psycopg.Error):
        conn.cancel_safe(timeout=5.0)
    with suppress(psycopg.Error):
        for _ in _copy_data(conn):
            pass


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
        raise ServiceUnavailable(_message(exc)) from exc
    except psycopg.Error as exc:
        raise QueryError(_message(exc)) from exc
