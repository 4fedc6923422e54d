"""Worker processes: claim QUEUED jobs, run them with their service's executor, record the end.

Any number of workers, on any hosts sharing the database and ``<var_dir>/jobs``, may run at
once: a claim is one ``FOR UPDATE SKIP LOCKED`` update, so no job runs twice. While a job runs,
a watcher thread looks at its row a few times a second and cancels its query (through
``vo_node.uws.cancel``) when the job was aborted or deleted, when it overruns its execution
duration, or when the worker is told to stop (SIGTERM/SIGINT: the job goes back to the queue).
Recording the end only ever moves a job out of EXECUTING, so an ABORT that the web tier made
meanwhile stands: the job stays ABORTED, not ERROR. Must not import Flask.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from enum import Enum
from pathlib import Path

import psycopg

from vo_node.db.node import NodeDatabase
from vo_node.errors import NodeError
from vo_node.settings import Settings
from vo_node.uws import store
from vo_node.uws.cancel import BackendCanceller
from vo_node.uws.model import Executor, Job, JobResult, JobRun, jobs_root
from vo_node.uws.phases import Phase

log = logging.getLogger(__name__)

SWEEP_EVERY = 60.0  # seconds between destruction sweeps and orphan checks
WATCH_EVERY = 0.25  # seconds between a watcher's looks at its job
# The executor enforces the execution duration with statement_timeout; the watcher cancels only
# if that did not work (time spent outside the database), a little later.
GRACE = 5.0
INTERNAL = "internal error of the service while running the job; it has been logged"
LOST_WORKER = "the worker running this job stopped unexpectedly; please submit the job again"


class _Reason(Enum):
    """Why a watcher cancelled its job's query."""

    GONE = "the job was aborted, deleted or destroyed"
    TIMEOUT = "the job overran its execution duration"
    STOPPING = "the worker is stopping"


class _Watch(threading.Thread):
    """Watches one running job from its own connection; cancels its query when needed."""

    def __init__(
        self,
        job: Job,
        conn: store.Conn,
        canceller: BackendCanceller,
        stop: threading.Event,
    ) -> None:
        super().__init__(name=f"uws-watch-{job.job_id}", daemon=True)
        self.job = job
        self.conn = conn
        self.canceller = canceller
        self.worker_stop = stop
        self.deadline = time.monotonic() + job.execution_duration + GRACE
        self.backend: tuple[int, datetime | None] | None = None
        self.reason: _Reason | None = None
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(WATCH_EVERY):
            try:
                if self.reason is None:
                    self.reason = self._check()
                if self.reason is not None:
                    # Again at every look until the executor returns: a cancel that reaches
                    # the session between two statements is ignored by PostgreSQL.
                    self.cancel()
            except psycopg.Error as exc:
                log.warning("watching job %s: %s", self.job.job_id, exc)

    def _check(self) -> _Reason | None:
        if store.phase_of(self.conn, self.job.job_id) is not Phase.EXECUTING:
            return _Reason.GONE
        if time.monotonic() > self.deadline:
            return _Reason.TIMEOUT
        if self.worker_stop.is_set():
            return _Reason.STOPPING
        return None

    def cancel(self) -> None:
        if self.backend is not None:
            self.canceller.cancel(*self.backend)

    def finish(self) -> None:
        self._done.set()
        self.join()


def _inside(path: Path, directory: Path) -> Path | None:
    """``path`` resolved, if it is a file inside ``directory`` (we serve what we record)."""
    resolved = path.resolve()
    if resolved.is_file() and directory.resolve() in resolved.parents:
        return resolved
    return None


