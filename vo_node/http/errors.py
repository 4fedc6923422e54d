"""Errors rendered once, at the edge, in each protocol's own form (STYLE 1-3).

``STATUS`` is the table of HTTP status codes per protocol and error kind, with the reference
beside each row. DALI services (TAP, SSA, DataLink, SODA) answer with an error VOTable whose
QUERY_STATUS is ERROR; a traceback never reaches a client.
"""

from __future__ import annotations

import logging

from flask import Response
from werkzeug.exceptions import HTTPException

from vo_node.errors import NodeError, SetupError
from vo_node.http.params import UsageError
from vo_node.query import QueryError, QueryTimeout, ServiceUnavailable
from vo_node.votable import error_document

log = logging.getLogger(__name__)

VOTABLE_MIME = "application/x-votable+xml"

# (error class, HTTP status); the first class that matches wins, so subclasses come first.
# TAP 1.1 section 2.9 / DALI 1.1 section 4.4: 400 for what the user can fix, 500 for the
# service's own failures, 503 while a needed part (the database) is down.
STATUS: dict[str, tuple[tuple[type[BaseException], int], ...]] = {
    "dali": (
        (UsageError, 400),
        (QueryTimeout, 400),  # the user can narrow the query or go async
        (ServiceUnavailable, 503),
        (SetupError, 503),
        (QueryError, 400),  # the database refused the query: division by zero, bad cast...
        (NodeError, 400),  # ADQL syntax and resolution errors, format errors
        (Exception, 500),
    ),
}


def status_for(protocol: str, exc: BaseException) -> int:
    for kind, status in STATUS[protocol]:
        if isinstance(exc, kind):
            return status
    return 500


def dali_error(exc: BaseException) -> Response:
    """The DALI error document for ``exc``, with the status from ``STATUS``."""
    if isinstance(exc, HTTPException):
        # Raised by the web framework while reading the request (413: a body over the
        # upload limit); its code and description are already right for the client.
        status, body = exc.code or 400, error_document(str(exc.description), None)
        return Response(body, status=status, mimetype=VOTABLE_MIME)
    status = status_for("dali", exc)
    if isinstance(exc, NodeError):
        body = error_document(exc.message, exc.hint)
    else:
        log.exception("internal error behind a DALI service", exc_info=exc)
        body = error_document("internal error of the service; it has been logged", None)
    response = Response(body, status=status, mimetype=VOTABLE_MIME)
    if status == 503:
        response.headers["Retry-After"] = "30"
    return response
