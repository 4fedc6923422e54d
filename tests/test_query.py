"""vo_node/query.py: the read-only role, limits, overflow detection, streaming."""

from __future__ import annotations

import struct
import time
import tracemalloc
from collections.abc import Iterator

import pytest
from conftest import Node
from psycopg_pool import ConnectionPool

from vo_node.auth import store
from vo_node.auth.tickets import Tickets
from vo_node.db.cluster import SUPERUSER
from vo_node.query import (
    QueryError,
    QueryResult,
    QueryRunner,
    QueryTimeout,
    ResultColumn,
    ServiceUnavailable,
    TempTable,
)


@pytest.fixture
def runner(node: Node) -> Iterator[QueryRunner]:
    pool = ConnectionPool(node.db.query_conninfo(), min_size=1, max_size=2, open=True)
    with node.db.service() as conn:
        tickets = Tickets(store.caller_key(conn))
    yield QueryRunner(pool, tickets=tickets)
    pool.close()


def test_fetches_maxrec_plus_one(runner: QueryRunner) -> None:
    with runner.run("SELECT g FROM generate_series(1, 100) g", maxrec=10, timeout_s=5) as result:
        rows = list(result.rows)
    assert [r[0] for r in rows] == list(range(1, 12))  # one more than asked: overflow is known
    with runner.run("SELECT g FROM generate_series(1, 10) g", maxrec=10, timeout_s=5) as result:
        assert len(list(result.rows)) == 10  # exactly maxrec: no overflow
    with runner.run("SELECT 1 AS one, 'x'::text AS two", maxrec=0, timeout_s=5) as result:
        assert [c.name for c in result.columns] == ["one", "two"]
        assert list(result.rows) == [(1, "x")]  # maxrec 0 + 1: the caller writes metadata only


@pytest.mark.parametrize(
    ("statement", "reason"),
    [
        ("CREATE TABLE corot.evil (x int)", "syntax error"),  # only a query fits in a cursor
        (
            "WITH x AS (INSERT INTO tap_schema.schemas VALUES ('evil') RETURNING 1)"
            " SELECT * FROM x",
            "data-modifying",
        ),
    ],
)
def test_user_sql_cannot_write(
    node: Node, runner: QueryRunner, statement: str, reason: str
) -> None:
    with (
        pytest.raises(QueryError, match=reason),
        runner.run(statement, maxrec=None, timeout_s=5) as result,
    ):
        list(result.rows)
    assert node.scalar("SELECT count(*) FROM tap_schema.schemas WHERE schema_name = 'evil'") == 0


def test_nothing_a_query_does_outlives_it(node: Node, runner: QueryRunner) -> None:
    # lo_create writes even in a read-only transaction; the rollback undoes it.
    with runner.run("SELECT lo_create(0)", maxrec=None, timeout_s=5) as result:
        (oid,) = next(result.rows)
    assert oid > 0
    assert node.scalar("SELECT count(*) FROM pg_largeobject_metadata") == 0


def test_timeout_is_a_clear_error(runner: QueryRunner) -> None:
    with (
        pytest.raises(QueryTimeout, match=r"limit of 0\.2 s"),
        runner.run("SELECT pg_sleep(2)", maxrec=None, timeout_s=0.2) as result,
    ):
        list(result.rows)


def test_rows_stream_without_holding_the_result(runner: QueryRunner) -> None:
    tracemalloc.start()
    count = 0
    with runner.run(
        "SELECT g, g * 0.5, repeat('x', 40) FROM generate_series(1, 300000) g",
        maxrec=None,
        timeout_s=60,
    ) as result:
        for _ in result.rows:
            count += 1
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert count == 300000
    # 300,000 rows of ~60 bytes held at once would be > 30 MB; batches keep it at a few MB.
    assert peak < 15_000_000, peak


def test_abandoned_result_frees_the_connection(runner: QueryRunner) -> None:
    for _ in range(5):  # more than the pool holds: each must come back
        with runner.run(
            "SELECT g FROM generate_series(1, 1000000) g", maxrec=None, timeout_s=30
        ) as result:
            next(result.rows)
    with runner.run("SELECT 1", maxrec=None, timeout_s=5) as result:
        assert list(result.rows) == [(1,)]


