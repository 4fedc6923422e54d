"""The only module with SQL for UWS jobs (``uws.jobs``, migration 0003).

Every phase change is one conditional UPDATE whose ``WHERE phase = ANY(...)`` comes from
``phases.TRANSITIONS``, so a web request and a worker racing on the same job cannot both win.
Workers claim with ``FOR UPDATE SKIP LOCKED`` and hold a session advisory lock on the job while
they run it: a job whose lock is free but which is still EXECUTING lost its worker.

The store records which database session runs a job's query; cancelling it is
``vo_node.uws.cancel``'s business (it needs another role, see there).

Imports psycopg; must not import Flask.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from vo_node.uws.errors import JobNotFound, PhaseError
from vo_node.uws.model import Job
from vo_node.uws.phases import COMMANDS, NOT_STARTED, Phase, allowed

Conn = psycopg.Connection[Any]
Query = sql.SQL | sql.Composed

_COLUMNS = sql.SQL(
    "job_id, service, owner, phase, run_id, parameters, uploads, creation_time, start_time,"
    " end_time, destruction, execution_duration, quote, error_message, result_path,"
    " result_mime, result_size, backend_pid, backend_start, lock_key"
)
# A job past its destruction time is gone for its owner even before the sweep deletes it.
_ALIVE = sql.SQL("destruction > now()")


def _job(row: dict[str, Any]) -> Job:
    return Job(**{**row, "phase": Phase(row["phase"])})


def _one(conn: Conn, query: Query, params: dict[str, Any]) -> Job | None:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query, params)
        row = cur.fetchone()
    return _job(row) if row else None


def _many(conn: Conn, query: Query, params: dict[str, Any]) -> list[Job]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query, params)
        return [_job(row) for row in cur.fetchall()]


def _phases(phases: Iterable[Phase]) -> list[str]:
    return sorted(p.value for p in phases)


# -- the web tier ------------------------------------------------------------------------------
def create(
    conn: Conn,
    *,
    job_id: str,
    service: str,
    owner: str,
    parameters: dict[str, list[str]],
    uploads: dict[str, str],
    run_id: str | None,
    execution_duration: int,
    lifetime: int,
) -> Job:
    """A new PENDING job, to be destroyed ``lifetime`` seconds from now."""
    query = sql.SQL(
        "INSERT INTO uws.jobs (job_id, service, owner, parameters, uploads, run_id,"
        " execution_duration, destruction)"
        " VALUES (%(job_id)s, %(service)s, %(owner)s, %(parameters)s, %(uploads)s, %(run_id)s,"
        " %(duration)s, now() + make_interval(secs => %(lifetime)s))"
        " RETURNING {}"
    ).format(_COLUMNS)
    params = {
        "job_id": job_id,
        "service": service,
        "owner": owner,
        "parameters": Jsonb(parameters),
        "uploads": Jsonb(uploads),
        "run_id": run_id,
        "duration": execution_duration,
        "lifetime": lifetime,
    }
    job = _one(conn, query, params)
    assert job is not None  # INSERT ... RETURNING always returns the row
    return job


def get(conn: Conn, service: str, job_id: str, *, lock: bool = False) -> Job:
    """The job, or JobNotFound; ``lock`` holds its row until the transaction ends."""
    query = sql.SQL(
        "SELECT {} FROM uws.jobs WHERE job_id = %(job_id)s AND service = %(service)s AND {}{}"
    ).format(_COLUMNS, _ALIVE, sql.SQL(" FOR UPDATE" if lock else ""))
    job = _one(conn, query, {"job_id": job_id, "service": service})
    if job is None:
        raise JobNotFound(job_id)
    return job


def phase_of(conn: Conn, job_id: str) -> Phase | None:
    """The job's phase, None once it is gone (the cheap question WAIT and workers poll)."""
    row = conn.execute(
        sql.SQL("SELECT phase FROM uws.jobs WHERE job_id = %s AND {}").format(_ALIVE), (job_id,)
    ).fetchone()
    return Phase(row[0]) if row else None


def list_jobs(
    conn: Conn,
    service: str,
    owner: str,
    *,
    phases: Sequence[Phase] = (),
    after: datetime | None = None,
    last: int | None = None,
) -> list[Job]:
    """The owner's jobs, newest first, with the job-list filters of UWS 1.1: PHASE (any of),
    AFTER (created after), LAST (the n most recent); ARCHIVED jobs only when asked for."""
    where: list[sql.Composable] = [
        sql.SQL("service = %(service)s AND owner = %(owner)s AND {}").format(_ALIVE)
    ]
    if phases:
        where.append(sql.SQL("phase = ANY(%(phases)s)"))
    else:
        where.append(sql.SQL("phase <> 'ARCHIVED'"))
    if after is not None:
        where.append(sql.SQL("creation_time > %(after)s"))
    query = sql.SQL("SELECT {} FROM uws.jobs WHERE {} ORDER BY creation_time DESC, job_id").format(
        _COLUMNS, sql.SQL(" AND ").join(where)
    )
    if last is not None:
        query = sql.SQL("{} LIMIT %(last)s").format(query)
    params = {
        "service": service,
        "owner": owner,
        "phases": _phases(phases),
        "after": after,
        "last": last,
    }
    return _many(conn, query, params)


