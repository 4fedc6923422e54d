"""The HTTP side of accounts: each request's caller, challenges, the login page.

``install`` makes every request start by finding its caller (:func:`caller`): an
``Authorization`` header (Basic or Bearer) or the session cookie of the login page, else
anonymous. Credentials that do not verify get a 401 at once, in the form of the protocol the
path belongs to, with a ``WWW-Authenticate`` challenge for each accepted scheme. VOSI
capabilities and availability never look at credentials: they are the same for everyone and
a client must be able to read them before it knows how to log in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from typing import Any
from urllib.parse import urlparse

import psycopg
from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
)

from vo_node.auth import store
from vo_node.auth.credentials import Authenticator, BadCredentials
from vo_node.auth.tickets import Tickets
from vo_node.db.policy import as_caller

REALM = "vo-node"
# Endpoints that ignore credentials (VOSI: anonymous by definition) and the health check.
OPEN_ENDPOINTS = {
    "tap.capabilities",
    "tap.availability",
    "ssa.capabilities",
    "ssa.availability",
    "datalink.capabilities",
    "datalink.availability",
    "docs.lightcurves",
    "landing.health",
    "static",
}

# (path prefix, render(message) -> (body, mimetype)): errors in each protocol's own form.
ErrorForm = tuple[str, Callable[[str], tuple[bytes | str, str]]]

bp = Blueprint("auth", __name__)


def caller() -> str | None:
    """The user the current request comes from; ``None`` for anonymous."""
    return g.get("vo_node_user")


@contextmanager
def caller_transaction() -> Iterator[psycopg.Connection]:
    """A read-only transaction of the service role that reads as the current caller: the
    policy decides what it sees, as it does for user queries."""
    pool = current_app.extensions["vo_node.service_pool"]
    with as_caller(pool, current_app.extensions["vo_node.tickets"], caller()) as conn:
        yield conn


def challenges(error: str | None = None) -> list[str]:
    """A WWW-Authenticate value per accepted scheme (RFC 7617, RFC 6750, and the IVOA
    cookie challenge pointing at the login page)."""
    login = f"{current_app.config['VO_NODE_SETTINGS'].public_url}/login"
    bearer = f'Bearer realm="{REALM}"' + (f', error="{error}"' if error else "")
    return [
        f'Basic realm="{REALM}", charset="UTF-8"',
        bearer,
        f'ivoa_cookie standard_id="ivo://ivoa.net/sso#tls-with-password", access_url="{login}"',
    ]


def _error_response(status: int, message: str) -> Response:
    forms: Sequence[ErrorForm] = current_app.extensions["vo_node.error_forms"]
    for prefix, render in forms:
        if request.path == prefix or request.path.startswith(prefix + "/"):
            body, mimetype = render(message)
            break
    else:
        body, mimetype = message + "\n", "text/plain"
    return Response(body, status=status, mimetype=mimetype)


def unauthorized(message: str, error: str | None = None) -> Response:
    """401: credentials are needed (or those sent did not verify)."""
    response = _error_response(401, message)
    for value in challenges(error):
        response.headers.add("WWW-Authenticate", value)
    return response


def forbidden(message: str) -> Response:
    """403: the caller is known and may not have this."""
    return _error_response(403, message)


def refused(message: str) -> Response:
    """What a caller without rights gets: 401 when anonymous, 403 when logged in, with the
    same message either way."""
    return forbidden(message) if caller() else unauthorized(message)


def _identify() -> Response | None:
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    authenticator: Authenticator = current_app.extensions["vo_node.authenticator"]
    header = request.headers.get("Authorization")
    if header:
        try:
            g.vo_node_user = authenticator.header(header)
        except BadCredentials as exc:
            bearer = header.lstrip().lower().startswith("bearer")
            return unauthorized(str(exc), "invalid_token" if bearer else None)
        return None
    user, state = session.get("user"), session.get("state")
    if isinstance(user, str):
        if isinstance(state, str) and authenticator.session_state(user) == state:
            g.vo_node_user = user
        else:
            # Logged out, a new password, or a deleted or disabled account: no one's cookie.
            session.clear()
    return None


def _same_origin() -> bool:
    """A form posted from another site (login CSRF: logging a victim into the attacker's
    account, or out of their own) carries a foreign Origin; programs send none."""
    origin = request.headers.get("Origin")
    return origin is None or urlparse(origin).netloc == request.host


def install(
    app: Flask,
    authenticator: Authenticator,
    tickets: Tickets,
    key: bytes,
    error_forms: Sequence[ErrorForm] = (),
    session_hours: float = 12.0,
) -> None:
    """Wire authentication into ``app``: the caller of every request, the login page."""
    settings = app.config["VO_NODE_SETTINGS"]
    app.extensions["vo_node.authenticator"] = authenticator
    app.extensions["vo_node.tickets"] = tickets
    app.extensions["vo_node.error_forms"] = tuple(error_forms)
    # Every worker and every restart signs cookies alike: the key comes from the database.
    app.secret_key = hashlib.sha256(b"vo-node session cookie\0" + key).hexdigest()
    app.config.update(
        SESSION_COOKIE_NAME="vo_node_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.public_url.startswith("https:"),
        PERMANENT_SESSION_LIFETIME=timedelta(hours=session_hours),
    )
    app.before_request(_identify)
    app.register_blueprint(bp)


def _safe_next(target: str | None) -> str:
    """Only a path on this node: a login page must not redirect anywhere a link says."""
    if not target:
        return "/"
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


@bp.get("/login")
def login_form() -> Any:
    return render_template("login.html", user=caller(), next=_safe_next(request.args.get("next")))


@bp.post("/login")
def login() -> Any:
    if not _same_origin():
        return forbidden("a login form must be posted from this site")
    user = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    target = _safe_next(request.form.get("next") or request.args.get("next"))
    authenticator: Authenticator = current_app.extensions["vo_node.authenticator"]
    try:
        authenticator.password(user, password)
    except BadCredentials as exc:
        response = unauthorized(str(exc))
        if request.accept_mimetypes.best == "text/html":
            page = render_template("login.html", user=None, next=target, error=str(exc))
            response.set_data(page)
            response.mimetype = "text/html"
        return response
    session.clear()
    session["user"] = user
    session["state"] = authenticator.session_state(user)
    session.permanent = True
    if request.accept_mimetypes.best == "application/json":
        return jsonify({"user": user})
    return redirect(target, code=303)


@bp.post("/logout")
def logout() -> Any:
    """End the caller's login sessions, on this browser and every other one: the cookie is
    signed, not stored, so it is voided in the account rather than forgotten here."""
    if not _same_origin():
        return forbidden("a logout form must be posted from this site")
    user = session.get("user")
    if isinstance(user, str) and caller() == user:
        authenticator: Authenticator = current_app.extensions["vo_node.authenticator"]
        authenticator.end_sessions(user)
    session.clear()
    return redirect("/", code=303)


@bp.get("/whoami")
def whoami() -> Any:
    """The caller as the node sees it, with its groups: what a user checks first when rows
    are missing."""
    user = caller()
    groups: tuple[str, ...] = ()
    if user:
        pool = current_app.extensions["vo_node.service_pool"]
        with pool.connection() as conn:
            groups = store.user_groups(conn, user)
    return jsonify({"user": user, "groups": list(groups)})
