"""Accounts in the database: users, groups, memberships, API tokens (``accounts.*``).

Changes run as the schema's owner (``vo-node users``); the web tier only reads, to verify
credentials. Names are checked by the tables' constraints; errors meant for the operator are
:class:`AccountError`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import psycopg

from vo_node.errors import NodeError

TOKEN_PREFIX = "vont"
GROUP_KINDS = ("admin", "members", "gi")


class AccountError(NodeError):
    """An account command that cannot be done: unknown user, group or run, bad name."""


@dataclass(frozen=True)
class User:
    name: str
    full_name: str
    email: str
    groups: tuple[str, ...]
    has_password: bool
    disabled: bool
    created: datetime


@dataclass(frozen=True)
class Group:
    name: str
    kind: str
    description: str
    runs: tuple[str, ...]
    members: tuple[str, ...]


@dataclass(frozen=True)
class Token:
    token_id: str
    user: str
    label: str
    created: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


def _constraint(exc: psycopg.Error, what: str) -> AccountError:
    return AccountError(f"{what}: {exc.diag.message_primary or exc}")


def create_user(
    conn: psycopg.Connection,
    name: str,
    *,
    full_name: str = "",
    email: str = "",
    password_hash: str | None = None,
) -> None:
    try:
        conn.execute(
            "INSERT INTO accounts.users (user_name, full_name, email, password_hash)"
            " VALUES (%s, %s, %s, %s)",
            (name, full_name, email, password_hash),
        )
    except psycopg.errors.UniqueViolation:
        raise AccountError(f"user {name!r} exists") from None
    except psycopg.errors.CheckViolation:
        raise AccountError(
            f"bad user name {name!r}",
            hint="letters, digits and . _ @ -, starting with a letter or digit, at most 64",
        ) from None


def _one(conn: psycopg.Connection, query: str, params: Sequence[object], what: str) -> None:
    if conn.execute(query, params).rowcount == 0:
        raise AccountError(f"no {what}")


def set_password(conn: psycopg.Connection, name: str, password_hash: str) -> None:
    _one(
        conn,
        "UPDATE accounts.users SET password_hash = %s WHERE user_name = %s",
        (password_hash, name),
        f"user {name!r}",
    )


def set_disabled(conn: psycopg.Connection, name: str, disabled: bool) -> None:
    """Disable (or enable again) a user: a disabled user is anonymous everywhere, whatever
    credentials it sends, and its tickets stop working in the database at once."""
    _one(
        conn,
        "UPDATE accounts.users SET disabled_at = CASE WHEN %s THEN now() END WHERE user_name = %s",
        (disabled, name),
        f"user {name!r}",
    )


def delete_user(conn: psycopg.Connection, name: str) -> None:
    _one(conn, "DELETE FROM accounts.users WHERE user_name = %s", (name,), f"user {name!r}")


def users(conn: psycopg.Connection) -> list[User]:
    rows = conn.execute(
        "SELECT u.user_name, u.full_name, u.email,"
        " coalesce(array_agg(m.group_name ORDER BY m.group_name)"
        "          FILTER (WHERE m.group_name IS NOT NULL), '{}'),"
        " u.password_hash IS NOT NULL, u.disabled_at IS NOT NULL, u.created"
        " FROM accounts.users u LEFT JOIN accounts.memberships m USING (user_name)"
        " GROUP BY u.user_name ORDER BY u.user_name"
    ).fetchall()
    return [User(r[0], r[1], r[2], tuple(r[3]), r[4], r[5], r[6]) for r in rows]


def create_group(
    conn: psycopg.Connection,
    name: str,
    kind: str,
    *,
    description: str = "",
    runs: Sequence[str] = (),
) -> None:
    """A group; a Guest Investigators' group (``gi``) names the runs it may see early."""
    if kind not in GROUP_KINDS:
        raise AccountError(f"unknown group kind {kind!r}", hint=f"one of {', '.join(GROUP_KINDS)}")
    if runs and kind != "gi":
        raise AccountError("only a 'gi' group has runs")
    try:
        conn.execute(
            "INSERT INTO accounts.groups (group_name, kind, description) VALUES (%s, %s, %s)",
            (name, kind, description),
        )
    except psycopg.errors.UniqueViolation:
        raise AccountError(f"group {name!r} exists") from None
    except psycopg.errors.CheckViolation:
        raise AccountError(f"bad group name {name!r}") from None
    add_group_runs(conn, name, runs)


def add_group_runs(conn: psycopg.Connection, name: str, runs: Sequence[str]) -> None:
    for code in runs:
        found = conn.execute(
            "INSERT INTO accounts.group_runs (group_name, run_id)"
            " SELECT %s, run_id FROM archive.runs WHERE code = %s ON CONFLICT DO NOTHING"
            " RETURNING run_id",
            (name, code),
        ).fetchone()
        if (
            found is None
            and not conn.execute("SELECT 1 FROM archive.runs WHERE code = %s", (code,)).fetchone()
        ):
            raise AccountError(f"no run {code!r}")


def delete_group(conn: psycopg.Connection, name: str) -> None:
    _one(conn, "DELETE FROM accounts.groups WHERE group_name = %s", (name,), f"group {name!r}")


