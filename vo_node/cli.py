"""``vo-node``: the operator's command line.

Every command reads the same settings (environment variables ``VO_NODE_*``, see
``vo-node settings``). Long operations show a progress bar on a terminal and stay quiet
otherwise. Errors meant for the operator are printed as one line and exit with status 2;
a completed command that leaves a problem (rejected files, damaged copies) exits with 1.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError
from tqdm import tqdm

from vo_node.errors import NodeError
from vo_node.settings import Settings


@contextmanager
def _progress(total: int | None, label: str) -> Iterator[Callable[[int], None]]:
    """A progress bar on a terminal; nothing when output goes to a file or CI log."""
    bar = tqdm(total=total, desc=label, unit="file", disable=not sys.stderr.isatty(), leave=False)
    try:
        yield bar.update
    finally:
        bar.close()


def _fail(message: str) -> None:
    click.echo(f"vo-node: {message}", err=True)
    sys.exit(2)


class _Group(click.Group):
    """Turns the node's own errors into one clear line instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except NodeError as exc:
            _fail(str(exc))
        except ValidationError as exc:
            problems = "; ".join(
                f"VO_NODE_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
                for e in exc.errors()
            )
            _fail(f"invalid setting: {problems}")
        except OSError as exc:
            # Disks and permissions: say which file and why, not where in the code.
            where = f" ({exc.filename})" if exc.filename else ""
            _fail(f"{exc.strerror or exc}{where}")
        except KeyboardInterrupt:
            click.echo("vo-node: interrupted", err=True)
            sys.exit(130)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
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


def _database(settings: Settings) -> Any:
    from vo_node.db.node import NodeDatabase

    db = NodeDatabase.from_settings(settings)
    if not db.cluster.initialised:
        raise NodeError(f"no database cluster at {db.cluster.data_dir}", hint="run `vo-node init`")
    db.cluster.start()
    return db


