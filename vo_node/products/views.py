"""``/products/<id>.fits``: a product's stored file, exactly its bytes, under the policy;
``/products/<id>.vot`` and ``.csv``: its light curve as a VOTable or CSV document
(:mod:`vo_node.products.documents`), under the same policy.

A product the caller may not see and a product that does not exist get the same answer (401
without credentials, 403 with), so the answer never tells that a proprietary product exists.
The file comes from a storage site whose copy is good, the other site if that one is gone;
ranges and conditional requests (ETag = the file's sha256) are served by werkzeug.
``/products/<id>/preview.png``: a plot of its light curve (:mod:`vo_node.products.preview`),
rendered on the first request and then served from the disk cache, under the same policy.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator

from flask import Blueprint, Response, current_app, request, send_file, stream_with_context

from vo_node.auth.views import caller_transaction, refused
from vo_node.db.policy import ProductFile, visible_file
from vo_node.http.usage import delivered
from vo_node.products import documents, preview
from vo_node.products.lightcurve import LightCurve, LightCurveError, read_lightcurve
from vo_node.storage import MirroredStore

bp = Blueprint("products", __name__, url_prefix="/products")

FITS_MIME = "application/fits"


def not_available(product_id: int | str) -> Response:
    return refused(f"product {product_id} does not exist or is not available to you")


def _stored_path(store: MirroredStore, product: ProductFile) -> str | None:
    path = store.readable(product.archive_path, product.good_sites)
    return None if path is None else str(path)


def _unreadable(product_id: int) -> Response:
    return Response(
        f"product {product_id}: no stored copy can be read at the moment\n",
        status=503,
        mimetype="text/plain",
    )


@bp.get("/<int:product_id>.fits")
def fits(product_id: int) -> Response:
    with caller_transaction() as conn:
        product = visible_file(conn, product_id)
    if product is None:
        return not_available(product_id)
    path = _stored_path(current_app.extensions["vo_node.store"], product)
    if path is None:
        return _unreadable(product_id)
    response = send_file(
        path,
        mimetype=FITS_MIME,
        as_attachment=True,
        download_name=product.file_name,
        etag=product.sha256,
        conditional=True,
        max_age=0,
    )
    # Files differ per caller (the policy): no shared cache may keep them.
    response.cache_control.private = True
    digest = base64.b64encode(bytes.fromhex(product.sha256)).decode()
    response.headers["Repr-Digest"] = f"sha-256=:{digest}:"
    # The usage statistics: a download is counted once, by the response that starts it (a
    # client resuming or fetching in pieces sends more ranges; their bytes still count).
    starts = response.status_code == 200 or (
        response.status_code == 206
        and response.content_range is not None
        and response.content_range.start == 0
    )
    if request.method == "GET" and starts:
        delivered(1, [product.run_code], [product.channel])
    return response


Writer = Callable[[LightCurve, ProductFile], Iterator[bytes]]


def _lightcurve_document(product_id: int, write: Writer, mimetype: str, suffix: str) -> Response:
    with caller_transaction() as conn:
        product = visible_file(conn, product_id)
    if product is None:
        return not_available(product_id)
    path = _stored_path(current_app.extensions["vo_node.store"], product)
    if path is None:
        return _unreadable(product_id)
    try:
        # Read whole before the first byte: a bad file is a 503, not a broken document.
        lightcurve = read_lightcurve(path, product.layout)
    except LightCurveError as exc:
        current_app.logger.warning("product %s: %s: %s", product_id, path, exc)
        return _unreadable(product_id)
    response = Response(stream_with_context(write(lightcurve, product)), mimetype=mimetype)
    stem = product.file_name.removesuffix(".fits")
    response.headers["Content-Disposition"] = f'inline; filename="{stem}{suffix}"'
    delivered(1, [product.run_code], [product.channel])  # the usage statistics
    # Documents differ per caller (the policy): no shared cache may keep them.
    response.cache_control.private = True
    return response


@bp.get("/<int:product_id>.vot")
def votable(product_id: int) -> Response:
    return _lightcurve_document(product_id, documents.votable, documents.VOTABLE_MIME, ".vot")


@bp.get("/<int:product_id>.csv")
def csv(product_id: int) -> Response:
    return _lightcurve_document(product_id, documents.csv, documents.CSV_MIME, ".csv")


class _NoCopy(Exception):
    """No stored copy of the product can be read as its light curve (a 503)."""


@bp.get("/<int:product_id>/preview.png")
def preview_png(product_id: int) -> Response:
    return _picture(product_id, "preview")


@bp.get("/<int:product_id>/thumbnail.png")
def thumbnail_png(product_id: int) -> Response:
    """A small sparkline of the light curve: the search results show one per row."""
    return _picture(product_id, "thumbnail")


def _picture(product_id: int, kind: str) -> Response:
    # The policy first, on every request: the cache is shared by all callers.
    with caller_transaction() as conn:
        product = visible_file(conn, product_id)
    if product is None:
        return not_available(product_id)
    cache = preview.PreviewCache(current_app.config["VO_NODE_SETTINGS"].preview_root, kind)

    def render() -> tuple[bytes, bool]:
        # Only on a miss: a cached preview needs neither the stored file nor matplotlib.
        # Kept only when drawn from a copy the last check found good: a hit is then served
        # even while no copy can be read, since it was drawn from these very bytes.
        store: MirroredStore = current_app.extensions["vo_node.store"]
        good = store.readable(product.archive_path, product.good_sites, good_only=True)
        path = good or store.readable(product.archive_path, product.good_sites)
        if path is None:
            raise _NoCopy
        try:
            lightcurve = read_lightcurve(path, product.layout)
        except LightCurveError as exc:
            current_app.logger.warning("product %s: %s: %s", product_id, path, exc)
            raise _NoCopy from exc
        if kind == "thumbnail":
            return preview.render_thumbnail(lightcurve), good is not None
        return preview.render_png(lightcurve, product), good is not None

    try:
        data = cache.get(product, render)
    except _NoCopy:
        return _unreadable(product_id)
    response = Response(data, mimetype="image/png")
    response.set_etag(cache.key(product))
    response.cache_control.max_age = 0
    # Previews differ per caller (the policy): no shared cache may keep them.
    response.cache_control.private = True
    response.make_conditional(request)
    # The usage statistics count a preview as its product (a thumbnail is part of a page).
    if kind == "preview" and request.method == "GET" and response.status_code == 200:
        delivered(1, [product.run_code], [product.channel])
    return response
