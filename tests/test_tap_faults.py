"""Faults: the database goes away and comes back while the node serves; a client goes away
in the middle of a result."""

from __future__ import annotations

import io
import socket
import time
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
from astropy.io.votable import parse
from conftest import Node
from psycopg.rows import dict_row

from vo_node.db.cluster import SUPERUSER

QUERY = {"LANG": "ADQL", "QUERY": "SELECT TOP 3 corotid FROM corot.stars"}


def test_database_restart_gives_503_then_service_resumes(served: tuple[Node, str]) -> None:
    node, base = served
    assert requests.get(base + "/tap/sync", params=QUERY, timeout=30).status_code == 200
    node.db.cluster.stop()
    try:
        assert not node.db.cluster.running(), "the cluster did not stop"
        started = time.monotonic()
        down = requests.get(base + "/tap/sync", params=QUERY, timeout=30)
        elapsed = time.monotonic() - started
        assert down.status_code == 503, down.text[-1500:]
        assert elapsed < 10  # a quick answer, not a hang
        status = [
            i
            for i in parse(io.BytesIO(down.content)).resources[0].infos
            if i.name == "QUERY_STATUS"
        ]
        assert status[-1].value == "ERROR"
        assert requests.get(base + "/health", timeout=30).status_code == 503
    finally:
        node.db.cluster.start()
    # Served again without restarting the node: a request or two may still meet a pooled
    # connection the restart broke (and get a 503), then every request succeeds.
    deadline = time.monotonic() + 30
    answers = []
    while time.monotonic() < deadline:
        answers.append(requests.get(base + "/tap/sync", params=QUERY, timeout=30).status_code)
        if answers[-3:] == [200, 200, 200]:
            break
        time.sleep(0.2)
    assert answers[-3:] == [200, 200, 200], answers
    assert set(answers) <= {200, 503}, answers
    assert requests.get(base + "/health", timeout=30).status_code == 200
    again = requests.get(base + "/tap/sync", params=QUERY, timeout=30)
    assert len(parse(io.BytesIO(again.content)).get_first_table().array) == 3


# 120 sample stars cubed: 1.7 million rows, tens of MB in any format, far more than the kernel
# socket buffers hold (a few MB on loopback), so the server is still writing when the client
# leaves.
CROSS_JOIN = (
    "SELECT a.corotid, b.corotid AS corotid_b, c.corotid AS corotid_c "
    "FROM corot.stars AS a, corot.stars AS b, corot.stars AS c"
)
# A user query's backend: the query role with a transaction open, declaring or fetching its
# server-side cursor (QueryRunner streams through DECLARE "q_..." / FETCH FORWARD n FROM
# "q_..."; the ADQL text itself is only visible during the DECLARE). Between fetches the
# backend is "idle in transaction", not "active": what holds the cursor, the snapshot and the
# pooled connection is the open transaction, so that is what is looked for.
OPEN_QUERIES = """
    SELECT pid, state, xact_start, now() - xact_start AS open_for, left(query, 120) AS query
    FROM pg_stat_activity
    WHERE datname = current_database() AND usename = 'vo_query' AND xact_start IS NOT NULL
      AND (query LIKE 'FETCH %' OR query LIKE 'DECLARE %' OR query LIKE '%; COPY (SELECT %')
"""
BACKEND = """
    SELECT pid, state, xact_start, backend_xmin, left(query, 120) AS query
    FROM pg_stat_activity WHERE pid = %s
"""


def _activity(
    node: Node, query: str, params: tuple[object, ...] | None = None
) -> list[dict[str, Any]]:
    # As the superuser: the admin role (node.rows) lacks pg_read_all_stats, so pg_stat_activity
    # shows it other roles' state and query as NULL and "<insufficient privilege>".
    with node.db.cluster.connect(SUPERUSER, node.db.dbname, autocommit=True) as conn:
        return conn.cursor(row_factory=dict_row).execute(query, params).fetchall()


def _start_stream(base: str, fmt: str) -> socket.socket:
    """Send a sync query for CROSS_JOIN on a raw socket, read the status, headers and the
    first 64 KiB of the body, and return the socket: from then on the client reads nothing."""
    url = urlsplit(base)
    params = {"LANG": "ADQL", "MAXREC": "10000000", "RESPONSEFORMAT": fmt, "QUERY": CROSS_JOIN}
    sock = socket.create_connection((url.hostname, url.port), timeout=30)
    sock.sendall(
        f"GET /tap/sync?{urlencode(params)} HTTP/1.1\r\nHost: {url.netloc}\r\n\r\n".encode()
    )
    received = b""
    while b"\r\n\r\n" not in received or len(received.partition(b"\r\n\r\n")[2]) < 65536:
        data = sock.recv(65536)
        assert data, f"{fmt}: the server closed the connection early: {received[:500]!r}"
        received += data
    assert received.startswith(b"HTTP/1.1 200 "), received[:500]
    return sock


def test_client_disconnect_mid_stream_stops_its_query(served: tuple[Node, str]) -> None:
    """A client that goes away while its sync result streams ends its query: the backend's
    transaction (its cursor, snapshot and pooled connection) ends within seconds of the
    disconnect, not when the whole result would have been written nor at the execution limit;
    and the service answers the next query.

    Both row paths are covered: VOTable (the default, BINARY2 from binary COPY rows, where the
    COPY must be cancelled) and CSV (tuples from a cursor, fetched batch by batch); each is a
    generator that must pass the close on to the query's context.
    """
    node, base = served
    for fmt in ("votable", "csv"):
        assert _activity(node, OPEN_QUERIES) == [], "a user query is open before the test"
        sock = _start_stream(base, fmt)
        try:
            # Not vacuous: the query is open while the client holds the connection (polled:
            # the body has begun, but the admin connection may look a moment before a FETCH).
            deadline = time.monotonic() + 5
            while not (open_queries := _activity(node, OPEN_QUERIES)):
                assert time.monotonic() < deadline, f"{fmt}: no open user query while streaming"
                time.sleep(0.1)
            assert len(open_queries) == 1, open_queries
            pid, xact_start = open_queries[0]["pid"], open_queries[0]["xact_start"]
            # ... and stays open while the client merely stops reading (the server is blocked
            # on a full socket, not finishing), so what ends it below is the disconnect.
            time.sleep(0.5)
            still = _activity(node, OPEN_QUERIES)
            assert [(r["pid"], r["xact_start"]) for r in still] == [(pid, xact_start)], still
        finally:
            # With unread data in its receive buffer the kernel answers close() with a RST, as
            # for any client that quits mid-download: the server's next write fails.
            sock.close()
        left = time.monotonic()
        while True:
            backend = _activity(node, BACKEND, (pid,))
            # Ended: the backend is gone, or back in the pool with no transaction open.
            if not backend or (backend[0]["state"] == "idle" and backend[0]["xact_start"] is None):
                break
            waited = time.monotonic() - left
            assert waited < 15, (
                f"{fmt}: the query of a client that went away still runs {waited:.1f} s later;"
                f" pg_stat_activity: {backend[0]}"
            )
            time.sleep(0.1)
        assert _activity(node, OPEN_QUERIES) == []
    # The service is unharmed (the connection went back to the pool): the next query works.
    again = requests.get(base + "/tap/sync", params=QUERY, timeout=30)
    assert again.status_code == 200, again.text[:500]
    assert len(parse(io.BytesIO(again.content)).get_first_table().array) == 3