def _store(settings: Settings) -> Any:
    from vo_node.storage import MirroredStore

    return MirroredStore.from_roots(settings.roots, fsync=settings.fsync)


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
    _store(settings).create_roots()
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
    applied = _database(settings).migrate(settings.published_config())
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
    with _progress(planned_files(spec), "generating") as tick:
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

    db = _database(settings)
    products, daily = discover(paths)
    with db.admin(autocommit=True) as conn, _progress(len(products) + len(daily), "ingest") as tick:
        job = Ingest(
            conn=conn,
            store=_store(settings),
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

    db = _database(settings)
    with db.admin(autocommit=True) as conn:
        total = conn.execute("SELECT count(*) FROM archive.products").fetchone()[0]
        with _progress(total if sample is None else None, "audit") as tick:
            report = run_audit(conn, _store(settings), sample=sample, repair=repair, progress=tick)
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


# -- accounts (issue 4) -----------------------------------------------------------------------


def _new_password(from_stdin: bool) -> str:
    """A password hashed for storage: the first line of stdin, or typed twice on a terminal.
    Checked (length) before anything is changed."""
    from vo_node.auth.passwords import hash_password

    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise NodeError("no password on stdin (its first line is the password)")
    elif sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        raise NodeError(
            "no terminal to type a password on",
            hint="give it with --password-stdin, or use --no-password for tokens only",
        )
    try:
        return hash_password(password)
    except ValueError as exc:
        raise NodeError(str(exc)) from None


def _when(value: Any) -> str:
    return value.isoformat(timespec="seconds") if value is not None else ""


def _table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> None:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


@cli.group(cls=_Group)
def users() -> None:
    """Manage accounts: users, groups, memberships and API tokens.

    \b
    Who sees what (the distribution policy, enforced by PostgreSQL):
      admin group          every product
      n1-community         the N1 products
      coi                  every N2 product, before its release date too
      a 'gi' group         the unreleased N2/N3 products of its runs (Guest Investigators)
      everyone             N2/N3 products once released (`vo-node release`)
    """


@users.command("add")
@click.argument("name")
@click.option("--full-name", default="", help="The person's name, for the operator.")
@click.option("--email", default="", help="Contact address, for the operator.")
@click.option("--group", "groups", multiple=True, help="A group to join (repeatable).")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin's first line.")
@click.option("--no-password", is_flag=True, help="No password: the user signs in with tokens.")
@click.pass_obj
def users_add(
    settings: Settings,
    name: str,
    full_name: str,
    email: str,
    groups: tuple[str, ...],
    password_stdin: bool,
    no_password: bool,
) -> None:
    """Create the user NAME; the password is asked twice unless given on stdin or none."""
    from vo_node.auth import store

    if password_stdin and no_password:
        raise click.UsageError("--password-stdin and --no-password exclude each other")
    hashed = None if no_password else _new_password(password_stdin)
    with _database(settings).admin() as conn:
        store.create_user(conn, name, full_name=full_name, email=email, password_hash=hashed)
        for group in groups:
            store.add_member(conn, name, group)
    joined = f", member of {', '.join(groups)}" if groups else ""
    click.echo(f"user {name} created ({'password' if hashed else 'tokens only'}{joined})")


@users.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the users as JSON.")
@click.pass_obj
def users_list(settings: Settings, as_json: bool) -> None:
    """List the users: groups, whether they have a password, disabled or not."""
    from vo_node.auth import store

    with _database(settings).admin() as conn:
        found = store.users(conn)
    if as_json:
        out = [
            {
                "name": u.name,
                "full_name": u.full_name,
                "email": u.email,
                "groups": list(u.groups),
                "password": u.has_password,
                "disabled": u.disabled,
                "created": _when(u.created),
            }
            for u in found
        ]
        click.echo(json.dumps(out, indent=1))
        return
    _table(
        [
            (
                u.name,
                ",".join(u.groups) or "-",
                "yes" if u.has_password else "no",
                "disabled" if u.disabled else "",
                _when(u.created),
                u.full_name,
            )
            for u in found
        ],
        ("NAME", "GROUPS", "PASSWORD", "DISABLED", "CREATED", "FULL NAME"),
    )


@users.command("passwd")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin's first line.")
@click.pass_obj
def users_passwd(settings: Settings, name: str, password_stdin: bool) -> None:
    """Set a new password for NAME (asked twice unless given on stdin).

    The old password stops working at once, and so do the login cookies made with it.
    """
    from vo_node.auth import store

    hashed = _new_password(password_stdin)
    with _database(settings).admin() as conn:
        store.set_password(conn, name, hashed)
    click.echo(f"password of {name} changed")


@users.command("disable")
@click.argument("name")
@click.pass_obj
def users_disable(settings: Settings, name: str) -> None:
    """Disable NAME: anonymous everywhere from now on, whatever it sends (kept, can return)."""
    from vo_node.auth import store

    with _database(settings).admin() as conn:
        store.set_disabled(conn, name, True)
    click.echo(f"user {name} disabled")


@users.command("enable")
@click.argument("name")
@click.pass_obj
def users_enable(settings: Settings, name: str) -> None:
    """Enable NAME again after `users disable`."""
    from vo_node.auth import store

    with _database(settings).admin() as conn:
        store.set_disabled(conn, name, False)
    click.echo(f"user {name} enabled")


@users.command("remove")
@click.argument("name")
@click.pass_obj
def users_remove(settings: Settings, name: str) -> None:
    """Delete NAME with its memberships and tokens."""
    from vo_node.auth import store

    with _database(settings).admin() as conn:
        store.delete_user(conn, name)
    click.echo(f"user {name} removed, with its memberships and tokens")


@users.command("groups")
@click.option("--json", "as_json", is_flag=True, help="Print the groups as JSON.")
@click.pass_obj
def users_groups(settings: Settings, as_json: bool) -> None:
    """List the groups: kind, runs (GI groups), members."""
    from vo_node.auth import store

    with _database(settings).admin() as conn:
        found = store.groups(conn)
    if as_json:
        out = [
            {
                "name": g.name,
                "kind": g.kind,
                "description": g.description,
                "runs": list(g.runs),
                "members": list(g.members),
            }
            for g in found
        ]
        click.echo(json.dumps(out, indent=1))
        return
    _table(
        [
            (g.name, g.kind, ",".join(g.runs) or "-", ",".join(g.members) or "-", g.description)
            for g in found
        ],
        ("GROUP", "KIND", "RUNS", "MEMBERS", "DESCRIPTION"),
    )


@users.command("group-add")
@click.argument("group")
@click.option(
    "--kind",
    required=True,
    type=click.Choice(["admin", "members", "gi"]),  # accounts.groups' kinds
    help="admin: every product; members: products of this access group; "
    "gi: Guest Investigators, the unreleased N2/N3 products of its runs.",
)
@click.option("--run", "runs", multiple=True, help="A run of a gi group, e.g. LRa01 (repeatable).")
@click.option("--description", default="", help="What the group is for.")
@click.pass_obj
def users_group_add(
    settings: Settings, group: str, kind: str, runs: tuple[str, ...], description: str
) -> None:
    """Create the group GROUP."""
    from vo_node.auth import store

    with _database(settings).admin() as conn:
        store.create_group(conn, group, kind, description=description, runs=runs)
    of_runs = f" for runs {', '.join(runs)}" if runs else ""
    click.echo(f"group {group} ({kind}) created{of_runs}")
    if kind == "gi" and not runs:
        click.echo("note: a gi group without runs sees nothing before release", err=True)


@users.command("join")
@click.argument("name")
@click.argument("group")
@click.pass_obj
def users_join(settings: Settings, name: str, group: str) -> None:
    """Make NAME a member of GROUP."""
    from vo_node.auth import store

    with _database(settings).admin() as conn:
        store.add_member(conn, name, group)
    click.echo(f"{name} is a member of {group}")


@users.command("leave")
@click.argument("name")
@click.argument("group")
@click.pass_obj
def users_leave(settings: Settings, name: str, group: str) -> None:
    """Take NAME out of GROUP."""
    from vo_node.auth import store

    with _database(settings).admin() as conn:
        store.remove_member(conn, name, group)
    click.echo(f"{name} left {group}")


@users.command("token")
@click.argument("name")
@click.option("--label", default="", help="What the token is for, e.g. the machine using it.")
@click.option(
    "--expires-days", type=click.IntRange(min=1), help="Days it is valid (default: no expiry)."
)
@click.pass_obj
def users_token(settings: Settings, name: str, label: str, expires_days: int | None) -> None:
    """Make an API token for NAME and print it (only it, on stdout: scripts can capture it).

    The token is shown this once; only its SHA-256 is kept. Clients send it as a bearer
    token (Authorization: Bearer ...).
    """
    from datetime import UTC, datetime, timedelta

    from vo_node.auth import store

    expires = None if expires_days is None else datetime.now(UTC) + timedelta(days=expires_days)
    with _database(settings).admin() as conn:
        token = store.create_token(conn, name, label=label, expires_at=expires)
    until = f", expires {_when(expires)}" if expires else ""
    click.echo(
        f"new token {token.split('_')[1]} for {name}{until}: shown once, only its SHA-256 is kept",
        err=True,
    )
    click.echo(token)


@users.command("tokens")
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the tokens as JSON.")
@click.pass_obj
def users_tokens(settings: Settings, name: str | None, as_json: bool) -> None:
    """List the API tokens (of NAME, or everyone's); never their secrets."""
    from datetime import UTC, datetime

    from vo_node.auth import store

    with _database(settings).admin() as conn:
        if name is not None and name not in {u.name for u in store.users(conn)}:
            raise store.AccountError(f"no user {name!r}")
        found = store.tokens(conn, name)
    now = datetime.now(UTC)

    def state(t: Any) -> str:
        if t.revoked_at is not None:
            return "revoked"
        return "expired" if t.expires_at is not None and t.expires_at <= now else "active"

    if as_json:
        out = [
            {
                "token_id": t.token_id,
                "user": t.user,
                "label": t.label,
                "created": _when(t.created),
                "expires_at": _when(t.expires_at) or None,
                "revoked_at": _when(t.revoked_at) or None,
                "state": state(t),
            }
            for t in found
        ]
        click.echo(json.dumps(out, indent=1))
        return
    _table(
        [
            (t.token_id, t.user, state(t), _when(t.created), _when(t.expires_at), t.label)
            for t in found
        ],
        ("TOKEN", "USER", "STATE", "CREATED", "EXPIRES", "LABEL"),
    )


@users.command("revoke")
@click.argument("token_id")
@click.pass_obj
def users_revoke(settings: Settings, token_id: str) -> None:
    """Revoke a token at once, by its id (`users tokens` lists them) or its whole text."""
    from vo_node.auth import store

    parts = token_id.split("_", 2)
    if len(parts) == 3 and parts[0] == store.TOKEN_PREFIX:
        token_id = parts[1]
    with _database(settings).admin() as conn:
        store.revoke_token(conn, token_id)
    click.echo(f"token {token_id} revoked")


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
    with _database(settings).admin() as conn:
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
    _database(settings).migrate(settings.published_config())
    run_server(settings)


@cli.command()
@click.option("--once", is_flag=True, help="Run the jobs queued now, then exit.")
@click.pass_obj
def worker(settings: Settings, once: bool) -> None:
    """Run async (UWS) jobs until stopped; SIGTERM puts the running job back in the queue.

    Several workers, on this machine or others sharing VAR_DIR/jobs, may run at once: each job
    is claimed by exactly one.
    """
    import logging

    from vo_node.tap.jobs import tap_executor
    from vo_node.uws.worker import run_worker

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    _database(settings)
    done = run_worker(settings, {"tap": tap_executor(settings)}, once=once)
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
