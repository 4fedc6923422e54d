"""``/products/<id>.fits``: a product's stored file, exactly its bytes, under the policy;
``/products/<id>.vot`` and ``.csv``: its light curve as a VOTable or CSV document
(:mod:`vo_node.products.documents`), under the same policy.

A product the caller may not see and a product that does not exist get the same answer (401
without credentials, 403 with), so the answer never tells that a proprietary product exists.
The file comes from a storage site whose copy is good, the other site if that one is gone;
ranges and conditional requests (ETag = the file's sha256) are served by werkzeug.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator

from flask import Blueprint, Response, current_app, send_file, stream_with_context

from vo_node.auth.views import caller_transaction, refused
from vo_node.db.policy import ProductFile, visible_file
from vo_node.products import documents
from vo_node.products.lightcurve import LightCurve, LightCurveError, read_lightcurve
from vo_node.storage import MirroredStore

bp = Blueprint("products", __name__, url_prefix="/products")

FITS_MIME = "application/fits"


def not_available(product_id: int | str) -> Response:
    return refused(f"product {product_id} does not exist or is not available to you")


def _stored_path(store: MirroredStore, product: ProductFile) -> str | None:
    ordered = sorted(store.sites, key=lambda s: s.name not in product.good_sites)
    for site in ordered:
        path = site.path(product.archive_path)
        if path.is_file():
            return str(path)
    return None


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
    # Documents differ per caller (the policy): no shared cache may keep them.
    response.cache_control.private = True
    return response


@bp.get("/<int:product_id>.vot")
def votable(product_id: int) -> Response:
    return _lightcurve_document(product_id, documents.votable, documents.VOTABLE_MIME, ".vot")


@bp.get("/<int:product_id>.csv")
def csv(product_id: int) -> Response:
    return _lightcurve_document(product_id, documents.csv, documents.CSV_MIME, ".csv")
