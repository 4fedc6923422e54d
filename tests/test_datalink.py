"""DataLink 1.1 {links} and SODA cut-outs over HTTP, under the policy, read by pyvo, astropy
and STILTS.

Expectations come from the catalogue (archive.products as the caller may see it) and from
the stored files, not from the service's own code.
"""

from __future__ import annotations

import hashlib
import io
import shutil
from pathlib import Path
from typing import Any

import astropy.units as u
import numpy as np
import pytest
import pyvo
import requests
from astropy.io import fits
from astropy.io.votable import parse
from astropy.time import Time
from conftest import Node
from lxml import etree
from stilts import datalinklint, votlint
from xsd import assert_valid

from vo_node.auth import store
from vo_node.auth.credentials import SECURITY_METHODS
from vo_node.auth.passwords import hash_password
from vo_node.products.lightcurve import LAYOUTS

PASSWORD = "long enough pw"
LINK_COLUMNS = [
    "ID",
    "access_url",
    "service_def",
    "error_message",
    "description",
    "semantics",
    "content_type",
    "content_length",
    "content_qualifier",
    "local_semantics",
    "link_auth",
    "link_authorized",
]
VO = "{http://www.ivoa.net/xml/VOTable/v1.3}"
# A public N2 product with other public versions of the same light curve.
_WITH_VERSIONS = (
    "SELECT p.product_id FROM archive.products p WHERE p.level = 'N2' AND EXISTS ("
    " SELECT 1 FROM archive.products q WHERE q.star_id = p.star_id AND q.run_id = p.run_id"
    " AND q.level = p.level AND q.series = p.series AND q.product_id <> p.product_id)"
    " ORDER BY p.product_id LIMIT 1"
)


def _did(node: Node, product_id: int) -> str:
    return f"{node.settings.published_config()['did_base']}?{product_id}"


def _links(
    base: str, ids: list[str], tmp_path: Path, auth: tuple[str, str] | None = None
) -> tuple[list[dict[str, object]], etree._Element, Path]:
    """The rows of a {links} response (as dicts), its XML tree and where it was saved; the
    document must load with astropy's strictest checks."""
    resp = requests.post(f"{base}/datalink/links", data={"ID": ids}, auth=auth, timeout=60)
    assert resp.status_code == 200, resp.text[:500]
    assert resp.headers["Content-Type"].startswith("application/x-votable+xml;content=datalink")
    path = tmp_path / f"links-{len(list(tmp_path.iterdir()))}.vot"
    path.write_bytes(resp.content)
    table = parse(str(path), verify="exception").get_first_table()
    assert [f.name for f in table.fields] == LINK_COLUMNS
    data = table.to_table()
    rows = []
    for row in data:
        rows.append(
            # An empty cell is null; astropy reads an empty char cell as ''.
            {
                name: (None if np.ma.is_masked(row[name]) or row[name] == "" else row[name])
                for name in data.colnames
            }
        )
    return rows, etree.fromstring(resp.content), path


def _of(rows: list[dict[str, object]], identifier: str) -> list[dict[str, object]]:
    return [r for r in rows if r["ID"] == identifier]


def _semantics(rows: list[dict[str, object]], term: str) -> list[dict[str, object]]:
    return [r for r in rows if r["semantics"] == term]


def _descriptor(tree: etree._Element, ref: str) -> dict[str, etree._Element]:
    resource = tree.find(f"{VO}RESOURCE[@ID='{ref}']")
    assert resource is not None, ref
    assert (resource.get("type"), resource.get("utype")) == ("meta", "adhoc:service")
    params = {p.get("name"): p for p in resource.iter(f"{VO}PARAM")}
    return params


