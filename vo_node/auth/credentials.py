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
        return "basic", user, password
    if scheme.lower() == "bearer" and value:
        return "bearer", "", value
    raise BadCredentials(f"unsupported authorization scheme {scheme!r}", hint="use Basic or Bearer")


class Authenticator:
    """Checks credentials against ``accounts.*`` (read as the service role)."""

    def __init__(self, pool: ConnectionPool, cache: VerifiedCache | None = None) -> None:
        self.pool = pool
        self.cache = cache or VerifiedCache()

    def password(self, user: str, password: str) -> str:
        """The user, if the password is theirs and the account enabled."""
        if self.cache.hit(user, password):
            return user
        with self.pool.connection() as conn:
            stored = store.password_hash(conn, user)
        # Hashed even for an unknown user, so that timing does not tell who exists.
        if not check_password(stored, password):
            raise BadCredentials("wrong user name or password")
        self.cache.remember(user, password)
        return user

    def token(self, token: str) -> str:
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

    def enabled(self, user: str) -> bool:
        """Whether a session's user still exists and is enabled."""
        with self.pool.connection() as conn:
            return store.user_exists(conn, user)
