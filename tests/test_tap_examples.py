"""/tap/examples: well-formed XHTML with RDFa that pyvo reads (DALI 1.1, section 2.3)."""

from __future__ import annotations

import pyvo
import requests
from conftest import Node
from lxml import etree

from vo_node.tap.examples import EXAMPLES


def test_examples_document(served: tuple[Node, str]) -> None:
    _, base = served
    resp = requests.get(base + "/tap/examples", timeout=10)
    assert resp.status_code == 200
    root = etree.fromstring(resp.content)  # well-formed XML, hence XHTML
    ns = {"h": "http://www.w3.org/1999/xhtml"}
    blocks = root.findall(".//h:div[@typeof='example']", ns)
    assert len(blocks) == len(EXAMPLES) >= 10
    for block in blocks:
        assert block.get("resource") == "#" + block.get("id")
        assert block.find("h:*[@property='name']", ns).text
        assert block.find("h:*[@property='query']", ns).text.startswith("SELECT")


def test_pyvo_reads_the_examples(served: tuple[Node, str]) -> None:
    _, base = served
    found = pyvo.dal.TAPService(base + "/tap").examples
    assert [q["QUERY"] for q in found] == [e.query for e in EXAMPLES]
