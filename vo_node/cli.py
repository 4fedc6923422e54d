"""``vo-node``: the operator's command line.

Every command reads the same settings (environment variables ``VO_NODE_*``, see
``vo-node settings``). Long operations show a progress bar on a terminal and stay quiet
otherwise. Errors meant for the operator are printed as one line and exit with status 2;
a completed command that leaves a problem (rejected files, damaged copies) exits with 1.
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import Any

import click

from vo_node.cli_accounts import users
from vo_node.cli_base import NodeGroup, database, progress, store
from vo_node.cli_features import features
from vo_node.cli_runs import runs
from vo_node.cli_stats import stats
from vo_node.settings import Settings


@click.group(cls=NodeGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Operate a vo-node archive: set it up, fill it, check it, serve it.

    \b
    First time on a machine:
      vo-node init                      create the database cluster and storage roots
      vo-node sample-data var/sample    write a CoRoT-like sample delivery
      vo-node ingest var/sample         ingest it (both storage roots, checksums)
      vo-node serve                     serve the node on http://127.0.0.1:8000

    Settings come from VO_NODE_* environment variables: `vo-node settings` lists them.
    """
    ctx.obj = Settings()


cli.add_command(users)
cli.add_command(stats)
cli.add_command(runs)
cli.add_command(features)


@cli.command()
@click.pass_obj
def init(settings: Settings) -> None:
    """Create (or bring up to date) the database cluster, roles, schema and storage roots.

    Safe to run again: what exists is kept. When run as root, PostgreSQL runs as the
    unprivileged account VO_NODE_PG_OS_USER (default: postgres).
    """
    from vo_node.db.node import NodeDatabase

    db = NodeDatabase.from_settings(settings)
    created = db.cluster.init()
    db.cluster.start()
    db.cluster.bootstrap(settings.database)
    applied = db.migrate(settings.published_config())
    store(settings).create_roots()
    settings.quarantine.mkdir(parents=True, exist_ok=True)
    click.echo(
        f"cluster {'created' if created else 'present'} at {db.cluster.data_dir}; "
        f"migrations applied: {', '.join(applied) or 'none (up to date)'}; "
        f"storage roots: {', '.join(str(r) for r in settings.roots)}"
    )


@cli.command()
@click.pass_obj
def migrate(settings: Settings) -> None:
    """Apply the schema migrations not yet applied."""
    applied = database(settings).migrate(settings.published_config())
    click.echo(f"migrations applied: {', '.join(applied) or 'none (up to date)'}")


@cli.command()
@click.pass_obj
def stop(settings: Settings) -> None:
    """Stop the node's database cluster."""
    from vo_node.db.node import NodeDatabase

    NodeDatabase.from_settings(settings).cluster.stop()
    click.echo("database cluster stopped")


@cli.command("sample-data")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--stars", default=1000, show_default=True, help="Number of stars.")
@click.option("--runs", default=4, show_default=True, help="Number of runs (first K of 26).")
@click.option("--seed", default=1, show_default=True, help="Random seed: same seed, same bytes.")
@click.option(
    "--days",
    default=10.0,
    show_default=True,
    help="Days of each run covered by a light curve (0: the whole run, full-size files).",
)
@click.option(
    "--oversampled",
    default=0.03,
    show_default=True,
    help="Fraction of exo stars switched from 512 s to 32 s sampling (alert mode).",
)
def sample_data(
    directory: Path, stars: int, runs: int, seed: int, days: float, oversampled: float
) -> None:
    """Write a CoRoT-like delivery: N2 (all layouts and versions), N1, N1 alert files.

    Light curves carry injected signals (transits, eclipsing binaries, pulsators); the
    truth.csv file beside them lists what was injected.
    """
    from ingest.sample import SampleSpec, generate, planned_files

    try:
        spec = SampleSpec(
            out_dir=directory,
            stars=stars,
            runs=runs,
            seed=seed,
            days=days,
            oversampled_fraction=oversampled,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    with progress(planned_files(spec), "generating") as tick:
        report = generate(spec, progress=tick)
    click.echo(
        f"{report.files} files ({report.bytes / 1e6:.1f} MB), {report.products} products, "
        f"{report.alert_files} alert daily files in {directory}; truth: {report.truth_path}"
    )


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--strict", is_flag=True, help="Treat warnings as failures (reject the file).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--problems", is_flag=True, help="List the problem codes and exit.")
@click.pass_obj
def ingest(
    settings: Settings, paths: tuple[Path, ...], strict: bool, as_json: bool, problems: bool
) -> None:
    """Ingest N2, N1 and N1 alert deliveries from files or directory trees.

    Each file is checksummed, copied to both storage roots, verified, and registered in one
    transaction. Files already in the archive (same SHA-256) are skipped. A file that fails a
    check goes to the quarantine directory with a report of its problem codes; the rest goes
    on. Exit status 1 when a file was rejected.
    """
    from ingest.problems import KINDS

    if problems:
        for kind in KINDS.values():
            click.echo(f"{kind.code}  {kind.severity.value:<7}  {kind.title}")
        return
    if not paths:
        raise click.UsageError("give at least one file or directory to ingest")
    from ingest.alerts import AlertHandler
    from ingest.pipeline import Ingest, discover

    db = database(settings)
    products, daily = discover(paths)
    with db.admin(autocommit=True) as conn, progress(len(products) + len(daily), "ingest") as tick:
        job = Ingest(
            conn=conn,
            store=store(settings),
            quarantine=settings.quarantine,
            handler=AlertHandler(settings.alert_hook, settings.spool),
            strict=strict,
            progress=tick,
        )
        summary = job.run(list(paths), argv=sys.argv)
    if as_json:
        click.echo(json.dumps(summary.as_dict(), indent=1))
    else:
        for rejection in summary.rejections:
            codes = " ".join(p.code for p in rejection.problems)
            click.echo(f"rejected {rejection.source}: {codes}", err=True)
        click.echo(summary.line())
    if summary.rejected:
        sys.exit(1)


@cli.command()
@click.option("--sample", help="Check only a sample: a count (500) or a percentage (5%).")
@click.option("--repair", is_flag=True, help="Restore each bad copy from a good one.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_obj
def audit(settings: Settings, sample: str | None, repair: bool, as_json: bool) -> None:
    """Re-read both copies of every product and compare with the registered SHA-256.

    Reports missing and corrupted copies; with --repair, restores them from a copy that
    verifies (never from a bad one). Exit status 1 when a problem remains.
    """
    from vo_node.audit import audit as run_audit

    db = database(settings)
    with db.admin(autocommit=True) as conn:
        total = conn.execute("SELECT count(*) FROM archive.products").fetchone()[0]
        with progress(total if sample is None else None, "audit") as tick:
            report = run_audit(conn, store(settings), sample=sample, repair=repair, progress=tick)
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=1))
    else:
        for finding in report.findings:
            state = "repaired" if finding.repaired else "NOT repaired"
            click.echo(
                f"{finding.status.value} copy at site {finding.site}: {finding.archive_path}"
                f" ({state})",
                err=True,
            )
        click.echo(report.line())
    if report.unresolved:
        sys.exit(1)


