"""The publishing registry's OAI-PMH endpoint, ``/oai`` (GET, or POST of a form).

The records are refreshed before answering when their inputs may have changed (at most every
``registry_check_s`` seconds per process), read from the store as the anonymous caller.
What the services serve comes from the composition root (``app.extensions
["vo_node.registry_sources"]``): this package does not know the protocol packages.
"""

from __future__ import annotations

import time

from flask import Blueprint, Response, current_app, request

from registry import oai, store
from registry.refresh import refresh

bp = Blueprint("registry", __name__)


@bp.route("/oai", methods=["GET", "POST"])
def oai_pmh() -> Response:
    settings = current_app.config["VO_NODE_SETTINGS"]
    # OAI-PMH: arguments in the query (GET) or an urlencoded body (POST), not both.
    values = request.form if request.method == "POST" else request.args
    arguments = {name: values.getlist(name) for name in values}
    sources = current_app.extensions["vo_node.registry_sources"]
    with current_app.extensions["vo_node.service_pool"].connection() as conn:
        checked = current_app.extensions.setdefault("vo_node.registry_checked", [0.0])
        if time.monotonic() - checked[0] >= settings.registry_check_s:
            refresh(conn, sources())
            conn.commit()
            checked[0] = time.monotonic()
        now = store.reading_time(conn)
        repository = oai.Repository(
            conn,
            f"{settings.public_url}/oai",
            f"{settings.node_title} publishing registry",
            settings.contact_email,
            f"ivo://{settings.authority}/registry",
            settings.oai_page_size,
            now,
        )
        body = oai.respond(repository, arguments)
    return Response(body, mimetype="text/xml")
