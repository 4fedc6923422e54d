"""Usage statistics: a scripted set of accesses to the served node, then what the statistics
say of them, through the table, the administrators' page, its CSV and PNG downloads and
`vo-node stats`; plus the parts alone (channels, countries, visitor keys, the recorder).

The expected figures come from what the client saw (status, bytes received, who asked),
never from the node's own counters.
"""

from __future__ import annotations

import csv
import hashlib
import io
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
import requests
from conftest import Node, _free_port
from PIL import Image

from vo_node.auth import store as accounts
from vo_node.auth.passwords import hash_password
from vo_node.stats.channels import CHANNELS, channel_of
from vo_node.stats.clients import CountryLookup, client_address, visitor_key
from vo_node.stats.counting import CountingBody
from vo_node.stats.period import PeriodError, parse_period
from vo_node.stats.recorder import Hit, Recorder

PASSWORD = "a long enough secret"
FLUSH_S = 0.2


@pytest.fixture
def served_env() -> dict[str, str]:
    return {"VO_NODE_STATS_FLUSH_S": str(FLUSH_S)}


@dataclass(frozen=True)
class Seen:
    """One access as the client saw it."""

    channel: str
    status: int
    sent: int  # body bytes received
    user: str | None
    products: int | None = None  # None: not this test's business (other views' counts)
    runs: tuple[str, ...] = ()
    collections: tuple[str, ...] = ()


def _received(resp: requests.Response) -> int:
    # requests would undo a content coding: the node sends none, so the body is the bytes.
    assert "Content-Encoding" not in resp.headers
    return len(resp.content)


def _wait_for_rows(node: Node, count: int) -> None:
    """Until ``count`` accesses are written (the recorder flushes every FLUSH_S), then a
    little longer, to catch any access recorded that should not have been."""
    deadline = time.monotonic() + 30
    while node.scalar("SELECT count(*) FROM stats.accesses") != count:
        assert time.monotonic() < deadline, (
            f"{node.scalar('SELECT count(*) FROM stats.accesses')} accesses, expected {count}"
        )
        time.sleep(0.1)
    time.sleep(10 * FLUSH_S)
    assert node.scalar("SELECT count(*) FROM stats.accesses") == count


