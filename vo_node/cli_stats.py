"""``vo-node stats``: the usage statistics on the command line, as the operator's page shows
them (read as the database's owner, so no login is needed on the node's own machine)."""

from __future__ import annotations

import click

from vo_node.cli_base import database
from vo_node.errors import NodeError
from vo_node.settings import Settings


def _table(rows: list[tuple[object, ...]], header: tuple[str, ...], numeric_from: int) -> None:
    """A plain text table, numbers right-aligned from column ``numeric_from`` on."""
    cells = [tuple(str(c) for c in row) for row in [header, *rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for row in cells:
        click.echo(
            "  ".join(
                c.rjust(w) if i >= numeric_from else c.ljust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            ).rstrip()
        )


@click.command("stats")
@click.option("--from", "since", metavar="DATE", help="First day (YYYY-MM-DD) or month (YYYY-MM).")
@click.option("--until", metavar="DATE", help="Last day (YYYY-MM-DD) or month (YYYY-MM).")
@click.option("--csv", "as_csv", is_flag=True, help="Print the month x channel table as CSV.")
@click.option("--accesses", is_flag=True, help="Print every access as CSV instead.")
@click.pass_obj
def stats(
    settings: Settings, since: str | None, until: str | None, as_csv: bool, accesses: bool
) -> None:
    """Usage statistics: volume per month and channel, visits and users, countries, top runs.

    Months and days are UTC; --from and --until are both included. The same figures as the
    administrators' page /stats and its CSV downloads.
    """
    from vo_node.stats import export, store
    from vo_node.stats.period import PeriodError, parse_period

    try:
        period = parse_period(since, until)
    except PeriodError as exc:
        raise NodeError(str(exc)) from None
    with database(settings).admin() as conn:
        if accesses:
            for line in export.rows_csv(store.ACCESS_COLUMNS, store.accesses(conn, period)):
                click.echo(line, nl=False)
            return
        volume = store.volume(conn, period)
        if as_csv:
            click.echo(export.volume_csv(volume), nl=False)
            return
        audience = store.audience(conn, period)
        countries = store.countries(conn, period)
        runs = store.top_runs(conn, period, limit=10)
    click.echo(f"Usage statistics, {period.describe()}\n")
    if not volume:
        click.echo("No accesses recorded in this period.")
        return
    rows = [(v.month, v.channel, v.requests, v.errors, v.bytes, v.products) for v in volume]
    total = (
        "total",
        "",
        sum(v.requests for v in volume),
        sum(v.errors for v in volume),
        sum(v.bytes for v in volume),
        sum(v.products for v in volume),
    )
    _table([*rows, total], ("MONTH", "CHANNEL", "REQUESTS", "ERRORS", "BYTES", "PRODUCTS"), 2)
    click.echo()
    _table(
        [(a.month, a.visits, a.users, a.anonymous) for a in audience],
        ("MONTH", "VISITS", "USERS", "ANONYMOUS VISITOR-DAYS"),
        1,
    )
    click.echo()
    _table(
        [(c.code, c.requests, c.bytes, c.products) for c in countries],
        ("COUNTRY", "REQUESTS", "BYTES", "PRODUCTS"),
        1,
    )
    click.echo()
    _table(
        [(r.run, r.requests, f"{r.products:g}", f"{r.bytes:.0f}") for r in runs],
        ("RUN", "REQUESTS", "PRODUCTS", "BYTES"),
        1,
    )
