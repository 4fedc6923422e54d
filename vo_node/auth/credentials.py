"""Who a request comes from: HTTP Basic, bearer tokens, and checking them (no Flask here).

Anonymous is the absence of credentials. Credentials that are sent and do not verify are an
error (:class:`BadCredentials`, answered with 401 and the challenges), never a silent fall
back to anonymous: a client with a mistyped password would otherwise see only public rows
and not know why.
"""

from __future__ import annotations

import base64
import binascii

from psycopg_pool import ConnectionPool

from vo_node.auth import store
from vo_node.auth.passwords import VerifiedCache, check_password
from vo_node.errors import NodeError

# IVOA SSO security method identifiers (VOResource securityMethod/@standardID).
BASIC_AA = "ivo://ivoa.net/sso#BasicAA"
COOKIE = "ivo://ivoa.net/sso#cookie"
TOKEN = "ivo://ivoa.net/sso#token"
SECURITY_METHODS = (BASIC_AA, COOKIE, TOKEN)


class BadCredentials(NodeError):
    """Credentials were sent and are not valid (401)."""


def parse_authorization(header: str) -> tuple[str, str, str]:
    """``(scheme, user, secret)`` from an Authorization header: scheme 'basic' with user and
    password, or 'bearer' with the token as secret and no user."""
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise BadCredentials("malformed Basic credentials") from None
        user, colon, password = decoded.partition(":")
        if not colon or not user:
            raise BadCredentials("malformed Basic credentials: expected user:password")
        _check_text(user, password)
        return "basic", user, password
    if scheme.lower() == "bearer" and value:
        _check_text(value)
        return "bearer", "", value
    raise BadCredentials(f"unsupported authorization scheme {scheme!r}", hint="use Basic or Bearer")


class Authenticator:
    """Checks credentials against ``accounts.*`` (read as the service role)."""

    def __init__(self, pool: ConnectionPool, cache: VerifiedCache | None = None) -> None:
        self.pool = pool
        self.cache = cache or VerifiedCache()

    def password(self, user: str, password: str) -> str:
        """The user, if the password is theirs and the account enabled."""
        _check_text(user, password)
        with self.pool.connection() as conn:
            stored = store.password_hash(conn, user)
        if stored is not None and self.cache.hit(user, password, stored):
            return user
        # Hashed even for an unknown user, so that timing does not tell who exists.
        if not check_password(stored, password) or stored is None:
            raise BadCredentials("wrong user name or password")
        self.cache.remember(user, password, stored)
        return user

    def token(self, token: str) -> str:
        _check_text(token)
        with self.pool.connection() as conn:
            user = store.token_user(conn, token)
        if user is None:
            raise BadCredentials("invalid, expired or revoked token")
        return user

    def header(self, header: str) -> str:
        """The user an Authorization header authenticates."""
        scheme, user, secret = parse_authorization(header)
        if scheme == "basic":
            return self.password(user, secret)
        return self.token(secret)

    def session_state(self, user: str) -> str | None:
        """What a login cookie of ``user`` must carry (None: no such enabled user)."""
        if not _plain(user):
            return None
        with self.pool.connection() as conn:
            return store.session_state(conn, user)

    def end_sessions(self, user: str) -> None:
        with self.pool.connection() as conn:
            store.end_sessions(conn, user)


_LONGEST = 4096


def _plain(text: str) -> bool:
    return "\0" not in text and len(text) <= _LONGEST


def _check_text(*texts: str) -> None:
    """PostgreSQL text holds no NUL: such credentials are wrong, not a server error."""
    if not all(_plain(t) for t in texts):
        raise BadCredentials("malformed credentials")
