"""UWS 1.1 over HTTP: the blueprint served by a real WSGI server on 127.0.0.1, jobs run by
real workers (a thread, or processes) with a fake executor that runs SQL as ``vo_query``."""

from __future__ import annotations

import io
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import Node
from flask import Flask
from flask import request as flask_request
from lxml import etree
from psycopg_pool import ConnectionPool
from test_uws_executors import SECRET, SqlCsvExecutor
from werkzeug.serving import make_server
from xsd import assert_valid

from vo_node.db.cluster import SUPERUSER
from vo_node.uws import store
from vo_node.uws.model import jobs_root
from vo_node.uws.views import uws_blueprint
from vo_node.uws.worker import INTERNAL, LOST_WORKER, run_worker

NS = {"uws": "http://www.ivoa.net/xml/UWS/v1.0", "xlink": "http://www.w3.org/1999/xlink"}
WAIT_CAP = 3.0  # the test app's cap on blocking GETs (the default is 60 s)
TESTS = Path(__file__).resolve().parent


@dataclass
class Uws:
    """The test service: /tap/async on a real server, and helpers to drive it."""

    node: Node
    base: str

    @property
    def jobs(self) -> str:
        return self.base + "/tap/async"

    def create(self, files: Any = None, **params: Any) -> str:
        resp = requests.post(self.jobs, data=params, files=files, allow_redirects=False, timeout=10)
        assert resp.status_code == 303, resp.text
        return str(resp.headers["Location"])

    def post(self, url: str, **data: Any) -> requests.Response:
        return requests.post(url, data=data, allow_redirects=False, timeout=10)

    def get(self, url: str, **params: Any) -> requests.Response:
        return requests.get(url, params=params, timeout=90)

    def job(self, url: str, **params: Any) -> etree._Element:
        resp = self.get(url, **params)
        assert resp.status_code == 200, resp.text
        assert resp.headers["Content-Type"].startswith("text/xml")
        return assert_valid(resp.content, "UWS.xsd")

    def phase(self, url: str) -> str:
        return self.get(url + "/phase").text

    def wait_for(self, url: str, *phases: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            phase = self.job(url, WAIT=1).findtext("uws:phase", namespaces=NS)
            if phase in phases:
                return str(phase)
        raise AssertionError(f"{url} never reached {phases}; it is {self.phase(url)}")

    def row(self, url: str, column: str) -> Any:
        return self.node.scalar(
            f"SELECT {column} FROM uws.jobs WHERE job_id = %s", url.rsplit("/", 1)[1]
        )

    def active_user_queries(self) -> int:
        """Queries of vo_query running in this test's database (seen by the superuser)."""
        with self.node.db.cluster.connect(SUPERUSER, "postgres", autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s"
                " AND usename = 'vo_query' AND state = 'active'",
                (self.node.db.dbname,),
            ).fetchone()
        return int(row[0]) if row else 0


@pytest.fixture
def uws(node: Node) -> Iterator[Uws]:
    app = Flask("uws-test")
    app.config["VO_NODE_SETTINGS"] = node.settings
    pool = ConnectionPool(node.db.service_conninfo(), min_size=1, max_size=8, open=True)
    app.extensions["vo_node.service_pool"] = pool
    app.register_blueprint(
        uws_blueprint(
            "tap",
            "/tap/async",
            identity=lambda: flask_request.headers.get("X-Test-User", ""),
            wait_cap=WAIT_CAP,
        )
    )
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Uws(node, f"http://127.0.0.1:{server.server_port}")
    server.shutdown()
    thread.join(10)
    pool.close()


@pytest.fixture
def worker(uws: Uws) -> Iterator[SqlCsvExecutor]:
    """One worker running in a thread of the test process."""
    executor = SqlCsvExecutor(uws.node.db.query_conninfo())
    stop = threading.Event()
    thread = threading.Thread(
        target=run_worker,
        args=(uws.node.settings, {"tap": executor}),
        kwargs={"poll": 0.2, "stop": stop},
        daemon=True,
    )
    thread.start()
    yield executor
    stop.set()
    thread.join(30)
    executor.close()


def _worker_process(uws: Uws, log: Path, mode: str) -> subprocess.Popen[str]:
    code = (
        f"import sys; sys.path.insert(0, {str(TESTS)!r});"
        " from test_uws_executors import worker_main; worker_main()"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code, str(log), mode],
        env=uws.node.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


# -- creation and the resources of a job ---------------------------------------------------------
def test_create_gives_303_and_a_pending_job(uws: Uws) -> None:
    resp = requests.post(
        uws.jobs,
        data={"query": "SELECT 1", "LANG": "ADQL", "RunId": "my run", "x": ["1", "2"]},
        allow_redirects=False,
        timeout=10,
    )
    assert resp.status_code == 303
    url = resp.headers["Location"]
    assert url.startswith(uws.jobs + "/")
    job = uws.job(url)
    assert job.get("version") == "1.1"
    assert job.findtext("uws:phase", namespaces=NS) == "PENDING"
    assert job.findtext("uws:runId", namespaces=NS) == "my run"
    assert job.findtext("uws:jobId", namespaces=NS) == url.rsplit("/", 1)[1]
    params = [(p.get("id"), p.text) for p in job.findall("uws:parameters/uws:parameter", NS)]
    assert params == [("lang", "ADQL"), ("query", "SELECT 1"), ("x", "1"), ("x", "2")]
    assert uws.phase(url) == "PENDING"
    settings = uws.node.settings
    assert uws.get(url + "/executionduration").text == str(settings.async_timeout)
    destruction = datetime.fromisoformat(uws.get(url + "/destruction").text)
    expected = datetime.now(UTC) + timedelta(seconds=settings.job_retention)
    assert abs((destruction - expected).total_seconds()) < 60
    assert uws.get(url + "/owner").text == ""
    quote = uws.get(url + "/quote")
    assert quote.status_code == 200 and quote.text == ""
    assert_valid(uws.get(url + "/parameters").content, "UWS.xsd")
    results = assert_valid(uws.get(url + "/results").content, "UWS.xsd")
    assert len(results) == 0
    assert uws.get(url + "/error").status_code == 404
    # An anonymous job is not listed (to every other anonymous caller); its URL reaches it.
    listing = assert_valid(uws.get(uws.jobs).content, "UWS.xsd")
    assert listing.find("uws:jobref", NS) is None


def test_phase_run_at_creation_runs_to_completed(uws: Uws, worker: SqlCsvExecutor) -> None:
    url = uws.create(QUERY="SELECT g AS n FROM generate_series(1, 3) g", PHASE="RUN")
    assert uws.wait_for(url, "COMPLETED") == "COMPLETED"
    job = uws.job(url)
    assert job.findtext("uws:startTime", namespaces=NS) and job.findtext(
        "uws:endTime", namespaces=NS
    )
    (result,) = job.findall("uws:results/uws:result", NS)
    assert result.get("id") == "result"
    assert result.get(f"{{{NS['xlink']}}}href") == url + "/results/result"
    assert result.get("mime-type") == "text/csv"
    served = uws.get(url + "/results/result")
    assert served.status_code == 200 and served.headers["Content-Type"].startswith("text/csv")
    assert served.text.splitlines() == ["n", "1", "2", "3"]
    assert int(result.get("size") or 0) == len(served.content)
    results = assert_valid(uws.get(url + "/results").content, "UWS.xsd")
    assert [r.get("id") for r in results] == ["result"]
    assert uws.get(url + "/results/other").status_code == 404


def test_run_later_and_pyvo_drives_a_job(uws: Uws, worker: SqlCsvExecutor) -> None:
    url = uws.create(QUERY="SELECT 7 AS seven")
    assert uws.phase(url) == "PENDING"
    resp = uws.post(url + "/phase", PHASE="RUN")
    assert resp.status_code == 303 and resp.headers["Location"] == url
    assert uws.wait_for(url, "COMPLETED") == "COMPLETED"
    # pyvo as the independent client: create, run, wait (WAIT=-1), result URI, delete.
    from pyvo.dal.tap import AsyncTAPJob

    job = AsyncTAPJob.create(uws.base + "/tap", "SELECT 2 AS two")
    assert job.phase == "PENDING"
    assert job.query == "SELECT 2 AS two"
    job.run().wait(timeout=30)
    assert job.phase == "COMPLETED" and job.uws_version == "1.1"
    assert job.result_uri == job.url + "/results/result"
    assert requests.get(job.result_uri, timeout=10).text.splitlines() == ["two", "2"]
    job_url = job.url
    job.delete()
    assert uws.get(job_url).status_code == 404


# -- blocking ------------------------------------------------------------------------------------
def test_wait_blocks_returns_early_on_a_change_and_is_capped(uws: Uws) -> None:
    url = uws.create(QUERY="SELECT 1")
    started = time.monotonic()
    assert uws.job(url, WAIT=1).findtext("uws:phase", namespaces=NS) == "PENDING"
    assert 0.9 <= time.monotonic() - started < 2.5
    for wait in ("100", "-1"):
        started = time.monotonic()
        uws.job(url, WAIT=wait)
        assert WAIT_CAP - 0.1 <= time.monotonic() - started < WAIT_CAP + 2, wait
    # Given PHASE differs from the job's phase: at once.
    started = time.monotonic()
    uws.job(url, WAIT=10, PHASE="QUEUED")
    assert time.monotonic() - started < 1
    # A change ends the wait (no worker runs, so the job stays QUEUED).
    timer = threading.Timer(0.5, lambda: uws.post(url + "/phase", PHASE="RUN"))
    started = time.monotonic()
    timer.start()
    job = uws.job(url, WAIT=10, PHASE="PENDING")
    timer.join()
    assert job.findtext("uws:phase", namespaces=NS) == "QUEUED"
    assert 0.4 <= time.monotonic() - started < 2
    # A final phase never blocks.
    uws.post(url + "/phase", PHASE="ABORT")
    started = time.monotonic()
    assert uws.job(url, WAIT=10).findtext("uws:phase", namespaces=NS) == "ABORTED"
    assert time.monotonic() - started < 1
    import inspect

    assert inspect.signature(uws_blueprint).parameters["wait_cap"].default == 60.0


# -- the job list --------------------------------------------------------------------------------
def test_job_list_filters(uws: Uws) -> None:
    carol = requests.Session()  # a named owner: anonymous jobs are never listed
    carol.headers["X-Test-User"] = "ivo://example/carol"

    def create(query: str) -> str:
        resp = carol.post(uws.jobs, data={"QUERY": query}, allow_redirects=False, timeout=10)
        assert resp.status_code == 303, resp.text
        return str(resp.headers["Location"])

    a, b, c = (create(f"SELECT {n}") for n in range(3))
    carol.post(b + "/phase", data={"PHASE": "ABORT"}, timeout=10)
    uws.create(QUERY="SELECT 4")  # anonymous: not in carol's list
    ids = {url: url.rsplit("/", 1)[1] for url in (a, b, c)}

    def listed(**params: Any) -> list[str]:
        resp = carol.get(uws.jobs, params=params, timeout=30)
        root = assert_valid(resp.content, "UWS.xsd")
        assert root.get("version") == "1.1"
        return [str(ref.get("id")) for ref in root.findall("uws:jobref", NS)]

    assert listed() == [ids[c], ids[b], ids[a]]  # newest first
    assert listed(PHASE="PENDING") == [ids[c], ids[a]]
    assert listed(PHASE=["PENDING", "ABORTED"]) == [ids[c], ids[b], ids[a]]
    assert listed(phase="aborted") == [ids[b]]
    assert listed(LAST=2) == [ids[c], ids[b]]
    assert listed(LAST=1, PHASE="PENDING") == [ids[c]]
    job_a = assert_valid(carol.get(a, timeout=30).content, "UWS.xsd")
    created_a = job_a.findtext("uws:creationTime", namespaces=NS)
    assert listed(AFTER=created_a) == [ids[c], ids[b]]
    assert listed(AFTER="2000-01-01T00:00:00") == [ids[c], ids[b], ids[a]]
    for bad in ({"PHASE": "DONE"}, {"AFTER": "yesterday"}, {"LAST": "-1"}, {"LAST": "x"}):
        resp = uws.get(uws.jobs, **bad)
        assert resp.status_code == 400 and resp.headers["Content-Type"].startswith("text/plain")


def test_jobs_are_their_owners(uws: Uws) -> None:
    alice = {"X-Test-User": "ivo://example/alice"}
    resp = requests.post(uws.jobs, data={"QUERY": "SELECT 1"}, headers=alice, allow_redirects=False)
    url = resp.headers["Location"]
    assert requests.get(url + "/owner", headers=alice).text == "ivo://example/alice"
    assert requests.get(url, timeout=10).status_code == 403
    assert requests.get(url, headers={"X-Test-User": "ivo://example/bob"}).status_code == 403
    assert uws.post(url + "/phase", PHASE="ABORT").status_code == 403
    assert len(assert_valid(uws.get(uws.jobs).content, "UWS.xsd")) == 0
    mine = assert_valid(requests.get(uws.jobs, headers=alice).content, "UWS.xsd")
    assert mine.findtext("uws:jobref/uws:ownerId", namespaces=NS) == "ivo://example/alice"


# -- abort, delete, destruction --------------------------------------------------------------------
@pytest.mark.parametrize("canceller", ["web tier", "worker"])
def test_abort_cancels_the_running_query(
    uws: Uws, canceller: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    from vo_node.uws import views, worker

    if canceller == "web tier":
        monkeypatch.setattr(worker, "WATCH_EVERY", 30.0)  # the watcher will not help in time
    else:
        monkeypatch.setattr(views, "_cancel_query", lambda job: None)  # only the watcher acts
    request.getfixturevalue("worker")
    url = uws.create(QUERY="SELECT pg_sleep(30)", PHASE="RUN")
    uws.wait_for(url, "EXECUTING")
    deadline = time.monotonic() + 10
    while uws.active_user_queries() == 0 or uws.row(url, "backend_pid") is None:
        assert time.monotonic() < deadline, "the query never started"
        time.sleep(0.05)
    started = time.monotonic()
    assert uws.post(url + "/phase", PHASE="ABORT").status_code == 303
    assert uws.phase(url) == "ABORTED"
    while uws.active_user_queries():
        assert time.monotonic() - started < 2, "the query still runs"
        time.sleep(0.02)
    time.sleep(1)  # the worker has seen its query cancelled: the job must stay ABORTED
    job = uws.job(url)
    assert job.findtext("uws:phase", namespaces=NS) == "ABORTED"
    assert job.findtext("uws:endTime", namespaces=NS)
    assert job.find("uws:errorSummary", NS) is None
    assert uws.get(url + "/results/result").status_code == 404
    # ABORT again changes nothing; the worker goes on with the next job.
    assert uws.post(url + "/phase", PHASE="ABORT").status_code == 303
    assert uws.wait_for(uws.create(QUERY="SELECT 1", PHASE="RUN"), "COMPLETED")


def test_delete_then_404(uws: Uws, worker: SqlCsvExecutor) -> None:
    url = uws.create(QUERY="SELECT 1 AS one", PHASE="RUN")
    uws.wait_for(url, "COMPLETED")
    result = Path(uws.row(url, "result_path"))
    assert result.is_file()
    resp = requests.delete(url, allow_redirects=False, timeout=10)
    assert resp.status_code == 303 and resp.headers["Location"] == uws.jobs
    assert not result.exists() and not result.parent.exists()
    for path in ("", "/phase", "/results/result", "/parameters"):
        gone = uws.get(url + path)
        assert gone.status_code == 404 and gone.headers["Content-Type"].startswith("text/plain")
        assert "no job" in gone.text
    assert requests.delete(url, allow_redirects=False, timeout=10).status_code == 404
    # POST ACTION=DELETE, here on a job whose query runs: the query is cancelled too.
    running = uws.create(QUERY="SELECT pg_sleep(30)", PHASE="RUN")
    uws.wait_for(running, "EXECUTING")
    deadline = time.monotonic() + 10
    while uws.row(running, "backend_pid") is None or not uws.active_user_queries():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    resp = uws.post(running, ACTION="DELETE")
    assert resp.status_code == 303 and resp.headers["Location"] == uws.jobs
    assert uws.get(running).status_code == 404
    deadline = time.monotonic() + 2
    while uws.active_user_queries():
        assert time.monotonic() < deadline, "the deleted job's query still runs"
        time.sleep(0.02)


def test_destruction_is_capped_and_enforced(uws: Uws, worker: SqlCsvExecutor) -> None:
    url = uws.create(QUERY="SELECT 1 AS one", PHASE="RUN")
    uws.wait_for(url, "COMPLETED")
    job_dir = Path(uws.row(url, "result_path")).parent
    assert job_dir.is_dir()
    assert uws.post(url + "/destruction", DESTRUCTION="2100-01-01T00:00:00Z").status_code == 303
    created = datetime.fromisoformat(str(uws.job(url).findtext("uws:creationTime", namespaces=NS)))
    destruction = datetime.fromisoformat(uws.get(url + "/destruction").text)
    assert destruction - created <= timedelta(seconds=uws.node.settings.job_retention_hard)
    past = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S.%f")
    assert uws.post(url + "/destruction", DESTRUCTION=past).status_code == 303
    assert uws.get(url).status_code == 404  # gone for its owner at once
    assert uws.row(url, "count(*)") == 1  # the row waits for the sweep
    run_worker(uws.node.settings, {}, once=True)  # a worker sweeps when it starts
    assert uws.row(url, "count(*)") == 0
    assert not job_dir.exists()


# -- workers -------------------------------------------------------------------------------------
def test_two_workers_never_run_the_same_job(uws: Uws, tmp_path: Path) -> None:
    urls = [uws.create(QUERY="SELECT pg_sleep(0.4)", PHASE="RUN") for _ in range(20)]
    log = tmp_path / "executions.log"
    procs = [_worker_process(uws, log, "once") for _ in range(2)]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    runs = [line.split() for line in log.read_text().splitlines()]
    per_job = Counter(job_id for job_id, _ in runs)
    assert sorted(per_job) == sorted(url.rsplit("/", 1)[1] for url in urls)
    assert set(per_job.values()) == {1}  # each job executed exactly once
    assert len({pid for _, pid in runs}) == 2  # and both workers took part
    assert {uws.phase(url) for url in urls} == {"COMPLETED"}


def test_stopping_worker_gives_its_job_back(uws: Uws, tmp_path: Path) -> None:
    url = uws.create(QUERY="SELECT pg_sleep(30)", PHASE="RUN")
    proc = _worker_process(uws, tmp_path / "log", "loop")
    try:
        uws.wait_for(url, "EXECUTING")
        deadline = time.monotonic() + 10
        while not uws.active_user_queries():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert uws.phase(url) == "QUEUED"
    assert uws.active_user_queries() == 0


def test_a_dead_workers_job_ends_in_error(uws: Uws) -> None:
    url = uws.create(QUERY="SELECT 1", PHASE="RUN")
    conn = uws.node.db.service(autocommit=True)
    claimed = store.claim(conn, ["tap"], 4242, "elsewhere")
    assert claimed is not None and claimed.job_id == url.rsplit("/", 1)[1]
    run_worker(uws.node.settings, {}, once=True)
    assert uws.phase(url) == "EXECUTING"  # its worker (this connection) is alive
    conn.close()  # the worker dies
    run_worker(uws.node.settings, {}, once=True)
    assert uws.phase(url) == "ERROR"
    assert uws.get(url + "/error").text == LOST_WORKER


def test_executor_failures_give_clean_errors(uws: Uws, worker: SqlCsvExecutor) -> None:
    cases = {
        "raise": INTERNAL,
        "refuse": "the query names no table (add a FROM clause)",
        "SELECT 1/0": "division by zero",
    }
    for query, message in cases.items():
        url = uws.create(QUERY=query, PHASE="RUN")
        assert uws.wait_for(url, "ERROR", "COMPLETED") == "ERROR"
        error = uws.get(url + "/error")
        assert error.status_code == 200 and error.text == message
        job = uws.job(url)
        summary = job.find("uws:errorSummary", NS)
        assert summary is not None and summary.get("type") == "fatal"
        assert summary.findtext("uws:message", namespaces=NS) == message
        text = error.text + etree.tostring(job).decode()
        assert SECRET not in text and "Traceback" not in text
        assert uws.get(url + "/results/result").status_code == 404


def test_execution_duration_is_capped_and_enforced(uws: Uws, worker: SqlCsvExecutor) -> None:
    pending = uws.create(QUERY="SELECT 1")
    limit = uws.node.settings.async_timeout
    for asked, granted in (("10", 10), ("0", limit), (str(limit * 10), limit)):
        assert uws.post(pending + "/executionduration", EXECUTIONDURATION=asked).status_code == 303
        assert uws.get(pending + "/executionduration").text == str(granted)
    url = uws.create(QUERY="SELECT pg_sleep(20)", EXECUTIONDURATION="1", PHASE="RUN")
    started = time.monotonic()
    assert uws.wait_for(url, "ERROR", "COMPLETED") == "ERROR"
    assert time.monotonic() - started < 6
    assert "limit of 1 s" in uws.get(url + "/error").text
    # Once the job has run, its limit no longer changes.
    assert uws.post(url + "/executionduration", EXECUTIONDURATION="5").status_code == 400


def test_inline_upload_reaches_the_executor(uws: Uws, worker: SqlCsvExecutor) -> None:
    table = b"a,b\n1,2\n"
    url = uws.create(
        files={"mytable": ("t.csv", io.BytesIO(table))},
        QUERY="upload:mytable",
        UPLOAD="t,param:mytable",
        PHASE="RUN",
    )
    assert uws.wait_for(url, "COMPLETED", "ERROR") == "COMPLETED"
    assert uws.get(url + "/results/result").content == table


# -- bad requests ----------------------------------------------------------------------------------
def test_bad_requests_are_400_with_a_message(uws: Uws) -> None:
    url = uws.create(QUERY="SELECT 1")
    assert uws.post(url + "/parameters", QUERY="SELECT 2", runId="again").status_code == 303
    assert uws.get(url + "/parameters").content.count(b"SELECT 2") == 1
    assert uws.job(url).findtext("uws:runId", namespaces=NS) == "again"
    bad = [
        uws.post(uws.jobs, QUERY="SELECT 1", PHASE="ABORT"),
        uws.post(url + "/phase", PHASE="SUSPEND"),
        uws.post(url + "/phase"),
        uws.post(url),
        uws.post(url, ACTION="ARCHIVE"),
        uws.post(url + "/executionduration", EXECUTIONDURATION="soon"),
        uws.post(url + "/destruction", DESTRUCTION="tomorrow"),
        uws.get(url, WAIT="forever"),
        uws.get(url, WAIT="1", PHASE="RUNNING"),
    ]
    for resp in bad:
        assert resp.status_code == 400, (resp.request.url, resp.request.body)
        assert resp.headers["Content-Type"].startswith("text/plain") and resp.text
    uws.post(url + "/phase", PHASE="RUN")
    refused = uws.post(url + "/parameters", QUERY="SELECT 3")
    assert refused.status_code == 400 and "QUEUED" in refused.text
    uws.post(url + "/phase", PHASE="ABORT")
    assert uws.post(url + "/phase", PHASE="RUN").status_code == 400
    assert uws.get(url + "/results/result").status_code == 404
    missing = uws.get(uws.jobs + "/nosuchjob123")
    assert missing.status_code == 404 and "no job 'nosuchjob123'" in missing.text
    assert not (jobs_root(uws.node.settings) / "nosuchjob123").exists()
