"""The cluster, its roles and the schema, as later issues rely on them."""

from __future__ import annotations

import psycopg
import pytest
from conftest import Node

from vo_node.db import migrate
from vo_node.db.cluster import QUERY_ROLE, SERVICE_ROLE


def test_migrations_are_recorded_and_idempotent(node: Node) -> None:
    names = [f"{m.number:04d}_{m.name}" for m in migrate.available()]
    recorded = [
        f"{n:04d}_{m}"
        for n, m in node.rows("SELECT number, name FROM public.vo_node_migrations ORDER BY number")
    ]
    assert recorded == names
    assert node.db.migrate() == []


def test_query_role_is_read_only_and_cannot_change_identity(node: Node) -> None:
    conninfo = node.db.cluster.conninfo(QUERY_ROLE, node.db.dbname)
    with psycopg.connect(conninfo) as conn:
        assert conn.execute("SHOW default_transaction_read_only").fetchone() == ("on",)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT set_config('vo_node.user', 'admin', false)")
    with psycopg.connect(conninfo) as conn, pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        conn.execute("CREATE TEMP TABLE t (x int)")
    # The security-invoker views need the columns they read, and only those (issue 4): not
    # where files are stored, not the accounts, not the ingest's bookkeeping.
    for query in (
        "SELECT archive_path FROM archive.products",
        "SELECT * FROM archive.products",
        "SELECT count(*) FROM archive.ingest_runs",
        "SELECT * FROM accounts.users",
        "SELECT key FROM accounts.caller_key",
    ):
        with psycopg.connect(conninfo) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(query)
    row = node.scalar("SELECT rolinherit FROM pg_roles WHERE rolname = %s", QUERY_ROLE)
    assert row is False


def test_service_role_reads_but_cannot_write(node: Node) -> None:
    conninfo = node.db.cluster.conninfo(SERVICE_ROLE, node.db.dbname)
    with psycopg.connect(conninfo) as conn:
        assert conn.execute("SELECT count(*) FROM archive.products").fetchone() == (0,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM archive.products")


def test_wrong_password_is_refused(node: Node) -> None:
    conninfo = node.db.cluster.conninfo(SERVICE_ROLE, node.db.dbname).replace(
        "password=", "password=x"
    )
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(conninfo)


def test_pgsphere_index_is_used_for_cones(node: Node) -> None:
    # An empty table plans a seq scan unless told otherwise; the index must be usable at all.
    with node.db.admin() as conn:
        conn.execute("SET enable_seqscan = off")
        plan = "\n".join(
            str(r[0])
            for r in conn.execute(
                "EXPLAIN SELECT * FROM archive.stars WHERE pos <@ scircle(spoint(1.8, 0.01), 0.01)"
            )
        )
    assert "stars_pos_idx" in plan


def test_cli_help_for_every_command(node: Node) -> None:
    for command in ("init", "migrate", "sample-data", "ingest", "audit", "serve", "settings"):
        proc = node.cli(command, "--help", check=True)
        assert "Usage: " in proc.stdout and len(proc.stdout.splitlines()) > 4


def test_init_is_idempotent(node: Node) -> None:
    first = node.cli("init", check=True)
    assert "cluster present" in first.stdout
    assert "none (up to date)" in first.stdout