def _script(node: Node, base: str) -> list[Seen]:
    """The scripted accesses; what each one delivered, as the client saw it."""
    with node.db.admin() as conn:
        conn.execute("UPDATE archive.runs SET release_date = %s", (date.today() - timedelta(400),))
        hashed = hash_password(PASSWORD)
        for name, group in (("ada", "admin"), ("bob", "coi")):
            accounts.create_user(conn, name, password_hash=hashed)
            accounts.add_member(conn, name, group)
    # Three public N2 products of three runs, with their run and channel (astero first, so
    # that both channels show where the sample has them).
    picked = node.rows(
        "SELECT DISTINCT ON (r.code) p.product_id, r.code,"
        " CASE p.collection_id WHEN 'corot-astero' THEN 'astero' ELSE 'exo' END, p.file_size"
        " FROM archive.products p JOIN archive.runs r USING (run_id)"
        " WHERE p.level = 'N2' ORDER BY r.code, p.collection_id, p.product_id"
    )
    assert len(picked) >= 3
    products = [(int(r[0]), str(r[1]), str(r[2]), int(r[3])) for r in picked[:3]]  # type: ignore[call-overload]
    bob = ("bob", PASSWORD)
    seen: list[Seen] = []

    def fits(pid: int, run: str, chan: str, auth: tuple[str, str] | None, **kw: object) -> None:
        resp = requests.get(f"{base}/products/{pid}.fits", auth=auth, timeout=30, **kw)  # type: ignore[arg-type]
        assert resp.status_code in (200, 206), resp.text[:200]
        counted = resp.status_code == 200 or resp.headers["Content-Range"].startswith("bytes 0-")
        seen.append(
            Seen(
                "products",
                resp.status_code,
                _received(resp),
                auth[0] if auth else None,
                1 if counted else 0,
                (run,) if counted else (),
                (chan,) if counted else (),
            )
        )

    # Three downloads by an authenticated user, three anonymous ones: whole, the first
    # kilobyte (a download that starts), the rest after the first FITS block (a resumed one:
    # its bytes count, the product does not count again).
    for pid, run, chan, _ in products:
        fits(pid, run, chan, bob)
    pid, run, chan, size = products[0]
    fits(pid, run, chan, None)
    fits(pid, run, chan, None, headers={"Range": "bytes=0-1023"})
    fits(pid, run, chan, None, headers={"Range": "bytes=2880-"})
    assert [s.sent for s in seen[3:]] == [size, 1024, size - 2880]
    # A streamed light-curve document (no Content-Length) and a preview.
    pid, run, chan, _ = products[1]
    for suffix in (".vot", "/preview.png"):
        resp = requests.get(f"{base}/products/{pid}{suffix}", timeout=60)
        assert resp.status_code == 200, resp.text[:200]
        seen.append(Seen("products", 200, _received(resp), None, 1, (run,), (chan,)))
    # A refusal is an access too (no product).
    resp = requests.get(f"{base}/products/999999999.fits", timeout=30)
    assert resp.status_code == 401
    seen.append(Seen("products", 401, _received(resp), None, 0))
    # One access to each protocol.
    resp = requests.post(
        f"{base}/tap/sync",
        data={"REQUEST": "doQuery", "LANG": "ADQL", "QUERY": "SELECT COUNT(*) FROM corot.products"},
        auth=bob,
        timeout=60,
    )
    assert resp.status_code == 200, resp.text[:300]
    seen.append(Seen("tap", 200, _received(resp), "bob"))
    resp = requests.get(f"{base}/ssa", params={"REQUEST": "queryData", "MAXREC": "5"}, timeout=60)
    assert resp.status_code == 200, resp.text[:300]
    seen.append(Seen("ssa", 200, _received(resp), None))
    resp = requests.post(f"{base}/datalink/links", data={"ID": str(pid)}, timeout=60)
    assert resp.status_code == 200, resp.text[:300]
    seen.append(Seen("datalink", 200, _received(resp), None))
    resp = requests.get(f"{base}/oai", params={"verb": "Identify"}, timeout=60)
    assert resp.status_code == 200 and b"<oai:Identify>" in resp.content
    seen.append(Seen("oai", 200, _received(resp), None, 0))
    resp = requests.get(f"{base}/feed", timeout=60)
    assert resp.status_code == 200
    seen.append(Seen("feed", 200, _received(resp), None, 0))
    # Not services: none of these is recorded.
    for path in ("/health", "/whoami", "/login", "/tap/no-such-thing", "/stats"):
        requests.get(base + path, timeout=30)
    return seen


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def _totals(seen: Sequence[Seen]) -> dict[str, tuple[int, int, int]]:
    """channel -> (requests, bytes, errors)."""
    out: dict[str, tuple[int, int, int]] = {}
    for s in seen:
        r, b, e = out.get(s.channel, (0, 0, 0))
        out[s.channel] = (r + 1, b + s.sent, e + (s.status >= 400))
    return out