def command(conn: Conn, service: str, job_id: str, name: str) -> tuple[Job, Phase]:
    """Apply ``PHASE=name`` (``phases.COMMANDS``); return the job after and its phase before.

    The row is locked while deciding, so a worker finishing the job at the same moment either
    happens first (and ABORT of a COMPLETED job changes nothing) or waits for us.
    """
    wanted = COMMANDS[name]
    with conn.transaction():
        job = get(conn, service, job_id, lock=True)
        if job.phase in wanted.ignored_in:
            return job, job.phase
        if not allowed(job.phase, wanted.target):
            raise PhaseError(job_id, job.phase, name.lower())
        moved = _one(
            conn,
            sql.SQL(
                "UPDATE uws.jobs SET phase = %(target)s,"
                " queued_time = CASE WHEN %(target)s = 'QUEUED' THEN now() ELSE queued_time END,"
                " end_time = CASE WHEN %(target)s = 'ABORTED' THEN now() ELSE end_time END"
                " WHERE job_id = %(job_id)s RETURNING {}"
            ).format(_COLUMNS),
            {"target": wanted.target.value, "job_id": job_id},
        )
    assert moved is not None  # the row is locked by us
    return moved, job.phase


def _update_or_explain(
    conn: Conn,
    service: str,
    job_id: str,
    assignments: sql.Composable,
    params: dict[str, Any],
    in_phases: Iterable[Phase],
    wanted: str,
) -> Job:
    """UPDATE the job if its phase is one of ``in_phases``; else say why not."""
    query = sql.SQL(
        "UPDATE uws.jobs SET {} WHERE job_id = %(job_id)s AND service = %(service)s AND {}"
        " AND phase = ANY(%(in_phases)s) RETURNING {}"
    ).format(assignments, _ALIVE, _COLUMNS)
    job = _one(
        conn,
        query,
        {**params, "job_id": job_id, "service": service, "in_phases": _phases(in_phases)},
    )
    if job is None:
        raise PhaseError(job_id, get(conn, service, job_id).phase, wanted)
    return job


def set_parameters(
    conn: Conn,
    service: str,
    job_id: str,
    parameters: dict[str, list[str]],
    uploads: dict[str, str],
    run_id: str | None = None,
) -> Job:
    """Replace the values of the given parameters (and uploads, and the run id if given) of a
    PENDING job."""
    return _update_or_explain(
        conn,
        service,
        job_id,
        sql.SQL(
            "parameters = parameters || %(parameters)s, uploads = uploads || %(uploads)s,"
            " run_id = coalesce(%(run_id)s, run_id)"
        ),
        {"parameters": Jsonb(parameters), "uploads": Jsonb(uploads), "run_id": run_id},
        (Phase.PENDING,),
        "change its parameters (only a PENDING job's can change)",
    )


def set_execution_duration(
    conn: Conn, service: str, job_id: str, seconds: int, hard_limit: int
) -> Job:
    """Set the execution limit of a job not yet started, capped at ``hard_limit``.

    UWS reads 0 as "unlimited"; we never grant that, so 0 (or less) means the hard limit.
    """
    value = hard_limit if seconds <= 0 else min(seconds, hard_limit)
    return _update_or_explain(
        conn,
        service,
        job_id,
        sql.SQL("execution_duration = %(value)s"),
        {"value": value},
        NOT_STARTED,
        "change its execution duration once it has started",
    )


def set_destruction(conn: Conn, service: str, job_id: str, when: datetime, hard_limit: int) -> Job:
    """Move the destruction time, at most ``hard_limit`` seconds after creation. A time in
    the past is allowed: the job is gone at once and swept soon after."""
    return _update_or_explain(
        conn,
        service,
        job_id,
        sql.SQL("destruction = LEAST(%(when)s, creation_time + make_interval(secs => %(hard)s))"),
        {"when": when, "hard": hard_limit},
        Phase,
        "change its destruction time",
    )


def delete(conn: Conn, service: str, job_id: str, root: Path) -> Job:
    """Remove the job's row and its directory (uploads and result); return the row as it
    was, so that the caller can cancel the query of a job that was EXECUTING."""
    query = sql.SQL(
        "DELETE FROM uws.jobs WHERE job_id = %(job_id)s AND service = %(service)s AND {}"
        " RETURNING {}"
    ).format(_ALIVE, _COLUMNS)
    job = _one(conn, query, {"job_id": job_id, "service": service})
    if job is None:
        raise JobNotFound(job_id)
    shutil.rmtree(root / job.job_id, ignore_errors=True)
    return job


