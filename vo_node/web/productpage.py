"""``/products/<id>``: a light curve's page (its metadata, its plot, every version, its links),
and ``/products/<id>/plot.json``: what the page's interactive plot draws.

The page works without JavaScript (the plot is then the preview PNG); with it, the plot
becomes interactive: drag to zoom, double-click to zoom out. It draws the per-pixel-column
envelope of the good points (``plot.json``), read again for the window shown when zooming
(a binary search on time reads only the window's rows), so a 400,000-point curve never
travels whole. Everything goes through the policy, as the downloads do.

An N2 light curve's page also shows its pulsation features (issue 8): class, dominant
frequency, the frequencies found by prewhitening, the parameters and software of the
computation, and the amplitude spectrum with the frequencies marked
(:mod:`vo_node.features.views`), read in the same transaction as the rest of the page.
"""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, jsonify, render_template, request

from vo_node.auth.views import caller, caller_transaction
from vo_node.db.policy import visible_file
from vo_node.features.published import published_features, unreadable
from vo_node.products.lightcurve import LightCurveError, read_lightcurve
from vo_node.products.preview import column_envelope, plotted_points
from vo_node.products.views import not_available
from vo_node.storage import MirroredStore

bp = Blueprint("product_page", __name__)

# Columns of the plot's envelope: about one per pixel of a wide screen.
PLOT_COLUMNS = 1200
_DETAILS = (
    "SELECT p.product_id, p.corotid, p.run_code, p.channel, p.proc_level, p.product_type,"
    " p.version, p.latest, p.ra, p.dec, p.t_min, p.t_max, p.time_scale, p.time_refpos,"
    " p.n_points, p.n_good, p.sampling_min, p.sampling_max, p.bands, p.file_name,"
    " p.file_size, p.sha256, p.release_date, p.ingested_at, p.obs_publisher_did,"
    " s.name, s.mag_b, s.mag_v, s.mag_r, s.mag_i, s.spectral_type, s.lum_class, s.teff,"
    " s.contamination"
    " FROM corot.products p JOIN corot.stars s ON s.corotid = p.corotid"
    " WHERE p.product_id = %s"
)


@bp.get("/products/<int:product_id>")
def product_page(product_id: int) -> Any:
    settings = current_app.config["VO_NODE_SETTINGS"]
    with caller_transaction() as conn:
        cursor = conn.execute(_DETAILS, (product_id,))
        row = cursor.fetchone()
        if row is None:
            return not_available(product_id)
        names = [d.name for d in cursor.description or ()]
        details = dict(zip(names, row, strict=True))
        versions = conn.execute(
            "SELECT product_id, version, latest, proc_level, ingested_at FROM corot.products"
            " WHERE corotid = %s AND run_code = %s AND product_type = %s"
            " ORDER BY ingested_at, product_id",
            (details["corotid"], details["run_code"], details["product_type"]),
        ).fetchall()
        others = conn.execute(
            "SELECT product_id, run_code, proc_level, product_type, version FROM corot.products"
            " WHERE corotid = %s AND NOT (run_code = %s AND product_type = %s) AND latest = 1"
            " ORDER BY run_code, proc_level, product_type",
            (details["corotid"], details["run_code"], details["product_type"]),
        ).fetchall()
        # Only N2 light curves have features (N1 ones are never computed).
        features = published_features(conn, product_id) if details["proc_level"] == "N2" else None
        unreadable_file = features is None and unreadable(conn, product_id)
    did = details["obs_publisher_did"]
    adql = f"SELECT * FROM corot.products WHERE obs_publisher_did = '{did}'"
    return render_template(
        "product.html",
        settings=settings,
        user=caller(),
        p=details,
        versions=versions,
        others=others,
        unreadable_file=unreadable_file,
        features=features,
        features_url=f"{settings.public_url}/tap/sync?"
        + urlencode(
            {
                "REQUEST": "doQuery",
                "LANG": "ADQL",
                "QUERY": f"SELECT * FROM corot.frequencies WHERE product_id = {product_id}"
                " ORDER BY rank",
            }
        ),
        links_url=f"{settings.public_url}/datalink/links?" + urlencode({"ID": did}),
        tap_url=f"{settings.public_url}/tap/sync?"
        + urlencode({"REQUEST": "doQuery", "LANG": "ADQL", "QUERY": adql}),
        adql=adql,
    )


@bp.get("/products/<int:product_id>/plot.json")
def plot_data(product_id: int) -> Response:
    """The envelope of the good points (and the flagged points' envelope) in a time window:
    ``from`` and ``to`` in MJD, both optional."""
    try:
        window = (_mjd(request.args.get("from")), _mjd(request.args.get("to")))
    except ValueError as error:
        return Response(f"{error}\n", status=400, mimetype="text/plain")
    with caller_transaction() as conn:
        product = visible_file(conn, product_id)
    if product is None:
        return not_available(product_id)
    store: MirroredStore = current_app.extensions["vo_node.store"]
    path = store.readable(product.archive_path, product.good_sites)
    if path is None:
        return Response(f"product {product_id}: no readable copy\n", status=503)
    try:
        lc = read_lightcurve(path, product.layout, window=window)
    except LightCurveError as error:
        current_app.logger.warning("product %s: %s", product_id, error)
        return Response(f"product {product_id}: its file cannot be read\n", status=503)
    points = plotted_points(lc)
    good = column_envelope(points.good_time, points.good_flux, PLOT_COLUMNS)
    flagged = column_envelope(points.flagged_time, points.flagged_flux, PLOT_COLUMNS)
    response = jsonify(
        {
            "product_id": product_id,
            "flux": points.label,
            "time_scale": product.time_scale,
            "window": [window[0], window[1]],
            "good": {"n": int(points.good_time.size), **_columns(good)},
            "flagged": {"n": int(points.flagged_time.size), **_columns(flagged)},
        }
    )
    response.cache_control.private = True
    return response


def _columns(envelope: Any) -> dict[str, list[float]]:
    return {
        "time": [round(float(t), 6) for t in envelope.time],
        "low": [float(v) for v in envelope.low],
        "high": [float(v) for v in envelope.high],
    }


def _mjd(text: str | None) -> float | None:
    if text is None or text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"not an MJD: {text[:40]!r}") from None
    if not math.isfinite(value):
        raise ValueError("an MJD must be finite")
    return value
