"""The UWS execution phases and the moves between them, as data (UWS 1.1 section 2.1.3).

Nothing here knows about HTTP or the database: the store checks every phase change against
``TRANSITIONS`` (in the same UPDATE that makes it, so that two writers cannot both win), and the
views map the client's ``PHASE=RUN|ABORT`` to a move through ``COMMANDS``.
Must not import Flask or psycopg.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class Phase(StrEnum):
    """UWS 1.1 ``ExecutionPhase``, spelt as in the schema."""

    PENDING = "PENDING"  # created, not yet asked to run
    QUEUED = "QUEUED"  # asked to run, waiting for a worker
    EXECUTING = "EXECUTING"  # a worker runs it
    COMPLETED = "COMPLETED"  # finished with a result
    ERROR = "ERROR"  # finished with an error summary
    ABORTED = "ABORTED"  # stopped by the owner (or the server)
    UNKNOWN = "UNKNOWN"  # the server lost track of it
    HELD = "HELD"  # will not run until released
    SUSPENDED = "SUSPENDED"  # paused by the server while executing
    ARCHIVED = "ARCHIVED"  # results gone, metadata kept (we delete instead; never entered)


# Where each phase may go next. Edges not drawn by UWS itself say why.
TRANSITIONS: Mapping[Phase, frozenset[Phase]] = {
    Phase.PENDING: frozenset({Phase.QUEUED, Phase.HELD, Phase.ABORTED, Phase.ERROR}),
    Phase.HELD: frozenset({Phase.QUEUED, Phase.ABORTED, Phase.ERROR}),
    Phase.QUEUED: frozenset({Phase.EXECUTING, Phase.HELD, Phase.ABORTED, Phase.ERROR}),
    Phase.EXECUTING: frozenset(
        {
            Phase.COMPLETED,
            Phase.ERROR,
            Phase.ABORTED,
            Phase.SUSPENDED,
            # A worker that is told to stop gives its job back to the queue for another one.
            Phase.QUEUED,
        }
    ),
    Phase.SUSPENDED: frozenset({Phase.EXECUTING, Phase.QUEUED, Phase.ABORTED, Phase.ERROR}),
    Phase.UNKNOWN: frozenset({Phase.ERROR, Phase.ABORTED, Phase.ARCHIVED}),
    Phase.COMPLETED: frozenset({Phase.ARCHIVED}),
    Phase.ERROR: frozenset({Phase.ARCHIVED}),
    Phase.ABORTED: frozenset({Phase.ARCHIVED}),
    Phase.ARCHIVED: frozenset(),
}

# Phases a job never leaves by running: its end time is set and its worker is gone.
FINAL: frozenset[Phase] = frozenset({Phase.COMPLETED, Phase.ERROR, Phase.ABORTED, Phase.ARCHIVED})

# Phases in which a blocking GET (WAIT=n) waits for a change (UWS 1.1, "blocking behaviour").
ACTIVE: frozenset[Phase] = frozenset({Phase.PENDING, Phase.QUEUED, Phase.EXECUTING})


# Phases in which a job has not started: its execution duration may still change. Its
# parameters may change only while PENDING (UWS 1.1 section 2.2.3).
NOT_STARTED: frozenset[Phase] = frozenset({Phase.PENDING, Phase.HELD, Phase.QUEUED})


def allowed(source: Phase, target: Phase) -> bool:
    """Whether a job in ``source`` may move to ``target``."""
    return target in TRANSITIONS[source]


def sources(target: Phase) -> frozenset[Phase]:
    """Every phase from which ``target`` can be reached in one move."""
    return frozenset(p for p, nexts in TRANSITIONS.items() if target in nexts)


@dataclass(frozen=True)
class Command:
    """What a ``PHASE=...`` request asks for (UWS 1.1 section 2.2.3).

    ``target`` is the phase the job moves to; in a phase of ``ignored_in`` the request is
    accepted and changes nothing (RUN on a job already queued, ABORT on one that has ended:
    clients repeat such requests, and the outcome they want already holds).
    """

    target: Phase
    ignored_in: frozenset[Phase]


COMMANDS: Mapping[str, Command] = {
    "RUN": Command(Phase.QUEUED, frozenset({Phase.QUEUED, Phase.EXECUTING})),
    "ABORT": Command(Phase.ABORTED, FINAL),
}


def parse_phase(text: str) -> Phase:
    """The phase named ``text`` (any case); ValueError for a name UWS does not define."""
    try:
        return Phase(text.strip().upper())
    except ValueError:
        names = ", ".join(p.value for p in Phase)
        raise ValueError(f"unknown phase {text!r}; UWS phases are {names}") from None
