"""SSA 1.1 endpoints: queryData at ``/ssa``, VOSI capabilities and availability.

Views read the parameters and render; SQL and documents are made elsewhere in ``ssa``.
Errors are DALI error VOTables (QUERY_STATUS=ERROR) with the status from
``vo_node.http.errors``; queries run through the app's QueryRunner as the caller.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request

from ssa.capabilities import SsaLimits, ssa_capabilities
from ssa.metadata import metadata_document
from ssa.params import SsaQuery
from ssa.query import execute, public_position
from vo_node.auth.credentials import SECURITY_METHODS
from vo_node.auth.views import caller
from vo_node.http.availability import availability_response
from vo_node.http.errors import VOTABLE_MIME, dali_error
from vo_node.http.params import DaliParams

bp = Blueprint("ssa", __name__, url_prefix="/ssa")

XML = "text/xml"


@bp.route("", methods=["GET", "POST"])
def query_data() -> Response:
    settings = current_app.config["VO_NODE_SETTINGS"]
    try:
        query = SsaQuery.parse(DaliParams.from_request(request), settings)
        if query.metadata:
            body = metadata_document(dict(query.echoed), settings.maxrec_default)
            return Response(body, mimetype=VOTABLE_MIME)
        chunks = execute(
            query,
            current_app.extensions["vo_node.query_runner"],
            settings.sync_timeout,
            did_base=settings.published_config()["did_base"],
            publisher=settings.node_title,
            base_url=settings.public_url,
            identity=caller(),
        )
    except Exception as exc:  # rendered in the protocol's own form, at the edge
        return dali_error(exc)
    return Response(chunks, mimetype=VOTABLE_MIME)


@bp.get("/capabilities")
def capabilities() -> Response:
    return Response(capabilities_document(), mimetype=XML)


def capabilities_document(strict: bool = False) -> bytes:
    """The capabilities as served now (the registry's record of the service copies them).
    ``strict``: fail rather than leave the test query out when its position cannot be read
    (the registry keeps its last good record instead of publishing one without it)."""
    settings = current_app.config["VO_NODE_SETTINGS"]
    try:
        position = public_position(current_app.extensions["vo_node.query_runner"], 5.0)
    except Exception:  # the capabilities stay available without a test query
        if strict:
            raise
        current_app.logger.warning("no test position for the SSA capabilities", exc_info=True)
        position = None
    limits = SsaLimits(settings.maxrec_default, settings.maxrec_hard, position)
    return ssa_capabilities(f"{settings.public_url}/ssa", limits, SECURITY_METHODS)


@bp.get("/availability")
def availability() -> Response:
    return availability_response("SELECT 1 FROM corot.products LIMIT 1")
