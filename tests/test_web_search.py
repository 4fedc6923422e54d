"""The web search and the product pages over HTTP (vo_node/web/search.py, productpage.py):
the page finds what its own ADQL finds through TAP, pages neither repeat nor skip, every field
filters, bad input is a 400 that says what is wrong, the policy applies, and each product page
shows its metadata, versions, plot data and links."""

from __future__ import annotations

import csv
import io
import re
import tarfile
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests
from conftest import Node, angular_distance
from policy_archive import Archive, make_archive
from search_page import search_page, tap_ids


def _all_pages(session: requests.Session, base: str, query: str) -> tuple[list[int], str]:
    """Every result id of a search, following its 'next' links; and its ADQL."""
    url = f"{base}/search?{query}"
    ids: list[int] = []
    adql = ""
    while True:
        page = search_page(session, url)
        ids += page.ids
        adql = adql or page.adql
        if "next" not in page.links:
            return ids, adql
        url = urljoin(f"{base}/search", page.links["next"])


@pytest.fixture
def archive(served: tuple[Node, str]) -> Archive:
    return make_archive(served)


def test_search_finds_what_its_adql_finds(archive: Archive) -> None:
    node, base = archive.node, archive.base
    anonymous = archive.callers["anonymous"].session
    star = node.rows(
        "SELECT s.source_id, s.ra, s.dec, s.name FROM archive.stars s JOIN archive.products p"
        " USING (star_id) WHERE s.ra IS NOT NULL AND p.level = 'N2' AND p.released_on <= now()"
        " ORDER BY s.source_id LIMIT 1"
    )[0]
    corotid, ra, dec, name = int(star[0]), float(star[1]), float(star[2]), str(star[3])  # type: ignore[arg-type]
    searches = [
        f"pos={ra}+{dec}&radius=90&per_page=25",
        f"pos={ra}+{dec}&radius=90&sort=distance&order=desc&per_page=25",
        "channel=exo&level=N2&latest=1&per_page=25&sort=mag_v",
        f"corotid={str(corotid)[:3]}*&per_page=25",
        "mag_v_min=10&mag_v_max=14&spectral_type=G&per_page=25",
        "time_from=2007-01-01&time_to=54200&per_page=25&sort=t_min&order=desc",
    ]
    for query in searches:
        ids, adql = _all_pages(anonymous, base, query)
        assert ids, query
        # The page finds what its own ADQL finds through TAP, in the same order, once each.
        assert ids == tap_ids(anonymous, base, adql), query
        assert len(ids) == len(set(ids))
        # And only what the anonymous caller may see.
        assert set(ids) <= archive.expected(archive.callers["anonymous"])
    # Position searches are within the radius (from the catalogue, not the page's ADQL).
    ids, _ = _all_pages(anonymous, base, f"pos={ra}+{dec}&radius=90")
    positions = dict(
        (int(r[0]), (float(r[1]), float(r[2])))  # type: ignore[arg-type]
        for r in node.rows(
            "SELECT p.product_id, s.ra, s.dec FROM archive.products p JOIN archive.stars s"
            " USING (star_id) WHERE p.product_id = ANY(%s)",
            ids,
        )
    )
    assert all(angular_distance(ra, dec, *positions[i]) <= 1.5 + 1e-9 for i in ids)
    # A name or a bare CoRoT ID is looked up in the archive's star table.
    by_name, _ = _all_pages(anonymous, base, f"pos={name.replace(' ', '+')}&radius=1")
    by_id, _ = _all_pages(anonymous, base, f"pos={corotid}&radius=1")
    assert by_name == by_id and by_name
    exact, _ = _all_pages(anonymous, base, f"corotid={corotid}")
    assert set(exact) <= set(by_name)
    # /search.adql gives the same text.
    text = anonymous.get(f"{base}/search.adql", params={"channel": "exo"}, timeout=30)
    assert text.status_code == 200 and "p.channel = 'exo'" in text.text


def test_search_follows_the_policy(archive: Archive) -> None:
    base = archive.base
    for who in ("anonymous", "n1", "admin"):
        caller = archive.callers[who]
        ids, _ = _all_pages(caller.session, base, "per_page=200")
        assert set(ids) == archive.expected(caller), who
    # Logged in with the cookie: the proprietary rows appear on the same page.
    coi = archive.callers["coi"]
    ids, _ = _all_pages(coi.session, base, "per_page=200&level=N2")
    assert set(ids) == {
        p["id"] for p in archive.products() if p["level"] == "N2"
    } & archive.expected(coi)
    page = coi.session.get(f"{base}/search?level=N2", timeout=30).text
    assert "Signed in as <strong>coi</strong>" in page


def test_bad_input_is_a_400_that_says_what(archive: Archive) -> None:
    session = archive.callers["anonymous"].session
    cases = {
        "pos=400+0": "RA must be within",
        "pos=No+Such+Star": "no star named",
        "channel=planets": "one of exo, astero",
        "mag_v_min=bright": "not a number",
        "radius=-1": "between",
        "time_from=yesterday": "an MJD",
        "sort=secret": "one of",
        "corotid=1;DROP": "not a valid value",
        "spectral_type=%27%20OR%201%3D1": "not a valid value",
        "per_page=100000": "between",
        "pos=%00": "control characters",
    }
    for query, message in cases.items():
        page = search_page(session, f"{archive.base}/search?{query}", status=400)
        assert any(message in e for e in page.field_errors), (query, page.field_errors)
    bad = session.get(f"{archive.base}/search.adql?pos=400+0", timeout=30)
    assert bad.status_code == 400 and "RA must be within" in bad.text