def groups(conn: psycopg.Connection) -> list[Group]:
    rows = conn.execute(
        "SELECT g.group_name, g.kind, g.description,"
        " ARRAY(SELECT r.code FROM accounts.group_runs gr JOIN archive.runs r USING (run_id)"
        "       WHERE gr.group_name = g.group_name ORDER BY r.code),"
        " ARRAY(SELECT m.user_name FROM accounts.memberships m"
        "       WHERE m.group_name = g.group_name ORDER BY m.user_name)"
        " FROM accounts.groups g ORDER BY g.group_name"
    ).fetchall()
    return [Group(r[0], r[1], r[2], tuple(r[3]), tuple(r[4])) for r in rows]


def add_member(conn: psycopg.Connection, user: str, group: str) -> None:
    try:
        conn.execute(
            "INSERT INTO accounts.memberships (user_name, group_name) VALUES (%s, %s)"
            " ON CONFLICT DO NOTHING",
            (user, group),
        )
    except psycopg.errors.ForeignKeyViolation as exc:
        missing = "group" if "group" in (exc.diag.constraint_name or "") else "user"
        raise AccountError(f"no {missing} {group if missing == 'group' else user!r}") from None


def remove_member(conn: psycopg.Connection, user: str, group: str) -> None:
    _one(
        conn,
        "DELETE FROM accounts.memberships WHERE user_name = %s AND group_name = %s",
        (user, group),
        f"member {user!r} in group {group!r}",
    )


def _secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(
    conn: psycopg.Connection, user: str, *, label: str = "", expires_at: datetime | None = None
) -> str:
    """A new API token for ``user``; the returned text is the only copy of its secret."""
    token_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    try:
        conn.execute(
            "INSERT INTO accounts.tokens (token_id, user_name, secret_sha256, label, expires_at)"
            " VALUES (%s, %s, %s, %s, %s)",
            (token_id, user, _secret_digest(secret), label, expires_at),
        )
    except psycopg.errors.ForeignKeyViolation:
        raise AccountError(f"no user {user!r}") from None
    return f"{TOKEN_PREFIX}_{token_id}_{secret}"


def revoke_token(conn: psycopg.Connection, token_id: str) -> None:
    _one(
        conn,
        "UPDATE accounts.tokens SET revoked_at = now() WHERE token_id = %s AND revoked_at IS NULL",
        (token_id,),
        f"active token {token_id!r}",
    )


def tokens(conn: psycopg.Connection, user: str | None = None) -> list[Token]:
    rows = conn.execute(
        "SELECT token_id, user_name, label, created, expires_at, revoked_at"
        " FROM accounts.tokens WHERE %(user)s::text IS NULL OR user_name = %(user)s"
        " ORDER BY created, token_id",
        {"user": user},
    ).fetchall()
    return [Token(*r) for r in rows]


# -- verification, for the web tier (read-only) -------------------------------------------


def password_hash(conn: psycopg.Connection, user: str) -> str | None:
    """The stored hash of an enabled user's password (``None``: no such user, disabled, or
    no password)."""
    row = conn.execute(
        "SELECT password_hash FROM accounts.users WHERE user_name = %s AND disabled_at IS NULL",
        (user,),
    ).fetchone()
    return row[0] if row else None


def token_user(conn: psycopg.Connection, token: str) -> str | None:
    """The enabled user a current, unrevoked token belongs to."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
        return None
    row = conn.execute(
        "SELECT t.user_name, t.secret_sha256 FROM accounts.tokens t"
        " JOIN accounts.users u USING (user_name)"
        " WHERE t.token_id = %s AND t.revoked_at IS NULL AND u.disabled_at IS NULL"
        " AND (t.expires_at IS NULL OR t.expires_at > now())",
        (parts[1],),
    ).fetchone()
    if row is None or not hmac.compare_digest(row[1], _secret_digest(parts[2])):
        return None
    return str(row[0])


def session_state(conn: psycopg.Connection, user: str) -> str | None:
    """What a login cookie of ``user`` must match to be valid: a digest of the account's
    creation time, password hash and last logout. A new password, a logout, or a user deleted
    and made again under the same name changes it; ``None`` for no such enabled user."""
    row = conn.execute(
        # As text: '-infinity' (never logged out) has no Python datetime.
        "SELECT created::text, coalesce(password_hash, ''), sessions_after::text"
        " FROM accounts.users"
        " WHERE user_name = %s AND disabled_at IS NULL",
        (user,),
    ).fetchone()
    if row is None:
        return None
    state = f"{user}\0{row[0]}\0{row[1]}\0{row[2]}"
    return hashlib.sha256(state.encode()).hexdigest()


def end_sessions(conn: psycopg.Connection, user: str) -> None:
    """Void every login cookie ``user`` holds (what logging out does)."""
    conn.execute(
        "UPDATE accounts.users SET sessions_after = clock_timestamp() WHERE user_name = %s",
        (user,),
    )


def caller_key(conn: psycopg.Connection) -> bytes:
    row = conn.execute("SELECT key FROM accounts.caller_key").fetchone()
    if row is None:
        raise AccountError("no caller key in accounts.caller_key", hint="run `vo-node migrate`")
    return bytes(row[0])


def user_groups(conn: psycopg.Connection, user: str) -> tuple[str, ...]:
    rows = conn.execute(
        "SELECT group_name FROM accounts.memberships WHERE user_name = %s ORDER BY group_name",
        (user,),
    ).fetchall()
    return tuple(r[0] for r in rows)
