"""SSA 1.1 queryData over HTTP (issue 5): pyvo and plain requests against the served sample,
each answer checked against an independent computation over ``corot.products`` (brute-force
angular distances, interval overlaps), the policy (anonymous vs. the N1 community), the
error documents, FORMAT=METADATA, MAXREC, the capabilities (XSD, test query) and votlint."""

from __future__ import annotations

import io
import itertools
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import pyvo
import requests
from astropy.io.votable import parse
from conftest import Node, angular_distance
from lxml import etree
from xsd import assert_valid

from vo_node.auth import store
from vo_node.auth.credentials import SECURITY_METHODS
from vo_node.auth.passwords import hash_password

VOT = {"v": "http://www.ivoa.net/xml/VOTable/v1.3"}
MJD0 = datetime(1858, 11, 17, tzinfo=UTC)
PUBLIC = "SELECT product_id, ra, dec, t_min, t_max, run_code, channel, corotid, proc_level"
PUBLIC += " FROM corot.products"


def _ssa(base: str, auth: tuple[str, str] | None = None, **params: object) -> requests.Response:
    query = {"REQUEST": "queryData", "MAXREC": 100000, **params}
    return requests.get(base + "/ssa", params=query, auth=auth, timeout=120)


def _table(resp: requests.Response) -> tuple[list[dict[str, object]], str]:
    """Rows (by FIELD name) and the last QUERY_STATUS, read strictly by astropy."""
    assert resp.status_code == 200, resp.text[:2000]
    assert resp.headers["Content-Type"].startswith("application/x-votable+xml")
    votable = parse(io.BytesIO(resp.content), verify="exception")
    table = votable.get_first_table().to_table()
    statuses = [i.value for i in votable.resources[0].infos if i.name == "QUERY_STATUS"]
    rows = [{name: row[name] for name in table.colnames} for row in table]
    return rows, statuses[-1]


def _ids(resp: requests.Response) -> set[int]:
    rows, status = _table(resp)
    assert status == "OK"
    return {int(row["product_id"]) for row in rows}


def _mjd_iso(mjd: float) -> str:
    return (MJD0 + timedelta(days=mjd)).strftime("%Y-%m-%dT%H:%M:%S")


def test_cone_matches_brute_force_and_pyvo_reads_the_records(served: tuple[Node, str]) -> None:
    node, base = served
    every = node.public_rows(PUBLIC)
    public = [r for r in every if r[1] is not None and r[2] is not None]
    assert public, "the sample must hold public products with positions"
    ra0, dec0 = float(public[0][1]), float(public[0][2])
    distances = sorted({angular_distance(ra0, dec0, float(r[1]), float(r[2])) for r in public})
    # A diameter whose edge lies between two stars, well clear of both: several stars inside.
    radius = (distances[min(5, len(distances) - 1)] + distances[min(6, len(distances) - 1)]) / 2
    expected = {
        int(r[0]) for r in public if angular_distance(ra0, dec0, float(r[1]), float(r[2])) <= radius
    }
    assert 1 < len(expected) < len(public)

    got = _ids(_ssa(base, POS=f"{ra0},{dec0}", SIZE=repr(2 * radius)))
    assert got == expected  # SIZE is a diameter: half of it is the radius

    results = pyvo.dal.SSAService(base + "/ssa").search(pos=(ra0, dec0), diameter=2 * radius)
    assert {int(r["product_id"]) for r in results} == expected
    record = results[0]
    assert abs(record.ra - ra0) < 1e-9 and abs(record.dec - dec0) < 1e-9  # nearest first
    assert record.format == "application/fits"
    assert record.acref == f"{base}/products/{record['product_id']}.fits"
    assert record.title.startswith(f"CoRoT {record['corotid']} ")
    assert record.getbyutype("ssa:Dataset.Type") == "timeseries"
    assert record.getbyutype("ssa:Dataset.Length") > 0
    authority = node.settings.authority
    assert record.getbyutype("ssa:Curation.PublisherDID") == (
        f"ivo://{authority}/corot?{record['product_id']}"
    )
    # The dataset behind the record is there for an anonymous client.
    download = requests.get(record.getdataurl(), timeout=60)
    assert download.status_code == 200 and download.content.startswith(b"SIMPLE  =")

    # POS with the frame given, and a cone far from every star.
    assert _ids(_ssa(base, POS=f"{ra0},{dec0};ICRS", SIZE=repr(2 * radius))) == expected
    # (Near the celestial pole: CoRoT looked near the equator, in two opposite directions,
    # so the antipode of a star can be near another star.)
    far = 0.0, 89.0
    assert all(angular_distance(*far, float(r[1]), float(r[2])) > 1 for r in public)
    assert _ids(_ssa(base, POS=f"{far[0]},{far[1]}", SIZE="1")) == set()


