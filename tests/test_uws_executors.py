"""Fake executors for the UWS tests (the TAP one is written elsewhere), and the parts of
vo_node.uws that need no server: the phase table, the documents, the schema's phase list.

``SqlCsvExecutor`` stands in for TAP: it runs the job's QUERY as SQL through ``QueryRunner``
on a ``vo_query`` pool (statement timeout = the job's execution duration), writes CSV, and
reports the backend pid before the query starts, as the real executor must.
"""

from __future__ import annotations

import csv
import os
import shutil
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from psycopg_pool import ConnectionPool

from vo_node.db.node import NodeDatabase
from vo_node.errors import NodeError
from vo_node.query import QueryRunner
from vo_node.settings import Settings
from vo_node.uws.model import Job, JobResult, JobRun
from vo_node.uws.phases import COMMANDS, FINAL, TRANSITIONS, Phase, allowed, sources

SECRET = "secret internal detail"


class SqlCsvExecutor:
    """QUERY is SQL; a few words make it misbehave: ``raise`` (a bug), ``refuse`` (a NodeError),
    ``upload:part`` (copy the uploaded part to the result)."""

    def __init__(self, conninfo: str, log_path: Path | None = None) -> None:
        self._current = threading.local()
        # The pool's check hook sees each connection as it is handed out, before QueryRunner
        # runs anything on it: the moment to report the backend pid (no round trip needed).
        self.pool = ConnectionPool(
            conninfo, min_size=1, max_size=2, open=True, check=self._report, name="fake-exec"
        )
        self.runner = QueryRunner(self.pool)
        self.log_path = log_path

    def _report(self, conn: Any) -> None:
        run: JobRun | None = getattr(self._current, "run", None)
        if run is not None:
            run.on_backend(conn.info.backend_pid)

    def __call__(self, run: JobRun) -> JobResult:
        if self.log_path is not None:
            with self.log_path.open("a") as log:  # one short O_APPEND write per execution
                log.write(f"{run.job_id} {os.getpid()}\n")
        query = run.parameters.get("QUERY") or ""
        out = run.output_dir / "result.csv"
        if query == "raise":
            raise RuntimeError(SECRET)
        if query == "refuse":
            raise NodeError("the query names no table", hint="add a FROM clause")
        if query.startswith("upload:"):
            shutil.copyfile(run.uploads[query.removeprefix("upload:")], out)
            return JobResult(out, "text/csv")
        self._current.run = run
        try:
            with (
                self.runner.run(query, maxrec=None, timeout_s=run.timeout) as result,
                out.open("w", newline="") as fh,
            ):
                writer = csv.writer(fh)
                writer.writerow([c.name for c in result.columns])
                writer.writerows(result.rows)
        finally:
            self._current.run = None
        return JobResult(out, "text/csv")

    def close(self) -> None:
        self.pool.close()


def worker_main() -> None:
    """A worker process as ``vo-node worker`` will be: settings from VO_NODE_*, the fake
    executor for 'tap'; argv: log file, then 'once' or 'loop'."""
    from vo_node.uws.worker import run_worker

    settings = Settings()
    executor = SqlCsvExecutor(
        NodeDatabase.from_settings(settings).query_conninfo(), Path(sys.argv[1])
    )
    try:
        run_worker(settings, {"tap": executor}, once=sys.argv[2] == "once", poll=0.2)
    finally:
        executor.close()


# -- the phase table -----------------------------------------------------------------------------
def test_transitions_cover_every_phase_and_final_phases_stay_final() -> None:
    assert set(TRANSITIONS) == set(Phase)
    for phase in FINAL:
        assert TRANSITIONS[phase] <= {Phase.ARCHIVED}
    assert allowed(Phase.EXECUTING, Phase.ABORTED)
    assert not allowed(Phase.COMPLETED, Phase.QUEUED)
    assert sources(Phase.COMPLETED) == {Phase.EXECUTING}
    run, abort = COMMANDS["RUN"], COMMANDS["ABORT"]
    assert {p for p in Phase if allowed(p, run.target)} == {Phase.PENDING, Phase.HELD} | {
        Phase.EXECUTING,  # only as a stopping worker's requeue, never by PHASE=RUN
        Phase.SUSPENDED,
    }
    # ABORT reaches ABORTED from every phase that is not already over.
    assert {p for p in Phase if allowed(p, abort.target)} == set(Phase) - FINAL
    assert abort.ignored_in == FINAL


def test_schema_phases_match_the_table(node: Any) -> None:
    definition = node.scalar(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conrelid = 'uws.jobs'::regclass AND conname = 'jobs_phase_check'"
    )
    named = {p for p in Phase if f"'{p.value}'" in str(definition)}
    assert named == set(Phase)


def test_user_queries_cannot_see_jobs(node: Any) -> None:
    import psycopg
    import pytest

    with (
        psycopg.connect(node.db.query_conninfo()) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege, match="schema uws"),
    ):
        conn.execute("SELECT parameters FROM uws.jobs")


def test_documents_are_valid_in_every_phase() -> None:
    from xsd import assert_valid

    from vo_node.uws import documents

    now = datetime.now(UTC)
    for phase in Phase:
        job = Job(
            job_id="abcdefgh1234",
            service="tap",
            owner="" if phase is Phase.PENDING else "ivo://example/alice",
            phase=phase,
            run_id="run <&> 1",
            parameters={"QUERY": ["SELECT 1 < 2 \x01"], "UPLOAD": ["a,param:a", "b,param:b"]},
            uploads={},
            creation_time=now,
            start_time=None if phase is Phase.PENDING else now,
            end_time=now if phase in FINAL else None,
            destruction=now,
            execution_duration=60,
            error_message="boom" if phase is Phase.ERROR else None,
            result_path="/x/result.csv" if phase is Phase.COMPLETED else None,
            result_mime="text/csv",
            result_size=12,
        )
        url = "http://h/tap/async/abcdefgh1234"
        root = assert_valid(documents.job_document(job, url), "UWS.xsd")
        assert root.get("version") == "1.1"
        assert_valid(documents.results_document(job, url), "UWS.xsd")
        assert_valid(documents.parameters_document(job), "UWS.xsd")
        assert_valid(documents.job_list_document([job, job], "http://h/tap/async"), "UWS.xsd")
    assert documents.timestamp(datetime(2030, 1, 2, 3, 4, 5, 678900, UTC)) == (
        "2030-01-02T03:04:05.678Z"
    )
