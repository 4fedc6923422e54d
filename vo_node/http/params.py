"""DALI parameters: names are case-insensitive, values are not (DALI 1.1, section 3).

Folded once, here, for GET query strings and POSTed forms alike; nothing downstream sees the
client's spelling of a name.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import Request

from vo_node.errors import NodeError


class UsageError(NodeError):
    """A request the protocol does not allow: a missing, repeated or malformed parameter."""


class DaliParams:
    """Request parameters by upper-cased name, every value kept in order."""

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        self._values: dict[str, list[str]] = {}
        for name, value in pairs:
            self._values.setdefault(name.upper(), []).append(value)

    @classmethod
    def from_request(cls, request: Request) -> DaliParams:
        pairs = list(request.args.items(multi=True))
        if request.method == "POST":
            pairs += list(request.form.items(multi=True))
        return cls(pairs)

    def get(self, name: str, default: str | None = None) -> str | None:
        """The single value of ``name``; a repeated single-valued parameter is an error."""
        values = self._values.get(name.upper())
        if not values:
            return default
        if len(set(values)) > 1:
            raise UsageError(f"parameter {name.upper()} given more than once with other values")
        return values[0]

    def getlist(self, name: str) -> list[str]:
        return list(self._values.get(name.upper(), []))

    def integer(self, name: str, default: int | None = None, minimum: int = 0) -> int | None:
        text = self.get(name)
        if text is None or not text.strip():
            return default
        try:
            value = int(text)
        except ValueError:
            raise UsageError(f"{name.upper()} must be an integer, not {text!r}") from None
        if value < minimum:
            raise UsageError(f"{name.upper()} must be at least {minimum}")
        return value

    def __contains__(self, name: str) -> bool:
        return name.upper() in self._values


def quoted(text: str, limit: int = 100) -> str:
    """A parameter value as an error message quotes it: cut short, so that a huge value does
    not come back as a huge error document."""
    return repr(text if len(text) <= limit else text[:limit] + "...")
