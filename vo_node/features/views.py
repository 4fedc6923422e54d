"""``/products/<id>/periodogram.png`` and ``/products/<id>/periodogram.vot``: the amplitude
spectrum of an N2 light curve with its pulsation features computed, as a plot with the
frequencies found by prewhitening marked, and as a VOTable 1.4 document (the DataLink
``#derivation`` links of issue 8); and :func:`published_features`, the features as a caller
may read them (the product page shows them).

The spectrum is computed on request from the stored file, exactly as the features were: the
same good points (:func:`vo_node.features.task.good_points`), the same preparation and grid
(:mod:`vo_node.features.periodogram`), with the parameters stored with the features
(corot.feature_parameters). The plot is kept in the previews' disk cache, under a key that
changes when the features are computed again.

Everything is read as the caller, under the policy: a product the caller may not see and one
that does not exist get the same answer (401 anonymous, 403 with credentials), as the other
``/products/<id>/...`` endpoints give; a product that is not an N2 light curve, or whose
features are not computed, is a 404 that says so. The usage statistics count a plot as the
preview is counted, and the VOTable as the light curve's documents are. The documents
themselves are :mod:`vo_node.features.documents`, the features as read
:mod:`vo_node.features.published`.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request, stream_with_context

from vo_node.auth.views import caller_transaction
from vo_node.db.policy import ProductFile, visible_file
from vo_node.features.documents import PLOT_VERSION, Spectrum, render_png, votable
from vo_node.features.periodogram import amplitude_spectrum, prepare
from vo_node.features.published import PublishedFeatures, published_features
from vo_node.features.task import read_good_points
from vo_node.http.usage import delivered
from vo_node.products import preview
from vo_node.products.documents import VOTABLE_MIME
from vo_node.products.lightcurve import LightCurveError
from vo_node.products.views import not_available
from vo_node.storage import MirroredStore

bp = Blueprint("feature_views", __name__, url_prefix="/products")


class _NoCopy(Exception):
    """No stored copy of the product can be read as its light curve (a 503)."""


class _NoSpectrum(Exception):
    """The light curve has too few good points for a spectrum (a 404)."""


def _compute(product: ProductFile, features: PublishedFeatures, good_only: bool) -> Spectrum:
    """The spectrum of ``product`` from its stored file, as its features were computed.
    ``good_only``: from a copy the last check found good, else from any readable one."""
    store: MirroredStore = current_app.extensions["vo_node.store"]
    path = store.readable(product.archive_path, product.good_sites, good_only=good_only)
    if path is None:
        raise _NoCopy
    try:
        points = read_good_points(str(path), product.layout)
    except LightCurveError as exc:
        current_app.logger.warning("product %s: %s: %s", product.product_id, path, exc)
        raise _NoCopy from exc
    params = features.params()
    series = prepare(*points, params)
    if series is None:
        raise _NoSpectrum
    frequency, amplitude = amplitude_spectrum(series, params)
    if frequency.size < 2:
        raise _NoSpectrum
    return Spectrum(frequency, amplitude, 1.0 / series.span, float(frequency[1] - frequency[0]))


def _text(status: int, message: str) -> Response:
    return Response(message + "\n", status=status, mimetype="text/plain")


def _visible(product_id: int) -> tuple[ProductFile, PublishedFeatures] | Response:
    """The product and its features, or the answer for a caller who cannot have them."""
    with caller_transaction() as conn:
        product = visible_file(conn, product_id)
        if product is None:
            return not_available(product_id)  # as /products/<id>.fits: it tells no secret
        if product.level != "N2":
            return _text(
                404,
                f"product {product_id} is a {product.level} product: periodograms are "
                "computed for the N2 light curves only",
            )
        features = published_features(conn, product_id)
    if features is None:
        return _text(404, f"product {product_id}: its pulsation features are not computed yet")
    if not features.has_spectrum:
        return _too_few(product_id)
    return product, features


def _too_few(product_id: int) -> Response:
    return _text(404, f"product {product_id}: too few good points for a periodogram")


def _unreadable(product_id: int) -> Response:
    return _text(503, f"product {product_id}: no stored copy can be read at the moment")


@bp.get("/<int:product_id>/periodogram.png")
def periodogram_png(product_id: int) -> Response:
    """The amplitude spectrum with the frequencies found marked and listed (a PNG)."""
    found = _visible(product_id)
    if isinstance(found, Response):
        return found
    product, features = found
    cache = preview.PreviewCache(
        current_app.config["VO_NODE_SETTINGS"].preview_root,
        f"periodogram-{PLOT_VERSION}-{features.cache_tag()}",
    )

    def render() -> tuple[bytes, bool]:
        # Only on a miss. Kept only when computed from a copy known to be good (see
        # vo_node/products/views.py, whose previews are cached alike).
        try:
            return render_png(_compute(product, features, True), product, features), True
        except _NoCopy:
            return render_png(_compute(product, features, False), product, features), False

    try:
        data = cache.get(product, render)
    except _NoCopy:
        return _unreadable(product_id)
    except _NoSpectrum:
        return _too_few(product_id)
    response = Response(data, mimetype="image/png")
    response.set_etag(cache.key(product))
    response.cache_control.max_age = 0
    # Plots differ per caller (the policy): no shared cache may keep them.
    response.cache_control.private = True
    response.make_conditional(request)
    if request.method == "GET" and response.status_code == 200:
        delivered(1, [product.run_code], [product.channel])  # as a preview is counted
    return response


@bp.get("/<int:product_id>/periodogram.vot")
def periodogram_votable(product_id: int) -> Response:
    """The amplitude spectrum as a VOTable 1.4 document (frequency, amplitude)."""
    found = _visible(product_id)
    if isinstance(found, Response):
        return found
    product, features = found
    try:
        # Computed whole before the first byte: a bad file is a 503, not a broken document.
        spectrum = _compute(product, features, False)
    except _NoCopy:
        return _unreadable(product_id)
    except _NoSpectrum:
        return _too_few(product_id)
    response = Response(
        stream_with_context(votable(spectrum, product, features)), mimetype=VOTABLE_MIME
    )
    stem = product.file_name.removesuffix(".fits")
    response.headers["Content-Disposition"] = f'inline; filename="{stem}-periodogram.vot"'
    delivered(1, [product.run_code], [product.channel])  # as the light curve's documents
    response.cache_control.private = True
    return response
