"""The reports as CSV (RFC 4180, header row first), for the page's downloads and
``vo-node stats --csv``. Must not import Flask or psycopg.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence

from vo_node.stats.store import Volume

VOLUME_COLUMNS = ("month", "channel", "requests", "errors", "bytes", "products")


def _line(row: Sequence[object]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(row)
    return buffer.getvalue()


def volume_csv(rows: Iterable[Volume]) -> str:
    """One line per month and channel."""
    lines = [_line(VOLUME_COLUMNS)]
    lines.extend(
        _line((v.month, v.channel, v.requests, v.errors, v.bytes, v.products)) for v in rows
    )
    return "".join(lines)


def rows_csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> Iterator[str]:
    """Lines of a CSV document, one at a time (streamed to the client)."""
    yield _line(header)
    for row in rows:
        yield _line(row)
