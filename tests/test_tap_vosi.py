"""TAP's VOSI resources over HTTP: tables, one table, availability."""

from __future__ import annotations

import requests
from conftest import Node
from lxml import etree
from xsd import assert_valid

from tap_schema import METADATA


def test_tables_endpoint(served: tuple[Node, str]) -> None:
    _, base = served
    full = requests.get(base + "/tap/tables", timeout=10)
    assert full.status_code == 200 and full.headers["Content-Type"].startswith("text/xml")
    root = assert_valid(full.content, "VOSITables.xsd")
    assert len(root.findall("schema/table/column")) == sum(
        len(t.columns) for t in METADATA.tables()
    )
    minimal = requests.get(base + "/tap/tables", params={"detail": "min"}, timeout=10)
    assert not assert_valid(minimal.content, "VOSITables.xsd").findall("schema/table/column")
    # DALI: parameter names are case-insensitive.
    upper = requests.get(base + "/tap/tables", params={"DETAIL": "min"}, timeout=10)
    assert upper.content == minimal.content


def test_single_table_and_unknown_table(served: tuple[Node, str]) -> None:
    _, base = served
    one = requests.get(base + "/tap/tables/corot.products", timeout=10)
    root = assert_valid(one.content, "VOSITables.xsd")
    assert etree.QName(root).localname == "table" and root.findtext("name") == "corot.products"
    missing = requests.get(base + "/tap/tables/corot.nothing", timeout=10)
    assert missing.status_code == 404
    assert "corot.nothing" in missing.json()["message"]


def test_availability(served: tuple[Node, str]) -> None:
    _, base = served
    resp = requests.get(base + "/tap/availability", timeout=10)
    root = assert_valid(resp.content, "VOSIAvailability.xsd")
    ns = {"a": "http://www.ivoa.net/xml/VOSIAvailability/v1.0"}
    assert root.findtext("a:available", namespaces=ns) == "true"
