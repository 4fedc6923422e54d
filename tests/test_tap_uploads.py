"""TAP uploads from the outside: inline and URL uploads, sync and async, with pyvo and plain
HTTP; results checked against a brute-force crossmatch; every column type carried through;
limits and bad input answered with DALI errors; the crossmatch probes the spatial index."""

from __future__ import annotations

import gzip
import http.server
import io
import math
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psycopg
import pytest
import pyvo
import requests
from astropy.io.votable import from_table, parse
from astropy.table import Table
from conftest import Node, angular_distance

from tap_schema import METADATA
from vo_node.adql import translate
from vo_node.query import QueryRunner
from vo_node.tap.upload_tables import read_upload

ROW_LIMIT = 40
BYTE_LIMIT = 60_000
RADIUS = 10.0 / 3600
CROSSMATCH = (
    "SELECT m.tag, p.corotid, p.product_id FROM TAP_UPLOAD.mine AS m "
    "JOIN corot.products AS p ON DISTANCE(p.pos, POINT('ICRS', m.ra, m.dec)) < 10.0 / 3600"
)


class _Files(http.server.SimpleHTTPRequestHandler):
    """Serves the test's directory; /moved redirects to the allowed host's own file."""

    def do_GET(self) -> None:
        if self.path == "/moved":
            self.send_response(302)
            self.send_header("Location", "/mine.xml")
            self.end_headers()
            return
        super().do_GET()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def file_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    root = tmp_path_factory.mktemp("served-uploads")

    def handler(*args: object, **kwargs: object) -> _Files:
        return _Files(*args, directory=str(root), **kwargs)  # type: ignore[arg-type]

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def served_env(file_server: tuple[Path, str]) -> dict[str, str]:
    return {
        "VO_NODE_UPLOAD_ROWS": str(ROW_LIMIT),
        "VO_NODE_UPLOAD_LIMIT": str(BYTE_LIMIT),
        "VO_NODE_UPLOAD_HOSTS": file_server[1],
    }


def _votable(table: Table) -> bytes:
    out = io.BytesIO()
    from_table(table).to_xml(out)
    return out.getvalue()


def _products(node: Node) -> list[tuple[int, int, float, float]]:
    rows = node.public_rows(  # what an anonymous query may match
        "SELECT corotid, product_id, ra, dec FROM corot.products WHERE pos IS NOT NULL"
    )
    return [(int(a), int(b), float(c), float(d)) for a, b, c, d in rows]  # type: ignore[arg-type]


def _targets(products: list[tuple[int, int, float, float]]) -> Table:
    """Positions near some products (a few arcseconds off), and one far from all."""
    stars = sorted({(c, ra, dec) for c, _, ra, dec in products})[:12]
    ra = [s[1] + 3.0 / 3600 / max(math.cos(math.radians(s[2])), 0.01) for s in stars]
    dec = [s[2] for s in stars]
    tags = [f"t{i}" for i in range(len(stars))]
    return Table({"tag": [*tags, "nowhere"], "ra": [*ra, 0.0], "dec": [*dec, -89.9]})


def _expected(targets: Table, products: list[tuple[int, int, float, float]]) -> set[tuple]:
    return {
        (str(t["tag"]), c, pid)
        for t in targets
        for c, pid, ra, dec in products
        if angular_distance(float(t["ra"]), float(t["dec"]), ra, dec) < RADIUS
    }


def _sync(base: str, query: str, files: dict[str, bytes], **params: str) -> requests.Response:
    return requests.post(
        base + "/tap/sync",
        data={"LANG": "ADQL", "QUERY": query, **params},
        files={name: (f"{name}.xml", content, "application/x-votable+xml") for name, content
               in files.items()},
        timeout=60,
    )  # fmt: skip


def _error(resp: requests.Response, status: int = 400) -> str:
    """The message of a DALI error document (and the check that it is one)."""
    assert resp.status_code == status, resp.text[:500]
    table = parse(io.BytesIO(resp.content), verify="exception")
    info = {i.name: i for i in table.resources[0].infos}
    assert info["QUERY_STATUS"].value == "ERROR"
    return str(info["QUERY_STATUS"].content)


