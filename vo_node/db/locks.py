"""Advisory locks that keep the archive's writers apart.

One writer of the storage roots at a time: an ingest or an audit that repairs. Both sweep or
fill ``.incoming``, and neither may see the other's half-written copies. The lock is a session
lock, released when the holder's connection ends, so a killed writer never leaves it held.
"""

from __future__ import annotations

import psycopg

STORAGE_WRITER = 0x494E4753  # 'INGS'


def try_lock(conn: psycopg.Connection, key: int = STORAGE_WRITER) -> bool:
    """Take the lock if nobody holds it; False when another session does."""
    row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
    return bool(row and row[0])


def unlock(conn: psycopg.Connection, key: int = STORAGE_WRITER) -> None:
    conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
