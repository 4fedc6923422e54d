"""The storage audit: re-read both copies of every product, report and repair damage.

A copy is *ok* when its SHA-256 equals the registered one, *missing* or *corrupt* otherwise.
Repair restores a bad copy from a copy that verifies, never from an unverified one; a product
with no good copy left is reported and stays a problem (exit status non-zero). Each copy's
outcome and time of check are recorded in ``archive.product_copies``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import psycopg

from vo_node.db import locks
from vo_node.errors import NodeError, StorageError
from vo_node.storage import CopyStatus, MirroredStore, Site

_SAMPLE = re.compile(r"^(\d+(?:\.\d+)?)(%?)$")


@dataclass
class CopyFinding:
    product_id: int
    archive_path: str
    site: str
    status: CopyStatus
    repaired: bool = False


@dataclass
class AuditReport:
    checked: int = 0
    copies_ok: int = 0
    findings: list[CopyFinding] = field(default_factory=list)

    @property
    def unresolved(self) -> list[CopyFinding]:
        return [f for f in self.findings if not f.repaired]

    def line(self) -> str:
        repaired = sum(1 for f in self.findings if f.repaired)
        return (
            f"{self.checked} products checked, {self.copies_ok} copies ok, "
            f"{len(self.findings)} bad copies, {repaired} repaired, "
            f"{len(self.unresolved)} problems remain"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "copies_ok": self.copies_ok,
            "findings": [
                {
                    "product_id": f.product_id,
                    "archive_path": f.archive_path,
                    "site": f.site,
                    "status": f.status.value,
                    "repaired": f.repaired,
                }
                for f in self.findings
            ],
            "problems_remaining": len(self.unresolved),
        }


def parse_sample(text: str | None) -> tuple[int | None, float | None]:
    """'500' -> 500 products; '5%' -> 5 percent; None -> everything."""
    if text is None:
        return None, None
    match = _SAMPLE.match(text.strip())
    if not match:
        raise NodeError(f"--sample {text!r}: give a count (500) or a percentage (5%)")
    value = float(match[1])
    if match[2]:
        if not 0 < value <= 100:
            raise NodeError("--sample percentage must be in (0, 100]")
        return None, value
    return int(value), None


def _select(conn: psycopg.Connection, sample: str | None) -> list[tuple[int, str, str]]:
    count, percent = parse_sample(sample)
    base = "SELECT product_id, archive_path, sha256 FROM archive.products"
    if count is not None:
        rows = conn.execute(base + " ORDER BY random() LIMIT %s", (count,)).fetchall()
    elif percent is not None:
        rows = conn.execute(base + " WHERE random() < %s", (percent / 100.0,)).fetchall()
    else:
        rows = conn.execute(base + " ORDER BY product_id").fetchall()
    return [(int(r[0]), str(r[1]), str(r[2]).strip()) for r in rows]


def _verify(site: Site, relpath: str, sha: str) -> CopyStatus:
    try:
        return site.verify(relpath, sha)
    except OSError:
        return CopyStatus.UNREADABLE  # an I/O error is a finding, never the end of the audit


def _repair(store: MirroredStore, name: str, good: str, relpath: str, sha: str) -> bool:
    target = store.site(name)
    try:
        target.restore_from(store.site(good), relpath, sha)
        return target.verify(relpath, sha) is CopyStatus.OK
    except (StorageError, OSError):
        return False


def audit(
    conn: psycopg.Connection,
    store: MirroredStore,
    sample: str | None = None,
    repair: bool = False,
    progress: Callable[[int], None] | None = None,
    threads: int = 4,
) -> AuditReport:
    """Check (and with ``repair`` mend) the copies of every product, or of a sample."""
    for site in store.sites:
        if not site.root.is_dir():
            raise StorageError(
                f"storage root {site.name} ({site.root}) does not exist",
                hint="mount it; an audit of an absent root would call every copy missing",
            )
    if repair and not locks.try_lock(conn):
        raise NodeError("an ingest or another repair is running", hint="wait for it to end")
    try:
        return _audit(conn, store, _select(conn, sample), repair, progress, threads)
    finally:
        if repair:
            locks.unlock(conn)


def _audit(
    conn: psycopg.Connection,
    store: MirroredStore,
    products: list[tuple[int, str, str]],
    repair: bool,
    progress: Callable[[int], None] | None,
    threads: int,
) -> AuditReport:
    report = AuditReport()
    outcomes: list[tuple[str, int, str]] = []

    def check(item: tuple[int, str, str]) -> list[tuple[str, CopyStatus]]:
        _, relpath, sha = item
        return [(site.name, _verify(site, relpath, sha)) for site in store.sites]

    with ThreadPoolExecutor(max_workers=threads) as pool:
        for item, statuses in zip(products, pool.map(check, products), strict=True):
            product_id, relpath, sha = item
            report.checked += 1
            good = [name for name, st in statuses if st is CopyStatus.OK]
            report.copies_ok += len(good)
            for name, status in statuses:
                recorded = status
                if status is not CopyStatus.OK:
                    finding = CopyFinding(product_id, relpath, name, status)
                    # Only ever from a copy that has just verified: never from a bad one.
                    finding.repaired = bool(repair and good) and _repair(
                        store, name, good[0], relpath, sha
                    )
                    report.findings.append(finding)
                    if finding.repaired:
                        recorded = CopyStatus.OK
                outcomes.append((recorded.value, product_id, name))
            if len(outcomes) >= 1000:
                _record(conn, outcomes)
            if progress:
                progress(1)
    _record(conn, outcomes)
    return report


def _record(conn: psycopg.Connection, outcomes: list[tuple[str, int, str]]) -> None:
    """Write each copy's state and time of check, a batch in one transaction."""
    if not outcomes:
        return
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            "UPDATE archive.product_copies SET status = %s, verified_at = now()"
            " WHERE product_id = %s AND site = %s",
            outcomes,
        )
    outcomes.clear()