def test_unreachable_database_is_service_unavailable(node: Node) -> None:
    pool = ConnectionPool(
        node.db.query_conninfo().replace(f"port={node.settings.pg_port}", "port=1"),
        min_size=0,
        max_size=1,
        open=True,
    )
    try:
        with (
            pytest.raises(ServiceUnavailable),
            QueryRunner(pool, connect_timeout=1).run("SELECT 1", maxrec=None, timeout_s=5),
        ):
            pass
    finally:
        pool.close()


@pytest.mark.parametrize("path", ["cursor", "copy", "copy, described before"])
def test_connections_killed_in_the_pool_are_replaced(node: Node, path: str) -> None:
    """Pooled connections the database dropped (a restart, an operator's kill) cost the next
    query nothing: the first is found dead on its first statement, the pool then tests the
    others, and a fresh one is used. On the COPY path too, whether its first message is the
    describe or (the description kept from before) the COPY itself."""
    pool = ConnectionPool(node.db.query_conninfo(), min_size=3, max_size=3, open=True)
    pool.wait()
    runner = QueryRunner(pool)
    copy_if = None if path == "cursor" else _always
    if path == "copy, described before":
        with runner.run("SELECT 2", maxrec=None, timeout_s=5, copy_if=copy_if) as result:
            assert len(_copied(result)) == 1
        pool.check()  # back to three live connections
    try:
        with node.db.cluster.connect(SUPERUSER, node.db.dbname, autocommit=True) as conn:
            killed = conn.execute(
                "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE usename = 'vo_query' AND datname = current_database()"
            ).fetchall()
        assert len(killed) == 3 and all(ok for _, ok in killed)
        pids: list[int] = []
        with runner.run(
            "SELECT 2", maxrec=None, timeout_s=5, on_backend=pids.append, copy_if=copy_if
        ) as result:
            if copy_if is None:
                assert list(result.rows) == [(2,)]
            else:
                assert [_fields(row) for row in _copied(result)] == [[(2).to_bytes(4, "big")]]
        # The backend the query ran on (the last one announced, for ABORT) is a new one.
        assert pids[-1] not in {pid for pid, _ in killed}
    finally:
        pool.close()


def test_uploads_are_loaded_then_the_query_runs_read_only(runner: QueryRunner) -> None:
    table = TempTable("tap_upload_t", [("a", "integer"), ("p", "spoint")],
                      [(1, "(10d, 20d)"), (2, None)], spatial=["p"], label="t")  # fmt: skip
    query = (
        "SELECT sum(a), count(p), current_setting('transaction_read_only')"
        " FROM pg_temp.tap_upload_t"
    )
    with runner.run(query, maxrec=None, timeout_s=5, uploads=[table]) as result:
        assert list(result.rows) == [(3, 1, "on")]
    # The table went with the transaction.
    with runner.run(
        "SELECT count(*) FROM pg_class WHERE relname = 'tap_upload_t'", maxrec=None, timeout_s=5
    ) as result:
        assert list(result.rows) == [(0,)]


# -- the COPY path (binary COPY rows for writers that take them) ----------------------------


def _copied(result: QueryResult) -> list[bytes]:
    assert result.copied, "the runner did not take the COPY path"
    return [bytes(row) for row in result.rows]


def _fields(row: bytes) -> list[bytes | None]:
    """The values of one binary COPY row (an int16 count, then per field an int32 length,
    -1 for null, and the bytes)."""
    (count,) = struct.unpack_from(">h", row)
    values: list[bytes | None] = []
    offset = 2
    for _ in range(count):
        (size,) = struct.unpack_from(">i", row, offset)
        offset += 4
        values.append(None if size < 0 else row[offset : offset + size])
        offset += max(size, 0)
    assert offset == len(row)
    return values


def _always(columns: list[ResultColumn]) -> bool:
    return True