def test_pyvo_crossmatch_sync_and_async_equal_brute_force(served: tuple[Node, str]) -> None:
    node, base = served
    products = _products(node)
    targets = _targets(products)
    expected = _expected(targets, products)
    assert len(expected) >= 12  # every target but "nowhere" has its star's products

    service = pyvo.dal.TAPService(base + "/tap")
    sync = service.run_sync(CROSSMATCH, uploads={"mine": targets}).to_table()
    assert {(str(r["tag"]), int(r["corotid"]), int(r["product_id"])) for r in sync} == expected

    job = service.submit_job(CROSSMATCH, uploads={"mine": targets})
    job.run().wait(timeout=60)
    job.raise_if_error()
    result = job.fetch_result().to_table()
    assert {(str(r["tag"]), int(r["corotid"]), int(r["product_id"])) for r in result} == expected
    job.delete()


def test_the_crossmatch_probes_the_archive_spatial_index(served: tuple[Node, str]) -> None:
    node, _ = served
    table = _targets(_products(node))
    upload_file = node.settings.var_dir / "targets.xml"
    upload_file.parent.mkdir(parents=True, exist_ok=True)
    upload_file.write_bytes(_votable(table))
    upload = read_upload("mine", upload_file, 1000)
    sql = translate(CROSSMATCH, METADATA, {"mine": (upload.relation, upload.declaration)}).sql
    with node.db.admin() as conn, conn.transaction(force_rollback=True):
        QueryRunner._load(conn, upload.temp, 30)
        plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + sql).fetchall())
    assert "stars_pos_idx" in plan, plan


def test_every_column_type_comes_back_as_sent(served: tuple[Node, str]) -> None:
    _, base = served
    table = Table()
    table["flag"] = np.array([True, False, True])
    table["small"] = np.array([1, -2, 3], dtype=np.int16)
    table["n"] = np.ma.array([10, 20, 30], mask=[False, True, False], dtype=np.int32)
    table["big"] = np.array([2**40, -1, 0], dtype=np.int64)
    table["x"] = np.array([1.5, np.nan, -2.25], dtype=np.float32)
    table["y"] = np.array([1e-300, 2.0, 3.0])
    table["label"] = ["\u03b1 star", "b", ""]
    table["RA (deg)"] = [10.0, 20.0, 30.0]  # not an ADQL name: a delimited identifier
    table["vec"] = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    table["seen"] = ["2010-01-02T03:04:05", "2011-06-30T00:00:00", "2012-12-31T23:59:59.500"]
    table["where"] = np.array([[10.0, 20.0], [350.0, -45.0], [0.0, 90.0]])
    document = from_table(table)
    fields = {f.name: f for f in document.get_first_table().fields}
    fields["seen"].xtype = "timestamp"
    fields["where"].xtype = "point"
    fields["where"].unit = "deg"
    out = io.BytesIO()
    document.to_xml(out)

    query = (
        'SELECT flag, small, n, big, x, y, label, "RA (deg)", vec, seen, "where", '
        'DISTANCE("where", POINT(10, 20)) AS d FROM TAP_UPLOAD.t ORDER BY small DESC'
    )
    resp = _sync(base, query, {"t1": out.getvalue()}, UPLOAD="t,param:t1")
    assert resp.status_code == 200, resp.text[:800]
    got = parse(io.BytesIO(resp.content), verify="exception").get_first_table()
    rows = got.to_table(use_names_over_ids=True)
    assert list(rows["small"]) == [3, 1, -2]
    assert list(rows["flag"]) == [True, True, False]
    assert rows["n"].mask.tolist() == [False, False, True] and rows["n"][0] == 30
    assert list(rows["big"]) == [0, 2**40, -1]
    assert rows["x"][0] == -2.25 and math.isnan(rows["x"][2])
    assert list(rows["label"]) == ["", "\u03b1 star", "b"]
    assert list(rows["RA (deg)"]) == [30.0, 10.0, 20.0]
    assert rows["vec"][1].tolist() == [1.0, 2.0]
    seen = {f.name: f for f in got.fields}["seen"]
    assert seen.xtype == "timestamp"
    assert str(rows["seen"][2]).startswith("2011-06-30T00:00:00")
    where = {f.name: f for f in got.fields}["where"]
    assert where.xtype == "point"
    assert np.allclose(rows["where"][2], [350.0, -45.0])
    assert rows["d"][1] == pytest.approx(0.0, abs=1e-9)


