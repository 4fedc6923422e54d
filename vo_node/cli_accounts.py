"""``vo-node users``: accounts, groups, memberships and API tokens (the access policy's
side the operator manages)."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from vo_node.cli_base import NodeGroup, database
from vo_node.errors import NodeError
from vo_node.settings import Settings


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


@click.group(cls=NodeGroup)
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
    with database(settings).admin() as conn:
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

    with database(settings).admin() as conn:
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
    with database(settings).admin() as conn:
        store.set_password(conn, name, hashed)
    click.echo(f"password of {name} changed")


@users.command("disable")
@click.argument("name")
@click.pass_obj
def users_disable(settings: Settings, name: str) -> None:
    """Disable NAME: anonymous everywhere from now on, whatever it sends (kept, can return)."""
    from vo_node.auth import store

    with database(settings).admin() as conn:
        store.set_disabled(conn, name, True)
    click.echo(f"user {name} disabled")


@users.command("enable")
@click.argument("name")
@click.pass_obj
def users_enable(settings: Settings, name: str) -> None:
    """Enable NAME again after `users disable`."""
    from vo_node.auth import store

    with database(settings).admin() as conn:
        store.set_disabled(conn, name, False)
    click.echo(f"user {name} enabled")


@users.command("remove")
@click.argument("name")
@click.pass_obj
def users_remove(settings: Settings, name: str) -> None:
    """Delete NAME with its memberships and tokens."""
    from vo_node.auth import store

    with database(settings).admin() as conn:
        store.delete_user(conn, name)
    click.echo(f"user {name} removed, with its memberships and tokens")


@users.command("groups")
@click.option("--json", "as_json", is_flag=True, help="Print the groups as JSON.")
@click.pass_obj
def users_groups(settings: Settings, as_json: bool) -> None:
    """List the groups: kind, runs (GI groups), members."""
    from vo_node.auth import store

    with database(settings).admin() as conn:
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

    with database(settings).admin() as conn:
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

    with database(settings).admin() as conn:
        store.add_member(conn, name, group)
    click.echo(f"{name} is a member of {group}")


@users.command("leave")
@click.argument("name")
@click.argument("group")
@click.pass_obj
def users_leave(settings: Settings, name: str, group: str) -> None:
    """Take NAME out of GROUP."""
    from vo_node.auth import store

    with database(settings).admin() as conn:
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
    with database(settings).admin() as conn:
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

    with database(settings).admin() as conn:
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
    with database(settings).admin() as conn:
        store.revoke_token(conn, token_id)
    click.echo(f"token {token_id} revoked")
