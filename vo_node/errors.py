"""One exception family for the node.

Every error that is meant to reach a user or an operator derives from :class:`NodeError` and
carries a message and an optional hint; built-in exceptions escaping a layer mean a bug. The
protocol layers (later issues) map these to their own error documents in one place.
Must not import Flask or psycopg.
"""

from __future__ import annotations


class NodeError(Exception):
    """Base of the node's errors: a message for a person, and a hint on what to do."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class SetupError(NodeError):
    """The node cannot be set up or started: missing programs, unreachable paths."""


class StorageError(NodeError):
    """A storage root is missing, unwritable, or a copy does not verify."""


class IngestError(NodeError):
    """An ingest cannot proceed at all (not a problem with one file)."""
