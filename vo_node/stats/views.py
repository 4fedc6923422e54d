"""The statistics' HTTP side: the hook that records every access to a service, and the
administrators' pages.

``install`` puts two things on the app: an ``after_request`` hook that notes who asked what
of which channel (with what the view said it delivered: :mod:`vo_node.http.usage`), and a
WSGI wrapper that counts the body bytes as the server sends them and hands the finished
access to the recorder when the server closes the response, so a streamed TAP result or a
ranged download counts what went out, not what was promised.

``/stats`` (page), ``/stats/<plot>.png``, ``/stats.csv`` (month x channel) and
``/stats/accesses.csv`` (every access) are for administrators: 401 anonymous, 403 others.
All take ``from`` and ``until`` (YYYY-MM-DD or YYYY-MM, inclusive, UTC).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    render_template,
    request,
    stream_with_context,
)

from vo_node.auth.views import caller, caller_transaction, refused
from vo_node.http.usage import Delivered, current
from vo_node.stats import export, plots, store
from vo_node.stats.channels import channel_of
from vo_node.stats.clients import CountryLookup, client_address
from vo_node.stats.counting import CountingBody
from vo_node.stats.period import Period, PeriodError, parse_period
from vo_node.stats.recorder import Hit, Recorder

log = logging.getLogger("vo_node.stats")

bp = Blueprint("stats", __name__, template_folder="templates")

RECORDER = "vo_node.stats_recorder"  # app.extensions key
_PENDING = "vo_node.stats.pending"  # WSGI environ key: from the hook to the byte counter
CSV_MIME = "text/csv"

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


@dataclass(frozen=True)
class _Pending:
    """An access whose body has not been sent yet."""

    at: datetime
    channel: str
    status: int
    user: str | None
    address: str
    noted: Delivered  # the view's object: a streaming view may still add to it

    def hit(self, sent: int) -> Hit:
        return Hit(
            at=self.at,
            channel=self.channel,
            status=self.status,
            sent=sent,
            products=self.noted.products,
            runs=tuple(self.noted.runs),
            collections=tuple(self.noted.channels),
            user=self.user,
            address=self.address,
        )


def _note(response: Response) -> Response:
    """``after_request``: remember this access for the byte counter, if it is one."""
    try:
        channel = channel_of(request.path)
        # Unrouted paths (404 from the router) reached no service.
        if channel is not None and request.url_rule is not None:
            settings = current_app.config["VO_NODE_SETTINGS"]
            address = client_address(
                request.remote_addr or "",
                request.headers.get("X-Forwarded-For"),
                settings.trusted_proxies,
            )
            request.environ[_PENDING] = _Pending(
                datetime.now(UTC), channel, response.status_code, caller(), address, current()
            )
    except Exception:  # statistics never fail a request
        log.exception("usage statistics: access not noted")
    return response


class _CountingApp:
    """WSGI wrapper: each noted access is recorded with its bytes when its body closes."""

    def __init__(self, app: WsgiApp, recorder: Recorder) -> None:
        self._app = app
        self._recorder = recorder

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        declared: list[int] = []

        def starting(status: str, headers: list[tuple[str, str]], *args: Any) -> Any:
            for name, value in headers:
                if name.lower() == "content-length" and value.isdigit():
                    declared.append(int(value))
            return start_response(status, headers, *args)

        body = self._app(environ, starting)
        pending: _Pending | None = environ.pop(_PENDING, None)
        if pending is None:
            return body

        def done(sent: int) -> None:
            try:
                self._recorder.record(pending.hit(sent))
            except Exception:  # statistics never fail a request
                log.exception("usage statistics: access not recorded")

        wrapper = environ.get("wsgi.file_wrapper")
        if (
            isinstance(wrapper, type)
            and isinstance(body, wrapper)
            and declared
            and environ.get("REQUEST_METHOD") != "HEAD"
        ):
            # A whole file handed to the server's file wrapper goes out with sendfile(),
            # which a counting iterator would turn into Python copies (the downloads' speed):
            # it stays the server's, counted by where the file's position got to.
            return _closing(body, declared[-1], done)
        return CountingBody(body, done)


def _position(body: Any) -> int | None:
    try:
        return int(body.filelike.tell())
    except (AttributeError, OSError, ValueError):
        return None


def _closing(body: Any, length: int, done: Callable[[int], None]) -> Any:
    """``body`` itself, reporting the bytes sent from it before its own ``close``.

    Complete runs are the bulk channel: a broken download must not count whole. After a
    sendfile() that a client broke off, the file's position is after the last byte handed
    to the socket (socket.sendfile moves it there; gunicorn puts it back only when all went
    out); a server that reads the file through the wrapper moves it as it reads. So: moved
    = what went out; not moved = all of it (or, rarely, a client gone before the first
    byte)."""
    inner = getattr(body, "close", None)
    start = _position(body)

    def close() -> None:
        end = _position(body)
        moved = 0 if start is None or end is None else end - start
        sent = moved if 0 < moved < length else length
        try:
            if inner is not None:
                inner()
        finally:
            done(sent)

    body.close = close
    return body


def install(app: Flask) -> Recorder:
    """Record every access to ``app``'s services (needs the service pool in place)."""
    settings = app.config["VO_NODE_SETTINGS"]
    recorder = Recorder(
        store.AccessStore(app.extensions["vo_node.service_pool"], CountryLookup()),
        flush_s=settings.stats_flush_s,
        batch=settings.stats_batch,
        capacity=settings.stats_queue,
    )
    app.extensions[RECORDER] = recorder
    app.after_request(_note)
    app.wsgi_app = _CountingApp(app.wsgi_app, recorder)  # type: ignore[method-assign]
    return recorder


