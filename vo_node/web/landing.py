"""``/``: what the node holds; ``/health``: liveness of the database and the storage roots."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, render_template, request
from psycopg_pool import ConnectionPool

from vo_node.auth.views import caller_transaction
from vo_node.db.summary import node_summary

bp = Blueprint("landing", __name__)


def _pool() -> ConnectionPool:
    return current_app.extensions["vo_node.service_pool"]  # type: ignore[no-any-return]


@bp.get("/")
def landing() -> Any:
    # The counts a caller sees are those of the products it may see.
    with caller_transaction() as conn:
        summary = node_summary(conn)
    settings = current_app.config["VO_NODE_SETTINGS"]
    if request.accept_mimetypes.best == "application/json":
        return jsonify(summary)
    return render_template("landing.html", s=summary, settings=settings)


@bp.get("/health")
def health() -> Any:
    checks: dict[str, str] = {}
    try:
        with _pool().connection(timeout=5) as conn:
            conn.execute("SELECT 1 FROM archive.products LIMIT 1")
        checks["database"] = "ok"
    except Exception as exc:  # any failure means "not healthy", and is reported as such
        checks["database"] = f"failed: {type(exc).__name__}"
    store = current_app.extensions["vo_node.store"]
    for site in store.sites:
        checks[f"storage_{site.name}"] = "ok" if site.root.is_dir() else "missing"
    healthy = all(v == "ok" for v in checks.values())
    return jsonify({"status": "ok" if healthy else "failing", "checks": checks}), (
        200 if healthy else 503
    )
