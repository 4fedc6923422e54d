"""Orchestration: plan the sample, write each star's files (in two worker processes when it
pays), write truth.csv and report what was written.

Output is independent of the number of workers: each star's files come from random streams of
its own, and results are gathered in catalogue order. Imports the sibling modules ``plan``,
``products``, ``spec`` and ``truth``.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterator

from ingest.sample.plan import SamplePlan, build_plan
from ingest.sample.products import WrittenFile, write_star
from ingest.sample.spec import SampleReport, SampleSpec
from ingest.sample.truth import write_truth

WORKERS = 2
# Below this many stars, starting processes costs more than it saves.
PARALLEL_FROM_STARS = 200
_CHUNK = 4

_worker_plan: SamplePlan | None = None


def planned_files(spec: SampleSpec) -> int:
    """How many FITS files :func:`generate` will write for this spec (truth.csv excluded)."""
    plan = build_plan(spec)
    return sum(plan.files_of(star) for star in plan.stars)


def _init_worker(plan: SamplePlan) -> None:
    global _worker_plan
    _worker_plan = plan


def _job(index: int) -> list[WrittenFile]:
    assert _worker_plan is not None, "worker started without a plan"
    return write_star(_worker_plan, _worker_plan.stars[index])


def _results(plan: SamplePlan, workers: int) -> Iterator[list[WrittenFile]]:
    indices = range(len(plan.stars))
    if workers <= 1 or len(plan.stars) < PARALLEL_FROM_STARS:
        for index in indices:
            yield write_star(plan, plan.stars[index])
        return
    # fork on Linux: it works from any caller (spawn and forkserver re-import the caller's
    # __main__, which breaks scripts without a main guard or read from stdin), and the workers
    # touch no lock a caller's thread (a progress bar) could hold. Elsewhere, spawn.
    method = "fork" if sys.platform.startswith("linux") else "spawn"
    context = multiprocessing.get_context(method)
    with context.Pool(workers, initializer=_init_worker, initargs=(plan,)) as pool:
        yield from pool.imap(_job, indices, chunksize=_CHUNK)


def generate(
    spec: SampleSpec,
    progress: Callable[[int], None] | None = None,
    workers: int | None = None,
) -> SampleReport:
    """Write the sample archive described by ``spec`` under ``spec.out_dir``.

    ``progress(n)`` is called after each star with the number of files just written (the total
    is :func:`planned_files`). ``workers`` defaults to 2 (or fewer CPUs). Existing files of the
    same names are overwritten; nothing else in ``out_dir`` is touched.
    """
    plan = build_plan(spec)
    spec.out_dir.mkdir(parents=True, exist_ok=True)
    if workers is None:
        workers = min(WORKERS, os.cpu_count() or 1)
    kinds: Counter[str] = Counter()
    total_bytes = 0
    for written in _results(plan, workers):
        for item in written:
            kinds[item.kind] += 1
            total_bytes += item.size
        if progress is not None:
            progress(len(written))
    truth_path = write_truth(plan, spec.out_dir / "truth.csv")
    return SampleReport(
        files=sum(kinds.values()),
        bytes=total_bytes,
        products=sum(plan.products_of(star) for star in plan.stars),
        alert_files=kinds["EN1_ALERT"],
        truth_path=truth_path,
        by_kind=dict(sorted(kinds.items())),
        alert_products=sum(plan.alert_products_of(star) for star in plan.stars),
    )
