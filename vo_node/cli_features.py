"""``vo-node features``: the pulsation features of the archive's N2 light curves.

``--all`` computes every light curve without a current result on a local process pool, or
with ``--scheduler`` on a dask.distributed cluster; a run that was stopped or killed resumes
where it stopped when started again. Product ids compute those again. Without either, it
says how far the archive is. The worker (`vo-node worker`) computes new light curves after
each ingest by itself.
"""

from __future__ import annotations

import json
import os
import sys

import click

from vo_node.cli_base import database, fail, progress, store
from vo_node.settings import Settings


@click.command("features")
@click.argument("product_ids", nargs=-1, type=int)
@click.option("--all", "every", is_flag=True, help="Compute every light curve not done yet.")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="Local worker processes (default: one per core).",
)
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    help="Run on this dask.distributed scheduler (tcp://host:8786) instead of locally.",
)
@click.option(
    "--wait",
    "wait_s",
    type=click.FloatRange(min=0, max=7 * 86400),
    default=120.0,
    show_default=True,
    help="Seconds to wait for another computation (the worker's round, another run) first.",
)
@click.option(
    "--batch",
    type=click.IntRange(min=1),
    default=64,
    show_default=True,
    help="Save the results every this many light curves (a killed run loses at most one batch).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_obj
def features(
    settings: Settings,
    product_ids: tuple[int, ...],
    every: bool,
    workers: int | None,
    scheduler: str | None,
    wait_s: float,
    batch: int,
    as_json: bool,
) -> None:
    """Compute the pulsation features of the N2 light curves (periodogram, prewhitening,
    variability class), or say how far the archive is."""
    from vo_node.features import runner
    from vo_node.features import store as feature_store
    from vo_node.features.model import DEFAULT_PARAMS

    if every and product_ids:
        raise click.UsageError("give --all or product ids, not both")
    db = database(settings)
    with db.admin(autocommit=True) as conn:
        if not every and not product_ids:
            state = feature_store.progress(conn, DEFAULT_PARAMS)
            if as_json:
                click.echo(json.dumps(state.__dict__ | {"pending": state.pending}))
            else:
                click.echo(
                    f"{state.light_curves} light curves: {state.current} done"
                    f" ({state.failed} unreadable), {state.stale} stale, {state.missing} missing"
                )
            return
        with runner.computation_lock(conn, wait_s=wait_s) as held:
            if not held:
                fail("another features computation is running (try a longer --wait SECONDS)")
            tasks = feature_store.pending_tasks(
                conn,
                store(settings),
                DEFAULT_PARAMS,
                list(product_ids) if product_ids else None,
                retry_unreadable=True,
            )
            unknown = sorted(set(product_ids) - {t.product_id for t in tasks})
            if unknown:
                fail(
                    "not N2 light curves of this archive (only those have features): "
                    + " ".join(map(str, unknown[:20]))
                    + (" ..." if len(unknown) > 20 else "")
                )
            if scheduler:
                executor = runner.dask_executor(scheduler)
            else:
                executor = runner.local_executor(workers or os.cpu_count() or 1)
            with executor as (pool, slots), progress(len(tasks), "features") as tick:
                report = runner.compute(
                    conn, tasks, pool, slots, DEFAULT_PARAMS, tick=tick, batch=batch
                )
    if as_json:
        click.echo(json.dumps(runner.describe(report)))
    else:
        rate = report.saved / report.seconds if report.seconds else 0.0
        click.echo(
            f"{report.saved} of {report.planned} light curves computed and saved in"
            f" {report.seconds:.1f} s ({rate:.1f}/s; {report.unreadable} unreadable,"
            f" {len(report.crashed)} failed)"
        )
        for product_id, error in report.crashed:
            click.echo(f"failed {product_id}: {error}", err=True)
    if report.crashed:
        sys.exit(1)
