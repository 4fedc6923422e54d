"""The publishing registry's OAI-PMH endpoint, ``/oai`` (GET, or POST of a form).

The records are refreshed before answering when their inputs may have changed (at most every
``registry_check_s`` seconds per process), read from the store as the anonymous caller.
What the services serve comes from the composition root (``app.extensions
["vo_node.registry_sources"]``): this package does not know the protocol packages.
"""

from __future__ import annotations

import time

import psycopg
from flask import Blueprint, Response, current_app, request
from psycopg_pool import PoolTimeout

from registry import oai, store
from registry.refresh import refresh

bp = Blueprint("registry", __name__)


@bp.route("/oai", methods=["GET", "POST"])
def oai_pmh() -> Response:
    settings = current_app.config["VO_NODE_SETTINGS"]
    # OAI-PMH: arguments in the query (GET) or an urlencoded body (POST), not both.
    values = request.form if request.method == "POST" else request.args
    arguments = {name: values.getlist(name) for name in values}
    try:
        with current_app.extensions["vo_node.service_pool"].connection() as conn:
            _refresh(conn, settings.registry_check_s)
            repository = oai.Repository(
                conn,
                f"{settings.public_url}/oai",
                f"{settings.node_title} publishing registry",
                settings.contact_email,
                f"ivo://{settings.authority}/registry",
                settings.oai_page_size,
                store.reading_time(conn),
            )
            body = oai.respond(repository, arguments)
    except (PoolTimeout, psycopg.OperationalError):
        current_app.logger.exception("OAI-PMH without its database")
        # OAI-PMH has no error code for this: HTTP says it, and when to come back.
        return Response(
            "The registry's database is unavailable; try again later.\n",
            status=503,
            mimetype="text/plain",
            headers={"Retry-After": "60"},
        )
    return Response(body, mimetype="text/xml")


def _refresh(conn: psycopg.Connection, interval: float) -> None:
    """Regenerate the records if due. A failure leaves the stored records to be served (the
    last good ones) and is retried at the next check."""
    checked = current_app.extensions.setdefault("vo_node.registry_checked", [0.0])
    if time.monotonic() - checked[0] < interval:
        return
    try:
        refresh(conn, current_app.extensions["vo_node.registry_sources"]())
        conn.commit()
    except psycopg.OperationalError:
        raise
    except Exception:
        conn.rollback()
        current_app.logger.exception("the registry records could not be regenerated")
    checked[0] = time.monotonic()
