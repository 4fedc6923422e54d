"""DataLink 1.1 and SODA 1.0 endpoints under ``/datalink``: ``links`` ({links}), ``soda``
(sync cut-outs), VOSI ``capabilities`` and ``availability``.

Views read parameters and render; the rows, descriptors and cut-outs are made in the other
modules of this package. Reads go through the caller's transaction (the policy). Errors are
DALI error VOTables; a {links} request answers unknown and forbidden identifiers with fault
rows, a cut-out of either with the same 401/403 as a download.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request, stream_with_context

from vo_node.auth.credentials import SECURITY_METHODS
from vo_node.auth.views import caller_transaction, refused
from vo_node.datalink import links as dl
from vo_node.datalink.capabilities import datalink_capabilities
from vo_node.datalink.descriptors import soda_descriptor
from vo_node.datalink.soda import CutoutRequest, check_request, cutout, file_photometry
from vo_node.db.policy import visible_file
from vo_node.http.availability import availability_response
from vo_node.http.errors import dali_error
from vo_node.http.params import DaliParams, UsageError, quoted
from vo_node.http.usage import delivered
from vo_node.products.lightcurve import LightCurveError
from vo_node.query import ServiceUnavailable
from vo_node.storage import MirroredStore
from vo_node.votable import write_votable

bp = Blueprint("datalink", __name__, url_prefix="/datalink")

# Identifiers per {links} call: pyvo asks for a page of results at a time (its default is
# 50); a thousand covers any page while keeping one response bounded.
MAX_IDS = 1000
_LINKS_FORMATS = {"", "votable", "application/x-votable+xml", dl.LINKS_MIME.lower()}


def _urls() -> dl.Urls:
    settings = current_app.config["VO_NODE_SETTINGS"]
    return dl.Urls(settings.public_url, settings.published_config()["did_base"])


def _store() -> MirroredStore:
    return current_app.extensions["vo_node.store"]  # type: ignore[no-any-return]


@bp.route("/links", methods=["GET", "POST"])
def links() -> Response:
    try:
        params = DaliParams.from_request(request)
        identifiers = params.getlist("ID")
        if not identifiers:
            raise UsageError("ID is required: one or more dataset identifiers (repeat ID)")
        if len(identifiers) > MAX_IDS:
            raise UsageError(f"at most {MAX_IDS} IDs per call; got {len(identifiers)}")
        wanted = (params.get("RESPONSEFORMAT") or "").strip().lower().replace(" ", "")
        if wanted not in _LINKS_FORMATS:
            raise UsageError(
                f"RESPONSEFORMAT={quoted(params.get('RESPONSEFORMAT') or '')} is not offered; "
                f"{{links}} answers as {dl.LINKS_MIME}"
            )
        urls = _urls()
        with caller_transaction() as conn:
            plan = dl.plan_links(conn, identifiers, urls)
        descriptors = [
            soda_descriptor(
                ref, urls.soda, identifier, product.t_min, product.t_max, _columns(product)
            )
            for identifier, ref, product in plan.cutouts
        ]
        body = write_votable(
            dl.FIELDS,
            plan.rows,
            # TABLEDATA: what DataLink clients expect unless they ask (datalinklint insists).
            serialization="tabledata",
            table_name="links",
            resource_infos=[("standardID", dl.STANDARD_ID)],
            after=descriptors,
        )
    except Exception as exc:  # rendered in the protocol's own form, at the edge
        return dali_error(exc)
    return Response(body, mimetype=dl.LINKS_MIME)


def _columns(product: dl.Product) -> tuple[str, ...]:
    """The COLUMN choices of a product's cut-out; none when its file cannot be read now (the
    descriptor is still offered: the cut-out will say what is wrong)."""
    # The choices are cached per file: read them from a copy known to be good.
    path = _store().readable(product.archive_path, product.good_sites, good_only=True)
    if path is None:
        return ()
    try:
        return file_photometry(path, product.layout, product.sha256)
    except LightCurveError as exc:
        current_app.logger.warning("product %s: %s: %s", product.product_id, path, exc)
        return ()


@bp.route("/soda", methods=["GET", "POST"])
def soda() -> Response:
    try:
        params = DaliParams.from_request(request)
        cut = CutoutRequest.parse(params, _urls().did_base)
    except Exception as exc:
        return dali_error(exc)
    with caller_transaction() as conn:
        product = visible_file(conn, cut.product_id)
    if product is None:
        return refused(
            f"NotFoundFault: {quoted(cut.identifier)} names no product of this archive that "
            "is available to you"
        )
    path = _store().readable(product.archive_path, product.good_sites)
    try:
        if path is None:
            raise LightCurveError("no stored copy")
        check_request(cut, product, file_photometry(path, product.layout, product.sha256))
        chunks = cutout(path, product, cut)
    except LightCurveError as exc:
        current_app.logger.warning("product %s: %s: %s", product.product_id, path, exc)
        message = f"product {quoted(cut.identifier)}: no stored copy can be read at the moment"
        return dali_error(ServiceUnavailable(message))
    except Exception as exc:
        return dali_error(exc)
    response = Response(stream_with_context(chunks), mimetype=cut.mime)
    # A cut-out delivers (part of) one product: the usage statistics count it.
    delivered(1, runs=[product.run_code], channels=[product.channel])
    stem = product.file_name.removesuffix(".fits")
    response.headers["Content-Disposition"] = f'inline; filename="{stem}_cutout{cut.suffix}"'
    # Cut-outs differ per caller (the policy): no shared cache may keep them.
    response.cache_control.private = True
    return response


@bp.get("/capabilities")
def capabilities() -> Response:
    return Response(capabilities_document(), mimetype="text/xml")


def capabilities_document() -> bytes:
    """The capabilities as served (the registry's record of the service copies them)."""
    base = f"{current_app.config['VO_NODE_SETTINGS'].public_url}/datalink"
    return datalink_capabilities(base, SECURITY_METHODS)


@bp.get("/availability")
def availability() -> Response:
    return availability_response("SELECT 1 FROM corot.products LIMIT 1")
