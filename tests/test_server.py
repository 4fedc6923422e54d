"""The node served by gunicorn (gthread) on 127.0.0.1, driven over HTTP."""

from __future__ import annotations

import shutil

import requests
from conftest import Node


def test_landing_page_says_what_the_node_holds(served: tuple[Node, str]) -> None:
    node, base = served
    page = requests.get(base + "/", timeout=10)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    # What the anonymous caller may see (the policy): the public products and their stars.
    products = node.public_scalar("SELECT count(*) FROM archive.products")
    stars = node.public_scalar("SELECT count(DISTINCT star_id) FROM archive.products")
    assert products < node.scalar("SELECT count(*) FROM archive.products")  # N1 is not shown
    assert f"<strong>{products}</strong> light-curve products" in page.text
    assert f"<strong>{stars}</strong> stars" in page.text
    for (code,) in node.rows("SELECT code FROM archive.runs"):
        assert f"<td>{code}</td>" in page.text
    assert "CoRoT exoplanet-channel light curves" in page.text
    ingest_id = node.scalar("SELECT max(ingest_id) FROM archive.ingest_runs")
    assert f"Ingest #{ingest_id} finished" in page.text

    as_json = requests.get(base + "/", headers={"Accept": "application/json"}, timeout=10).json()
    assert as_json["totals"]["products"] == products


def test_health_reports_database_and_storage(served: tuple[Node, str]) -> None:
    node, base = served
    ok = requests.get(base + "/health", timeout=10)
    assert ok.status_code == 200
    assert ok.json() == {
        "status": "ok",
        "checks": {"database": "ok", "storage_a": "ok", "storage_b": "ok"},
    }
    shutil.rmtree(node.settings.roots[1])
    failing = requests.get(base + "/health", timeout=10)
    assert failing.status_code == 503
    assert failing.json()["checks"]["storage_b"] == "missing"


def test_unknown_path_is_a_clear_404(served: tuple[Node, str]) -> None:
    _, base = served
    resp = requests.get(base + "/no/such/thing", timeout=10)
    assert resp.status_code == 404
    assert resp.json()["error"] == "Not Found"
