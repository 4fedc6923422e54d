"""One ingest: discover -> read -> check -> store twice -> register, in batches.

Crash safety, step by step for each batch:
1. the archive paths about to be written are journalled (``ingest_pending``) and committed;
2. each file is copied to both storage roots through ``.incoming`` and renamed into place;
3. one transaction inserts the product rows and deletes the journal entries.
A kill at any point leaves either a committed product with both copies, or journal entries whose
files the next ingest removes before it starts (and ``.incoming`` leftovers it sweeps). A
re-run skips files whose checksum is already registered.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from ingest import register
from ingest.alerts import (
    AlertGroup,
    AlertHandler,
    concatenate,
    delivery_of,
    group_by_delivery,
    group_daily_files,
)
from ingest.corot import names
from ingest.corot.reader import ReaderConfig
from ingest.prepare import Prepared, WorkerState, prepare, prepared_in_order
from ingest.problems import Problem, Severity, is_rejected
from ingest.records import ProductRecord
from vo_node.db import locks
from vo_node.errors import IngestError
from vo_node.storage import MirroredStore

BATCH = 200


@dataclass
class Rejection:
    source: str
    problems: list[Problem]
    quarantined: str | None


@dataclass
class IngestSummary:
    """The outcome of one ingest, as printed on its last line and by ``--json``."""

    ingest_id: int = 0
    seen: int = 0
    ingested: int = 0
    skipped: int = 0
    rejected: int = 0
    cleaned_up: int = 0
    warnings: int = 0
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)

    def line(self) -> str:
        text = (
            f"{self.seen} files seen, {self.ingested} ingested, {self.skipped} skipped as "
            f"already present, {self.rejected} rejected"
        )
        if self.warnings:
            text += f", {self.warnings} warnings"
        if self.deliveries:
            text += f", {len(self.deliveries)} alert deliveries"
        return text

    def as_dict(self) -> dict[str, Any]:
        return {
            "ingest_id": self.ingest_id,
            "seen": self.seen,
            "ingested": self.ingested,
            "skipped": self.skipped,
            "rejected": self.rejected,
            "warnings": self.warnings,
            "cleaned_up": self.cleaned_up,
            "deliveries": self.deliveries,
            "rejections": [
                {
                    "source": r.source,
                    "quarantined": r.quarantined,
                    "problems": [
                        {"code": p.code, "title": p.kind.title, "message": p.message}
                        for p in r.problems
                    ],
                }
                for r in self.rejections
            ],
        }


def discover(paths: Iterable[Path]) -> tuple[list[Path], list[Path]]:
    """FITS files under ``paths``: (product files, alert daily files), each sorted."""
    products: list[Path] = []
    daily: list[Path] = []
    for root in paths:
        if not root.exists():
            raise IngestError(f"{root} does not exist")
        candidates = [root] if root.is_file() else sorted(root.rglob("*.fits"))
        for path in candidates:
            if any(part.startswith(".") for part in path.relative_to(root).parts):
                continue  # hidden trees: editors' and our own temporary files
            if names.parse_alert_day_name(path.name):
                daily.append(path)
            else:
                products.append(path)
    return sorted(set(products)), sorted(set(daily))


@dataclass
class Ingest:
    """Everything one ingest needs; ``run`` does the work."""

    conn: psycopg.Connection  # autocommit, admin role
    store: MirroredStore
    quarantine: Path
    handler: AlertHandler
    strict: bool = False
    reader: ReaderConfig = field(default_factory=ReaderConfig)
    progress: Callable[[int], None] | None = None
    summary: IngestSummary = field(default_factory=IngestSummary)

    def run(self, paths: Sequence[Path], argv: Sequence[str] = ()) -> IngestSummary:
        self.store.check()
        if not locks.try_lock(self.conn):
            raise IngestError(
                "another ingest or repair is running on this archive", hint="wait for it to end"
            )
        try:
            self._clean_up()
            products, daily = discover(paths)
            self.summary.ingest_id = register.start_ingest(self.conn, list(argv))
            self.summary.seen = len(products) + len(daily)
            self._known, self._known_path = register.known_products(self.conn)
            self._registrar = register.Registrar(self.conn, [s.name for s in self.store.sites])
            self._ingest_products(products)
            self._ingest_alerts(daily)
            self._retry_handlers()
            self._finish("ok")
        except BaseException:
            # What was registered before the error stays (committed batch by batch): the
            # row says so, and the feed announces it.
            if self.summary.ingest_id and not self.conn.closed:
                with contextlib.suppress(psycopg.Error):
                    self._finish("failed")
            raise
        finally:
            locks.unlock(self.conn)
        return self.summary

    def _finish(self, outcome: str) -> None:
        s = self.summary
        register.finish_ingest(
            self.conn, s.ingest_id, s.seen, s.ingested, s.skipped, s.rejected, outcome
        )

    # -- recovery ------------------------------------------------------------------------------
    def _clean_up(self) -> None:
        """Remove what an interrupted ingest left: journalled files and partial copies, and
        its open log row."""
        register.close_interrupted(self.conn)
        stale = register.stale_pending(self.conn)
        for relpath in stale:
            self.store.remove(relpath)
        register.forget_pending(self.conn, stale)
        self.summary.cleaned_up = len(stale) + self.store.sweep_incoming()

    # -- products ------------------------------------------------------------------------------
    def _tick(self, n: int = 1) -> None:
        if self.progress:
            self.progress(n)

    def _worker_state(self) -> WorkerState:
        # The live set: in-process preparation sees what this run has added; the pool's
        # workers get a copy when it is pickled for them.
        return WorkerState(self.store, self.reader, self.strict, self._known)

    def _ingest_products(self, files: list[Path]) -> None:
        batch: list[Prepared] = []
        for prepared in prepared_in_order(files, self._worker_state()):
            self._tick()
            if self._accept(prepared):
                batch.append(prepared)
            if len(batch) >= BATCH:
                self._store_batch(batch)
                self.summary.ingested += len(batch)
                batch = []
        self._store_batch(batch)
        self.summary.ingested += len(batch)

    def _accept(self, prepared: Prepared, sources: list[Path] | None = None) -> bool:
        """Decide on a prepared file with what only the main process knows; count it.

        ``sources`` are the files a rejection is reported against (an alert light curve's
        daily files) when they are not the prepared file itself."""
        if prepared.skipped:
            self.summary.skipped += 1
            return False
        record, sha = prepared.record, prepared.sha256
        problems = list(prepared.problems)
        if record is not None and sha is not None:
            if (record.version, record.file_name, sha) in self._known:
                # The same file twice in one run (e.g. listed twice) is stored once.
                self.store.discard(prepared.staged)
                self.summary.skipped += 1
                return False
            other = self._known_path.get(record.archive_path)
            if other is not None and other != sha:
                problems.append(
                    Problem("LC015", f"{record.archive_path} is stored with sha256 {other[:12]}…")
                )
        if record is None or sha is None or is_rejected(problems, self.strict):
            self.store.discard(prepared.staged)
            for source in sources or [prepared.path]:
                self._reject(source, problems)
            return False
        record.problems = problems
        self.summary.warnings += sum(1 for p in problems if p.kind.severity is Severity.WARNING)
        self._known.add((record.version, record.file_name, sha))
        self._known_path[record.archive_path] = sha
        return True

    def _store_batch(
        self, batch: list[Prepared], also: Callable[[list[int]], None] | None = None
    ) -> list[int]:
        """Journal, move the staged copies into place, register: the crash-safe order."""
        if not batch:
            return []
        records = [_record(p) for p in batch]
        register.add_pending(self.conn, records)
        for prepared, record in zip(batch, records, strict=True):
            self.store.commit(prepared.staged, record.archive_path, record.sha256)
        return self._registrar.register(records, self.summary.ingest_id, also)

    def _reject(self, path: Path, problems: list[Problem]) -> None:
        self.summary.rejected += 1
        target_dir = self.quarantine / f"ingest-{self.summary.ingest_id:06d}"
        target_dir.mkdir(parents=True, exist_ok=True)
        target = target_dir / path.name
        quarantined: str | None = None
        try:
            if path.exists():
                shutil.copy2(path, target)  # a copy: the delivery itself is never altered
                quarantined = str(target)
        except OSError:
            quarantined = None
        report = [f"source: {path}"] + [
            f"{p.code} {p.severity(self.strict).value}: {p.kind.title}: {p.message}"
            for p in problems
        ]
        (target_dir / f"{path.name}.problems.txt").write_text("\n".join(report) + "\n")
        register.record_rejection(
            self.conn, self.summary.ingest_id, str(path), problems, self.strict
        )
        self.summary.rejections.append(Rejection(str(path), problems, quarantined))

    # -- alert deliveries ----------------------------------------------------------------------
    def _ingest_alerts(self, daily: list[Path]) -> None:
        if not daily:
            return
        for path in daily:
            if delivery_of(path) is None:
                self._tick()
                self._reject(path, [Problem("LC022", f"in {path.parent}")])
        # Concatenations are written inside a storage root's .incoming: swept by the next
        # ingest if this one is killed, and on the same file system as their destination.
        staging = self.store.sites[0].incoming() / f"alerts-{self.summary.ingest_id}"
        state = self._worker_state()
        try:
            for delivery, groups in sorted(group_by_delivery(group_daily_files(daily)).items()):
                self._ingest_delivery(delivery, groups, staging / delivery, state)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _ingest_delivery(
        self, delivery: str, groups: list[AlertGroup], staging: Path, state: WorkerState
    ) -> None:
        batch: list[Prepared] = []
        daily_in_batch = 0
        for group in groups:
            n_files = len(group.files)
            self._tick(n_files)
            joined = concatenate(group, staging)
            if joined.path is None:
                for path in group.files:
                    self._reject(path, joined.problems)
                continue
            skipped_before = self.summary.skipped
            prepared = prepare(
                joined.path,
                version=f"N1-ALERT-{group.week}",
                series_suffix=f":{group.week}",
                state=state,
            )
            # Counted per daily file, like every other file seen.
            if self._accept(prepared, sources=group.files):
                batch.append(prepared)
                daily_in_batch += n_files
            elif self.summary.skipped > skipped_before:
                self.summary.skipped += n_files - 1
        if not batch:
            return
        run = _record(batch[0]).run
        self._store_batch(
            batch,
            # In the products' transaction: a crash cannot separate products from their
            # delivery, so a delivery whose handler did not run is handed over next time.
            lambda ids: register.record_delivery(self.conn, delivery, ids, run.mission, run.code),
        )
        self.summary.ingested += daily_in_batch
        self._handle(delivery)

    def _handle(self, delivery: str) -> None:
        """Hand the delivery's light curves not yet handed over to the alert-mode handler."""
        light_curves = register.pending_light_curves(self.conn, delivery)
        for lc in light_curves:
            lc["paths"] = [str(site.path(str(lc["archive_path"]))) for site in self.store.sites]
        status = self.handler.notify(delivery, light_curves)
        register.mark_handled(
            self.conn,
            delivery,
            self.handler.describe(),
            status,
            [lc["product_id"] for lc in light_curves],
        )
        self.summary.deliveries.append(
            {"delivery": delivery, "light_curves": len(light_curves), "handler": status}
        )

    def _retry_handlers(self) -> None:
        """Deliveries whose handler failed or never ran (a crash) are handed over again."""
        done = {d["delivery"] for d in self.summary.deliveries}
        for delivery in register.deliveries_pending(self.conn):
            if delivery not in done:
                self._handle(delivery)


def _record(prepared: Prepared) -> ProductRecord:
    if prepared.record is None:
        raise ValueError(f"{prepared.path} has no record")  # only accepted files get here
    return prepared.record
