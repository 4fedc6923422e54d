"""What passes between the UWS store, the worker, the views and an injected executor.

``Job`` is a row of ``uws.jobs`` as the rest of the code sees it. ``JobRun`` is what a worker
hands to a service's ``Executor`` (TAP: parse, translate, run through ``QueryRunner``, write the
result file); the executor answers with a ``JobResult``. Must not import Flask or psycopg.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

from vo_node.http.params import DaliParams
from vo_node.settings import Settings
from vo_node.uws.phases import Phase

# The one result of a job: TAP 1.1 section 2.2 names it "result" (.../results/result).
RESULT_ID = "result"


def new_job_id() -> str:
    """A random, URL-safe job identifier (16 characters, 96 bits): unguessable, so that the
    id of an anonymous job is all the protection its results need."""
    return secrets.token_urlsafe(12)


def jobs_root(settings: Settings) -> Path:
    """Where job directories live: ``<var_dir>/jobs/<job_id>/`` holds a job's uploads and its
    result. The web tier (uploads, deletion) and the workers (results) must share it."""
    return settings.var_dir / "jobs"


@dataclass(frozen=True)
class Job:
    """One UWS job (UWS 1.1 section 2.1.2)."""

    job_id: str
    service: str
    owner: str  # '' = anonymous
    phase: Phase
    run_id: str | None
    parameters: dict[str, list[str]]  # upper-cased DALI name -> values, in order
    uploads: dict[str, str]  # form field name -> file path
    creation_time: datetime
    start_time: datetime | None
    end_time: datetime | None
    destruction: datetime
    execution_duration: int  # seconds; the limit actually applied, never 0
    quote: datetime | None = None
    error_message: str | None = None
    result_path: str | None = None
    result_mime: str | None = None
    result_size: int | None = None
    backend_pid: int | None = None
    backend_start: datetime | None = None
    lock_key: int = 0

    def dali_params(self) -> DaliParams:
        """The parameters as the sync path reads them (names already upper-cased)."""
        return DaliParams((k, v) for k, values in self.parameters.items() for v in values)

    @property
    def has_result(self) -> bool:
        return self.phase is Phase.COMPLETED and self.result_path is not None


class JobResult(NamedTuple):
    """What an executor produced: a file inside its output directory, and its media type."""

    path: Path
    mime_type: str


@dataclass(frozen=True)
class JobRun:
    """One execution of a job, as given to an executor.

    The executor must run its database work with ``SET LOCAL statement_timeout`` of ``timeout``
    seconds (``QueryRunner`` does), write its result under ``output_dir``, and call
    ``on_backend(pid)`` with the backend pid of the connection that runs the query *before*
    running it (``conn.info.backend_pid`` needs no round trip), so that ABORT can cancel it.
    """

    job_id: str
    owner: str
    parameters: DaliParams
    timeout: float
    output_dir: Path
    on_backend: Callable[[int], None]
    uploads: Mapping[str, Path] = field(default_factory=dict)


# A service's execution of a job. Errors meant for the user are raised as NodeError (their
# message becomes the job's error summary); any other exception is logged and reported as an
# internal error, never as a traceback.
Executor = Callable[[JobRun], JobResult]