def _text(message: str, status: int) -> Response:
    return Response(message + "\n", status=status, mimetype="text/plain")


@bp.before_request
def _administrators_only() -> Response | None:
    message = "the usage statistics are for administrators"
    if caller() is None:
        return refused(message)  # 401 with the challenges
    with caller_transaction() as conn:
        if not store.caller_is_admin(conn):
            return refused(message)  # 403
    return None


def _period() -> Period:
    return parse_period(request.args.get("from"), request.args.get("until"))


def _private(response: Response) -> Response:
    # Usage of the archive is the operator's business: no cache anywhere keeps it.
    response.cache_control.no_store = True
    response.cache_control.private = True
    return response


@bp.errorhandler(PeriodError)
def _bad_period(exc: PeriodError) -> Response:
    return _text(str(exc), 400)


@bp.get("/stats")
def page() -> Any:
    period = _period()
    with caller_transaction() as conn:
        volume = store.volume(conn, period)
        audience = store.audience(conn, period)
        countries = store.countries(conn, period)
        runs = store.top_runs(conn, period)
    recorder: Recorder = current_app.extensions[RECORDER]
    months: dict[str, dict[str, int]] = {}
    for v in volume:
        month = months.setdefault(v.month, {"requests": 0, "bytes": 0, "products": 0})
        month["requests"] += v.requests
        month["bytes"] += v.bytes
        month["products"] += v.products
    query = request.query_string.decode("ascii", "replace")
    html = render_template(
        "stats/page.html",
        settings=current_app.config["VO_NODE_SETTINGS"],
        period=period,
        volume=volume,
        months=months,
        audience=audience,
        countries=countries,
        runs=runs,
        plots=plots.PLOTS,
        query=f"?{query}" if query else "",
        recorder=recorder,
    )
    return _private(Response(html, mimetype="text/html"))


_RENDER = {
    "volume": lambda conn, period: plots.volume_png(store.volume(conn, period)),
    "visits": lambda conn, period: plots.visits_png(store.audience(conn, period)),
    "countries": lambda conn, period: plots.countries_png(store.countries(conn, period)),
    "runs": lambda conn, period: plots.runs_png(store.top_runs(conn, period)),
}


@bp.get("/stats/<name>.png")
def plot(name: str) -> Response:
    render = _RENDER.get(name)
    if render is None:
        return _text(f"no plot {name!r}: there are {', '.join(_RENDER)}", 404)
    period = _period()
    with caller_transaction() as conn:
        png = render(conn, period)
    return _private(Response(png, mimetype="image/png"))


def _download(body: Iterable[str] | str, name: str) -> Response:
    response = Response(body, mimetype=CSV_MIME)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return _private(response)


@bp.get("/stats.csv")
def volume_csv() -> Response:
    period = _period()
    with caller_transaction() as conn:
        rows = store.volume(conn, period)
    return _download(export.volume_csv(rows), "vo-node-usage.csv")


@bp.get("/stats/accesses.csv")
def accesses_csv() -> Response:
    period = _period()  # parsed before the first byte: a bad date is a 400, not a cut CSV

    def lines() -> Iterator[str]:
        with caller_transaction() as conn:
            yield from export.rows_csv(store.ACCESS_COLUMNS, store.accesses(conn, period))

    return _download(stream_with_context(lines()), "vo-node-accesses.csv")