def test_copy_path_runs_as_the_caller_read_only_with_the_limits(runner: QueryRunner) -> None:
    query = (
        "SELECT current_setting('vo_node.caller'), current_setting('transaction_read_only'),"
        " current_setting('TimeZone'), current_setting('statement_timeout'),"
        " pg_backend_pid()::text"
    )
    with runner.run(query, maxrec=5, timeout_s=7, identity="alice", copy_if=_always) as result:
        assert [c.type_oid for c in result.columns] == [25, 25, 25, 25, 25]
        rows = _copied(result)
    assert len(rows) == 1
    ticket, read_only, zone, timeout, pid = (f.decode() for f in _fields(rows[0]))  # type: ignore[union-attr]
    assert (read_only, zone, timeout) == ("on", "UTC", "7s")
    # The caller is named by a ticket the runner signed, for this backend only.
    assert runner.tickets is not None and runner.tickets.valid(ticket) == "alice"
    assert ticket.split(":")[2] == pid
    with runner.run(query, maxrec=5, timeout_s=7, copy_if=_always) as result:
        assert _fields(_copied(result)[0])[0] == b""  # anonymous


def test_copy_path_fetches_maxrec_plus_one_and_reports_errors(runner: QueryRunner) -> None:
    with runner.run(
        "SELECT g FROM generate_series(1, 100) g", maxrec=10, timeout_s=5, copy_if=_always
    ) as result:
        rows = _copied(result)
    assert [int.from_bytes(_fields(r)[0] or b"") for r in rows] == list(range(1, 12))
    with (
        pytest.raises(QueryError, match="division by zero"),
        runner.run(
            "SELECT 1 / (g - 500) FROM generate_series(1, 1000) g",
            maxrec=None,
            timeout_s=5,
            copy_if=_always,
        ) as result,
    ):
        _copied(result)
    with (
        pytest.raises(QueryTimeout, match=r"limit of 0\.2 s"),
        runner.run("SELECT pg_sleep(2)::text", maxrec=None, timeout_s=0.2, copy_if=_always),
    ):
        pass


def test_nothing_a_copied_query_does_outlives_it(node: Node, runner: QueryRunner) -> None:
    # The COPY's transaction is rolled back in the same message as the COPY.
    with runner.run(
        "SELECT lo_create(0)::int8", maxrec=None, timeout_s=5, copy_if=_always
    ) as result:
        (row,) = _copied(result)
    assert int.from_bytes(_fields(row)[0] or b"") > 0
    assert node.scalar("SELECT count(*) FROM pg_largeobject_metadata") == 0


@pytest.mark.parametrize("maxrec", [None, 3])
def test_abandoned_copy_frees_the_connection(runner: QueryRunner, maxrec: int | None) -> None:
    """A COPY read only in part (a client gone; MAXREC + 1 rows of a LIMITed COPY) leaves its
    connection usable: the pool's backends serve the next queries, none is thrown away."""
    pids: list[int] = []
    for _ in range(5):  # more than the pool holds: each must come back, its COPY ended
        with runner.run(
            "SELECT g FROM generate_series(1, 10000000) g",
            maxrec=maxrec,
            timeout_s=30,
            copy_if=_always,
            on_backend=pids.append,
        ) as result:
            next(result.rows)
    with runner.run("SELECT 1", maxrec=None, timeout_s=5, on_backend=pids.append) as result:
        assert list(result.rows) == [(1,)]
    assert len(set(pids)) <= 2, pids  # the pool's two connections, none replaced


def test_a_stalled_copy_reader_loses_its_backend(node: Node) -> None:
    """A reader that stops reading without going away (a stalled client) leaves the server
    blocked on a full socket, where statement_timeout cannot reach it; the runner's watchdog
    terminates the backend a grace period after the time limit, and the rest of the stream
    is an error."""
    # Rows that flow from the first (a function in FROM is materialised whole first).
    query = "SELECT a, repeat('x', 200) FROM generate_series(1, 3000) a, generate_series(1, 3000) b"

    def backend_after_stall(grace: float) -> tuple[bool, Exception | None]:
        pool = ConnectionPool(node.db.query_conninfo(), min_size=1, max_size=1, open=True)
        runner = QueryRunner(pool, copy_grace=grace)
        pids: list[int] = []
        failure: Exception | None = None
        try:
            with runner.run(
                query, maxrec=None, timeout_s=0.5, on_backend=pids.append, copy_if=_always
            ) as result:
                rows = iter(result.rows)
                next(rows)
                time.sleep(2.5)  # stalled: the limit, and the short grace, pass meanwhile
                alive = bool(node.rows("SELECT 1 FROM pg_stat_activity WHERE pid = %s", pids[0]))
                try:
                    for _ in rows:
                        pass
                except (QueryError, ServiceUnavailable) as exc:
                    failure = exc
        finally:
            pool.close()
        return alive, failure

    # Not vacuous: without the watchdog the stalled COPY outlives its limit...
    alive, _ = backend_after_stall(grace=60)
    assert alive
    # ... and with it, it does not.
    alive, failure = backend_after_stall(grace=0.5)
    assert not alive
    assert isinstance(failure, ServiceUnavailable), failure  # the stream ends in an error