def test_links_of_a_product_and_faults(served: tuple[Node, str], tmp_path: Path) -> None:
    node, base = served
    pid = int(node.public_rows(_WITH_VERSIONS)[0][0])  # type: ignore[call-overload]
    file_size, sha, t_min, t_max, star, run, level, series = node.rows(
        "SELECT file_size, sha256, t_min, t_max, star_id, run_id, level, series"
        " FROM archive.products WHERE product_id = %s",
        pid,
    )[0]
    versions = {
        int(r[0])  # type: ignore[call-overload]
        for r in node.public_rows(
            "SELECT product_id FROM archive.products WHERE star_id = %s AND run_id = %s"
            " AND level = %s AND series = %s AND product_id <> %s",
            star,
            run,
            level,
            series,
            pid,
        )
    }
    assert versions
    hidden = int(node.rows("SELECT min(product_id) FROM archive.products WHERE level = 'N1'")[0][0])  # type: ignore[call-overload]
    missing = int(node.scalar("SELECT max(product_id) + 1000 FROM archive.products"))  # type: ignore[call-overload]
    did = _did(node, pid)
    ids = [did, str(pid), "abc", str(missing), str(hidden)]
    rows, tree, _ = _links(base, ids, tmp_path)

    infos = {i.get("name"): i.get("value") for i in tree.iter(f"{VO}INFO")}
    assert infos["standardID"] == "ivo://ivoa.net/std/DataLink#links-1.1"
    mine = _of(rows, did)
    assert sorted(str(r["semantics"]) for r in mine) == sorted(
        ["#this"] * 3 + ["#preview", "#cutout", "#documentation"] + ["#coderived"] * len(versions)
    )
    this = _semantics(mine, "#this")
    assert {r["content_type"] for r in this} == {
        "application/fits",
        "application/x-votable+xml",
        "text/csv",
    }
    assert all(r["content_qualifier"] == "#timeseries" for r in this)
    assert all(r["link_auth"] == "false" and r["link_authorized"] for r in mine)
    (fits_row,) = [r for r in this if r["content_type"] == "application/fits"]
    assert fits_row["content_length"] == file_size
    coderived = {str(r["access_url"]) for r in _semantics(mine, "#coderived")}
    assert coderived == {f"{base}/products/{v}.fits" for v in versions}
    # Every link leads to what it says.
    for row in mine:
        if row["access_url"] is None:
            continue
        got = requests.get(str(row["access_url"]), timeout=120)
        assert got.status_code == 200, row
        assert got.headers["Content-Type"].startswith(str(row["content_type"])), row
        if row is fits_row:
            assert hashlib.sha256(got.content).hexdigest() == str(sha).strip()
        if row["content_length"] is not None:
            assert len(got.content) == row["content_length"]
    # The cut-out row names a SODA descriptor for this product.
    (cut,) = _semantics(mine, "#cutout")
    assert cut["access_url"] is None and cut["service_def"]
    params = _descriptor(tree, str(cut["service_def"]))
    assert params["standardID"].get("value") == "ivo://ivoa.net/std/SODA#sync-1.0"
    assert params["accessURL"].get("value") == f"{base}/datalink/soda"
    assert params["ID"].get("value") == did
    bounds = params["TIME"].find(f"{VO}VALUES")
    assert bounds is not None
    assert float(bounds.find(f"{VO}MIN").get("value")) == t_min  # type: ignore[union-attr, arg-type]
    assert float(bounds.find(f"{VO}MAX").get("value")) == t_max  # type: ignore[union-attr, arg-type]
    options = [o.get("value") for o in params["COLUMN"].iter(f"{VO}OPTION")]
    assert options and all(str(o).startswith(("flux_", "background")) for o in options)

    # The bare product_id names the same product: the same links.
    plain = _of(rows, str(pid))
    strip = ("ID", "service_def")
    assert [{k: v for k, v in r.items() if k not in strip} for r in plain] == [
        {k: v for k, v in r.items() if k not in strip} for r in mine
    ]
    # Faults are rows: unknown and forbidden alike, an unreadable ID a usage fault.
    (unknown,) = _of(rows, str(missing))
    (forbidden,) = _of(rows, str(hidden))
    for fault in (unknown, forbidden):
        assert str(fault["error_message"]).startswith("NotFoundFault: ")
        assert fault["access_url"] is None and fault["service_def"] is None
    assert str(unknown["error_message"]).replace(f"'{missing}' names", "X names") == str(
        forbidden["error_message"]
    ).replace(f"'{hidden}' names", "X names")
    (bad,) = _of(rows, "abc")
    assert str(bad["error_message"]).startswith("UsageFault: ")
    # Request order is kept.
    assert [r["ID"] for r in rows if r["ID"] != did and r["ID"] != str(pid)] == [
        "abc",
        str(missing),
        str(hidden),
    ]

    # Whole-request errors are DALI error documents.
    for params_, fragment in (
        ({}, "ID is required"),
        ({"ID": [str(pid)] * 1001}, "at most 1000"),
        ({"ID": str(pid), "RESPONSEFORMAT": "text/csv"}, "not offered"),
    ):
        resp = requests.post(f"{base}/datalink/links", data=params_, timeout=60)
        assert resp.status_code == 400, params_
        assert resp.headers["Content-Type"].startswith("application/x-votable+xml")
        assert b'value="ERROR"' in resp.content and fragment.encode() in resp.content


