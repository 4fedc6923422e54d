"""``/docs/lightcurves``: what the light-curve documents hold (DataLink's ``#documentation``
link), so that a user who opens a VOTable, a CSV file or a cut-out can read its columns;
``/docs/features``: how the pulsation features are computed and classified, with the very
parameters and thresholds the computation uses."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, render_template

from vo_node.datalink.descriptors import CUTOUT_FORMATS
from vo_node.features import classes
from vo_node.features.model import ALGORITHM_VERSION, DEFAULT_PARAMS
from vo_node.products.documents import FLUX_UNIT
from vo_node.products.lightcurve import LAYOUTS

bp = Blueprint("docs", __name__, url_prefix="/docs")


def _page(template: str, **context: Any) -> Any:
    """A documentation page: the same for everyone, so caches may keep it for an hour."""
    settings = current_app.config["VO_NODE_SETTINGS"]
    response = current_app.make_response(render_template(template, settings=settings, **context))
    response.cache_control.public = True
    response.cache_control.max_age = 3600
    return response


@bp.get("/lightcurves")
def lightcurves() -> Any:
    return _page(
        "lightcurves.html", layouts=LAYOUTS.values(), flux_unit=FLUX_UNIT, formats=CUTOUT_FORMATS
    )


@bp.get("/features")
def features() -> Any:
    return _page("features.html", params=DEFAULT_PARAMS, version=ALGORITHM_VERSION, c=classes)
