"""The features of many light curves, computed on an executor and saved as they come:
``vo-node features --all`` on a local process pool, or with ``--scheduler`` on a
dask.distributed cluster, through the same code (a dask client offers the standard
``concurrent.futures.Executor`` interface).

Restartable by construction: results are committed in small batches, and a run computes only
the light curves without a current result (:func:`vo_node.features.store.pending_tasks`), so a
run that was killed loses at most its last uncommitted batch and the next run goes on from
there; nothing whose result was saved is computed again. One run at a time per archive: the
run holds an advisory lock for its whole length.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg

from vo_node.errors import NodeError
from vo_node.features import store
from vo_node.features.model import FeatureParams
from vo_node.features.task import Outcome, Task, run_task, software

log = logging.getLogger(__name__)

# Results are committed every this many light curves, or this many seconds, whichever
# comes first: a killed run loses at most that much work.
BATCH = 64
BATCH_SECONDS = 5.0
# Tasks submitted ahead per worker: keeps every worker busy without queueing the whole
# archive in the scheduler's memory.
AHEAD_PER_WORKER = 4


@dataclass
class RunReport:
    """What one run did: light curves computed and saved, unreadable ones (saved with their
    error), and ones whose computation raised (not saved: the next run tries them again)."""

    planned: int = 0
    saved: int = 0
    unreadable: int = 0
    crashed: list[tuple[int, str]] = field(default_factory=list)
    seconds: float = 0.0


@contextmanager
def local_executor(workers: int) -> Iterator[tuple[Executor, int]]:
    """A process pool of ``workers`` processes (spawned: the caller may hold threads and
    database connections, which a fork would copy)."""
    # One BLAS thread per process: the fits' small matrix products otherwise start a thread
    # pool per worker that fights the other workers for the cores (measured: two workers on
    # two cores 60% slower). Spawned processes inherit the environment; dask's nanny sets
    # the same for its workers.
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=_die_with_parent
    ) as pool:
        yield pool, workers


def _die_with_parent() -> None:
    """In a pool process: end when the process that started it ends, however it ended (a
    killed run would otherwise leave its idle workers behind). Linux only; elsewhere the
    workers end when they next find their queue closed."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the parent died before the line above
        os._exit(1)


_PR_SET_PDEATHSIG = 1


@contextmanager
def dask_executor(address: str) -> Iterator[tuple[Executor, int]]:
    """An executor on the dask.distributed scheduler at ``address``; its workers must see
    the storage roots at the same paths as this machine."""
    try:
        from distributed import Client
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise NodeError("dask.distributed is not installed") from exc
    try:
        client = Client(address, timeout=30)
    except (OSError, ValueError, TypeError) as exc:
        # OSError: nobody answers; ValueError/TypeError: not an address ('garbage', ':::').
        raise NodeError(f"cannot reach the dask scheduler at {address}: {exc}") from exc
    try:
        workers = max(1, sum(client.nthreads().values()))
        yield client.get_executor(pure=False), workers
    finally:
        client.close()


def compute(
    conn: psycopg.Connection,
    tasks: Sequence[Task],
    executor: Executor,
    workers: int,
    params: FeatureParams,
    *,
    tick: Callable[[int], None] = lambda n: None,
    stop: threading.Event | None = None,
    batch: int = BATCH,
) -> RunReport:
    """Compute ``tasks`` on ``executor`` and save the results as they come, in batches.
    ``conn`` is an admin connection in autocommit mode. Once ``stop`` is set, nothing more
    is submitted: the results of the tasks already running are saved, the rest is left for
    the next run."""
    started = time.monotonic()
    params_id = store.parameter_set(conn, params, software())
    report = RunReport(planned=len(tasks))
    queue = iter(tasks)
    running: dict[Future[Outcome], int] = {}
    done: list[Outcome] = []
    last_save = time.monotonic()

    def submit(n: int) -> None:
        if stop is not None and stop.is_set():
            return
        for task in queue:
            running[executor.submit(run_task, task, params)] = task.product_id
            n -= 1
            if n <= 0:
                return

    def flush() -> None:
        nonlocal last_save
        report.saved += store.save(conn, params_id, done)
        done.clear()
        last_save = time.monotonic()

    submit(max(1, workers) * AHEAD_PER_WORKER)
    while running:
        finished, _ = wait(list(running), timeout=BATCH_SECONDS, return_when=FIRST_COMPLETED)
        for future in finished:
            product_id = running.pop(future)
            try:
                outcome = future.result()
            except Exception as exc:  # a bug or a lost worker: tell, and try it next run
                log.error("features of product %s failed: %s", product_id, exc)
                report.crashed.append((product_id, f"{type(exc).__name__}: {exc}"[:300]))
                continue
            if outcome.error is not None:
                report.unreadable += 1
            done.append(outcome)
            tick(1)
        submit(len(finished))
        if len(done) >= batch or (done and time.monotonic() - last_save >= BATCH_SECONDS):
            flush()
    flush()
    report.seconds = time.monotonic() - started
    return report


@contextmanager
def computation_lock(conn: psycopg.Connection, *, wait_s: float = 0.0) -> Iterator[bool]:
    """Hold the archive's one-computation-at-a-time lock; yields False if another run held
    it for longer than ``wait_s`` seconds."""
    deadline = time.monotonic() + wait_s
    while not (held := store.try_lock(conn)) and time.monotonic() < deadline:
        time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
    try:
        yield held
    finally:
        if held:
            store.unlock(conn)


def describe(report: RunReport) -> dict[str, Any]:
    """The run's report as plain data (the command's --json)."""
    return {
        "planned": report.planned,
        "saved": report.saved,
        "unreadable": report.unreadable,
        "crashed": [{"product_id": p, "error": e} for p, e in report.crashed],
        "seconds": round(report.seconds, 2),
    }
