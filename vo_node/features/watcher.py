"""The worker's background computation of features: after each ingest (the ingest's NOTIFY
``vo_node_ingested``, and every ``feature_poll_s`` seconds in case one was missed), the light
curves without a current result are computed on a small local process pool, through the same
runner as ``vo-node features --all``, ROUND light curves at a time: the lock is released
between rounds, so that an operator's ``--all`` run (with every core) can take over. When
another computation holds the lock, this one waits for the next round. Must not import Flask.
"""

from __future__ import annotations

import logging
import threading

import psycopg

from vo_node.db.node import NodeDatabase
from vo_node.features import runner, store
from vo_node.features.model import DEFAULT_PARAMS
from vo_node.storage import MirroredStore

log = logging.getLogger(__name__)

# Light curves per round: the computation's lock is released between rounds, so that the
# background never holds it for a whole archive (an operator's run waits a round at most).
ROUND = runner.BATCH
PAUSE_S = 2.0


class FeatureWatcher(threading.Thread):
    """Computes new light curves' features in the background until ``stop`` is set."""

    def __init__(
        self,
        db: NodeDatabase,
        mirrored: MirroredStore,
        workers: int,
        poll_s: float,
        stop: threading.Event,
    ) -> None:
        super().__init__(name="features", daemon=True)
        self.db = db
        self.mirrored = mirrored
        self.workers = workers
        self.poll_s = poll_s
        self.stop = stop

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                with self.db.admin(autocommit=True) as conn:
                    conn.execute("LISTEN vo_node_ingested")
                    while not self.stop.is_set():
                        if self._round(conn):
                            # More to do: the lock is free for a moment, so that an
                            # operator's `features --all` (many processes) can take over.
                            self.stop.wait(PAUSE_S)
                            continue
                        # Wake on an ingest's notice, or look again after poll_s anyway.
                        for _ in conn.notifies(timeout=self.poll_s, stop_after=1):
                            pass
            except psycopg.Error as exc:
                # The database went away (restart, failover): try again later.
                log.warning("feature computation paused: %s", exc)
                self.stop.wait(self.poll_s)

    def _round(self, conn: psycopg.Connection) -> bool:
        """Compute at most ROUND light curves under the lock; True if more are waiting."""
        with runner.computation_lock(conn) as held:
            if not held:
                return False
            pending = store.pending_tasks(conn, self.mirrored, DEFAULT_PARAMS)
            if not pending:
                return False
            tasks = pending[:ROUND]
            log.info("computing the features of %d light curves", len(tasks))
            with runner.local_executor(self.workers) as (pool, slots):
                report = runner.compute(conn, tasks, pool, slots, DEFAULT_PARAMS, stop=self.stop)
            log.info(
                "features: %d saved (%d unreadable, %d failed) in %.1f s",
                report.saved,
                report.unreadable,
                len(report.crashed),
                report.seconds,
            )
            # A light curve without a copy (crashed) would be found pending again at once.
            return len(pending) > len(tasks) and not report.crashed
