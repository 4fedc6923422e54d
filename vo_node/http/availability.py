"""VOSI availability at the HTTP edge, the same for every service: the service is up when its
database answers a probe that reads what the service reads."""

from __future__ import annotations

from flask import Response, current_app
from psycopg import sql

from vo_node.tap.vosi import availability_document


def availability_response(probe: str) -> Response:
    """The availability document; ``probe`` is a cheap query on the service's tables."""
    pool = current_app.extensions["vo_node.service_pool"]
    try:
        with pool.connection(timeout=5) as conn:
            conn.execute(sql.SQL(probe))  # type: ignore[arg-type]
        up, note = True, "the service is accepting queries"
    except Exception as exc:  # any failure to reach the database means "not available"
        up, note = False, f"the database is not reachable ({type(exc).__name__})"
    return Response(availability_document(up, note), mimetype="text/xml")
