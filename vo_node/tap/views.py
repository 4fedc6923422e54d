"""TAP endpoints (TAP 1.1 section 2): the VOSI resources now; sync, async and examples join
as their parts land. Views parse parameters and render; the work is done elsewhere."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, current_app, request

from tap_schema import METADATA, vosi
from vo_node.http.params import DaliParams
from vo_node.tap.examples import examples_document
from vo_node.tap.vosi import availability_document

bp = Blueprint("tap", __name__, url_prefix="/tap")

XML = "text/xml"


@bp.get("/tables")
def tables() -> Response:
    detail = DaliParams.from_request(request).get("DETAIL")
    return Response(vosi.tableset(METADATA, detail=detail), mimetype=XML)


@bp.get("/tables/<name>")
def table(name: str) -> Any:
    declared = METADATA.table(name)
    if declared is None:
        abort(404, description=f"no table {name!r}; /tap/tables lists the published tables")
    return Response(vosi.table(declared), mimetype=XML)


@bp.get("/examples")
def examples() -> Response:
    settings = current_app.config["VO_NODE_SETTINGS"]
    return Response(
        examples_document(f"{settings.public_url}/tap"), mimetype="application/xhtml+xml"
    )


@bp.get("/availability")
def availability() -> Response:
    pool = current_app.extensions["vo_node.service_pool"]
    try:
        with pool.connection(timeout=5) as conn:
            conn.execute("SELECT 1 FROM tap_schema.tables LIMIT 1")
        up, note = True, "the service is accepting queries"
    except Exception as exc:  # any failure to reach the database means "not available"
        up, note = False, f"the database is not reachable ({type(exc).__name__})"
    return Response(availability_document(up, note), mimetype=XML)
