"""``/search``: the web search of the light curves (a form that works without JavaScript), and
``/search.adql``: the same search as its ADQL text.

The search is an ADQL query (:mod:`vo_node.web.searchform`) run like a TAP query: translated
against the published tables and executed by the query runner as the caller, so the policy
applies and the page shows exactly what TAP would return. A name in the position field is
looked up in the archive's own star table (names and CoRoT IDs), not in an outside resolver.
The pulsation criteria read the published features (corot.features, corot.frequencies) in
the same query, under the same policy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, render_template, request

from tap_schema import METADATA
from vo_node.adql.errors import AdqlError
from vo_node.adql.translate import translate
from vo_node.auth.views import caller, caller_transaction
from vo_node.db.revision import archive_revision
from vo_node.downloads.views import selection_response
from vo_node.features.model import CLASSES
from vo_node.query import QueryRunner
from vo_node.web.searchform import COLUMNS, PAGE_SIZES, SORTS, FormError, Search, parse

bp = Blueprint("search", __name__)


@dataclass(frozen=True)
class Page:
    rows: list[dict[str, Any]]
    total: int
    search: Search

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.search.per_page))


def _run(adql: str, limit: int) -> list[tuple[Any, ...]]:
    settings = current_app.config["VO_NODE_SETTINGS"]
    runner: QueryRunner = current_app.extensions["vo_node.query_runner"]
    translation = translate(adql, METADATA)
    with runner.run(
        translation.sql, maxrec=limit, timeout_s=settings.sync_timeout, identity=caller()
    ) as result:
        return [tuple(row) for row in result.rows]


def _resolve(search: Search) -> Search | str:
    """The search around its named target, or what to tell the user."""
    name = " ".join(search.target.split())
    digits = name.removeprefix("CoRoT").strip()
    with caller_transaction() as conn:
        # Two indexed lookups (an OR of the two would scan the table).
        row = conn.execute(
            "SELECT ra, dec FROM archive.stars WHERE lower(name) = lower(%s)"
            " AND ra IS NOT NULL ORDER BY source_id LIMIT 1",
            (name,),
        ).fetchone()
        if row is None and digits.isdigit() and len(digits) < 16:
            row = conn.execute(
                "SELECT ra, dec FROM archive.stars WHERE source_id = %s AND ra IS NOT NULL"
                " ORDER BY source_id LIMIT 1",
                (int(digits),),
            ).fetchone()
    if row is None:
        return f"no star named {name!r} in this archive (try a CoRoT ID or coordinates)"
    return search.at(float(row[0]), float(row[1]))


def _choices() -> dict[str, list[str]]:
    """The values the form's lists offer: what the caller may see. Anonymous callers' lists
    are kept until the archive's revision changes (reading them scans the product table)."""
    with caller_transaction() as conn:
        cached = None
        if caller() is None:
            revision = archive_revision(conn)
            cached = current_app.extensions.setdefault("vo_node.search_choices", {})
            if cached.get("revision") == revision:
                return cached["choices"]  # type: ignore[no-any-return]
        runs = [r[0] for r in conn.execute("SELECT code FROM archive.runs ORDER BY code")]
        kinds = conn.execute(
            "SELECT DISTINCT product_type, version FROM archive.products"
        ).fetchall()
    choices = {
        "run": runs,
        "product_type": sorted({k for k, _ in kinds}),
        "version": sorted({v for _, v in kinds}),
    }
    if cached is not None:
        cached.update(revision=revision, choices=choices)
    return choices


def find(search: Search) -> Page:
    names = [c.split(".")[1] for c in COLUMNS] + (["dist_arcmin"] if search.position else [])
    rows = [
        dict(zip(names, row, strict=True)) for row in _run(search.page_adql(), search.per_page + 1)
    ]
    counted = _run(search.count_adql(), 1)
    return Page(rows, int(counted[0][0]) if counted else 0, search)


@bp.get("/search")
def search_page() -> Any:
    settings = current_app.config["VO_NODE_SETTINGS"]
    args = request.args.to_dict(flat=False)
    context: dict[str, Any] = {
        "settings": settings,
        "user": caller(),
        "choices": _choices(),
        "page_sizes": PAGE_SIZES,
        "var_classes": CLASSES,
        "sorts": SORTS,
        "form": {k: v[0] for k, v in args.items() if v},
        "errors": {},
        "page": None,
        "adql": None,
    }
    try:
        search = parse(args)
    except FormError as error:
        context["errors"] = error.problems
        return render_template("search.html", **context), 400
    if search.empty:
        return render_template("search.html", **context)
    if search.target:
        resolved = _resolve(search)
        if isinstance(resolved, str):
            context["errors"] = {"pos": resolved}
            return render_template("search.html", **context), 400
        search = resolved
    try:
        page = find(search)
    except AdqlError as error:  # a form the translator refuses is a bug, said plainly
        context["errors"] = {"search": str(error)}
        return render_template("search.html", **context), 400
    context.update(
        page=page,
        adql=search.adql(),
        tap_url=f"{settings.public_url}/tap/sync?"
        + urlencode({"REQUEST": "doQuery", "LANG": "ADQL", "QUERY": search.adql()}),
        link=lambda **changes: _link(search, changes),
        download_all="search/download" + _link(search, {}),
    )
    return render_template("search.html", **context)


@bp.post("/search/download")
def download_all() -> Response:
    """Every result of the search in the query string, as one streamed archive (the page's
    "download all results"): the search's own ids, then the same archive as a selection."""
    settings = current_app.config["VO_NODE_SETTINGS"]
    search = _text_search()
    if isinstance(search, Response):
        return search
    limit = settings.download_max_ids
    # One more than the limit: a search too big for one archive is told so, not cut short.
    ids = [int(row[0]) for row in _run(search.ids_adql(limit + 1), limit + 1)]
    fmt = request.form.get("format") or request.args.get("format") or "zip"
    if not ids:
        return Response(
            "this search has no results to download\n", status=400, mimetype="text/plain"
        )
    return selection_response(ids, fmt, name="corot-search")


@bp.get("/search.adql")
def search_adql() -> Response:
    """The search as ADQL text, for scripts (the page shows the same)."""
    search = _text_search()
    if isinstance(search, Response):
        return search
    return Response(search.adql() + "\n", mimetype="text/plain")


def _text_search() -> Search | Response:
    """The search in the query string, its target resolved; or a plain-text 400 (for the
    endpoints that answer scripts rather than show the form)."""
    try:
        search = parse(request.args.to_dict(flat=False))
    except FormError as error:
        return Response(f"{error}\n", status=400, mimetype="text/plain")
    if search.target:
        resolved = _resolve(search)
        if isinstance(resolved, str):
            return Response(resolved + "\n", status=400, mimetype="text/plain")
        return resolved
    return search


def _link(search: Search, changes: dict[str, Any]) -> str:
    """This search's URL with some fields changed (pages, sorting)."""
    values = {k: v for k, v in search.echoed.items() if v}
    values.update({k: str(v) for k, v in changes.items()})
    return "?" + urlencode(values)
