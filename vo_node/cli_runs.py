"""``vo-node runs``: the complete-run archives everyone may download, listed and built ahead.

A run's archive is otherwise built on its first request, which for a real run (tens of GB)
outlasts any client's patience. Built here as the anonymous caller sees the archive: the
public copies, the ones most downloads use (copies for callers with rights are still built on
demand). Run it after an ingest or when a release date passes (cron).
"""

from __future__ import annotations

import click

from vo_node.cli_base import database, fail, store
from vo_node.settings import Settings


@click.command("runs")
@click.option("--build", is_flag=True, help="Build the public archives not built yet.")
@click.option(
    "--format",
    "formats",
    type=click.Choice(["tar", "zip"]),
    multiple=True,
    help="Archive format(s) to build (default: tar).",
)
@click.pass_obj
def runs(settings: Settings, build: bool, formats: tuple[str, ...]) -> None:
    """List the complete runs everyone may download; with --build, build their archives."""
    from vo_node.downloads import catalogue
    from vo_node.downloads.runcache import DamagedRun, RunArchives

    db = database(settings)
    mirrored = store(settings)
    cache = RunArchives(settings.runs_root)
    failed = 0
    # The service role without a caller ticket: the anonymous caller, under the policy.
    with db.service() as conn:
        for entry in catalogue.run_channels(conn):
            line = f"{entry.run} {entry.channel}: {entry.products} products, {entry.size:,} bytes"
            if not build:
                click.echo(line)
                continue
            products = catalogue.run_products(conn, entry.run, entry.channel)
            for fmt in formats or ("tar",):
                try:
                    path, _ = cache.get(
                        entry.run, entry.channel, fmt, catalogue.members(products, mirrored)
                    )
                except DamagedRun as exc:
                    failed += 1
                    click.echo(f"{line}: {fmt} NOT built, damaged: {exc}", err=True)
                    continue
                click.echo(f"{line}: {path}")
    if failed:
        fail(f"{failed} archive(s) not built: run `vo-node audit --repair`")