def test_progenitor_and_rights_follow_the_caller(served: tuple[Node, str], tmp_path: Path) -> None:
    node, base = served
    found = node.public_rows(
        "SELECT p.product_id, q.product_id FROM archive.products p JOIN archive.products q"
        " ON q.star_id = p.star_id AND q.run_id = p.run_id AND q.level = 'N1'"
        " AND q.product_type = replace(p.product_type, 'N2_', 'N1_')"
        " WHERE p.level = 'N2' ORDER BY p.product_id LIMIT 1"
    )
    assert not found  # anonymous callers cannot even join to N1 rows
    pairs = node.rows(
        "SELECT p.product_id, q.product_id FROM archive.products p JOIN archive.products q"
        " ON q.star_id = p.star_id AND q.run_id = p.run_id AND q.level = 'N1'"
        " AND q.product_type = replace(p.product_type, 'N2_', 'N1_')"
        " WHERE p.level = 'N2' AND p.product_id IN (SELECT product_id FROM corot.products)"
        " ORDER BY p.product_id, q.version_rank DESC, q.product_id DESC"
    )
    public = {int(r[0]) for r in node.public_rows("SELECT product_id FROM archive.products")}  # type: ignore[call-overload]
    n2, n1 = next((int(a), int(b)) for a, b in pairs if int(a) in public)  # type: ignore[call-overload]
    with node.db.admin() as conn:
        store.create_user(conn, "n1user", password_hash=hash_password(PASSWORD))
        store.add_member(conn, "n1user", "n1-community")

    anonymous, _, _ = _links(base, [str(n2), str(n1)], tmp_path)
    assert not _semantics(_of(anonymous, str(n2)), "#progenitor")
    assert str(_of(anonymous, str(n1))[0]["error_message"]).startswith("NotFoundFault")

    member, _, _ = _links(base, [str(n2), str(n1)], tmp_path, auth=("n1user", PASSWORD))
    (progenitor,) = _semantics(_of(member, str(n2)), "#progenitor")
    assert progenitor["access_url"] == f"{base}/products/{n1}.fits"
    assert progenitor["link_auth"] == "true" and progenitor["link_authorized"]
    n1_links = _of(member, str(n1))
    assert n1_links and all(r["error_message"] is None for r in n1_links)
    assert {r["link_auth"] for r in n1_links if r["semantics"] != "#documentation"} == {"true"}
    assert not _semantics(n1_links, "#progenitor")
    # The N1 member follows the link; an anonymous caller is refused like for a download.
    assert requests.get(str(progenitor["access_url"]), timeout=60).status_code == 401
    got = requests.get(str(progenitor["access_url"]), auth=("n1user", PASSWORD), timeout=60)
    assert got.status_code == 200 and got.content[:6] == b"SIMPLE"


def _stored_table(base: str, pid: int, layout: str, auth: object = None) -> fits.FITS_rec:
    resp = requests.get(f"{base}/products/{pid}.fits", auth=auth, timeout=60)  # type: ignore[arg-type]
    assert resp.status_code == 200
    with fits.open(io.BytesIO(resp.content)) as hdul:
        return hdul[LAYOUTS[layout].hdu].data.copy()


def _window_mask(table: fits.FITS_rec, layout: str, low: float, high: float) -> np.ndarray:
    """Rows of the stored table with a valid time in [low, high] MJD, computed here from the
    file's own column and the layout's zero point."""
    spec = LAYOUTS[layout]
    raw = np.asarray(table[spec.time_column], dtype=float)
    valid = np.isfinite(raw) & (raw > 0)
    mjd = raw + spec.mjd_offset
    return valid & (mjd >= low) & (mjd <= high)