def test_time_run_collection_target_and_pubdid(served: tuple[Node, str]) -> None:
    node, base = served
    public = node.public_rows(PUBLIC)
    # Bounds in the middle of wide gaps between the products' start and end times, so that
    # ISO dates (UTC, whole seconds; the products are in TT, ~65 s later) select the same.
    edges = sorted({float(v) for r in public for v in (r[3], r[4])})
    middles = [(a + b) / 2 for a, b in itertools.pairwise(edges) if b - a > 0.01]
    assert len(middles) >= 3
    low, high = middles[len(middles) // 3], middles[2 * len(middles) // 3]

    def overlapping(lo: float | None, hi: float | None) -> set[int]:
        return {
            int(r[0])
            for r in public
            if (lo is None or float(r[4]) >= lo) and (hi is None or float(r[3]) <= hi)
        }

    expected = overlapping(low, high)
    assert 0 < len(expected) < len(public)
    assert _ids(_ssa(base, TIME=f"{low}/{high}")) == expected
    assert _ids(_ssa(base, TIME=f"{low}/")) == overlapping(low, None)
    assert _ids(_ssa(base, TIME=f"/{high}")) == overlapping(None, high)
    # ISO 8601 through pyvo.
    iso = pyvo.dal.SSAService(base + "/ssa").search(time=(_mjd_iso(low), _mjd_iso(high)))
    assert {int(r["product_id"]) for r in iso} == expected

    run = str(public[-1][5])
    by_run = {int(r[0]) for r in public if r[5] == run}
    assert 0 < len(by_run) < len(public)
    assert _ids(_ssa(base, RUNID=run)) == by_run

    astero = {int(r[0]) for r in public if r[6] == "astero"}
    assert 0 < len(astero) < len(public)
    assert _ids(_ssa(base, COLLECTION="astero")) == astero
    assert _ids(_ssa(base, COLLECTION="corot-exo")) == {int(r[0]) for r in public} - astero
    assert _ids(_ssa(base, COLLECTION="hubble")) == set()

    corotid = int(public[0][7])
    of_star = {int(r[0]) for r in public if r[7] == corotid}
    assert _ids(_ssa(base, TARGETNAME=f"CoRoT {corotid}")) == of_star
    assert _ids(_ssa(base, TARGETNAME=str(corotid))) == of_star

    product_id = int(public[3][0])
    did = f"ivo://{node.settings.authority}/corot?{product_id}"
    assert _ids(_ssa(base, PUBDID=did)) == {product_id}
    assert _ids(_ssa(base, PUBDID=f"ivo://elsewhere.example/corot?{product_id}")) == set()

    # MTIME: everything was ingested moments ago.
    yesterday = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S")
    assert _ids(_ssa(base, MTIME=f"{yesterday}/")) == {int(r[0]) for r in public}
    assert _ids(_ssa(base, MTIME=f"/{yesterday}")) == set()


def test_metadata_band_format_maxrec_and_top(served: tuple[Node, str], tmp_path: Path) -> None:
    node, base = served
    public = node.public_rows(PUBLIC)
    everything = {int(r[0]) for r in public}

    meta = _ssa(base, FORMAT="METADATA", POS="10,20")
    rows, status = _table(meta)
    assert (rows, status) == ([], "OK")
    votable = parse(io.BytesIO(meta.content), verify="exception")
    params = {p.name: p.value for p in votable.resources[0].params}
    assert params["INPUT:POS"] == "10,20" and "INPUT:TIME" in params and "INPUT:BAND" in params
    utypes = {f.utype for f in votable.get_first_table().fields}
    for mandatory in (
        "ssa:Access.Reference", "ssa:Access.Format", "ssa:DataID.Title", "ssa:Target.Name",
        "ssa:Dataset.DataModel", "ssa:Dataset.Length", "ssa:CoordSys.SpaceFrame.Name",
        "ssa:Curation.Publisher", "ssa:Char.SpatialAxis.Coverage.Location.Value",
        "ssa:Char.SpectralAxis.Ucd", "ssa:Char.SpectralAxis.Coverage.Location.Value",
        "ssa:Char.TimeAxis.Coverage.Location.Value", "ssa:Char.FluxAxis.Ucd",
    ):  # fmt: skip
        assert mandatory in utypes, mandatory

    assert _ids(_ssa(base, BAND="1e-7/2e-7")) == set()  # ultraviolet: CoRoT saw none of it
    assert _ids(_ssa(base, BAND="5e-7/6e-7")) == everything
    assert _ids(_ssa(base, BAND="9e-7/")) == everything
    assert _ids(_ssa(base, FORMAT="fits")) == everything
    assert _ids(_ssa(base, FORMAT="application/fits")) == everything
    assert _ids(_ssa(base, FORMAT="ALL")) == everything
    assert _ids(_ssa(base, FORMAT="compliant")) == set()  # no Spectrum-DM serialisations
    # One row per dataset and format: FITS (the default), VOTable, CSV, the PNG plot.
    formats = ["application/fits", "application/x-votable+xml", "text/csv", "image/png"]
    default, _ = _table(_ssa(base))
    assert {str(r["ssa_format"]) for r in default} == {formats[0]}
    every, _ = _table(_ssa(base, FORMAT="all"))
    assert len(every) == 4 * len(everything)
    by_product: dict[int, list[str]] = {}
    for row in every:
        by_product.setdefault(int(row["product_id"]), []).append(str(row["ssa_format"]))  # type: ignore[call-overload]
    assert set(by_product) == everything
    assert all(found == formats for found in by_product.values())
    first = [r for r in every if int(r["product_id"]) == min(everything)]  # type: ignore[call-overload]
    for row in first:
        got = requests.get(str(row["ssa_acref"]), timeout=60)
        assert got.status_code == 200 and got.headers["Content-Type"].startswith(
            str(row["ssa_format"])
        ), row["ssa_acref"]
        if row["ssa_format"] == formats[0]:
            assert len(got.content) == row["ssa_size"]
        else:
            assert np.ma.is_masked(row["ssa_size"])  # made on request: no size known
    votables, _ = _table(_ssa(base, FORMAT="votable,graphic"))
    assert {str(r["ssa_format"]) for r in votables} == {formats[1], formats[3]}
    assert len(votables) == 2 * len(everything)

    rows, status = _table(_ssa(base, MAXREC=3))
    assert len(rows) == 3 and status == "OVERFLOW"
    rows, status = _table(_ssa(base, MAXREC=len(everything)))
    assert len(rows) == len(everything) and status == "OK"
    rows, status = _table(_ssa(base, TOP=2))
    assert len(rows) == 2 and status == "OK"

    if shutil.which("stilts") is None:
        pytest.skip("STILTS is not installed (Debian package stilts): votlint cannot run")
    for name, resp in (("result", _ssa(base, MAXREC=5)), ("metadata", meta)):
        path = tmp_path / f"{name}.vot"
        path.write_bytes(resp.content)
        proc = subprocess.run(
            ["stilts", "votlint", "validate=true", f"votable={path}"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        # votlint prints nothing for a valid document; every remark is a finding.
        assert proc.returncode == 0 and not (proc.stdout + proc.stderr).strip(), (
            name,
            proc.stdout + proc.stderr,
        )


BAD_REQUESTS = [
    {"REQUEST": "getData"},
    {"REQUEST": None},
    {"POS": "abc"},
    {"POS": "10"},
    {"POS": "400,10"},
    {"POS": "10,20;GALACTIC"},
    {"POS": "10,20", "SIZE": "-1"},
    {"POS": "10,20", "SIZE": "wide"},
    {"SIZE": "1"},
    {"TIME": "yesterday"},
    {"TIME": "55000/54000"},
    {"TIME": "1/2/3"},
    {"BAND": "6e-7/5e-7"},
    {"FORMAT": "pdf"},
    {"MAXREC": "many"},
    {"TARGETNAME": "Vega"},
    {"MTIME": "not-a-date/"},
]


def test_bad_requests_get_error_documents(served: tuple[Node, str]) -> None:
    _, base = served
    for params in BAD_REQUESTS:
        query = {k: v for k, v in {"REQUEST": "queryData", **params}.items() if v is not None}
        resp = requests.get(base + "/ssa", params=query, timeout=60)
        assert resp.status_code == 400, (params, resp.text[:500])
        assert resp.headers["Content-Type"].startswith("application/x-votable+xml")
        root = etree.fromstring(resp.content)
        status = root.findall(".//v:RESOURCE[@type='results']/v:INFO[@name='QUERY_STATUS']", VOT)
        assert [s.get("value") for s in status] == ["ERROR"], params
        assert (status[0].text or "").strip(), params
    with pytest.raises(pyvo.dal.DALQueryError):
        pyvo.dal.SSAService(base + "/ssa").search(POS="abc")


def test_anonymous_sees_no_n1_while_the_n1_community_does(served: tuple[Node, str]) -> None:
    node, base = served
    n1 = {
        int(r[0])
        for r in node.rows("SELECT product_id FROM corot.products WHERE proc_level = 'N1'")
    }
    assert n1, "the sample must hold N1 products"
    public = {int(r[0]) for r in node.public_rows(PUBLIC)}
    anonymous = _ids(_ssa(base))
    assert anonymous == public and not anonymous & n1

    with node.db.admin() as conn:
        store.create_user(conn, "n1user", password_hash=hash_password("long enough pw"))
        store.add_member(conn, "n1user", "n1-community")
    member = _ids(_ssa(base, auth=("n1user", "long enough pw")))
    assert n1 <= member and anonymous <= member
    # The same through pyvo with HTTP Basic.
    session = requests.Session()
    session.auth = ("n1user", "long enough pw")
    results = pyvo.dal.SSAService(base + "/ssa", session=session).search(maxrec=100000)
    assert {int(r["product_id"]) for r in results} == member
    # Wrong credentials are refused, not served as anonymous.
    refused = _ssa(base, auth=("n1user", "wrong password"))
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"]
    assert refused.headers["Content-Type"].startswith("application/x-votable+xml")
    assert b'name="QUERY_STATUS" value="ERROR"' in refused.content


def test_capabilities_are_valid_and_the_test_query_finds_rows(served: tuple[Node, str]) -> None:
    _, base = served
    resp = requests.get(base + "/ssa/capabilities", auth=("nobody", "bad"), timeout=60)
    assert resp.status_code == 200  # VOSI is anonymous: credentials are not even looked at
    root = assert_valid(resp.content, "VOSICapabilities.xsd", "SSA.xsd", "VODataService.xsd")
    cap = root.find("capability[@standardID='ivo://ivoa.net/std/SSA#v1.1']")
    assert cap is not None
    assert cap.findtext("supportedFrame") == "ICRS"
    assert cap.findtext("complianceLevel") == "query"
    assert int(cap.findtext("defaultMaxRecords")) <= int(cap.findtext("maxRecords"))
    interfaces = cap.findall("interface")
    assert {i.findtext("accessURL") for i in interfaces} == {base + "/ssa"}
    methods = [m.get("standardID") for i in interfaces for m in i.findall("securityMethod")]
    assert methods == list(SECURITY_METHODS)
    assert any(i.find("securityMethod") is None for i in interfaces)  # anonymous access too
    test = cap.find("testQuery")
    assert test is not None
    params = dict(part.split("=") for part in test.findtext("queryDataCmd").split("&"))
    params["POS"] = f"{test.findtext('pos/long')},{test.findtext('pos/lat')}"
    params["SIZE"] = test.findtext("size")
    rows, status = _table(requests.get(base + "/ssa", params=params, timeout=60))
    assert rows and status == "OK"

    available = requests.get(base + "/ssa/availability", timeout=60)
    assert available.status_code == 200
    ns = {"a": "http://www.ivoa.net/xml/VOSIAvailability/v1.0"}
    assert etree.fromstring(available.content).findtext("a:available", namespaces=ns) == "true"
