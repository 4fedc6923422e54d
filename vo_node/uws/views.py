"""The UWS 1.1 HTTP binding (UWS 1.1 section 2.2) as a Flask blueprint, one per async service.

Views parse parameters, call the store and render; the state machine is ``phases``, the SQL is
``store``, the XML is ``documents``. Errors are plain-text messages with the status of
``errors.STATUS``. Uses the app's service-role pool (``vo_node.service_pool``) and settings.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from flask import Blueprint, Response, current_app, request, send_file
from psycopg_pool import ConnectionPool, PoolTimeout
from werkzeug.exceptions import HTTPException

from vo_node.db.node import NodeDatabase
from vo_node.errors import NodeError
from vo_node.http.params import DaliParams, UsageError
from vo_node.settings import Settings
from vo_node.uws import documents, store
from vo_node.uws.cancel import BackendCanceller
from vo_node.uws.errors import JobForbidden, NoResult, PhaseError, status_for
from vo_node.uws.forms import fold, save_uploads, timestamp_param
from vo_node.uws.model import RESULT_ID, Job, jobs_root, new_job_id
from vo_node.uws.phases import ACTIVE, COMMANDS, Phase, parse_phase

log = logging.getLogger(__name__)

XML = "text/xml"
TEXT = "text/plain"
# Parameters that steer the job rather than feed it: not stored among its parameters.
CONTROL = frozenset({"PHASE", "RUNID", "EXECUTIONDURATION", "DESTRUCTION"})
# How often a blocking GET looks at the job again: the database answers a primary-key lookup
# in well under a millisecond, and the connection goes back to the pool between looks.
WAIT_POLL = 0.2


def _anonymous() -> str:
    return ""


@dataclass(frozen=True)
class _Service:
    """What the views of one async service need to know."""

    name: str
    url_prefix: str
    identity: Callable[[], str]
    error_document: Callable[[str], tuple[bytes, str]] | None
    wait_cap: float


# -- plumbing ------------------------------------------------------------------------------------
def _settings() -> Settings:
    return current_app.config["VO_NODE_SETTINGS"]  # type: ignore[no-any-return]


@contextmanager
def _conn() -> Iterator[store.Conn]:
    pool: ConnectionPool = current_app.extensions["vo_node.service_pool"]
    with pool.connection(timeout=10) as conn:
        yield conn


def _list_url(svc: _Service) -> str:
    # The configured public URL when there is one (behind a proxy); else the one the client
    # used, which is right for whoever asked.
    base = _settings().base_url or request.host_url
    return base.rstrip("/") + svc.url_prefix


def _job_url(svc: _Service, job_id: str) -> str:
    return f"{_list_url(svc)}/{job_id}"


def _text(body: str, status: int = 200) -> Response:
    return Response(body, status=status, mimetype=TEXT)


def _xml(body: bytes) -> Response:
    return Response(body, mimetype=XML)


def _see_other(url: str) -> Response:
    """UWS answers every change with 303 See Other to the resource to read next."""
    return Response(status=303, headers={"Location": url})


def _request_pairs() -> Iterator[tuple[str, str]]:
    yield from request.args.items(multi=True)
    if request.method == "POST":
        yield from request.form.items(multi=True)


def _error(exc: Exception) -> Response:
    if isinstance(exc, HTTPException):  # a malformed form, a body over the size limit
        return _text(exc.description or exc.name, exc.code or 400)
    if isinstance(exc, PoolTimeout):
        response = _text("the database is busy or unreachable; try again shortly", 503)
        response.headers["Retry-After"] = "30"
        return response
    status = status_for(exc)
    if isinstance(exc, NodeError) and status < 500:
        return _text(str(exc), status)
    log.exception("internal error behind a UWS service", exc_info=exc)
    return _text("internal error of the service; it has been logged", status)


def _owned(svc: _Service, conn: store.Conn, job_id: str) -> Job:
    """The job, if the caller may see it: its owner, or anyone for an anonymous job (whose
    unguessable id is the key to it)."""
    job = store.get(conn, svc.name, job_id)
    if job.owner and job.owner != svc.identity():
        raise JobForbidden(job_id)
    return job


def _cancel_query(job: Job) -> None:
    """Cancel the query of a job that was EXECUTING (vo_node.uws.cancel says why so). Without
    a recorded backend nothing runs yet, and the worker sees the new phase before it starts."""
    if job.backend_pid is None:
        return
    conninfo = NodeDatabase.from_settings(_settings()).query_conninfo()
    with BackendCanceller(conninfo) as canceller:
        canceller.cancel(job.backend_pid, job.backend_start)


def _apply_command(svc: _Service, job_id: str, value: str) -> None:
    name = value.strip().upper()
    if name not in COMMANDS:
        raise UsageError(f"PHASE must be one of {', '.join(COMMANDS)}, not {value!r}")
    with _conn() as conn:
        _owned(svc, conn, job_id)
        job, before = store.command(conn, svc.name, job_id, name)
    if job.phase is Phase.ABORTED and before is Phase.EXECUTING:
        _cancel_query(job)


def _delete(svc: _Service, job_id: str) -> Response:
    with _conn() as conn:
        _owned(svc, conn, job_id)
        job = store.delete(conn, svc.name, job_id, jobs_root(_settings()))
    if job.phase is Phase.EXECUTING:
        _cancel_query(job)
    return _see_other(_list_url(svc))


def _apply_settings(svc: _Service, job_id: str, params: DaliParams) -> None:
    """EXECUTIONDURATION and DESTRUCTION, wherever a client sends them."""
    settings = _settings()
    duration = params.integer("EXECUTIONDURATION", minimum=0)
    destruction = timestamp_param(params, "DESTRUCTION")
    with _conn() as conn:
        _owned(svc, conn, job_id)
        if duration is not None:
            store.set_execution_duration(conn, svc.name, job_id, duration, settings.async_timeout)
        if destruction is not None:
            store.set_destruction(conn, svc.name, job_id, destruction, settings.job_retention_hard)


# -- the resources -------------------------------------------------------------------------------
def _job_list(svc: _Service) -> Response:
    params = DaliParams.from_request(request)
    try:
        phases = [parse_phase(p) for p in params.getlist("PHASE")]
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    after = timestamp_param(params, "AFTER")
    last = params.integer("LAST", minimum=0)
    owner = svc.identity()
    if not owner:
        # Anonymous callers cannot be told apart: the anonymous jobs of one are not listed to
        # the others, who could read, abort or delete them. Each reaches its own by its URL.
        return _xml(documents.job_list_document([], _list_url(svc)))
    with _conn() as conn:
        jobs = store.list_jobs(conn, svc.name, owner, phases=phases, after=after, last=last)
    return _xml(documents.job_list_document(jobs, _list_url(svc)))


def _create(svc: _Service) -> Response:
    """POST to the job list (UWS 1.1 section 2.2.3.1): a PENDING job, or a QUEUED one with
    PHASE=RUN; 303 to the new job."""
    settings = _settings()
    params = DaliParams.from_request(request)
    phase = params.get("PHASE")
    if phase is not None and phase.strip().upper() != "RUN":
        raise UsageError(f"at job creation PHASE can only be RUN, not {phase!r}")
    duration = params.integer("EXECUTIONDURATION", minimum=0) or settings.async_timeout
    destruction = timestamp_param(params, "DESTRUCTION")
    parameters = {k: v for k, v in fold(_request_pairs()).items() if k not in CONTROL}
    job_id = new_job_id()
    job_dir = jobs_root(settings) / job_id
    try:
        uploads = save_uploads(request.files.items(multi=True), job_dir, settings.upload_limit)
        with _conn() as conn:
            store.create(
                conn,
                job_id=job_id,
                service=svc.name,
                owner=svc.identity(),
                parameters=parameters,
                uploads=uploads,
                run_id=params.get("RUNID"),
                execution_duration=min(duration, settings.async_timeout),
                lifetime=min(settings.job_retention, settings.job_retention_hard),
            )
            if destruction is not None:
                store.set_destruction(
                    conn, svc.name, job_id, destruction, settings.job_retention_hard
                )
            if phase is not None:
                store.command(conn, svc.name, job_id, "RUN")
    except BaseException:
        # Nothing half-made stays behind: no row (the transaction rolled back), no files.
        shutil.rmtree(job_dir, ignore_errors=True)
        raise
    return _see_other(_job_url(svc, job_id))


def _show_job(svc: _Service, job_id: str) -> Response:
    """GET the job; with WAIT=n, block while it stays in its phase (UWS 1.1 "blocking
    behaviour"): at most min(n, cap) seconds, -1 meaning the cap; only while the job is
    PENDING, QUEUED or EXECUTING; at once if PHASE=... is given and differs from its phase."""
    params = DaliParams.from_request(request)
    wait_text = params.get("WAIT")
    seen_text = params.get("PHASE")
    try:
        wait = float(wait_text) if wait_text is not None and wait_text.strip() else None
    except ValueError:
        raise UsageError(f"WAIT must be a number of seconds, not {wait_text!r}") from None
    try:
        seen = parse_phase(seen_text) if seen_text else None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    with _conn() as conn:
        job = _owned(svc, conn, job_id)
    if wait and job.phase in ACTIVE and seen in (None, job.phase):
        limit = svc.wait_cap if wait < 0 else min(wait, svc.wait_cap)
        job = _wait_for_change(svc, job, limit)
    return _xml(documents.job_document(job, _job_url(svc, job_id)))


def _wait_for_change(svc: _Service, job: Job, limit: float) -> Job:
    deadline = time.monotonic() + limit
    while (left := deadline - time.monotonic()) > 0:
        time.sleep(min(WAIT_POLL, left))
        with _conn() as conn:
            phase = store.phase_of(conn, job.job_id)
            if phase is None or phase is not job.phase:
                return store.get(conn, svc.name, job.job_id)  # JobNotFound if deleted
    return job


def _result(svc: _Service, job_id: str, result_id: str) -> Response:
    with _conn() as conn:
        job = _owned(svc, conn, job_id)
    if result_id != RESULT_ID:
        raise NoResult(f"job {job_id!r} has one result only, named {RESULT_ID!r}")
    if not job.has_result or job.result_path is None:
        raise NoResult(f"job {job_id!r} is {job.phase.value} and has no result")
    path = Path(job.result_path)
    if not path.is_file():
        raise NoResult(f"the result of job {job_id!r} is no longer available")
    return send_file(path, mimetype=job.result_mime or "application/octet-stream", max_age=0)


def _error_resource(svc: _Service, job_id: str) -> Response:
    with _conn() as conn:
        job = _owned(svc, conn, job_id)
    if job.phase is not Phase.ERROR:
        raise NoResult(f"job {job_id!r} is {job.phase.value} and has no error")
    message = job.error_message or "the job failed"
    if svc.error_document is not None:
        body, mime = svc.error_document(message)
        return Response(body, mimetype=mime)
    return _text(message)


def _set_parameters(svc: _Service, job_id: str) -> Response:
    settings = _settings()
    folded = fold(_request_pairs())
    parameters = {k: v for k, v in folded.items() if k not in CONTROL}
    run_id = folded["RUNID"][-1] if "RUNID" in folded else None
    with _conn() as conn:
        job = _owned(svc, conn, job_id)
        if job.phase is not Phase.PENDING:  # refused before any file is saved
            raise PhaseError(job_id, job.phase, "change its parameters once it has been run")
        uploads = save_uploads(
            request.files.items(multi=True), jobs_root(settings) / job_id, settings.upload_limit
        )
        store.set_parameters(conn, svc.name, job_id, parameters, uploads, run_id)
    return _see_other(_job_url(svc, job_id))


def _attribute(svc: _Service, job_id: str, render: Callable[[Job], str]) -> Response:
    with _conn() as conn:
        return _text(render(_owned(svc, conn, job_id)))


# -- the blueprint -------------------------------------------------------------------------------
def uws_blueprint(
    service: str,
    url_prefix: str,
    *,
    identity: Callable[[], str] = _anonymous,
    error_document: Callable[[str], tuple[bytes, str]] | None = None,
    wait_cap: float = 60.0,
) -> Blueprint:
    """The UWS job list of ``service`` (``uws.jobs.service``) under ``url_prefix``.

    ``identity`` names the caller ('' = anonymous) and decides whose jobs are listed;
    ``error_document`` renders ``/error`` (TAP wants a VOTable error document; plain text
    otherwise); ``wait_cap`` bounds a blocking GET, well below clients' read timeouts.
    """
    svc = _Service(service, url_prefix.rstrip("/"), identity, error_document, wait_cap)
    bp = Blueprint(f"uws_{service}", __name__, url_prefix=svc.url_prefix)
    bp.register_error_handler(Exception, _error)

    @bp.get("")
    def job_list() -> Response:
        return _job_list(svc)

    @bp.post("")
    def create() -> Response:
        return _create(svc)

    @bp.get("/<job_id>")
    def job(job_id: str) -> Response:
        return _show_job(svc, job_id)

    @bp.delete("/<job_id>")
    def delete(job_id: str) -> Response:
        return _delete(svc, job_id)

    @bp.post("/<job_id>")
    def post_job(job_id: str) -> Response:
        params = DaliParams.from_request(request)
        action = params.get("ACTION")
        if action is not None:
            if action.strip().upper() != "DELETE":
                raise UsageError(f"ACTION can only be DELETE, not {action!r}")
            return _delete(svc, job_id)
        if not any(name in params for name in ("PHASE", "EXECUTIONDURATION", "DESTRUCTION")):
            raise UsageError(
                "POST to a job needs ACTION=DELETE, PHASE, EXECUTIONDURATION or DESTRUCTION"
            )
        _apply_settings(svc, job_id, params)
        phase = params.get("PHASE")
        if phase is not None:
            _apply_command(svc, job_id, phase)
        return _see_other(_job_url(svc, job_id))

    @bp.route("/<job_id>/phase", methods=["GET", "POST"])
    def phase(job_id: str) -> Response:
        if request.method == "GET":
            return _attribute(svc, job_id, lambda j: j.phase.value)
        value = DaliParams.from_request(request).get("PHASE")
        if value is None:
            raise UsageError("POST to phase needs PHASE=RUN or PHASE=ABORT")
        _apply_command(svc, job_id, value)
        return _see_other(_job_url(svc, job_id))

    @bp.route("/<job_id>/executionduration", methods=["GET", "POST"])
    def executionduration(job_id: str) -> Response:
        if request.method == "GET":
            return _attribute(svc, job_id, lambda j: str(j.execution_duration))
        params = DaliParams.from_request(request)
        if "EXECUTIONDURATION" not in params:
            raise UsageError("POST to executionduration needs EXECUTIONDURATION=seconds")
        _apply_settings(svc, job_id, params)
        return _see_other(_job_url(svc, job_id))

    @bp.route("/<job_id>/destruction", methods=["GET", "POST"])
    def destruction(job_id: str) -> Response:
        if request.method == "GET":
            return _attribute(svc, job_id, lambda j: documents.timestamp(j.destruction))
        params = DaliParams.from_request(request)
        if timestamp_param(params, "DESTRUCTION") is None:
            raise UsageError("POST to destruction needs DESTRUCTION=an ISO 8601 time")
        _apply_settings(svc, job_id, params)
        return _see_other(_job_url(svc, job_id))

    @bp.get("/<job_id>/error")
    def error(job_id: str) -> Response:
        return _error_resource(svc, job_id)

    @bp.get("/<job_id>/results")
    def results(job_id: str) -> Response:
        with _conn() as conn:
            found = _owned(svc, conn, job_id)
        return _xml(documents.results_document(found, _job_url(svc, job_id)))

    @bp.get("/<job_id>/results/<result_id>")
    def result(job_id: str, result_id: str) -> Response:
        return _result(svc, job_id, result_id)

    @bp.route("/<job_id>/parameters", methods=["GET", "POST"])
    def parameters(job_id: str) -> Response:
        if request.method == "POST":
            return _set_parameters(svc, job_id)
        with _conn() as conn:
            found = _owned(svc, conn, job_id)
        return _xml(documents.parameters_document(found))

    @bp.get("/<job_id>/owner")
    def owner(job_id: str) -> Response:
        return _attribute(svc, job_id, lambda j: j.owner)

    @bp.get("/<job_id>/quote")
    def quote(job_id: str) -> Response:
        # UWS 1.1: an empty text/plain answer when the service cannot say.
        return _attribute(
            svc, job_id, lambda j: "" if j.quote is None else documents.timestamp(j.quote)
        )

    return bp


__all__ = ["uws_blueprint"]