@cli.command()
@click.argument("args", nargs=-1, metavar="[RUN_CODE] DATE")
@click.option("--product", type=int, help="Set one product's own release date instead.")
@click.option("--json", "as_json", is_flag=True, help="Print the change as JSON.")
@click.pass_obj
def release(settings: Settings, args: tuple[str, ...], product: int | None, as_json: bool) -> None:
    """Set when N2/N3 products become public: a run's release date, or one product's.

    DATE is YYYY-MM-DD, or `none`: for a run, not released; for a product, no date of its
    own (the run's applies). A product's own date overrides its run's. Takes effect at once.

    \b
      vo-node release LRa01 2026-01-01
      vo-node release --product 4711 none
    """
    from vo_node.db import releases

    wanted = 1 if product is not None else 2
    if len(args) != wanted:
        raise click.UsageError(
            "give a DATE with --product ID" if product is not None else "give RUN_CODE DATE"
        )
    day = releases.parse_day(args[-1])
    with database(settings).admin() as conn:
        change: Any = (
            releases.set_product_release(conn, product, day)
            if product is not None
            else releases.set_run_release(conn, args[0], day)
        )
    click.echo(json.dumps(change.as_dict(), indent=1) if as_json else change.line())


@cli.command()
@click.option("--host", help="Address to listen on (default: VO_NODE_HOST, 127.0.0.1).")
@click.option("--port", type=int, help="Port (default: VO_NODE_PORT, 8000).")
@click.pass_obj
def serve(settings: Settings, host: str | None, port: int | None) -> None:
    """Serve the node with gunicorn (gthread workers) until interrupted."""
    from vo_node.server import serve as run_server

    settings = settings.model_copy(
        update={k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    )
    # Up to date before serving: new migrations, TAP_SCHEMA, and the URL the views print.
    database(settings).migrate(settings.published_config())
    run_server(settings)


@cli.command()
@click.option("--once", is_flag=True, help="Run the jobs queued now, then exit.")
@click.pass_obj
def worker(settings: Settings, once: bool) -> None:
    """Run async (UWS) jobs until stopped; SIGTERM puts the running job back in the queue.
    Beside them, compute the features of newly ingested light curves (VO_NODE_FEATURE_WORKERS
    processes; 0 leaves that to `vo-node features --all`).

    Several workers, on this machine or others sharing VAR_DIR/jobs, may run at once: each job
    is claimed by exactly one.
    """
    import logging

    from vo_node.tap.jobs import tap_executor
    from vo_node.uws.worker import run_worker

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    db = database(settings)
    stop = threading.Event()
    if not once and settings.feature_workers > 0:
        # New light curves get their features in the background (issue 8).
        from vo_node.features.watcher import FeatureWatcher

        FeatureWatcher(
            db, store(settings), settings.feature_workers, settings.feature_poll_s, stop
        ).start()
    done = run_worker(settings, {"tap": tap_executor(settings)}, once=once, stop=stop)
    stop.set()
    click.echo(f"{done} jobs run")


@cli.command("settings")
@click.pass_obj
def show_settings(settings: Settings) -> None:
    """List every setting, its environment variable, current value and meaning."""
    for name, info in Settings.model_fields.items():
        value = getattr(settings, name)
        click.echo(f"VO_NODE_{name.upper()}={'' if value is None else value}")
        click.echo(f"    {info.description}")


def main() -> None:
    cli()