def test_a_stale_description_converts_or_fails_never_misreads(
    node: Node, runner: QueryRunner
) -> None:
    """Descriptions are kept by SQL text for the process's life, like the published
    metadata (a schema migration comes with a restart); a COPY casts each column to its
    described type, so that even a stale description never makes the writer read bytes as
    another type: the values are converted to the described type, or the query fails."""
    with node.db.cluster.connect(SUPERUSER, node.db.dbname, autocommit=True) as conn:
        conn.execute("CREATE TABLE public.scratch (a int8)")
        conn.execute("INSERT INTO public.scratch VALUES (7), (8)")
        conn.execute("GRANT SELECT ON public.scratch TO vo_query")
    query = "SELECT a FROM public.scratch"

    def values() -> list[bytes | None]:
        with runner.run(query, maxrec=None, timeout_s=5, copy_if=_always) as result:
            assert [c.type_oid for c in result.columns] == [20]
            return [_fields(row)[0] for row in _copied(result)]

    assert values() == [(7).to_bytes(8, "big"), (8).to_bytes(8, "big")]
    with node.db.cluster.connect(SUPERUSER, node.db.dbname, autocommit=True) as conn:
        conn.execute("ALTER TABLE public.scratch ALTER a TYPE int4")
    # Four-byte integers now, but the kept description says int8: they arrive as int8.
    assert values() == [(7).to_bytes(8, "big"), (8).to_bytes(8, "big")]
    with node.db.cluster.connect(SUPERUSER, node.db.dbname, autocommit=True) as conn:
        conn.execute("ALTER TABLE public.scratch ALTER a TYPE text USING a || ' apples'")
    with pytest.raises(QueryError, match="invalid input syntax"):
        values()


def test_copy_is_not_taken_for_types_it_cannot_cast_or_when_declined(
    runner: QueryRunner,
) -> None:
    with runner.run("SELECT 1::numeric", maxrec=None, timeout_s=5, copy_if=_always) as result:
        assert not result.copied and list(result.rows) == [(1,)]
    seen: list[list[int]] = []

    def decline(columns: list[ResultColumn]) -> bool:
        seen.append([c.type_oid for c in columns])
        return False

    with runner.run("SELECT 1, 'x'", maxrec=None, timeout_s=5, copy_if=decline) as result:
        assert not result.copied and list(result.rows) == [(1, "x")]
    assert seen == [[23, 25]]


def test_copy_runs_the_query_and_nothing_else(node: Node, runner: QueryRunner) -> None:
    """The COPY message runs every statement in it: the query is parsed alone first (one
    statement or a refusal), and a trailing comment cannot swallow the rest."""
    with runner.run("SELECT 41 + 1 -- the answer", maxrec=None, timeout_s=5, copy_if=_always) as r:
        assert [_fields(row) for row in _copied(r)] == [[(42).to_bytes(4, "big")]]
    # Inside the COPY message this would be valid SQL taking a session-level advisory lock
    # (which outlives the ROLLBACK); alone it is not one statement, so the describe refuses
    # it and nothing is sent.
    escape = (
        "SELECT 1) AS q (c0)) TO STDOUT (FORMAT binary); SELECT pg_advisory_lock(4242);"
        " COPY (SELECT * FROM (SELECT 1"
    )
    with (
        pytest.raises(QueryError, match="syntax error"),
        runner.run(escape, maxrec=None, timeout_s=5, copy_if=_always),
    ):
        pass
    held = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242"
    assert node.scalar(held) == 0
