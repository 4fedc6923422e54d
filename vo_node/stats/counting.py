"""A WSGI response body that counts the bytes going out and reports the count once, when the
server closes it (PEP 3333: the server calls ``close`` after the last write, or after the
client went away). Must not import Flask or werkzeug.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator


class CountingBody:
    """Wraps a response iterable; ``done(sent)`` is called exactly once, on ``close``.

    What is counted is what the server took to write: after a client disconnects the server
    stops asking for chunks, so a broken download counts what went out, up to one chunk.
    """

    def __init__(self, body: Iterable[bytes], done: Callable[[int], None]) -> None:
        self._body = body
        self._chunks: Iterator[bytes] | None = None
        self._done: Callable[[int], None] | None = done
        self.sent = 0

    def __iter__(self) -> CountingBody:
        return self

    def __next__(self) -> bytes:
        if self._chunks is None:
            self._chunks = iter(self._body)
        chunk = next(self._chunks)
        self.sent += len(chunk)
        return chunk

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            done, self._done = self._done, None
            if done is not None:
                done(self.sent)
