"""User SQL cannot change who it runs as: the known bypasses of a GUC-keyed policy, tried.

Two lines of defence, each tried on its own:
- the ADQL translator lets only published tables and listed functions through (over HTTP);
- the database itself, as if a query had got past the translator with arbitrary SQL run as
  the query role ``vo_query``: ``set_config`` is not executable, roles cannot be switched,
  files cannot be read, and the caller ticket is signed and bound to one backend, so a
  forged, expired or replayed ticket is the anonymous caller.

Each refusal is set beside a positive control (the genuine ticket works), so that a test
cannot pass because nothing was visible in the first place.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import psycopg
import pytest
import requests
from conftest import Node

from vo_node.auth import store
from vo_node.auth.tickets import Tickets
from vo_node.db.cluster import QUERY_ROLE, SUPERUSER

COUNT = "SELECT count(*) FROM corot.products"


@pytest.fixture
def archive(node: Node, sample_dir: Path) -> Iterator[tuple[Node, Tickets, int, int]]:
    """The sample with one run unreleased; an administrator 'root'. Yields the node, the
    tickets, and how many products anonymous and the administrator see."""
    node.cli("ingest", str(sample_dir), check=True)
    with node.db.admin() as conn:
        conn.execute(
            "UPDATE archive.runs SET release_date = %s"
            " WHERE code = (SELECT min(code) FROM archive.runs)",
            (date.today() + timedelta(days=10),),
        )
        store.create_user(conn, "root")
        store.add_member(conn, "root", "admin")
        key = store.caller_key(conn)
        total = int(conn.execute("SELECT count(*) FROM archive.products").fetchone()[0])  # type: ignore[index]
    tickets = Tickets(key)
    with _query_conn(node) as conn:
        public = _count(conn, "")
        assert _count(conn, tickets.issue("root", conn.info.backend_pid)) == total
    assert 0 < public < total
    yield node, tickets, public, total


def _query_conn(node: Node) -> psycopg.Connection:
    return psycopg.connect(node.db.cluster.conninfo(QUERY_ROLE, node.db.dbname), autocommit=True)


def _count(conn: psycopg.Connection, ticket: str) -> int:
    """What the runner does: a read-only transaction naming the caller."""
    conn.execute("BEGIN READ ONLY")
    try:
        conn.execute("SELECT 1")  # a statement of the transaction before the SET LOCAL
        conn.execute(psycopg.sql.SQL("SET LOCAL vo_node.caller = {}").format(ticket))
        return int(conn.execute(COUNT).fetchone()[0])  # type: ignore[index]
    finally:
        conn.execute("ROLLBACK")


def test_set_config_is_not_executable_even_in_a_cte(
    archive: tuple[Node, Tickets, int, int],
) -> None:
    node, tickets, public, _ = archive
    with _query_conn(node) as conn:
        genuine = tickets.issue("root", conn.info.backend_pid)
        for attempt in (
            "SELECT set_config('vo_node.caller', %s, true)",
            "WITH x AS MATERIALIZED (SELECT set_config('vo_node.caller', %s, true) AS v)"
            " SELECT count(*) FROM corot.products, x",
            "SELECT count(*) FROM corot.products"
            " WHERE set_config('vo_node.caller', %s, true) IS NOT NULL",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(attempt, (genuine,))
        assert _count(conn, "") == public


def test_a_forged_expired_or_replayed_ticket_is_anonymous(
    archive: tuple[Node, Tickets, int, int],
) -> None:
    node, tickets, public, total = archive
    with _query_conn(node) as conn, _query_conn(node) as other:
        pid = conn.info.backend_pid
        genuine = tickets.issue("root", pid)
        assert _count(conn, genuine) == total  # the control: a genuine ticket works
        _, expires, _, mac = genuine.split(":")
        forged = [
            "root",
            f"root:{expires}:{pid}:{'0' * 64}",
            f"root:{int(expires) + 3600}:{pid}:{mac}",  # a later expiry, same mac
            tickets.issue("root", pid, now=time.time() - 3600),  # expired
            Tickets(b"not the key").issue("root", pid),
        ]
        for ticket in forged:
            assert _count(conn, ticket) == public, ticket
        # A plain SET (a query that could run any SQL) changes nothing either.
        conn.execute(psycopg.sql.SQL("SET vo_node.caller = {}").format(forged[1]))
        assert int(conn.execute(COUNT).fetchone()[0]) == public  # type: ignore[index]
        # Seen in another session's query text, a ticket is no use elsewhere: it names the
        # backend it was made for.
        assert _count(other, genuine) == public
        assert _count(other, tickets.issue("root", other.info.backend_pid)) == total


def test_other_sessions_query_text_is_out_of_reach(
    archive: tuple[Node, Tickets, int, int],
) -> None:
    """The COPY path sends its ticket in its query text: the query role may not read other
    sessions' texts (not even its own role's), whatever view or function it tries."""
    node, tickets, public, _ = archive
    with _query_conn(node) as victim, _query_conn(node) as thief:
        ticket = tickets.issue("root", victim.info.backend_pid)
        victim.execute("BEGIN READ ONLY")
        victim.execute(psycopg.sql.SQL("SET LOCAL vo_node.caller = {}").format(ticket))
        pid = victim.info.backend_pid
        for attempt in (
            "SELECT query FROM pg_stat_activity WHERE pid = %s",
            "SELECT query FROM pg_stat_get_activity(%s)",
            "SELECT pg_stat_get_backend_activity(b) FROM pg_stat_get_backend_idset() b"
            " WHERE pg_stat_get_backend_pid(b) = %s",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                thief.execute(attempt, (pid,))
        # What job cancels need is still there: when a query-role session began.
        started = thief.execute("SELECT public.query_backend_start(%s)", (pid,)).fetchone()
        assert started is not None and started[0] is not None
        victim.execute("ROLLBACK")
        assert _count(thief, ticket) == public  # and a ticket is no use on another backend


def test_roles_cannot_be_switched(archive: tuple[Node, Tickets, int, int]) -> None:
    node, _, public, _ = archive
    with _query_conn(node) as conn:
        for attempt in (
            "SET SESSION AUTHORIZATION vo_admin",
            "SET ROLE vo_admin",
            "SET ROLE vo_service",
            f"SET ROLE {SUPERUSER}",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(attempt)
        conn.execute("RESET ROLE")
        conn.execute("RESET SESSION AUTHORIZATION")
        assert conn.execute("SELECT current_user, session_user").fetchone() == (
            QUERY_ROLE,
            QUERY_ROLE,
        )
        assert _count(conn, "") == public
        # The role's own defaults: read-only transactions refuse the change, and a default
        # caller would be a ticket like any other, checked the same way.
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("ALTER ROLE vo_query SET vo_node.caller = 'root'")


def test_files_keys_and_accounts_cannot_be_read(archive: tuple[Node, Tickets, int, int]) -> None:
    node, *_ = archive
    with _query_conn(node) as conn:
        for attempt in (
            "SELECT pg_read_file('/etc/passwd')",
            "SELECT pg_read_binary_file('/etc/passwd')",
            "SELECT pg_ls_dir('.')",
            "SELECT pg_stat_file('postgresql.conf')",
            "SELECT lo_import('/etc/passwd')",
            "SELECT key FROM accounts.caller_key",
            "SELECT password_hash FROM accounts.users",
            "SELECT secret_sha256 FROM accounts.tokens",
            "SELECT archive_path FROM archive.products",
            "COPY (SELECT 1) TO '/tmp/vo-node-bypass'",
        ):
            with pytest.raises(
                (psycopg.errors.InsufficientPrivilege, psycopg.errors.ReadOnlySqlTransaction)
            ):
                conn.execute(attempt)


ADQL_BYPASSES = [
    "SELECT set_config('vo_node.caller', 'root', true) FROM corot.products",
    "WITH x AS (SELECT set_config('vo_node.caller', 'root', true) AS v FROM corot.stars)"
    " SELECT p.product_id FROM corot.products AS p, x",
    "SELECT current_setting('vo_node.caller') FROM corot.stars",
    "SELECT pg_read_file('/etc/passwd') FROM corot.stars",
    "SELECT product_id FROM archive.products",
    "SELECT user_name FROM accounts.users",
    "SELECT query FROM pg_stat_activity",
    "SELECT archive.caller() FROM corot.stars",
]


def test_adql_refuses_the_bypasses(served: tuple[Node, str]) -> None:
    _, base = served
    for query in ADQL_BYPASSES:
        resp = requests.post(
            base + "/tap/sync",
            data={"REQUEST": "doQuery", "LANG": "ADQL", "QUERY": query},
            timeout=30,
        )
        assert resp.status_code == 400, query
        assert b'name="QUERY_STATUS" value="ERROR"' in resp.content, query
