"""The callers of the distribution-policy tests: users with every kind of credentials and
the rights of each role, over the served sample with release dates set (shared by the leak-test
matrix of test_policy.py and the feed tests).

What each caller may see is computed here in Python from the archive's rows, independently of
the SQL policy.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import date, timedelta

import requests
from astropy.io.votable import parse_single_table
from astropy.table import Table
from conftest import Node

from vo_node.auth import store
from vo_node.auth.passwords import hash_password

PASSWORD = "correct horse battery"
TODAY = date.today()
LATER = TODAY + timedelta(days=30)


@dataclass
class Caller:
    """A role of the matrix and how it authenticates."""

    name: str
    groups: tuple[str, ...] = ()
    scheme: str = "basic"  # basic | bearer | cookie | none
    session: requests.Session = field(default_factory=requests.Session)


@dataclass
class Archive:
    node: Node
    base: str
    callers: dict[str, Caller]
    gi_run: str  # the run of the GI of the run
    other_run: str  # the run of the GI of another run

    def products(self) -> list[dict[str, object]]:
        rows = self.node.rows(
            "SELECT p.product_id, p.level, r.code, p.release_date, r.release_date,"
            " p.access_group, p.sha256"
            " FROM archive.products p JOIN archive.runs r USING (run_id) ORDER BY 1"
        )
        keys = ("id", "level", "run", "own_release", "run_release", "group", "sha256")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def expected(self, caller: Caller) -> set[int]:
        """The policy as the issue states it, written out independently of the SQL."""
        gi_runs = {
            "gi-run": {self.gi_run},
            "gi-other": {self.other_run},
        }
        runs = set().union(*(gi_runs.get(g, set()) for g in caller.groups))
        seen = set()
        for p in self.products():
            release = p["own_release"] or p["run_release"]
            released = release is not None and release <= TODAY  # type: ignore[operator]
            if (
                "admin" in caller.groups
                or (p["level"] in ("N2", "N3") and (released or p["run"] in runs))
                or (p["level"] == "N1" and "n1-community" in caller.groups)
                or (p["level"] == "N2" and "coi" in caller.groups)
            ):
                seen.add(int(p["id"]))  # type: ignore[call-overload]
        return seen

    def tap(self, caller: Caller, query: str, **extra: object) -> Table:
        resp = caller.session.post(
            self.base + "/tap/sync",
            data={"REQUEST": "doQuery", "LANG": "ADQL", "QUERY": query, "MAXREC": "100000"},
            timeout=60,
            **extra,  # type: ignore[arg-type]
        )
        assert resp.status_code == 200, resp.text[:500]
        table = parse_single_table(io.BytesIO(resp.content)).to_table()
        return table


def login(base: str, caller: Caller) -> None:
    resp = caller.session.post(
        base + "/login",
        data={"username": caller.name, "password": PASSWORD},
        headers={"Accept": "application/json"},
        timeout=30,
    )
    assert resp.status_code == 200 and resp.json() == {"user": caller.name}
    assert "vo_node_session" in caller.session.cookies


def make_archive(served: tuple[Node, str]) -> Archive:
    """The served sample with release dates, groups, users and credentials for the matrix:
    two runs unreleased (one GI group each), the third released; one product released early
    by its own date, one held back by its own date."""
    node, base = served
    codes = [str(r[0]) for r in node.rows("SELECT code FROM archive.runs ORDER BY code")]
    assert len(codes) >= 3
    gi_run, other_run, public_run = codes[:3]
    with node.db.admin() as conn:
        conn.execute(
            "UPDATE archive.runs SET release_date = %s WHERE code = ANY(%s)",
            (LATER, [gi_run, other_run]),
        )
        conn.execute(
            "UPDATE archive.runs SET release_date = %s WHERE code = %s",
            (TODAY - timedelta(days=400), public_run),
        )
        for code, when in ((gi_run, TODAY - timedelta(days=1)), (public_run, LATER)):
            conn.execute(
                "UPDATE archive.products SET release_date = %s WHERE product_id = ("
                " SELECT min(product_id) FROM archive.products JOIN archive.runs USING (run_id)"
                " WHERE code = %s AND level = 'N2')",
                (when, code),
            )
        store.create_group(conn, "gi-run", "gi", runs=[gi_run])
        store.create_group(conn, "gi-other", "gi", runs=[other_run])
        callers = {
            "anonymous": Caller("anonymous", scheme="none"),
            "gi_other": Caller("gi_other", ("gi-other",)),
            "gi_run": Caller("gi_run", ("gi-run",), scheme="bearer"),
            "coi": Caller("coi", ("coi",), scheme="cookie"),
            "n1": Caller("n1", ("n1-community",)),
            "admin": Caller("admin", ("admin",)),
        }
        hashed = hash_password(PASSWORD)
        for caller in callers.values():
            if caller.scheme == "none":
                continue
            store.create_user(conn, caller.name, password_hash=hashed)
            for group in caller.groups:
                store.add_member(conn, caller.name, group)
            if caller.scheme == "basic":
                caller.session.auth = (caller.name, PASSWORD)
            elif caller.scheme == "bearer":
                token = store.create_token(conn, caller.name, label="matrix")
                caller.session.headers["Authorization"] = f"Bearer {token}"
    callers["coi"].session.headers["Accept"] = "*/*"
    login(base, callers["coi"])
    return Archive(node, base, callers, gi_run, other_run)