def test_statistics_count_exactly_what_was_done(served: tuple[Node, str]) -> None:
    node, base = served
    seen = _script(node, base)
    _wait_for_rows(node, len(seen))

    # The table, row by row (order aside: responses close in any order).
    rows = node.rows(
        "SELECT channel, status, bytes, products, runs, collections, user_name, country, visitor,"
        " at FROM stats.accesses"
    )
    got = Counter((r[0], r[1], r[2], r[6]) for r in rows)
    assert got == Counter((s.channel, s.status, s.sent, s.user) for s in seen)
    # What was delivered, where this test knows it (not TAP, SSA, DataLink: other views').
    known = {s.channel for s in seen if s.products is not None}
    assert known == {"products", "oai", "feed"}
    delivered: Counter[tuple[object, ...]] = Counter(
        (r[0], r[2], r[3], tuple(r[4]), tuple(r[5]))  # type: ignore[arg-type]
        for r in rows
        if r[0] in known
    )
    assert delivered == Counter(
        (s.channel, s.sent, s.products, s.runs, s.collections)
        for s in seen
        if s.products is not None
    )
    expected_products = sum(s.products or 0 for s in seen if s.channel == "products")
    assert expected_products == 7  # 3 + 1 + the range that starts + the document + the preview
    assert sum(int(r[3]) for r in rows if r[0] == "products") == expected_products  # type: ignore[call-overload]
    now = datetime.now(UTC)
    assert all(now - timedelta(minutes=5) < r[9] <= now for r in rows)  # type: ignore[operator]

    # No address anywhere: not a column, not a value; loopback has no country; one visitor
    # key for the anonymous client, made from the day's salt.
    columns = {
        str(r[0])
        for r in node.rows(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'stats'"
        )
    }
    assert not {c for c in columns if "ip" in c.split("_") or "addr" in c}, columns
    assert (
        node.scalar("SELECT count(*) FROM stats.accesses a WHERE a::text LIKE '%%127.0.0%%'") == 0
    )
    assert {r[7] for r in rows} == {None}
    salt = node.scalar("SELECT salt FROM stats.visitor_salts WHERE day = %s", now.date())
    assert isinstance(salt, bytes) and len(salt) == 32
    assert {r[8] for r in rows} == {visitor_key(salt, "127.0.0.1")}

    # The reports, as the administrator reads them.
    admin = requests.Session()
    admin.auth = ("ada", PASSWORD)
    month = now.strftime("%Y-%m")
    totals = _totals(seen)
    resp = admin.get(base + "/stats.csv", timeout=60)
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/csv")
    table = _csv(resp.text)
    assert {r["month"] for r in table} == {month}
    assert {
        r["channel"]: (int(r["requests"]), int(r["bytes"]), int(r["errors"])) for r in table
    } == totals
    by_channel = {r["channel"]: int(r["products"]) for r in table}
    assert by_channel["products"] == expected_products
    assert by_channel["oai"] == by_channel["feed"] == 0

    accesses = _csv(admin.get(base + "/stats/accesses.csv", timeout=60).text)
    assert len(accesses) == len(seen)
    assert Counter((a["channel"], int(a["bytes"]), a["user"] or None) for a in accesses) == (
        Counter((s.channel, s.sent, s.user) for s in seen)
    )
    assert {a["country"] for a in accesses} == {"--"}
    assert not any("127.0.0.1" in v for a in accesses for v in a.values())
    # The period: from today on, everything; before it, nothing; a bad date is a 400.
    today = now.date().isoformat()
    assert len(_csv(admin.get(f"{base}/stats/accesses.csv?from={today}", timeout=60).text)) == (
        len(seen)
    )
    assert _csv(admin.get(base + "/stats.csv?until=2001-01", timeout=60).text) == []
    bad = admin.get(base + "/stats.csv?from=yesterday", timeout=60)
    assert bad.status_code == 400 and "YYYY-MM-DD" in bad.text
    for path in ("/stats", "/stats.csv", "/stats/accesses.csv", "/stats/visits.png"):
        far = admin.get(f"{base}{path}?until=9999-12-31", timeout=60)
        assert far.status_code == 400 and "year" in far.text, path

    page = admin.get(base + "/stats", timeout=60)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "no-store" in page.headers["Cache-Control"]
    total_bytes = sum(s.sent for s in seen)
    assert f'<td>{month}</td><td class="n">{len(seen)}</td><td class="n">{total_bytes}</td>' in (
        page.text
    )
    # Visits: bob's and the anonymous client's, each within seconds.
    assert (
        f'<td>{month}</td><td class="n">2</td><td class="n">1</td><td class="n">1</td>' in page.text
    )
    for name, height in (("volume", 800), ("visits", 400), ("countries", 400), ("runs", 400)):
        assert f"/stats/{name}.png" in page.text
        png = admin.get(f"{base}/stats/{name}.png", timeout=60)
        assert png.status_code == 200 and png.headers["Content-Type"] == "image/png"
        image = Image.open(io.BytesIO(png.content))
        assert image.format == "PNG" and image.size == (800, height)
        # A picture, not a blank: more than a handful of colours.
        assert len(image.convert("RGB").getcolors(1 << 16) or []) > 10
    assert admin.get(base + "/stats/nothing.png", timeout=60).status_code == 404

    # The command line agrees.
    out = node.cli("stats", "--csv", check=True).stdout
    assert _csv(out) == table
    text = node.cli("stats", check=True).stdout
    errors = sum(s.status >= 400 for s in seen)
    total_line = f"total {len(seen)} {errors} {total_bytes} {expected_products}"
    assert total_line in [" ".join(line.split()) for line in text.splitlines()], text
    assert node.cli("stats", "--from", "2024-99").returncode == 2

    # Only administrators: 401 with a challenge for anonymous callers, 403 for others.
    for path in ("/stats", "/stats.csv", "/stats/volume.png", "/stats/accesses.csv"):
        anonymous = requests.get(base + path, timeout=30)
        assert anonymous.status_code == 401 and anonymous.headers.get("WWW-Authenticate")
        assert requests.get(base + path, auth=("bob", PASSWORD), timeout=30).status_code == 403
    # The database says the same to the web tier's role without an administrator's ticket.
    assert node.public_scalar("SELECT count(*) FROM stats.accesses") == 0
    # The statistics pages are not statistics.
    time.sleep(10 * FLUSH_S)
    assert node.scalar("SELECT count(*) FROM stats.accesses") == len(seen)