def test_url_uploads_only_from_allowed_hosts(
    served: tuple[Node, str], file_server: tuple[Path, str]
) -> None:
    node, base = served
    root, host = file_server
    targets = _targets(_products(node))
    (root / "mine.xml").write_bytes(_votable(targets))
    query = "SELECT COUNT(*) AS n FROM TAP_UPLOAD.mine"

    resp = _sync(base, query, {}, UPLOAD=f"mine,http://{host}/mine.xml")
    assert resp.status_code == 200, resp.text[:800]
    rows = parse(io.BytesIO(resp.content), verify="exception").get_first_table().array
    assert int(rows["n"][0]) == len(targets)

    # The same file by another name of the same machine is not on the list.
    port = host.split(":")[1]
    refused = _error(_sync(base, query, {}, UPLOAD=f"mine,http://localhost:{port}/mine.xml"))
    assert "refused" in refused and host in refused
    assert "redirects are not followed" in _error(
        _sync(base, query, {}, UPLOAD=f"mine,http://{host}/moved")
    )
    assert "HTTP 404" in _error(_sync(base, query, {}, UPLOAD=f"mine,http://{host}/none.xml"))
    assert "file: URIs are not accepted" in _error(
        _sync(base, query, {}, UPLOAD="mine,file:///etc/passwd")
    )
    capabilities = requests.get(base + "/tap/capabilities", timeout=10).text
    assert "TAPRegExt#upload-inline" in capabilities and "TAPRegExt#upload-http" in capabilities


def test_bad_uploads_get_dali_errors(served: tuple[Node, str]) -> None:
    _, base = served
    small = _votable(Table({"a": [1, 2, 3]}))
    query = "SELECT * FROM TAP_UPLOAD.t"

    assert "must be 'name,uri'" in _error(_sync(base, query, {"p": small}, UPLOAD="t"))
    assert "not an ADQL table name" in _error(_sync(base, query, {"p": small}, UPLOAD="1t,param:p"))
    assert "not an ADQL table name" in _error(
        _sync(base, query, {"p": small}, UPLOAD="select,param:p")
    )
    assert "more than once" in _error(
        _sync(base, query, {"p": small}, UPLOAD="t,param:p;T,param:p")
    )
    assert "part 'q', which was not sent" in _error(
        _sync(base, query, {"p": small}, UPLOAD="t,param:q")
    )
    assert "not a VOTable" in _error(
        _sync(base, query, {"p": b"ra,dec\n1,2\n"}, UPLOAD="t,param:p")
    )
    many = _votable(Table({"a": list(range(ROW_LIMIT + 1))}))
    assert f"at most {ROW_LIMIT} rows" in _error(
        _sync(base, query, {"p": many}, UPLOAD="t,param:p")
    )
    huge = _votable(Table({"s": ["x" * 1000] * 80}))
    assert len(huge) > BYTE_LIMIT
    assert f"limit of {BYTE_LIMIT} bytes" in _error(
        _sync(base, query, {"p": huge}, UPLOAD="t,param:p")
    )
    # A body far over the limit is refused before it is read, in the same form.
    body = _sync(base, query, {"p": b"x" * (BYTE_LIMIT + (1 << 20))}, UPLOAD="t,param:p")
    assert "exceeds the capacity limit" in _error(body, 413)
    twice = b"""<?xml version="1.0"?><VOTABLE version="1.4"
      xmlns="http://www.ivoa.net/xml/VOTable/v1.3"><RESOURCE><TABLE>
      <FIELD name="A" datatype="int"/><FIELD name="a" datatype="int"/>
      <DATA><TABLEDATA><TR><TD>1</TD><TD>2</TD></TR></TABLEDATA></DATA></TABLE></RESOURCE>
      </VOTABLE>"""
    assert "appears twice" in _error(_sync(base, query, {"p": twice}, UPLOAD="t,param:p"))
    complex_ = twice.replace(b'name="a" datatype="int"', b'name="z" datatype="floatComplex"')
    complex_ = complex_.replace(b"<TD>2</TD>", b"<TD>1 2</TD>")
    assert "floatComplex" in _error(_sync(base, query, {"p": complex_}, UPLOAD="t,param:p"))
    assert "no upload named 'other'" in _error(
        _sync(base, "SELECT * FROM TAP_UPLOAD.other", {"p": small}, UPLOAD="t,param:p")
    )
    stamps = _votable(Table({"when": ["not a time"]}))
    stamps = stamps.replace(b'name="when"', b'name="when" xtype="timestamp"')
    message = _error(_sync(base, query, {"p": stamps}, UPLOAD="t,param:p"))
    assert "upload 't', column 'when'" in message and "not a DALI timestamp" in message