def test_pyvo_follows_datalinks_from_tap_obscore_and_ssa(
    served: tuple[Node, str], tmp_path: Path
) -> None:
    node, base = served
    tap = pyvo.dal.TAPService(base + "/tap")
    checked = 0
    for query in (
        "SELECT TOP 3 obs_publisher_did, t_min FROM ivoa.obscore ORDER BY obs_publisher_did",
        "SELECT TOP 3 product_id, obs_publisher_did FROM corot.products ORDER BY product_id",
    ):
        for links in tap.search(query).iter_datalinks():
            this = [
                r
                for r in links.bysemantics("#this", include_narrower=False)
                if r.content_type == "application/fits"
            ]
            assert len(this) == 1
            pid = int(this[0].access_url.rsplit("/", 1)[1].removesuffix(".fits"))
            sha = str(node.scalar("SELECT sha256 FROM archive.products WHERE product_id=%s", pid))
            data = this[0].getdataset(timeout=60).read()
            assert hashlib.sha256(data).hexdigest() == sha.strip()
            preview = next(links.bysemantics("#preview", include_narrower=False))
            assert preview.getdataset(timeout=60).read()[:8] == b"\x89PNG\r\n\x1a\n"
            checked += 1
    assert checked == 6
    # Async results carry the descriptor too.
    job = tap.run_async("SELECT TOP 2 * FROM corot.products ORDER BY product_id")
    assert sum(1 for _ in job.iter_datalinks()) == 2
    # A result without identifiers has no descriptor; CSV carries none.
    plain = requests.get(
        base + "/tap/sync",
        params={"LANG": "ADQL", "QUERY": "SELECT TOP 1 product_id FROM corot.products"},
        timeout=60,
    )
    assert b"adhoc:service" not in plain.content
    csv = requests.get(
        base + "/tap/sync",
        params={
            "LANG": "ADQL",
            "QUERY": "SELECT TOP 1 obs_publisher_did FROM corot.products",
            "RESPONSEFORMAT": "csv",
        },
        timeout=60,
    )
    assert csv.text.splitlines()[0] == "obs_publisher_did"

    # SSA: search by position and time, then the cut-out of one result through pyvo.
    pid, ra, dec, t_min, t_max, layout = node.public_rows(
        "SELECT p.product_id, s.ra, s.dec, p.t_min, p.t_max, p.layout"
        " FROM archive.products p JOIN archive.stars s USING (star_id)"
        " WHERE p.layout = 'v4-exo' ORDER BY p.product_id LIMIT 1"
    )[0]
    ssa = pyvo.dal.SSAService(base + "/ssa")
    results = ssa.search(
        pos=(float(ra), float(dec)),  # type: ignore[arg-type]
        diameter=0.01 * u.deg,
        time=Time([float(t_min) + 0.1, float(t_max) - 0.1], format="mjd", scale="tt"),  # type: ignore[arg-type]
    )
    ids = [int(r["product_id"]) for r in results]
    assert pid in ids
    record_links = None
    for record, links in zip(results, results.iter_datalinks(), strict=True):
        if int(record["product_id"]) == pid:
            record_links = links
    assert record_links is not None
    cutout = next(record_links.bysemantics("#cutout", include_narrower=False))
    low, high = float(t_min) + 0.5, float(t_min) + 1.5  # type: ignore[arg-type]
    data = cutout.process(TIME=[low, high] * u.d).read()
    with fits.open(io.BytesIO(data)) as hdul:
        got = hdul[LAYOUTS[str(layout)].hdu].data
        full = _stored_table(base, int(pid), str(layout))  # type: ignore[call-overload]
        keep = _window_mask(full, str(layout), low, high)
        assert 0 < int(keep.sum()) < len(full)
        assert got.columns.names == full.columns.names
        for name in full.columns.names:
            assert np.array_equal(np.asarray(got[name]), np.asarray(full[name])[keep]), name


