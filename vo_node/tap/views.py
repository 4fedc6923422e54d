"""TAP endpoints (TAP 1.1 section 2): the VOSI resources now; sync, async and examples join
as their parts land. Views parse parameters and render; the work is done elsewhere."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, abort, current_app, request

from tap_schema import METADATA, vosi
from vo_node.auth.views import caller
from vo_node.http.availability import availability_response
from vo_node.http.errors import dali_error
from vo_node.http.params import DaliParams
from vo_node.tap.capabilities import node_tap_capabilities
from vo_node.tap.examples import examples_document
from vo_node.tap.service import TapRequest, execute
from vo_node.uws.forms import save_uploads

bp = Blueprint("tap", __name__, url_prefix="/tap")

XML = "text/xml"


@bp.route("/sync", methods=["GET", "POST"])
def sync() -> Response:
    settings = current_app.config["VO_NODE_SETTINGS"]
    try:
        tap = TapRequest.parse(DaliParams.from_request(request), settings)
        uploads = []
        if tap.uploads:
            # Read into memory here; the files go before the result streams.
            with tempfile.TemporaryDirectory(prefix="tap-upload-") as scratch:
                parts = save_uploads(
                    request.files.items(multi=True), Path(scratch), settings.upload_limit
                )
                paths = {part: Path(path) for part, path in parts.items()}
                uploads = tap.read_uploads(paths, Path(scratch), settings)
        chunks = execute(
            tap,
            current_app.extensions["vo_node.query_runner"],
            settings.sync_timeout,
            identity=caller(),
            uploads=uploads,
            links_url=f"{settings.public_url}/datalink/links",
        )
    except Exception as exc:  # rendered in the protocol's own form, at the edge
        return dali_error(exc)
    return Response(chunks, mimetype=tap.format.content_type)


@bp.get("/capabilities")
def capabilities() -> Response:
    document = node_tap_capabilities(current_app.config["VO_NODE_SETTINGS"])
    return Response(document, mimetype=XML)


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
    return availability_response("SELECT 1 FROM tap_schema.tables LIMIT 1")