def test_the_query_role_cannot_keep_or_write_tables(served: tuple[Node, str]) -> None:
    """Temporary tables last one transaction, and user SQL still runs read-only."""
    node, base = served
    small = _votable(Table({"a": [1, 2, 3]}))
    resp = _sync(base, "SELECT SUM(a) AS s FROM TAP_UPLOAD.t", {"p": small}, UPLOAD="t,param:p")
    assert resp.status_code == 200, resp.text[:500]
    assert int(parse(io.BytesIO(resp.content)).get_first_table().array["s"][0]) == 6
    leftovers = node.scalar(
        "SELECT count(*) FROM pg_class"
        " WHERE starts_with(relname, 'tap_upload_') AND relpersistence = 't'"
    )
    assert leftovers == 0
    with (
        psycopg.connect(node.db.query_conninfo()) as conn,
        pytest.raises(psycopg.errors.ReadOnlySqlTransaction),
    ):
        conn.execute("CREATE TEMP TABLE x (a int)")


def test_uploads_that_reach_beyond_their_bytes_are_refused(
    served: tuple[Node, str], file_server: tuple[Path, str], tmp_path: Path
) -> None:
    """An upload is its bytes: no reference it carries is followed (a STREAM href to a local
    file or another host, FITS or Parquet data, a DTD), nothing compressed is inflated, and a
    malformed URL or table gets a 400, never a 500."""
    _, base = served
    _, host = file_server
    secret = tmp_path / "secret.txt"
    secret.write_text("s3cr3t")
    query = "SELECT * FROM TAP_UPLOAD.t"
    head = (
        '<?xml version="1.0"?><VOTABLE version="1.4" '
        'xmlns="http://www.ivoa.net/xml/VOTable/v1.3"><RESOURCE><TABLE>'
        '<FIELD name="c" datatype="char" arraysize="1"/><DATA>'
    )
    tail = "</DATA></TABLE></RESOURCE></VOTABLE>"
    for href in (f"file://{secret}", f"http://{host}/mine.xml", "http://127.0.0.1:9/x"):
        document = f'{head}<BINARY><STREAM href="{href}"/></BINARY>{tail}'.encode()
        resp = _sync(base, query, {"p": document}, UPLOAD="t,param:p")
        assert "STREAM href" in _error(resp) and "s3cr3t" not in resp.text
    fits = f'{head}<FITS><STREAM href="file://{secret}"/></FITS>{tail}'.encode()
    assert "FITS data" in _error(_sync(base, query, {"p": fits}, UPLOAD="t,param:p"))
    plain = _votable(Table({"a": [1, 2]}))
    assert "compressed" in _error(
        _sync(base, query, {"p": gzip.compress(plain)}, UPLOAD="t,param:p")
    )
    doctype = plain.replace(b"<VOTABLE", b'<!DOCTYPE x [<!ENTITY e "x">]><VOTABLE', 1)
    assert "document type" in _error(_sync(base, query, {"p": doctype}, UPLOAD="t,param:p"))

    for url, problem in (
        ("http://[::1", "not a usable URL"),
        ("http://127.0.0.1:99999/x", "not a usable URL"),
        (f"http://{host}/a b", "spaces"),
        ("http:///nohost", "names no host"),
    ):
        assert problem in _error(_sync(base, query, {}, UPLOAD=f"t,{url}")), url

    square = plain.replace(b'datatype="long"', b'datatype="long" arraysize="2x2"')
    assert "multi-dimensional" in _error(_sync(base, query, {"p": square}, UPLOAD="t,param:p"))
    points = Table({"where": np.array([[10.0, 95.0]])})
    document = from_table(points)
    document.get_first_table().fields[0].xtype = "point"
    out = io.BytesIO()
    document.to_xml(out)
    assert "latitude outside" in _error(
        _sync(base, query, {"p": out.getvalue()}, UPLOAD="t,param:p")
    )
    stamps = _votable(Table({"when": ["2020-01-01T00:00:00+05:00"]}))
    stamps = stamps.replace(b'name="when"', b'name="when" xtype="timestamp"')
    assert "not a DALI timestamp" in _error(_sync(base, query, {"p": stamps}, UPLOAD="t,param:p"))
    # URI schemes are case-insensitive: PARAM: is param:.
    resp = _sync(base, "SELECT SUM(a) AS s FROM TAP_UPLOAD.t", {"p": plain}, UPLOAD="t,PARAM:p")
    assert resp.status_code == 200, resp.text[:500]
    assert int(parse(io.BytesIO(resp.content)).get_first_table().array["s"][0]) == 3
