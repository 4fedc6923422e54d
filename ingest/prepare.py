"""The per-file work of an ingest, run in worker processes: checksum, read, check, stage.

Each file is read once into memory, hashed, read by the CoRoT reader, and, when it is to be
ingested, written to both storage roots' ``.incoming`` directories and verified there. The main
process then only renames staged copies into place and registers them, so the heavy work uses
every core. Results come back in input order, with a bounded number in flight so that memory
stays flat for any number of files.
"""

from __future__ import annotations

import ctypes
import hashlib
import multiprocessing
import os
import signal
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ingest.corot.reader import ReaderConfig, read_product, version_from_path
from ingest.problems import Problem, is_rejected
from ingest.records import ProductRecord
from vo_node.storage import MirroredStore

# Below this many files a pool costs more to start than it saves.
_POOL_THRESHOLD = 24
_PR_SET_PDEATHSIG = 1  # linux/prctl.h
_CHUNK = 8  # files per round trip to a worker
_IN_FLIGHT_PER_WORKER = 32  # chunks queued per worker: more than a batch, bounded


@dataclass
class WorkerState:
    """What every worker needs to decide about a file on its own."""

    store: MirroredStore
    reader: ReaderConfig
    strict: bool
    known: set[tuple[str, str, str]] = field(default_factory=set)


@dataclass
class Prepared:
    """One file after the worker: skipped, rejected (problems), or staged for commit."""

    path: Path
    sha256: str | None = None
    record: ProductRecord | None = None
    problems: list[Problem] = field(default_factory=list)
    staged: list[Path] = field(default_factory=list)
    skipped: bool = False


_state: WorkerState | None = None


def _init_worker(state: WorkerState) -> None:
    global _state
    _state = state
    _die_with_parent()


def _die_with_parent() -> None:
    """Ask Linux to kill this worker when the ingest that made it dies, even by SIGKILL:
    orphaned workers would go on copying files and hold the operator's terminal open."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return  # not Linux: the pool's own shutdown is all there is
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(1)


def prepare(
    path: Path,
    version: str | None = None,
    series_suffix: str = "",
    state: WorkerState | None = None,
) -> Prepared:
    """Checksum, read, check and (if acceptable) stage one file."""
    st = state or _state
    if st is None:
        raise RuntimeError("prepare() needs a state: run it in a worker made by _init_worker")
    try:
        data = path.read_bytes()
    except OSError as exc:
        return Prepared(path, problems=[Problem("LC003", f"cannot read: {exc.strerror}")])
    sha = hashlib.sha256(data).hexdigest()
    # A file already stored under its version directory is skipped without being opened.
    path_version = version or version_from_path(path)
    if path_version is not None and (path_version, path.name, sha) in st.known:
        return Prepared(path, sha, skipped=True)
    result = read_product(path, sha, len(data), st.reader, version, series_suffix, data)
    record = result.record
    if record is not None and (record.version, record.file_name, sha) in st.known:
        return Prepared(path, sha, skipped=True)  # a version inferred from the layout
    if record is None or is_rejected(result.problems, st.strict):
        return Prepared(path, sha, record, result.problems)
    return Prepared(path, sha, record, result.problems, st.store.stage(data))


def prepare_chunk(paths: list[Path]) -> list[Prepared]:
    """``prepare`` over a few files: one round trip to a worker for several files."""
    return [prepare(path) for path in paths]


def prepared_in_order(files: list[Path], state: WorkerState) -> Iterator[Prepared]:
    """``prepare`` over ``files`` on every core, yielding results in input order."""
    if len(files) < _POOL_THRESHOLD:
        for path in files:
            yield prepare(path, state=state)
        return
    workers = os.cpu_count() or 2
    # fork: the workers are the ingest's own children, so that they die with it (see
    # _die_with_parent; a forkserver would outlive a killed ingest, and its workers with it).
    # They never touch the inherited database connection, and leave by os._exit.
    context = multiprocessing.get_context("fork")
    chunks = [files[i : i + _CHUNK] for i in range(0, len(files), _CHUNK)]
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=_init_worker, initargs=(state,)
    ) as pool:
        for chunk in _bounded(pool, chunks, workers * _IN_FLIGHT_PER_WORKER):
            yield from chunk


def _bounded(
    pool: ProcessPoolExecutor, chunks: Iterable[list[Path]], window: int
) -> Iterator[list[Prepared]]:
    todo = iter(chunks)
    in_flight: deque[Future[list[Prepared]]] = deque()
    for chunk in todo:
        in_flight.append(pool.submit(prepare_chunk, chunk))
        if len(in_flight) >= window:
            break
    try:
        while in_flight:
            done = in_flight.popleft().result()
            following = next(todo, None)
            if following is not None:
                in_flight.append(pool.submit(prepare_chunk, following))
            yield done
    finally:
        for future in in_flight:
            future.cancel()
        # Staged copies of results nobody will see are swept by the next ingest (.incoming).
