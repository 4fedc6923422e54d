"""Caller tickets: how the service names the caller to the database's policy.

A ticket is ``name:expires:pid:mac`` with ``mac = sha256(key || sha256(key || msg))`` (hex)
over ``msg = "name:expires:pid"``, the construction ``archive.caller()`` checks (migration
0006). The outer hash covers a fixed-length input, so the length extension of a plain
``sha256(key || msg)`` does not apply. The key is read once from ``accounts.caller_key``,
which the query role cannot read. A ticket is good for one database backend (``pid``, the
connection it is set on) and a few minutes: one seen in another session's query text
(``pg_stat_activity``) cannot be replayed from a different connection.
"""

from __future__ import annotations

import hashlib
import hmac
import time

ANONYMOUS = ""
LIFETIME_S = 60  # signed just before its transaction begins: a minute covers clock skew


class Tickets:
    """Makes the ticket for a user name (``""`` for the anonymous caller)."""

    def __init__(self, key: bytes, lifetime_s: int = LIFETIME_S) -> None:
        self._key = bytes(key)
        self.lifetime_s = lifetime_s

    def issue(self, user: str | None, backend_pid: int, now: float | None = None) -> str:
        """The ticket naming ``user`` on the connection whose backend is ``backend_pid``."""
        if not user:
            return ANONYMOUS
        if ":" in user:
            raise ValueError("a user name has no ':'")
        expires = int((time.time() if now is None else now) + self.lifetime_s)
        message = f"{user}:{expires}:{backend_pid}"
        return f"{message}:{self.mac(message)}"

    def mac(self, message: str) -> str:
        inner = hashlib.sha256(self._key + message.encode()).digest()
        return hashlib.sha256(self._key + inner).hexdigest()

    def valid(self, ticket: str, now: float | None = None) -> str | None:
        """The user a ticket names, if it is genuine and current (what the database
        checks, for tests and tools)."""
        parts = ticket.split(":")
        if len(parts) != 4 or not parts[1].isdigit():
            return None
        if int(parts[1]) < (time.time() if now is None else now):
            return None
        if not hmac.compare_digest(parts[3], self.mac(":".join(parts[:3]))):
            return None
        return parts[0]
