"""``POST /download``: a selection of products as one archive (zip or tar) streamed on the
fly; ``GET /runs``: the complete runs; ``GET /runs/<run>/<channel>.tar`` (and ``.zip``): a
run's products in one channel, from a cached archive, with ranges.

The policy applies to both: a selection naming a product the caller may not see, or one that
does not exist, is refused whole, alike for both (401 without credentials, 403 with), rather
than answered with an archive silently smaller than what was asked; a run's archive holds
exactly the products of that run and channel the caller may see. Every archive starts with
``MANIFEST.csv`` (a row per product: name, product id, size, sha256, CoRoT ID, run, channel,
level, product type, version) and carries only bytes that verified against the catalogue
(:mod:`vo_node.downloads.archive`).

A selection's length is known before its first byte (stored members, sizes from the
catalogue) and sent as Content-Length; it is not cached anywhere, so it cannot be resumed:
the bulk channel is the complete runs, whose cached copies (:mod:`vo_node.downloads.runcache`)
are served by werkzeug with Range, If-Range and the copy's key as a strong ETag.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from flask import Blueprint, Response, current_app, render_template, request, send_file

from vo_node.auth.views import caller, caller_transaction, refused
from vo_node.downloads import archive, catalogue, runcache
from vo_node.downloads.catalogue import CHANNELS, Product
from vo_node.downloads.runcache import DamagedRun, RunArchives
from vo_node.http.usage import delivered
from vo_node.settings import Settings
from vo_node.storage import MirroredStore

bp = Blueprint("downloads", __name__, template_folder="templates")

FORMATS = ("zip", "tar")
_LISTED = 20  # ids named in a refusal at most


def _text(status: int, message: str) -> Response:
    return Response(message + "\n", status=status, mimetype="text/plain")


def _settings() -> Settings:
    return current_app.config["VO_NODE_SETTINGS"]  # type: ignore[no-any-return]


def archive_response(products: Sequence[Product], fmt: str, name: str) -> Response:
    """``products`` (read under the caller's policy: :func:`catalogue.visible_products`) as
    one streamed ``fmt`` archive, downloaded as ``<name>.<fmt>``."""
    store: MirroredStore = current_app.extensions["vo_node.store"]
    members = catalogue.members(products, store)
    size = archive.length(fmt, members)
    # The generator needs no request context: everything it reads is in `members`.
    response = Response(archive.stream(fmt, members, size), mimetype=_mimetype(fmt))
    response.headers["Content-Length"] = str(size)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
    # What a caller may see differs per caller: no shared cache may keep it.
    response.cache_control.private = True
    response.cache_control.no_store = True
    delivered(
        products=len(products),
        runs={p.run for p in products},
        channels={p.channel for p in products},
    )
    return response


def selection_response(ids: Sequence[int], fmt: str, name: str | None = None) -> Response:
    """The archive of the products ``ids`` (the search page's "all results" calls this with
    the search's ids), under the caller's policy: refused whole when any of them is not a
    product the caller may see; 400/413 for no ids, too many, or an unknown format."""
    if fmt not in FORMATS:
        return _text(400, f"format must be zip or tar, not {fmt[:40]!r}")
    if not ids:
        return _text(400, "no product selected: send one or more id fields")
    limit = _settings().download_max_ids
    if len(set(ids)) > limit:
        return _text(
            413,
            f"{len(set(ids)):,} products selected; one download holds at most {limit:,} "
            "(download complete runs from /runs, or split the selection)",
        )
    with caller_transaction() as conn:
        products = catalogue.visible_products(conn, ids)
    if len(products) < len(set(ids)):
        found = {p.product_id for p in products}
        absent = [i for i in dict.fromkeys(ids) if i not in found]
        shown = ", ".join(str(i) for i in absent[:_LISTED]) + (", ..." * (len(absent) > _LISTED))
        return refused(
            f"{len(absent)} of the selected products do not exist or are not available to you: "
            f"{shown}"
        )
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return archive_response(products, fmt, name or f"corot-selection-{stamp}")


def _mimetype(fmt: str) -> str:
    return "application/zip" if fmt == "zip" else "application/x-tar"


@bp.post("/download")
def download() -> Response:
    ids: list[int] = []
    for raw in request.form.getlist("id"):
        try:
            ids.append(int(raw))
        except ValueError:
            return _text(400, f"id must be a product number, not {raw[:40]!r}")
    return selection_response(ids, request.form.get("format", "zip").strip().lower())


@bp.get("/runs")
def runs() -> Any:
    with caller_transaction() as conn:
        listed = catalogue.run_channels(conn)
    return render_template("runs.html", runs=listed, settings=_settings(), user=caller())


@bp.get("/runs/<run>/<filename>")
def run_archive(run: str, filename: str) -> Response:
    channel, _, fmt = filename.partition(".")
    if channel not in CHANNELS or fmt not in FORMATS:
        return _text(
            404,
            f"no {filename[:60]!r} here: a run's archives are /runs/<run>/<channel>.<format>, "
            f"channel {' or '.join(CHANNELS)}, format {' or '.join(FORMATS)}",
        )
    # A run code is a short word (what the cache names its files after, too): anything else
    # names no run, and never reaches the database (NUL cannot).
    if not runcache.SAFE_NAME.match(run):
        return _text(404, f"no run {run[:40]!r} in the archive (the runs are at /runs)")
    with caller_transaction() as conn:
        if not catalogue.run_exists(conn, run):
            return _text(404, f"no run {run[:40]!r} in the archive (the runs are at /runs)")
        products = catalogue.run_products(conn, run, channel)
    if not products:
        # The same answer for no products and for none the caller may see.
        return refused(f"run {run} has no {channel} products available to you")
    store: MirroredStore = current_app.extensions["vo_node.store"]
    cache = RunArchives(_settings().runs_root)
    try:
        path, key = cache.get(run, channel, fmt, catalogue.members(products, store))
    except DamagedRun as exc:
        current_app.logger.error("run %s %s.%s not built: damaged %s", run, channel, fmt, exc)
        response = _text(
            503,
            f"run {run} ({channel}) cannot be packed at the moment: no stored copy of "
            f"{len(exc.missing)} of its files verifies; the operators have been told",
        )
        response.headers["Retry-After"] = "3600"
        return response
    response = send_file(
        path,
        mimetype=_mimetype(fmt),
        as_attachment=True,
        download_name=f"corot-{run}-{channel}.{fmt}",
        etag=key,
        conditional=True,
        max_age=0,
    )
    if caller():
        # A copy of what this caller may see: never for a shared cache.
        response.cache_control.private = True
    else:
        response.cache_control.public = True
    response.vary.update(("Authorization", "Cookie"))
    # A resumed download (a range not from the first byte) delivers no product anew.
    whole = response.status_code == 200 or (
        response.status_code == 206
        and request.range is not None
        and request.range.ranges[0][0] == 0
    )
    if whole and request.method == "GET":
        delivered(products=len(products), runs=[run], channels=[channel])
    return response