# -- the workers -------------------------------------------------------------------------------
def claim(conn: Conn, services: Sequence[str], worker_pid: int, worker_host: str) -> Job | None:
    """Take the oldest QUEUED job of ``services`` and return it EXECUTING, or None.

    SKIP LOCKED lets concurrent workers pass over a row another is claiming instead of waiting
    for it, and the row lock makes sure only one of them gets it. The session advisory lock
    taken in the same transaction is held until :func:`release`; it dies with the session.
    """
    query = sql.SQL(
        "UPDATE uws.jobs SET phase = 'EXECUTING', start_time = now(), end_time = NULL,"
        " worker_pid = %(pid)s, worker_host = %(host)s, backend_pid = NULL, backend_start = NULL"
        " WHERE job_id = ("
        "   SELECT job_id FROM uws.jobs"
        "    WHERE phase = 'QUEUED' AND service = ANY(%(services)s) AND {}"
        "    ORDER BY queued_time, creation_time LIMIT 1 FOR UPDATE SKIP LOCKED)"
        " RETURNING {}"
    ).format(_ALIVE, _COLUMNS)
    with conn.transaction():
        job = _one(
            conn, query, {"pid": worker_pid, "host": worker_host, "services": list(services)}
        )
        if job is not None:
            conn.execute("SELECT pg_advisory_lock(%s)", (job.lock_key,))
    return job


def release(conn: Conn, job: Job) -> None:
    """Let go of the lock that marks ``job`` as having a live worker."""
    conn.execute("SELECT pg_advisory_unlock(%s)", (job.lock_key,))


_ENDED = "end_time = now(), error_message = %(message)s"


def _finish(conn: Conn, job_id: str, target: Phase, assignments: str, **params: Any) -> bool:
    # A worker only ever moves the job it runs, and only from EXECUTING: if the owner aborted
    # or deleted it meanwhile, nothing changes and False tells the worker so.
    assert allowed(Phase.EXECUTING, target)
    query = sql.SQL(
        "UPDATE uws.jobs SET phase = %(target)s, " + assignments + " WHERE job_id = %(job_id)s"
        " AND phase = 'EXECUTING' RETURNING job_id"
    )
    row = conn.execute(query, {**params, "target": target.value, "job_id": job_id}).fetchone()
    return row is not None


def record_backend(conn: Conn, job_id: str, pid: int, started: datetime | None) -> bool:
    """Note the backend running the job's query; False when the job no longer executes."""
    row = conn.execute(
        "UPDATE uws.jobs SET backend_pid = %s, backend_start = %s"
        " WHERE job_id = %s AND phase = 'EXECUTING' RETURNING job_id",
        (pid, started, job_id),
    ).fetchone()
    return row is not None


def complete(conn: Conn, job_id: str, path: Path, mime: str, size: int) -> bool:
    """EXECUTING -> COMPLETED with its one result."""
    return _finish(
        conn,
        job_id,
        Phase.COMPLETED,
        "end_time = now(), result_path = %(path)s, result_mime = %(mime)s, result_size = %(size)s",
        path=str(path),
        mime=mime,
        size=size,
    )


def fail(conn: Conn, job_id: str, message: str) -> bool:
    """EXECUTING -> ERROR with a message for the user."""
    return _finish(conn, job_id, Phase.ERROR, _ENDED, message=message)


def requeue(conn: Conn, job_id: str) -> bool:
    """EXECUTING -> QUEUED, keeping its place: the worker stops, another will run it."""
    return _finish(
        conn,
        job_id,
        Phase.QUEUED,
        "start_time = NULL, worker_pid = NULL, worker_host = NULL, backend_pid = NULL,"
        " backend_start = NULL",
    )


def destroy_expired(conn: Conn, root: Path) -> list[Job]:
    """Delete every job past its destruction time, with its directory; return them."""
    gone = _many(
        conn,
        sql.SQL("DELETE FROM uws.jobs WHERE destruction <= now() RETURNING {}").format(_COLUMNS),
        {},
    )
    for job in gone:
        shutil.rmtree(root / job.job_id, ignore_errors=True)
    return gone


def reap_orphans(conn: Conn, message: str) -> list[str]:
    """Put in ERROR the EXECUTING jobs whose worker died (their advisory lock is free)."""
    reaped: list[str] = []
    with conn.transaction():
        rows = conn.execute(
            "SELECT job_id, lock_key FROM uws.jobs WHERE phase = 'EXECUTING' FOR UPDATE SKIP LOCKED"
        ).fetchall()
        for job_id, key in rows:
            # Taken for this transaction only: free means nobody holds it for the job.
            got = conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (key,)).fetchone()
            if got and got[0] and _finish(conn, job_id, Phase.ERROR, _ENDED, message=message):
                reaped.append(job_id)
    return reaped


def sweep_directories(conn: Conn, root: Path, min_age: float = 3600.0) -> int:
    """Remove job directories with no job (a web request that died between saving uploads and
    creating the row); young ones are left alone, their job may be being created."""
    if not root.is_dir():
        return 0
    now = time.time()
    candidates = [
        d.name for d in root.iterdir() if d.is_dir() and now - d.stat().st_mtime > min_age
    ]
    if not candidates:
        return 0
    known = {
        row[0]
        for row in conn.execute(
            "SELECT job_id FROM uws.jobs WHERE job_id = ANY(%s)", (candidates,)
        ).fetchall()
    }
    removed = 0
    for name in candidates:
        if name not in known:
            shutil.rmtree(root / name, ignore_errors=True)
            removed += 1
    return removed
