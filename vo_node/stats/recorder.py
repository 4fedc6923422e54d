"""The in-memory queue of a server process's accesses and the thread that writes them.

A request only appends to the queue (no lock held beyond the queue's own, no I/O): the
background thread writes what waits in one batch every ``flush_s`` seconds, or sooner when
``batch`` rows wait, and a last time when the process exits. A full queue (the database away
for long) drops the access with a log line and a counter: statistics never slow or fail a
request. Must not import Flask or psycopg.
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

log = logging.getLogger("vo_node.stats")

# How long an exiting process waits for its last write (gunicorn's graceful_timeout is 10 s).
_EXIT_WAIT_S = 5.0


@dataclass(frozen=True)
class Hit:
    """One access as the web tier saw it. ``address`` lives only in memory, until the writer
    has turned it into a country and a visitor key."""

    at: datetime
    channel: str
    status: int
    sent: int  # body bytes that went out
    products: int
    runs: tuple[str, ...]
    collections: tuple[str, ...]
    user: str | None
    address: str = field(repr=False)


Sink = Callable[[Sequence[Hit]], None]


class Recorder:
    """Queue accesses with :meth:`record`; a daemon thread hands them to ``sink`` in batches.

    ``sink`` raises when it could not write; the batch is then dropped and counted (retrying
    a batch the database refuses would block every later one behind it).
    """

    def __init__(self, sink: Sink, flush_s: float, batch: int, capacity: int) -> None:
        self._sink = sink
        self._flush_s = max(0.01, flush_s)
        self._batch = max(1, batch)
        self._queue: queue.Queue[Hit] = queue.Queue(maxsize=max(1, capacity))
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._write_lock = threading.Lock()
        self.dropped = 0  # accesses lost: queue full, or a write that failed
        self.written = 0
        self._thread = threading.Thread(target=self._run, name="vo-node-stats", daemon=True)
        self._thread.start()
        # gunicorn workers end with sys.exit(), so atexit runs on a graceful stop; a daemon
        # thread alone would die with whatever it had not written yet.
        atexit.register(self.close)

    def record(self, hit: Hit) -> None:
        """Queue ``hit``; never blocks, never raises."""
        try:
            self._queue.put_nowait(hit)
        except queue.Full:
            self.dropped += 1
            # Once per thousand, not per request: a flood of drops must not flood the log.
            if self.dropped % 1000 == 1:
                log.warning("usage statistics queue full: %d accesses dropped", self.dropped)
            return
        if self._queue.qsize() >= self._batch:
            self._wake.set()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self._flush_s)
            self._wake.clear()
            self.flush()

    def flush(self, wait: float = -1) -> int:
        """Write everything queued now, in batches; the number of accesses written. ``wait``:
        seconds to wait for a write in progress (-1: as long as it takes)."""
        written = 0
        # The thread and a closing process must not both write.
        if not self._write_lock.acquire(timeout=wait):
            return 0
        try:
            while True:
                hits: list[Hit] = []
                while len(hits) < self._batch * 4:
                    try:
                        hits.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                if not hits:
                    return written
                try:
                    self._sink(hits)
                except Exception:  # any failure: log it, count the loss, carry on
                    self.dropped += len(hits)
                    log.exception("usage statistics: %d accesses could not be written", len(hits))
                    return written
                written += len(hits)
                self.written += len(hits)
        finally:
            self._write_lock.release()

    def close(self) -> None:
        """Stop the thread and write what is left (called at process exit)."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        self._wake.set()
        self._thread.join(_EXIT_WAIT_S)
        self.flush(wait=_EXIT_WAIT_S)
