"""`vo-node users` and `vo-node release`: accounts and release dates from the command line,
checked in the database, and for release dates through the distribution policy itself."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
from conftest import Node

from vo_node.auth import store
from vo_node.auth.passwords import check_password


def vo(node: Node, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """``vo-node ARGS`` with ``stdin`` as its input (never the terminal: nothing prompts)."""
    return subprocess.run(
        [sys.executable, "-m", "vo_node", *args],
        env=node.env(),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, f"{proc.args}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def refused(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    """Exit 2 with one line on stderr that says why."""
    assert proc.returncode == 2, f"{proc.args}:\n{proc.stdout}\n{proc.stderr}"
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vo-node: "), proc.stderr
    for word in words:
        assert word in lines[0], lines[0]


def user_names(node: Node) -> list[object]:
    return [r[0] for r in node.rows("SELECT user_name FROM accounts.users ORDER BY 1")]


def test_add_with_password_from_stdin_and_list(node: Node) -> None:
    ok(
        vo(
            node,
            *("users", "add", "alice", "--full-name", "Alice Liddell", "--email", "a@example.org"),
            *("--group", "coi", "--group", "n1-community", "--password-stdin"),
            stdin="correct horse\nsecond line\n",
        )
    )
    ok(vo(node, "users", "add", "bob", "--no-password"))

    stored = node.scalar("SELECT password_hash FROM accounts.users WHERE user_name = 'alice'")
    assert isinstance(stored, str) and stored.startswith("$argon2id$")
    assert "correct horse" not in stored
    assert check_password(stored, "correct horse")  # the first line, without its newline
    assert node.scalar("SELECT password_hash FROM accounts.users WHERE user_name = 'bob'") is None

    listed = json.loads(ok(vo(node, "users", "list", "--json")))
    assert [u["name"] for u in listed] == ["alice", "bob"]
    alice, bob = listed
    assert alice["groups"] == ["coi", "n1-community"]
    assert (alice["password"], alice["disabled"]) == (True, False)
    assert (alice["full_name"], alice["email"]) == ("Alice Liddell", "a@example.org")
    assert datetime.fromisoformat(alice["created"]) > datetime.now(UTC) - timedelta(hours=1)
    assert (bob["groups"], bob["password"], bob["disabled"]) == ([], False, False)


def test_add_refusals_change_nothing(node: Node) -> None:
    ok(vo(node, "users", "add", "alice", "--no-password"))
    refused(vo(node, "users", "add", "alice", "--no-password"), "'alice' exists")
    refused(vo(node, "users", "add", "carol", "--password-stdin", stdin="short\n"), "8 characters")
    refused(vo(node, "users", "add", "bad name", "--no-password"), "bad user name")
    # The user and its groups are one transaction: an unknown group leaves no user behind.
    refused(
        vo(node, "users", "add", "dave", "--no-password", "--group", "nosuch"), "no group 'nosuch'"
    )
    # No terminal to type on, and neither flag: refused, not a hang or an empty password.
    refused(vo(node, "users", "add", "erin"), "--password-stdin")
    assert user_names(node) == ["alice"]
    assert node.scalar("SELECT count(*) FROM accounts.memberships") == 0


def test_passwd(node: Node) -> None:
    ok(vo(node, "users", "add", "alice", "--password-stdin", stdin="first password\n"))
    first = node.scalar("SELECT password_hash FROM accounts.users")
    ok(vo(node, "users", "passwd", "alice", "--password-stdin", stdin="second password\n"))
    second = node.scalar("SELECT password_hash FROM accounts.users")
    assert isinstance(second, str) and second != first
    assert check_password(second, "second password")
    assert not check_password(second, "first password")

    refused(vo(node, "users", "passwd", "alice", "--password-stdin", stdin="tiny\n"), "8 char")
    refused(
        vo(node, "users", "passwd", "nobody", "--password-stdin", stdin="long enough\n"),
        "no user 'nobody'",
    )
    assert node.scalar("SELECT password_hash FROM accounts.users") == second


def test_join_and_leave(node: Node) -> None:
    ok(vo(node, "users", "add", "bob", "--no-password"))
    ok(vo(node, "users", "join", "bob", "n1-community"))
    assert node.rows("SELECT user_name, group_name FROM accounts.memberships") == [
        ("bob", "n1-community")
    ]
    shown = {g["name"]: g for g in json.loads(ok(vo(node, "users", "groups", "--json")))}
    assert set(shown) == {"admin", "n1-community", "coi"}
    assert shown["n1-community"]["members"] == ["bob"]
    assert (shown["coi"]["kind"], shown["coi"]["members"]) == ("members", [])

    ok(vo(node, "users", "leave", "bob", "n1-community"))
    assert node.scalar("SELECT count(*) FROM accounts.memberships") == 0
    refused(vo(node, "users", "leave", "bob", "n1-community"), "no member 'bob'")
    refused(vo(node, "users", "join", "bob", "nosuch"), "no group 'nosuch'")
    refused(vo(node, "users", "join", "nobody", "coi"), "no user 'nobody'")
    assert node.scalar("SELECT count(*) FROM accounts.memberships") == 0


def test_gi_group_with_runs(node: Node, sample_dir: Path) -> None:
    node.cli("ingest", str(sample_dir), check=True)
    codes = [str(r[0]) for r in node.rows("SELECT code FROM archive.runs ORDER BY code")]
    assert len(codes) >= 2

    ok(
        vo(
            node,
            *("users", "group-add", "gi-2024", "--kind", "gi", "--description", "GI programme"),
            *("--run", codes[1], "--run", codes[0]),
        )
    )
    shown = {g["name"]: g for g in json.loads(ok(vo(node, "users", "groups", "--json")))}
    assert shown["gi-2024"]["kind"] == "gi"
    assert shown["gi-2024"]["runs"] == codes[:2]
    assert shown["gi-2024"]["description"] == "GI programme"

    # One unknown run: no group at all (not a group with the other run).
    refused(
        vo(node, "users", "group-add", "gi-bad", "--kind", "gi", "--run", codes[0], "--run", "XX9"),
        "no run 'XX9'",
    )
    refused(
        vo(node, "users", "group-add", "club", "--kind", "members", "--run", codes[0]),
        "only a 'gi' group",
    )
    refused(vo(node, "users", "group-add", "coi", "--kind", "members"), "'coi' exists")
    assert [r[0] for r in node.rows("SELECT group_name FROM accounts.groups ORDER BY 1")] == [
        "admin",
        "coi",
        "gi-2024",
        "n1-community",
    ]
    assert node.rows("SELECT DISTINCT group_name FROM accounts.group_runs") == [("gi-2024",)]


def test_token_shown_once_stored_as_sha256_and_revoked(node: Node) -> None:
    ok(vo(node, "users", "add", "alice", "--no-password"))
    made = vo(node, "users", "token", "alice", "--label", "laptop", "--expires-days", "30")
    token = ok(made).strip()
    assert ok(made).count("\n") == 1  # the token alone on stdout, for `$(...)`
    match = re.fullmatch(r"vont_([0-9a-f]{12})_([A-Za-z0-9_-]{40,})", token)
    assert match, token
    token_id, secret = match.groups()
    assert "shown once" in made.stderr and secret not in made.stderr

    rows = node.rows(
        "SELECT token_id, user_name, secret_sha256, label, expires_at, revoked_at"
        " FROM accounts.tokens"
    )
    assert len(rows) == 1
    tid, user, digest, label, expires, revoked = rows[0]
    assert (tid, user, label, revoked) == (token_id, "alice", "laptop", None)
    assert digest == hashlib.sha256(secret.encode()).hexdigest()
    assert isinstance(expires, datetime)
    assert timedelta(days=29) < expires - datetime.now(UTC) <= timedelta(days=30)
    # Nowhere in the table, in any column.
    assert (
        node.scalar("SELECT count(*) FROM accounts.tokens t WHERE t::text LIKE %s", f"%{secret}%")
        == 0
    )
    with node.db.admin() as conn:
        assert store.token_user(conn, token) == "alice"  # the printed token works

    listed = json.loads(ok(vo(node, "users", "tokens", "alice", "--json")))
    assert [(t["token_id"], t["label"], t["state"]) for t in listed] == [
        (token_id, "laptop", "active")
    ]

    ok(vo(node, "users", "revoke", token_id))
    assert node.scalar("SELECT revoked_at FROM accounts.tokens") is not None
    with node.db.admin() as conn:
        assert store.token_user(conn, token) is None
    listed = json.loads(ok(vo(node, "users", "tokens", "--json")))
    assert [t["state"] for t in listed] == ["revoked"]
    refused(vo(node, "users", "revoke", token_id), "no active token")
    refused(vo(node, "users", "token", "nobody"), "no user 'nobody'")
    refused(vo(node, "users", "tokens", "nobody"), "no user 'nobody'")
    assert node.scalar("SELECT count(*) FROM accounts.tokens") == 1


def test_disable_enable_remove(node: Node) -> None:
    ok(vo(node, "users", "add", "alice", "--no-password", "--group", "coi"))
    token = ok(vo(node, "users", "token", "alice")).strip()

    ok(vo(node, "users", "disable", "alice"))
    assert node.scalar("SELECT disabled_at FROM accounts.users") is not None
    assert json.loads(ok(vo(node, "users", "list", "--json")))[0]["disabled"] is True
    with node.db.admin() as conn:
        assert store.token_user(conn, token) is None

    ok(vo(node, "users", "enable", "alice"))
    assert node.scalar("SELECT disabled_at FROM accounts.users") is None
    with node.db.admin() as conn:
        assert store.token_user(conn, token) == "alice"

    ok(vo(node, "users", "remove", "alice"))
    assert user_names(node) == []
    assert node.scalar("SELECT count(*) FROM accounts.memberships") == 0
    assert node.scalar("SELECT count(*) FROM accounts.tokens") == 0
    refused(vo(node, "users", "remove", "alice"), "no user 'alice'")
    refused(vo(node, "users", "disable", "alice"), "no user 'alice'")


def test_release_per_run_and_per_product(node: Node, sample_dir: Path) -> None:
    node.cli("ingest", str(sample_dir), check=True)
    code, n2 = node.rows(
        "SELECT r.code, count(*) FROM archive.products p JOIN archive.runs r USING (run_id)"
        " WHERE p.level = 'N2' GROUP BY r.code ORDER BY r.code LIMIT 1"
    )[0]
    code = str(code)
    assert isinstance(n2, int) and n2 > 1
    # Released by level: all of the run's N2/N3 products, and none has its own date yet.
    released = node.scalar(
        "SELECT count(*) FROM archive.products p JOIN archive.runs r USING (run_id)"
        " WHERE r.code = %s AND p.level IN ('N2', 'N3')",
        code,
    )
    assert node.scalar("SELECT count(*) FROM archive.products WHERE release_date IS NOT NULL") == 0

    def anonymous_n2() -> int:
        """What the web tier's role sees without a caller: the policy, not this code."""
        with psycopg.connect(node.db.cluster.conninfo("vo_service", node.db.dbname)) as conn:
            row = conn.execute(
                "SELECT count(*) FROM archive.products p JOIN archive.runs r USING (run_id)"
                " WHERE r.code = %s AND p.level = 'N2'",
                (code,),
            ).fetchone()
            assert row is not None
            return int(row[0])

    def run_date() -> object:
        return node.scalar("SELECT release_date FROM archive.runs WHERE code = %s", code)

    change = json.loads(ok(vo(node, "release", code, "2999-01-01", "--json")))
    assert run_date() == date(2999, 1, 1)
    assert (change["run"], change["release_date"], change["public"]) == (code, "2999-01-01", 0)
    assert anonymous_n2() == 0

    out = ok(vo(node, "release", code, "2001-02-03"))
    assert run_date() == date(2001, 2, 3)
    assert f"public: {released} of {released} (was 0): {released} made public" in out
    assert anonymous_n2() == n2

    # A product's own date overrides its run's, both ways; 'none' falls back to the run's.
    pid = node.scalar(
        "SELECT min(product_id) FROM archive.products p JOIN archive.runs r USING (run_id)"
        " WHERE r.code = %s AND p.level = 'N2'",
        code,
    )
    assert isinstance(pid, int)

    def own_date() -> object:
        return node.scalar("SELECT release_date FROM archive.products WHERE product_id = %s", pid)

    out = ok(vo(node, "release", "--product", str(pid), "2999-12-31"))
    assert own_date() == date(2999, 12, 31) and "made proprietary" in out
    assert anonymous_n2() == n2 - 1
    ok(vo(node, "release", "--product", str(pid), "none"))
    assert own_date() is None
    assert anonymous_n2() == n2

    out = ok(vo(node, "release", code, "none"))
    assert run_date() is None and "made proprietary" in out
    assert anonymous_n2() == 0
    ok(vo(node, "release", "--product", str(pid), "2000-01-01"))
    assert anonymous_n2() == 1

    refused(vo(node, "release", "XX9", "2020-01-01"), "no run 'XX9'", code)
    refused(vo(node, "release", "--product", "999999999", "2020-01-01"), "no product 999999999")
    refused(vo(node, "release", code, "2020-13-01"), "bad release date")
    refused(vo(node, "release", code, "01/02/2020"), "bad release date")
    assert run_date() is None and own_date() == date(2000, 1, 1)