def test_product_pages_and_their_plot_data(archive: Archive) -> None:
    node, base = archive.node, archive.base
    anonymous = archive.callers["anonymous"]
    visible = sorted(archive.expected(anonymous))
    hidden = sorted({int(p["id"]) for p in archive.products()} - set(visible))  # type: ignore[call-overload]
    product_id = visible[0]
    page = anonymous.session.get(f"{base}/products/{product_id}", timeout=30)
    assert page.status_code == 200
    sha, corotid, n_good, t_min, t_max = node.rows(
        "SELECT p.sha256, s.source_id, p.n_good, p.t_min, p.t_max FROM archive.products p"
        " JOIN archive.stars s USING (star_id) WHERE p.product_id = %s",
        product_id,
    )[0]
    for needle in (str(sha), f"CoRoT {corotid}", f"{product_id}.fits", "datalink/links?ID="):
        assert needle in page.text, needle
    # Every version of the same light curve is listed.
    versions = node.rows(
        "SELECT q.product_id FROM archive.products p JOIN archive.products q"
        " ON q.star_id = p.star_id AND q.run_id = p.run_id AND q.product_type = p.product_type"
        " WHERE p.product_id = %s",
        product_id,
    )
    for (other,) in versions:
        assert re.search(rf">{other}\b", page.text), other
    # The plot's data: the whole curve, then a window of it.
    whole = anonymous.session.get(f"{base}/products/{product_id}/plot.json", timeout=30).json()
    assert whole["good"]["n"] == n_good
    times = whole["good"]["time"]
    assert float(t_min) - 1e-6 <= min(times) and max(times) <= float(t_max) + 1e-6  # type: ignore[arg-type]
    assert all(lo <= hi for lo, hi in zip(whole["good"]["low"], whole["good"]["high"], strict=True))
    middle = (float(t_min) + float(t_max)) / 2  # type: ignore[arg-type]
    part = anonymous.session.get(
        f"{base}/products/{product_id}/plot.json",
        params={"from": middle, "to": middle + 0.5},
        timeout=30,
    ).json()
    assert 0 < part["good"]["n"] < n_good
    assert all(middle <= t <= middle + 0.5 for t in part["good"]["time"])
    bad = anonymous.session.get(f"{base}/products/{product_id}/plot.json?from=x", timeout=30)
    assert bad.status_code == 400
    # Thumbnails are small PNGs; hidden products' pages, plots and thumbnails are refused
    # like their files (401 anonymous, 403 with credentials), as nonexistent ones are.
    thumb = anonymous.session.get(f"{base}/products/{product_id}/thumbnail.png", timeout=60)
    assert thumb.status_code == 200 and thumb.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert thumb.content[16:24] == (240).to_bytes(4, "big") + (80).to_bytes(4, "big")
    gi = archive.callers["gi_other"]
    hidden_from_gi = sorted({int(p["id"]) for p in archive.products()} - archive.expected(gi))  # type: ignore[call-overload]
    for path in ("", "/plot.json", "/thumbnail.png"):
        for missing in (hidden[0], 10**9):
            url = f"{base}/products/{missing}{path}"
            assert anonymous.session.get(url, timeout=30).status_code == 401
        for missing in (hidden_from_gi[0], 10**9):
            url = f"{base}/products/{missing}{path}"
            assert gi.session.get(url, timeout=30).status_code == 403
    # A caller with rights opens the hidden product's page.
    admin = archive.callers["admin"]
    assert admin.session.get(f"{base}/products/{hidden[0]}", timeout=30).status_code == 200


def test_search_page_links_resolve(archive: Archive) -> None:
    session = archive.callers["anonymous"].session
    page = search_page(session, f"{archive.base}/search?channel=astero&per_page=25")
    assert page.thumbnails
    for src in page.thumbnails[:3]:
        resp = session.get(urljoin(f"{archive.base}/search", src), timeout=60)
        assert resp.status_code == 200 and resp.headers["Content-Type"] == "image/png"
    if "next" in page.links:
        query = parse_qs(urlsplit(page.links["next"]).query)
        assert query["page"] == ["2"] and query["channel"] == ["astero"]


def test_download_all_results(archive: Archive) -> None:
    """The page's "download all results": the search's own products, as one archive."""
    session = archive.callers["n1"].session
    query = f"run={archive.gi_run}&channel=astero&per_page=25"
    ids, _ = _all_pages(session, archive.base, query)
    assert ids
    resp = session.post(
        f"{archive.base}/search/download?{query}", data={"format": "tar"}, timeout=120
    )
    assert resp.status_code == 200, resp.text[:300]
    with tarfile.open(fileobj=io.BytesIO(resp.content)) as bundle:
        manifest = bundle.extractfile("MANIFEST.csv")
        assert manifest is not None
        rows = list(csv.DictReader(io.TextIOWrapper(manifest, "utf-8")))
    assert sorted(int(r["product_id"]) for r in rows) == sorted(ids)
    bad = session.post(f"{archive.base}/search/download?pos=400+0", timeout=30)
    assert bad.status_code == 400 and "RA must be within" in bad.text
    none = session.post(f"{archive.base}/search/download?run=NoSuchRun", timeout=30)
    assert none.status_code == 400 and "no results" in none.text
    for run in ("%00", "SRc01%00", "-x"):
        resp = session.get(f"{archive.base}/runs/{run}/exo.tar", timeout=30)
        assert resp.status_code == 404 and "no run" in resp.text, run
