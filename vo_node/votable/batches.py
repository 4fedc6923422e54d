"""Pulling result rows in bounded batches: the MAXREC limit, overflow detection and the capture
of a failing row source, shared by every output format.

The writers encode column by column, so rows are taken a batch at a time; the batch size adapts
to the encoded size of rows so that a batch stays near :data:`TARGET_BYTES` whether rows are
thirty bytes or a 25,000-point light curve (STYLE 11: memory does not grow with the result).
Must not import Flask or psycopg.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import TypeVar, cast

from vo_node.errors import NodeError

logger = logging.getLogger(__name__)

# DALI 1.1 (VOTable responses): the values of INFO name="QUERY_STATUS".
OK = "OK"
OVERFLOW = "OVERFLOW"
ERROR = "ERROR"

TARGET_BYTES = 96 * 1024
FIRST_BATCH = 16  # small, since rows may be whole light curves; it grows from there
MAX_BATCH = 4096
# Rows in a batch of rows with a known size, at most (a batch of tiny rows stays bounded).
_MAX_MEASURED = 16384
GENERIC_ERROR = "internal error while writing the result; the rows above are incomplete"

Row = Sequence[object]
Encoded = TypeVar("Encoded", bytes, str)


@dataclass
class Outcome:
    """What a finished stream reports: the last QUERY_STATUS, rows written, the error message
    a client saw, and warnings (e.g. characters replaced). A caller may pass one in to learn
    this for logs, usage records or a UWS job phase."""

    status: str = OK
    rows: int = 0
    message: str | None = None
    hint: str | None = None
    warnings: list[str] = field(default_factory=list)

    def fail(self, exc: BaseException) -> None:
        """Record ``exc`` as the end of the stream: a :class:`NodeError` keeps its message
        and hint, anything else becomes a generic message (never a traceback) and is logged
        with its traceback for the operators."""
        self.status = ERROR
        if isinstance(exc, NodeError):
            self.message, self.hint = exc.message, exc.hint
            logger.info("result stream ended by an error after %d rows: %s", self.rows, exc)
        else:
            self.message, self.hint = GENERIC_ERROR, None
            logger.error("result stream failed after %d rows", self.rows, exc_info=exc)


class RowBatches:
    """Iterates over lists of rows, at most ``maxrec`` rows in all (None: no limit), batches
    of about ``target_bytes`` of output once the first ones tell the size of a row.

    After the last batch, ``outcome.status`` is OVERFLOW if the source had a (maxrec+1)-th
    row, ERROR if the source raised (the rows before the failure are still delivered), else
    OK. A writer calls :meth:`written` after encoding each batch to steer the batch size.
    """

    def __init__(
        self,
        rows: Iterable[Row],
        maxrec: int | None,
        outcome: Outcome,
        *,
        target_bytes: int = TARGET_BYTES,
        row_bytes: Callable[[Row], int] | None = None,
    ) -> None:
        if maxrec is not None and maxrec < 0:
            raise ValueError("maxrec must not be negative")
        self._rows = rows
        self._maxrec = maxrec
        self._target = target_bytes
        self._size = FIRST_BATCH
        # Rows whose size is known before encoding (binary COPY rows: about their BINARY2
        # size) are taken until a batch holds target_bytes, from the first batch on: a
        # small result is then one batch, and a batch of light curves stays small.
        self._row_bytes = row_bytes
        self._exhausted = False
        self.outcome = outcome
        self.failure: Exception | None = None  # what the source raised, if it did

    def written(self, rows: int, nbytes: int) -> None:
        """Count ``rows`` rows as written in ``nbytes`` of output, and adapt the next batch
        size to that."""
        self.outcome.rows += rows
        if rows:
            per_row = max(nbytes / rows, 1.0)
            self._size = max(1, min(MAX_BATCH, int(self._target / per_row)))

    def __iter__(self) -> Iterator[list[Row]]:
        outcome = self.outcome
        remaining = self._maxrec
        try:
            source = iter(self._rows)
        except Exception as exc:
            self._fail(exc)
            return
        while remaining is None or remaining > 0:
            size = self._size if self._row_bytes is None else _MAX_MEASURED
            wanted = size if remaining is None else min(size, remaining)
            batch: list[Row] = []
            failure: Exception | None = None
            try:
                if self._row_bytes is None:
                    # list.extend keeps the rows it appended before the source raised, at C
                    # speed.
                    batch.extend(islice(source, wanted))
                else:
                    self._take_bytes(source, wanted, batch)
            except Exception as exc:
                failure = exc
            if batch:
                yield batch
                if remaining is not None:
                    remaining -= len(batch)
            if failure is not None:
                self._fail(failure)
                return
            if self._exhausted if self._row_bytes is not None else len(batch) < wanted:
                return
        # MAXREC rows are out; one more row means the result was truncated (TAP 1.1, MAXREC).
        try:
            next(source)
        except StopIteration:
            return
        except Exception as exc:
            self._fail(exc)
            return
        outcome.status = OVERFLOW

    def _take_bytes(self, source: Iterator[Row], most: int, batch: list[Row]) -> None:
        """Append rows of ``source`` to ``batch`` until they hold the target bytes or there
        are ``most``; note when the source ends."""
        measure = cast(Callable[[Row], int], self._row_bytes)
        size, target = 0, self._target
        for row in islice(source, most):
            batch.append(row)
            size += measure(row)
            if size >= target:
                return
        self._exhausted = len(batch) < most

    def _fail(self, exc: Exception) -> None:
        self.failure = exc
        self.outcome.fail(exc)


def encode_rows(
    encode: Callable[[list[Row]], Encoded], batch: list[Row], empty: Encoded
) -> tuple[Encoded, int, Exception | None]:
    """Encode a batch; if that fails, encode row by row so that the rows before the bad one
    are still written. Returns the output, how many rows it holds, and the failure if any."""
    try:
        return encode(batch), len(batch), None
    except Exception as exc:
        done: list[Encoded] = []
        for row in batch:
            try:
                done.append(encode([row]))
            except Exception as row_exc:
                return empty.join(done), len(done), row_exc
        return empty.join(done), len(done), exc