def test_soda_formats_columns_and_errors(served: tuple[Node, str], tmp_path: Path) -> None:
    node, base = served
    pid, layout, t_min = node.public_rows(
        "SELECT product_id, layout, t_min FROM archive.products"
        " WHERE layout = 'v4-exo' AND 'red' = ANY(bands) ORDER BY product_id LIMIT 1"
    )[0]
    low, high = float(t_min) + 0.25, float(t_min) + 0.75  # type: ignore[arg-type]
    soda = f"{base}/datalink/soda"
    window = {"ID": str(pid), "TIME": f"{low} {high}"}
    whole = requests.get(f"{base}/products/{pid}.vot", timeout=60)
    (whole_path := tmp_path / "whole.vot").write_bytes(whole.content)
    full = parse(str(whole_path)).get_first_table().to_table()
    times = np.asarray(full["time"].filled(np.nan), dtype=float)
    keep = np.isfinite(times) & (times >= low) & (times <= high)
    assert 0 < int(keep.sum()) < len(full)

    for fmt in ("application/x-votable+xml", "votable"):
        resp = requests.get(
            soda,
            params={**window, "RESPONSEFORMAT": fmt, "COLUMN": ["flux_white", "flux_red"]},
            timeout=60,
        )
        assert resp.status_code == 200, resp.text[:300]
        assert resp.headers["Content-Type"].startswith("application/x-votable+xml")
        path = tmp_path / "cut.vot"
        path.write_bytes(resp.content)
        table = parse(str(path), verify="exception").get_first_table().to_table()
        assert table.colnames == ["time", "flux_red", "flux_white", "status"]
        for name in table.colnames:
            assert np.array_equal(np.asarray(table[name]), np.asarray(full[name])[keep]), name
    resp = requests.get(soda, params={**window, "RESPONSEFORMAT": "text/csv"}, timeout=60)
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/csv")
    lines = resp.text.splitlines()
    assert lines[0].split(",") == list(full.colnames)
    assert len(lines) - 1 == int(keep.sum())
    # Open ends: the whole light curve (points without a valid time have no place in it).
    resp = requests.get(
        soda, params={"ID": str(pid), "TIME": "-Inf +Inf", "RESPONSEFORMAT": "csv"}, timeout=60
    )
    assert len(resp.text.splitlines()) - 1 == int(np.isfinite(times).sum())
    # No TIME: the whole light curve; FITS by default.
    resp = requests.get(soda, params={"ID": str(pid), "COLUMN": "flux_white"}, timeout=60)
    assert resp.status_code == 200 and resp.headers["Content-Type"] == "application/fits"
    with fits.open(io.BytesIO(resp.content)) as hdul:
        spec = LAYOUTS[str(layout)]
        names = hdul[spec.hdu].columns.names
        assert "WHITEFLUX" in names and "REDFLUX" not in names
        assert spec.time_column in names and spec.status_column in names
        assert len(hdul[spec.hdu].data) == len(full)

    errors: list[tuple[dict[str, Any], int, str]] = [
        ({}, 400, "exactly one ID"),
        ({"ID": [str(pid), str(pid)]}, 400, "exactly one ID"),
        ({"ID": "abc"}, 400, "UsageFault"),
        ({**window, "TIME": "5"}, 400, "two MJDs"),
        ({**window, "TIME": "a b"}, 400, "not a number"),
        ({**window, "TIME": f"{high} {low}"}, 400, "must not exceed"),
        ({**window, "TIME": "40000 40001"}, 400, "NoOverlap"),
        ({**window, "TIME": "inf inf"}, 400, "NoOverlap"),
        ({**window, "TIME": "-1e400 -1e401"}, 400, "NoOverlap"),
        ({**window, "TIME": "1_0 20"}, 400, "not a number"),
        ({**window, "TIME": "10\u00a020"}, 400, "two MJDs"),
        ({"ID": "9" * 3000}, 400, "UsageFault"),
        ({**window, "COLUMN": "flux_purple"}, 400, "not a column"),
        ({**window, "RESPONSEFORMAT": "image/png"}, 400, "not offered"),
    ]
    for params, status, fragment in errors:
        resp = requests.get(soda, params=params, timeout=60)
        assert resp.status_code == status, (params, resp.status_code)
        assert len(resp.content) < 2000, params  # a huge value is not echoed whole
        assert resp.headers["Content-Type"].startswith("application/x-votable+xml"), params
        assert b'value="ERROR"' in resp.content and fragment.encode() in resp.content, params
    # Hidden and unknown products: the same refusal as a download.
    hidden = int(node.rows("SELECT min(product_id) FROM archive.products WHERE level = 'N1'")[0][0])  # type: ignore[call-overload]
    missing = int(node.scalar("SELECT max(product_id) + 1000 FROM archive.products"))  # type: ignore[call-overload]
    answers = [
        requests.get(soda, params={"ID": str(i), "TIME": f"{low} {high}"}, timeout=60)
        for i in (hidden, missing)
    ]
    assert [a.status_code for a in answers] == [401, 401]
    assert answers[0].text.replace(f": '{hidden}' names", ": X names") == answers[1].text.replace(
        f": '{missing}' names", ": X names"
    )
    assert "NotFoundFault: X names" in answers[0].text.replace(f": '{hidden}' names", ": X names")
    assert all(a.headers["WWW-Authenticate"] for a in answers)