def test_a_broken_run_download_counts_what_went_out(served: tuple[Node, str]) -> None:
    """Complete runs are the bulk channel: a client that stops early is counted for what the
    server sent it (its socket buffers included), not for the whole archive; a complete
    download counts whole."""
    node, base = served
    sizes = []
    for run, channel in node.public_rows(
        "SELECT DISTINCT r.code, CASE p.collection_id WHEN 'corot-astero' THEN 'astero'"
        " ELSE 'exo' END FROM archive.products p JOIN archive.runs r USING (run_id)"
    ):
        head = requests.head(f"{base}/runs/{run}/{channel}.tar", timeout=120)
        if head.status_code == 200:
            sizes.append((int(head.headers["Content-Length"]), f"{base}/runs/{run}/{channel}.tar"))
    size, url = max(sizes)
    # Bigger than what loopback sockets hold in flight (a few MB each way).
    assert size > 12_000_000, size
    with requests.get(url, stream=True, timeout=120) as broken:
        assert broken.status_code == 200
        broken.raw.read(100_000)
    whole = requests.get(url, timeout=120)
    assert len(whole.content) == size
    deadline = time.monotonic() + 30
    while True:
        rows = node.rows(
            # (the /runs page and the HEAD requests are counted too, with fewer bytes)
            "SELECT bytes FROM stats.accesses WHERE channel = 'runs' AND status = 200"
            " AND bytes >= 100000 ORDER BY access_id"
        )
        if len(rows) >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    counted = [int(r[0]) for r in rows]  # type: ignore[call-overload]
    assert len(counted) == 2, counted
    assert 100_000 <= counted[0] < size and counted[1] == size


def test_a_stopping_server_writes_what_it_holds(node: Node, tmp_path: object) -> None:
    """Nothing is lost when a worker stops: what waits in memory is written on the way out."""
    port = _free_port()
    env = node.env()
    env.update(
        VO_NODE_PORT=str(port),
        VO_NODE_WORKERS="1",
        VO_NODE_STATS_FLUSH_S="3600",
        VO_NODE_STATS_BATCH="100000",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "vo_node", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(base + "/health", timeout=5)
                break
            except requests.ConnectionError:
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.2)
        sent = 0
        for _ in range(3):
            resp = requests.get(base + "/oai", params={"verb": "Identify"}, timeout=30)
            assert resp.status_code == 200
            sent += len(resp.content)
        time.sleep(0.5)
        assert node.scalar("SELECT count(*) FROM stats.accesses") == 0  # still in memory
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert node.rows("SELECT count(*), sum(bytes) FROM stats.accesses WHERE channel = 'oai'") == [
        (3, sent)
    ]


def test_the_day_salt_is_forgotten_when_the_day_is_over(node: Node) -> None:
    with node.db.admin() as conn:
        conn.execute(
            "INSERT INTO stats.visitor_salts VALUES (current_date - 1, '\\x00'::bytea),"
            " (current_date - 30, '\\x01'::bytea)"
        )
    with node.db.service() as conn:
        first = conn.execute("SELECT stats.day_salt()").fetchone()
        again = conn.execute("SELECT stats.day_salt()").fetchone()
    assert first == again and first is not None and len(first[0]) == 32
    assert node.rows("SELECT day FROM stats.visitor_salts") == [(datetime.now(UTC).date(),)]
    # The user-query role sees nothing of the statistics.
    with node.db.cluster.connect("vo_query", node.settings.database) as conn:
        for query in ("SELECT count(*) FROM stats.accesses", "SELECT stats.day_salt()"):
            with pytest.raises(Exception, match="permission denied"):
                conn.execute(query)
            conn.rollback()


# --- the parts alone --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "channel"),
    [
        ("/", "web"),
        ("/search", "web"),
        ("/search.adql", "web"),
        ("/download/basket", "web"),
        ("/runs/LRa01", "runs"),
        ("/tap/sync", "tap"),
        ("/tap", "tap"),
        ("/ssa", "ssa"),
        ("/datalink/links", "datalink"),
        ("/datalink/soda", "datalink"),
        ("/products/12.fits", "products"),
        ("/products/12/preview.png", "products"),
        ("/oai", "oai"),
        ("/feed", "feed"),
        ("/feed.rss", "feed"),
        ("/health", None),
        ("/static/site.css", None),
        ("/stats", None),
        ("/stats.csv", None),
        ("/favicon.ico", None),
        ("/login", None),
        ("/tapestry", None),
        ("/feedback", None),
    ],
)
def test_channel_of_a_path(path: str, channel: str | None) -> None:
    assert channel_of(path) == channel
    assert channel is None or channel in CHANNELS


