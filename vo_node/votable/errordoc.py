"""DALI error documents: the VOTable a service answers with when a request fails before any
result is produced (DALI 1.1 error documents; STYLE 2).

The document is a RESOURCE type="results" holding INFO name="QUERY_STATUS" value="ERROR" whose
content is the message (and the hint, if any), which pyvo raises as ``DALQueryError`` and TOPCAT
shows. Which HTTP status goes with it is the HTTP edge's decision. Must not import Flask or
psycopg.
"""

from __future__ import annotations

from collections.abc import Sequence

from vo_node.votable.batches import ERROR
from vo_node.votable.document import document_start, status_info
from vo_node.votable.markup import start_tag


def error_document(
    message: str, hint: str | None = None, *, infos: Sequence[tuple[str, str]] = ()
) -> bytes:
    """The DALI error VOTable for ``message``; ``infos`` become document-level INFOs."""
    parts = [
        document_start(infos),
        start_tag("RESOURCE", [("type", "results")]),
        status_info(ERROR, message, hint),
        "</RESOURCE>",
        "</VOTABLE>\n",
    ]
    return "\n".join(parts).encode("utf-8")
