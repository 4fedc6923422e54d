"""Numbered SQL migrations, applied in order, each once, each in its own transaction.

Files are ``migrations/NNNN_name.sql``; the applied ones are recorded in
``public.vo_node_migrations``. Running ``migrate`` again applies only what is new, and two
concurrent runs serialise on an advisory lock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

import psycopg

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_LOCK_KEY = 0x766F6E6F  # 'vono': one advisory lock for schema changes


@dataclass(frozen=True)
class Migration:
    number: int
    name: str
    sql: str


def available() -> list[Migration]:
    """The migrations shipped with the package, in order."""
    found = []
    for entry in resources.files("vo_node.db").joinpath("migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.number)
    numbers = [m.number for m in found]
    if len(set(numbers)) != len(numbers):
        raise RuntimeError(f"two migrations share a number: {numbers}")
    return found


def apply(conn: psycopg.Connection) -> list[str]:
    """Apply the migrations not yet applied; return the names applied now."""
    conn.autocommit = True
    conn.execute(
        "CREATE TABLE IF NOT EXISTS public.vo_node_migrations ("
        " number integer PRIMARY KEY, name text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now())"
    )
    applied_now: list[str] = []
    conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
    try:
        done = {row[0] for row in conn.execute("SELECT number FROM public.vo_node_migrations")}
        for migration in available():
            if migration.number in done:
                continue
            with conn.transaction():
                conn.execute(migration.sql.encode())
                conn.execute(
                    "INSERT INTO public.vo_node_migrations (number, name) VALUES (%s, %s)",
                    (migration.number, migration.name),
                )
            applied_now.append(f"{migration.number:04d}_{migration.name}")
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return applied_now