def test_capabilities_and_availability(served: tuple[Node, str]) -> None:
    _, base = served
    resp = requests.get(base + "/datalink/capabilities", auth=("nobody", "bad"), timeout=60)
    assert resp.status_code == 200
    root = assert_valid(resp.content, "VOSICapabilities.xsd", "VODataService.xsd")
    for standard, path in (
        ("ivo://ivoa.net/std/DataLink#links-1.1", "links"),
        ("ivo://ivoa.net/std/SODA#sync-1.0", "soda"),
    ):
        cap = root.find(f"capability[@standardID='{standard}']")
        assert cap is not None, standard
        interfaces = cap.findall("interface")
        assert {i.findtext("accessURL") for i in interfaces} == {f"{base}/datalink/{path}"}
        methods = [m.get("standardID") for i in interfaces for m in i.findall("securityMethod")]
        assert methods == list(SECURITY_METHODS)
    available = requests.get(base + "/datalink/availability", timeout=60)
    ns = {"a": "http://www.ivoa.net/xml/VOSIAvailability/v1.0"}
    assert etree.fromstring(available.content).findtext("a:available", namespaces=ns) == "true"
    doc = requests.get(base + "/docs/lightcurves", timeout=60)
    assert doc.status_code == 200 and "TIMESYS" in doc.text


@pytest.mark.skipif(shutil.which("stilts") is None, reason="STILTS is not installed")
def test_datalinklint_and_votlint(served: tuple[Node, str], tmp_path: Path) -> None:
    node, base = served
    pid = int(node.public_rows(_WITH_VERSIONS)[0][0])  # type: ignore[call-overload]
    missing = int(node.scalar("SELECT max(product_id) + 1000 FROM archive.products"))  # type: ignore[call-overload]
    _, _, path = _links(base, [_did(node, pid), "abc", str(missing)], tmp_path)
    report, findings = datalinklint(path)
    assert not findings, "\n".join(findings)
    assert "E-SMCO" in report  # STALE_VOCABULARY is still needed: the check is live

    documents = {
        "links.vot": path.read_bytes(),
        "tap.vot": requests.get(
            base + "/tap/sync",
            params={"LANG": "ADQL", "QUERY": "SELECT TOP 5 * FROM ivoa.obscore"},
            timeout=60,
        ).content,
        "ssa.vot": requests.get(
            base + "/ssa", params={"REQUEST": "queryData", "MAXREC": "5"}, timeout=60
        ).content,
        "cutout.vot": requests.get(
            base + "/datalink/soda",
            params={"ID": str(pid), "RESPONSEFORMAT": "votable"},
            timeout=60,
        ).content,
    }
    for name, content in documents.items():
        assert name == "cutout.vot" or b"adhoc:service" in content, name
        target = tmp_path / name
        target.write_bytes(content)
        status, out = votlint(target, "version=1.4")
        assert status == 0 and out == "", f"{name}:\n{out[:2000]}"


def test_a_damaged_file_spoils_only_its_own_links(served: tuple[Node, str], tmp_path: Path) -> None:
    """A stored file whose table header is nonsense (both copies): its {links} still answer
    (the cut-out descriptor without column choices), next to other products' links; its
    cut-out, documents and preview are 503, never a 500."""
    node, base = served
    (bad, path), (good, _) = node.public_rows(
        "SELECT product_id, archive_path FROM archive.products WHERE layout = 'v4-exo'"
        " ORDER BY product_id LIMIT 2"
    )
    for root in node.settings.roots:
        stored = root / str(path)
        data = bytearray(stored.read_bytes())
        start = data.index(b"XTENSION= 'BINTABLE'")
        card = data.index(b"NAXIS2  =", start)
        data[card : card + 80] = b"NAXIS2  = 1e400".ljust(80)
        stored.write_bytes(bytes(data))
    rows, tree, _ = _links(base, [str(bad), str(good)], tmp_path)
    assert _of(rows, str(bad)) and _of(rows, str(good))
    assert all(r["error_message"] is None for r in rows)
    (cut,) = _semantics(_of(rows, str(bad)), "#cutout")
    assert not list(_descriptor(tree, str(cut["service_def"]))["COLUMN"].iter(f"{VO}OPTION"))
    for url in (
        f"{base}/datalink/soda?ID={bad}",
        f"{base}/products/{bad}.vot",
        f"{base}/products/{bad}.csv",
        f"{base}/products/{bad}/preview.png",
    ):
        resp = requests.get(url, timeout=60)
        assert resp.status_code == 503, (url, resp.status_code, resp.text[:300])
        assert "Traceback" not in resp.text
