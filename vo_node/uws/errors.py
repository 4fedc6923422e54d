"""The errors of the UWS layer, and the HTTP status each one gets (STYLE 1 and 3).

The views render every error as a short plain-text message with the status from ``STATUS``;
the store and the worker only raise. Must not import Flask or psycopg.
"""

from __future__ import annotations

from vo_node.errors import NodeError, SetupError
from vo_node.http.params import UsageError
from vo_node.uws.phases import Phase


class UwsError(NodeError):
    """Base of the UWS layer's errors."""


class JobNotFound(UwsError):
    """No such job: never created, deleted, or past its destruction time."""

    def __init__(self, job_id: str) -> None:
        super().__init__(
            f"no job {job_id!r} here: it was deleted, destroyed at its destruction time, "
            "or never existed"
        )


class JobForbidden(UwsError):
    """The job belongs to someone else."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"job {job_id!r} belongs to another user")


class PhaseError(UwsError):
    """A request that the job's phase does not allow (UWS 1.1 section 2.1.3)."""

    def __init__(self, job_id: str, phase: Phase, wanted: str) -> None:
        super().__init__(f"job {job_id!r} is {phase.value}: cannot {wanted}")
        self.phase = phase


class NoResult(UwsError):
    """The job has no result (yet, or any more), or no result of that name."""


# (error class, HTTP status), first match wins, so subclasses come first. UWS 1.1 section
# 2.2.3.1: a rejected creation is 403; a missing job is 404; everything the client can fix is
# 400. Anything else is our own failure (500, logged, never shown).
STATUS: tuple[tuple[type[BaseException], int], ...] = (
    (JobNotFound, 404),
    (NoResult, 404),
    (JobForbidden, 403),
    (PhaseError, 400),
    (UsageError, 400),
    (SetupError, 503),  # the database cannot be reached
    (NodeError, 400),
    (Exception, 500),
)


def status_for(exc: BaseException) -> int:
    """The HTTP status of ``exc`` by ``STATUS``."""
    for kind, status in STATUS:
        if isinstance(exc, kind):
            return status
    return 500