class _Worker:
    def __init__(
        self,
        settings: Settings,
        executors: Mapping[str, Executor],
        stop: threading.Event,
        sweep_every: float,
    ) -> None:
        self.db = NodeDatabase.from_settings(settings)
        self.root = jobs_root(settings)
        self.executors = dict(executors)
        self.stop = stop
        self.sweep_every = sweep_every
        self.host = socket.gethostname()
        self.pid = os.getpid()

    def run(self, once: bool, poll: float) -> int:
        ran = 0
        with (
            self.db.service(autocommit=True) as conn,
            self.db.service(autocommit=True) as watch_conn,
            BackendCanceller(self.db.query_conninfo()) as canceller,
        ):
            conn.execute("LISTEN uws_queued")
            next_sweep = 0.0
            while not self.stop.is_set():
                if time.monotonic() >= next_sweep:
                    self.sweep(conn, canceller)
                    next_sweep = time.monotonic() + self.sweep_every
                job = store.claim(conn, list(self.executors), self.pid, self.host)
                if job is None:
                    if once:
                        break
                    # A NOTIFY from the queueing transaction ends the wait at once.
                    for _ in conn.notifies(timeout=poll, stop_after=1):
                        pass
                    continue
                try:
                    self.execute(conn, watch_conn, canceller, job)
                finally:
                    store.release(conn, job)
                ran += 1
        return ran

    def sweep(self, conn: store.Conn, canceller: BackendCanceller) -> None:
        """Destroy jobs past their destruction time, fail those whose worker died."""
        for job in store.destroy_expired(conn, self.root):
            log.info("job %s destroyed at its destruction time", job.job_id)
            if job.phase is Phase.EXECUTING and job.backend_pid is not None:
                canceller.cancel(job.backend_pid, job.backend_start)
        for job_id in store.reap_orphans(conn, LOST_WORKER):
            log.warning("job %s lost its worker; now in ERROR", job_id)
        store.sweep_directories(conn, self.root)

    def execute(
        self, conn: store.Conn, watch_conn: store.Conn, canceller: BackendCanceller, job: Job
    ) -> None:
        out_dir = self.root / job.job_id
        out_dir.mkdir(parents=True, exist_ok=True)
        watch = _Watch(job, watch_conn, canceller, self.stop)

        def on_backend(pid: int) -> None:
            watch.backend = (pid, canceller.started(pid))
            if not store.record_backend(conn, job.job_id, pid, watch.backend[1]):
                watch.reason = watch.reason or _Reason.GONE  # aborted before the query began
                watch.cancel()

        run = JobRun(
            job_id=job.job_id,
            owner=job.owner,
            parameters=job.dali_params(),
            timeout=float(job.execution_duration),
            output_dir=out_dir,
            on_backend=on_backend,
            uploads={part: Path(path) for part, path in job.uploads.items()},
        )
        log.info("job %s of %s: executing", job.job_id, job.service)
        result: JobResult | None = None
        message: str | None = None
        watch.start()
        try:
            result = JobResult(*self.executors[job.service](run))
        except NodeError as exc:
            message = str(exc)
        except Exception:
            log.exception("job %s of %s: the executor failed", job.job_id, job.service)
            message = INTERNAL
        finally:
            watch.finish()
        self.record(conn, job, watch.reason, result, message)

    def record(
        self,
        conn: store.Conn,
        job: Job,
        reason: _Reason | None,
        result: JobResult | None,
        message: str | None,
    ) -> None:
        out_dir = self.root / job.job_id
        path = _inside(Path(result.path), out_dir) if result is not None else None
        if result is not None and path is None:
            log.error("job %s: result %s is not a file in %s", job.job_id, result.path, out_dir)
            message = INTERNAL
        if reason is _Reason.STOPPING:
            recorded = store.requeue(conn, job.job_id)
            path = None
        elif reason is _Reason.TIMEOUT:
            message = (
                f"the job ran longer than its execution duration of {job.execution_duration} s"
            )
            recorded = store.fail(conn, job.job_id, message)
            path = None
        elif path is not None and result is not None:
            recorded = store.complete(conn, job.job_id, path, result.mime_type, path.stat().st_size)
        else:
            recorded = store.fail(conn, job.job_id, message or INTERNAL)
        log.info("job %s: %s", job.job_id, store.phase_of(conn, job.job_id) or "gone")
        if recorded and path is not None:
            return
        # Aborted, deleted, failed or requeued: a result file would only take space.
        if result is not None and _inside(Path(result.path), out_dir):
            Path(result.path).unlink(missing_ok=True)
        if store.phase_of(conn, job.job_id) is None:
            shutil.rmtree(out_dir, ignore_errors=True)


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM and SIGINT ask for a clean stop (the running job goes back to the queue)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_worker(
    settings: Settings,
    executors: Mapping[str, Executor],
    once: bool = False,
    poll: float = 0.5,
    *,
    stop: threading.Event | None = None,
    sweep_every: float = SWEEP_EVERY,
) -> int:
    """Run jobs of the services in ``executors`` (service name -> executor) until stopped.

    ``once``: sweep, run every job queued, and return when the queue is empty. ``poll`` is the
    longest an idle worker sleeps (a NOTIFY wakes it sooner). ``stop`` ends the loop from
    another thread; SIGTERM/SIGINT set it when run in the main thread. Returns the number of
    jobs run. A lost database connection is retried every few seconds unless ``once``.
    """
    stop = stop or threading.Event()
    worker = _Worker(settings, executors, stop, sweep_every)
    ran = 0
    with _stop_on_signals(stop):
        while not stop.is_set():
            try:
                ran += worker.run(once, poll)
                if once:
                    break
            except (psycopg.OperationalError, NodeError) as exc:
                if once:
                    raise
                log.warning("worker lost the database (%s); trying again", exc)
                stop.wait(5.0)
    return ran
