"""TAP sync over HTTP with real clients: pyvo, astropy's parser, STILTS votlint."""

from __future__ import annotations

import io
import json
import shutil
import subprocess

import pytest
import pyvo
import requests
from astropy.io.votable import from_table, parse
from astropy.table import Table
from conftest import Node, angular_distance

from vo_node.tap.examples import EXAMPLES


def _sync(base: str, query: str, **params: str) -> requests.Response:
    return requests.post(
        base + "/tap/sync", data={"LANG": "ADQL", "QUERY": query, **params}, timeout=60
    )


def test_cone_search_equals_brute_force(served: tuple[Node, str]) -> None:
    node, base = served
    stars = node.rows("SELECT source_id, ra, dec FROM archive.stars WHERE ra IS NOT NULL")
    _, ra0, dec0 = stars[len(stars) // 2]
    radius = 1.0
    expected = {
        int(s[0])
        for s in stars  # type: ignore[call-overload]
        if angular_distance(float(s[1]), float(s[2]), float(ra0), float(dec0)) < radius  # type: ignore[arg-type]
    }
    service = pyvo.dal.TAPService(base + "/tap")
    result = service.run_sync(
        f"SELECT corotid FROM corot.stars "
        f"WHERE DISTANCE(pos, POINT('ICRS', {ra0}, {dec0})) < {radius}"
    )
    got = {int(v) for v in result.to_table()["corotid"]}
    assert got == expected and len(expected) > 1


def test_maxrec_overflow_and_metadata_only(served: tuple[Node, str]) -> None:
    node, base = served
    service = pyvo.dal.TAPService(base + "/tap")
    total = int(node.public_scalar("SELECT count(*) FROM archive.products"))  # type: ignore[call-overload]
    limited = service.run_sync("SELECT product_id FROM corot.products", maxrec=5)
    assert len(limited) == 5 and limited.query_status == "OVERFLOW"
    exact = service.run_sync("SELECT product_id FROM corot.products", maxrec=total)
    assert len(exact) == total and exact.query_status == "OK"
    # pyvo leaves out a MAXREC of 0, so this one is sent by hand.
    empty = _sync(base, "SELECT product_id, t_min FROM corot.products", MAXREC="0")
    table = parse(io.BytesIO(empty.content), verify="exception").get_first_table()
    assert len(table.array) == 0 and [f.name for f in table.fields] == ["product_id", "t_min"]


@pytest.mark.parametrize("fmt", ["votable", "votable/td", "csv", "tsv", "json"])
def test_every_format_parses(served: tuple[Node, str], fmt: str) -> None:
    _, base = served
    query = "SELECT TOP 20 product_id, corotid, pos, t_min, mag_v, file_name FROM corot.products"
    resp = _sync(base, query, RESPONSEFORMAT=fmt)
    assert resp.status_code == 200, resp.text[:500]
    if fmt.startswith("votable"):
        table = parse(io.BytesIO(resp.content), verify="exception").get_first_table()
        assert len(table.array) == 20
        assert table.get_field_by_id_or_name("pos").xtype == "point"
        if shutil.which("stilts"):
            lint = subprocess.run(
                ["stilts", "votlint", "-"], input=resp.content, capture_output=True, timeout=120
            )
            assert b"ERROR" not in lint.stdout + lint.stderr, lint.stdout.decode()
    elif fmt == "json":
        doc = json.loads(resp.content)
        assert len(doc["data"]) == 20
    else:
        lines = resp.text.strip().splitlines()
        assert len(lines) == 21 and lines[0].split("," if fmt == "csv" else "\t")[0] == "product_id"


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"LANG": "ADQL", "QUERY": "SELECT rmag FROM corot.products"}, "did you mean"),
        ({"LANG": "ADQL", "QUERY": "SELECT * FROM corot.products LIMIT 3"}, "LIMIT"),
        ({"QUERY": "SELECT * FROM corot.stars"}, "LANG is required"),
        ({"LANG": "SQL", "QUERY": "SELECT 1"}, "LANG=SQL"),
        ({"LANG": "ADQL", "QUERY": "SELECT * FROM corot.stars", "RESPONSEFORMAT": "xls"}, "xls"),
        ({"LANG": "ADQL", "QUERY": "SELECT pg_sleep(1) FROM corot.stars"}, "pg_sleep"),
    ],
)
def test_errors_are_dali_documents(
    served: tuple[Node, str], params: dict[str, str], fragment: str
) -> None:
    _, base = served
    resp = requests.get(base + "/tap/sync", params=params, timeout=30)
    assert resp.status_code == 400
    assert resp.headers["Content-Type"].startswith("application/x-votable+xml")
    table = parse(io.BytesIO(resp.content), verify="exception")
    status = [i for i in table.resources[0].infos if i.name == "QUERY_STATUS"]
    assert status[-1].value == "ERROR" and fragment in str(status[-1].content)
    assert "Traceback" not in resp.text


def test_parameter_names_are_case_insensitive(served: tuple[Node, str]) -> None:
    _, base = served
    resp = requests.get(
        base + "/tap/sync",
        params={
            "lang": "ADQL",
            "query": "SELECT TOP 1 corotid FROM corot.stars",
            "responseformat": "csv",
        },
        timeout=30,
    )
    assert resp.status_code == 200 and resp.text.startswith("corotid")


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.key)
def test_every_example_runs(served: tuple[Node, str], example: object) -> None:
    node, base = served
    query = example.query  # type: ignore[attr-defined]
    files = {}
    if "TAP_UPLOAD.mine" in query:
        # The crossmatch example: the user's list is a few of our own stars' positions.
        stars = node.rows("SELECT ra, dec FROM corot.stars ORDER BY corotid LIMIT 5")
        table = Table({"ra": [float(r[0]) for r in stars], "dec": [float(r[1]) for r in stars]})
        document = io.BytesIO()
        from_table(table).to_xml(document)
        files = {"mine": ("mine.xml", document.getvalue())}
    resp = requests.post(
        base + "/tap/sync",
        data={"LANG": "ADQL", "QUERY": query, **({"UPLOAD": "mine,param:mine"} if files else {})},
        files=files or None,
        timeout=60,
    )
    assert resp.status_code == 200, resp.text[:800]
    if files:
        assert len(parse(io.BytesIO(resp.content)).get_first_table().array) >= 5
    parse(io.BytesIO(resp.content), verify="exception")
