"""``create_app(settings)``: the composition root, the only place that wires packages together.

No import-time side effects: tests build their own app with their own settings.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, request
from psycopg_pool import ConnectionPool
from werkzeug.exceptions import HTTPException

from registry import views as registry_views
from registry.inventory import DATALINK_SERVICE, SSA_SERVICE, TAP_SERVICE, Sources
from registry.records import Identity
from ssa import views as ssa_views
from tap_schema import METADATA, vosi
from vo_node.auth import store
from vo_node.auth.credentials import Authenticator
from vo_node.auth.tickets import Tickets
from vo_node.auth.views import caller
from vo_node.auth.views import install as install_auth
from vo_node.datalink import views as datalink_views
from vo_node.db.node import NodeDatabase
from vo_node.downloads import views as download_views
from vo_node.features import views as feature_views
from vo_node.feed import views as feed_views
from vo_node.http.errors import VOTABLE_MIME, dali_error
from vo_node.products import views as product_views
from vo_node.query import QueryRunner
from vo_node.settings import Settings
from vo_node.stats import views as stats_views
from vo_node.storage import MirroredStore
from vo_node.tap import views as tap_views
from vo_node.tap.capabilities import node_tap_capabilities
from vo_node.uws.views import uws_blueprint
from vo_node.votable import error_document
from vo_node.web import docs, landing, productpage, search


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings()
    app = Flask(__name__, template_folder="web/templates", static_folder="web/static")
    app.config["VO_NODE_SETTINGS"] = settings
    # A request body larger than an upload (plus room for the form fields) is refused
    # before it is read: 413, rather than a disk filled with parts never used.
    app.config["MAX_CONTENT_LENGTH"] = settings.upload_limit + (1 << 20)
    db = NodeDatabase.from_settings(settings)
    # One pool per role, opened here (STYLE 7); the read-only query role joins in issue 3.
    pool = ConnectionPool(
        db.service_conninfo(),
        min_size=1,
        max_size=max(4, settings.threads),
        open=True,
        name="service",
        # A connection the database dropped (a restart) is replaced, not handed out.
        check=ConnectionPool.check_connection,
    )
    app.extensions["vo_node.service_pool"] = pool
    # User queries: the read-only role, its own pool (a flood of queries cannot starve the
    # pages and health checks of connections).
    query_pool = ConnectionPool(
        db.query_conninfo(),
        min_size=1,
        max_size=max(4, settings.threads),
        open=True,
        name="query",
        # No check on the way out of the pool (a round trip per query): QueryRunner retries
        # once on a connection that a database restart left dead.
    )
    with pool.connection() as conn:
        key = store.caller_key(conn)
    tickets = Tickets(key)
    install_auth(
        app,
        Authenticator(pool),
        tickets,
        key,
        # DALI services answer a refusal with an error VOTable.
        error_forms=[
            (prefix, lambda m: (error_document(m, None), VOTABLE_MIME))
            for prefix in ("/tap", "/ssa", "/datalink")
        ],
    )
    app.extensions["vo_node.query_runner"] = QueryRunner(query_pool, tickets=tickets)
    app.extensions["vo_node.store"] = MirroredStore.from_roots(settings.roots)
    stats_views.install(app)
    app.register_blueprint(landing.bp)
    app.register_blueprint(tap_views.bp)
    app.register_blueprint(ssa_views.bp)
    app.register_blueprint(product_views.bp)
    app.register_blueprint(datalink_views.bp)
    app.register_blueprint(docs.bp)
    app.register_blueprint(search.bp)
    app.register_blueprint(productpage.bp)
    app.register_blueprint(feature_views.bp)
    app.register_blueprint(download_views.bp)
    app.register_blueprint(feed_views.bp)
    app.register_blueprint(registry_views.bp)
    app.register_blueprint(stats_views.bp)
    app.extensions["vo_node.registry_sources"] = lambda: registry_sources(settings)
    app.register_blueprint(
        uws_blueprint(
            "tap",
            "/tap/async",
            error_document=lambda m: (error_document(m, None), "application/x-votable+xml"),
            wait_cap=30.0,
            identity=lambda: caller() or "",
        )
    )

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Any:
        # Routing 404/405 never reach a blueprint, so this lives at app level (STYLE 1).
        if exc.code == 413 and request.path.startswith("/tap"):
            return dali_error(exc)  # async job creation reads its body outside the views
        return jsonify({"error": exc.name, "message": exc.description}), exc.code

    return app


def registry_sources(settings: Settings) -> Sources:
    """What the registry's records are made of: each service's capabilities as it serves
    them now (inside a request: SSA's test query reads the archive), the TAP tableset."""
    base = settings.public_url
    return Sources(
        Identity.from_settings(settings),
        services=[
            (TAP_SERVICE, node_tap_capabilities(settings)),
            (SSA_SERVICE, ssa_views.capabilities_document(strict=True)),
            (DATALINK_SERVICE, datalink_views.capabilities_document()),
        ],
        tableset=vosi.tableset(METADATA),
        schemas=("corot", "ivoa"),
        auxiliary=[
            ("ivo://ivoa.net/std/TAP#aux", f"{base}/tap"),
            ("ivo://ivoa.net/std/SSA#aux", f"{base}/ssa"),
        ],
        oai_url=f"{base}/oai",
        page=settings.oai_page_size,
    )