def test_country_lookup_is_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("the country lookup tried the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    lookup = CountryLookup()
    assert lookup.country("8.8.8.8") == "US"
    assert lookup.country("81.2.69.160") == "GB"
    assert lookup.country("::ffff:8.8.8.8") == "US"  # IPv4 inside IPv6
    assert lookup.country("2001:4860:4860::8888") == "US"
    for unknown in ("127.0.0.1", "::1", "10.1.2.3", "192.168.0.7", "fe80::1", "", "not an ip"):
        assert lookup.country(unknown) is None, unknown


def test_visitor_keys_and_client_addresses() -> None:
    key = visitor_key(b"salt-of-the-day", "203.0.113.9")
    assert len(key) == 16 and int(key, 16) >= 0
    assert key == visitor_key(b"salt-of-the-day", "203.0.113.9")
    assert key != visitor_key(b"salt-of-the-next-day", "203.0.113.9")
    assert key != visitor_key(b"salt-of-the-day", "203.0.113.10")
    expected = hashlib.sha256(b"salt-of-the-day\x00203.0.113.9").hexdigest()[:16]
    assert key == expected
    # X-Forwarded-For is believed only from a trusted proxy, and only up to the first hop
    # that the proxies did not add.
    assert client_address("10.0.0.2", "198.51.100.7", ()) == "10.0.0.2"
    assert client_address("10.0.0.9", "198.51.100.7", ("10.0.0.2",)) == "10.0.0.9"
    assert client_address("10.0.0.2", "198.51.100.7", ("10.0.0.2",)) == "198.51.100.7"
    forged = "6.6.6.6, 198.51.100.7, 10.0.0.3"
    assert client_address("10.0.0.2", forged, ("10.0.0.2", "10.0.0.3")) == "198.51.100.7"
    assert client_address("10.0.0.2", None, ("10.0.0.2",)) == "10.0.0.2"


def test_periods() -> None:
    may = parse_period("2024-05", "2024-05")
    assert may.start == datetime(2024, 5, 1, tzinfo=UTC)
    assert may.end == datetime(2024, 6, 1, tzinfo=UTC)
    december = parse_period("2024-12", "2024-12-31")
    assert december.end == datetime(2025, 1, 1, tzinfo=UTC)
    assert parse_period(None, None).start is None
    for since, until in (
        ("2024-13", None),
        ("2024-02-30", None),
        (None, "soon"),
        ("2024-05-02", "2024-05-01"),
        (None, "9999-12-31"),
        ("9999-12", None),
    ):
        with pytest.raises(PeriodError):
            parse_period(since, until)


def _hit(n: int = 0) -> Hit:
    return Hit(datetime.now(UTC), "oai", 200, n, 0, (), (), None, "127.0.0.1")


def test_recorder_batches_and_never_blocks() -> None:
    written: list[list[Hit]] = []
    release = threading.Event()

    def slow_sink(hits: Sequence[Hit]) -> None:
        release.wait(10)  # a database that does not answer
        written.append(list(hits))

    recorder = Recorder(slow_sink, flush_s=0.05, batch=2, capacity=5)
    recorder.record(_hit(1))
    time.sleep(0.3)  # the thread is now stuck in the sink with one access
    for n in range(10):
        recorder.record(_hit(n))
    # Every record() returned while the sink was still stuck: none waits for the database.
    assert written == [] and not release.is_set()
    assert recorder.dropped == 5  # five queued, five more had no room
    release.set()
    recorder.close()
    assert sum(len(b) for b in written) == 6 and recorder.written == 6

    def failing(hits: Sequence[Hit]) -> None:
        raise OSError("database away")

    broken = Recorder(failing, flush_s=0.05, batch=100, capacity=100)
    broken.record(_hit())
    broken.close()
    assert broken.dropped == 1 and broken.written == 0


def test_counting_body() -> None:
    results: list[int] = []
    closed: list[bool] = []

    class Body:
        def __iter__(self) -> object:
            return iter([b"abc", b"", b"defgh"])

        def close(self) -> None:
            closed.append(True)

    body = CountingBody(Body(), results.append)  # type: ignore[arg-type]
    assert next(body) == b"abc"  # the client went away after the first chunk
    body.close()
    body.close()
    assert results == [3] and closed == [True, True]
    whole = CountingBody([b"abc", b"defgh"], results.append)
    assert b"".join(whole) == b"abcdefgh"
    whole.close()
    assert results == [3, 8]
