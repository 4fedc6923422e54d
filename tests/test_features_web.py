"""The pulsation features on the web (issue 8), over HTTP: the search's pulsation criteria find
exactly the light curves whose published frequencies match (computed independently, by TAP
and from the archive's own rows), through the ADQL the page shows; the product page shows the
features; /products/<id>/periodogram.png and .vot hold the amplitude spectrum with its peak
where the stored dominant frequency is, under the policy of the light curve."""

from __future__ import annotations

import io
import shutil
import time
from pathlib import Path
from urllib.parse import urljoin

import pytest
import requests
from astropy.io.votable import parse
from conftest import Node
from PIL import Image
from policy_archive import Archive, make_archive
from search_page import search_page, tap_ids
from stilts import votlint

FLUSH_S = 0.2  # the usage statistics' writes (the served node's VO_NODE_STATS_FLUSH_S)


def _search(session: requests.Session, base: str, query: str) -> tuple[list[int], list[str], str]:
    """Every result of a search (following 'next'), their class cells, and the page's ADQL."""
    url = f"{base}/search?{query}&per_page=200"
    ids: list[int] = []
    classes: list[str] = []
    adql = ""
    while True:
        page = search_page(session, url)
        ids += page.ids
        classes += page.classes
        adql = adql or page.adql
        if page.links.get("next") is None:
            assert len(ids) == len(set(ids))
            return ids, classes, adql
        url = urljoin(f"{base}/search", page.links.get("next"))


@pytest.fixture
def served_env() -> dict[str, str]:
    return {"VO_NODE_STATS_FLUSH_S": str(FLUSH_S)}


@pytest.fixture
def archive(served: tuple[Node, str]) -> Archive:
    """The served sample with the policy matrix's release dates and callers, its features
    computed (as the archive's owner: every light curve, proprietary ones included)."""
    node, _ = served
    node.cli("features", "--all", check=True, timeout=900)
    return make_archive(served)


def _matching(node: Node, where: str, *params: object) -> set[int]:
    """Products with a signal frequency matching ``where`` (archive.feature_frequencies q:
    the search ignores instrumental, trend and weak ones), read from the archive's own
    tables as their owner (no policy, no ADQL)."""
    rows = node.rows(
        "SELECT DISTINCT q.product_id FROM archive.feature_frequencies q"
        f" WHERE q.kind = 'signal' AND {where}",
        *params,
    )
    return {int(r[0]) for r in rows}  # type: ignore[call-overload]


def test_search_by_pulsation(archive: Archive) -> None:
    node, base = archive.node, archive.base
    anonymous = archive.callers["anonymous"].session
    visible = archive.expected(archive.callers["anonymous"])

    # The example: frequency between 5 and 10 c/d, amplitude above 1 mmag.
    ids, _, adql = _search(anonymous, base, "freq_min=5&freq_max=10&amp_min=1")
    expected = _matching(node, "q.frequency BETWEEN 5 AND 10 AND q.amplitude >= 1") & visible
    assert expected, "the sample has pulsators in 5-10 c/d"
    assert set(ids) == expected
    # The same, independently, as the anonymous caller asks TAP for it.
    by_tap = tap_ids(
        anonymous,
        base,
        "SELECT DISTINCT product_id FROM corot.frequencies"
        " WHERE frequency BETWEEN 5 AND 10 AND amplitude >= 1 AND kind = 'signal'",
    )
    assert set(by_tap) == expected
    # The page's ADQL is the query that ran: through /tap/sync, the same ids in the same order.
    assert "EXISTS (SELECT 1 FROM corot.frequencies" in adql
    assert tap_ids(anonymous, base, adql) == ids

    # One frequency must meet the range and the amplitude together.
    loud = _matching(node, "q.amplitude >= 1") & visible
    in_range = _matching(node, "q.frequency BETWEEN 5 AND 10") & visible
    assert expected <= loud & in_range

    # The dominant frequency only: a subset, exactly the features' own dominant values.
    dominant, _, dominant_adql = _search(
        anonymous, base, "freq_min=5&freq_max=10&amp_min=1&freq_match=dominant"
    )
    rows = node.rows(
        "SELECT product_id FROM archive.features WHERE error IS NULL"
        " AND dominant_frequency BETWEEN 5 AND 10 AND dominant_amplitude >= 1"
    )
    assert set(dominant) == {int(r[0]) for r in rows} & visible  # type: ignore[call-overload]
    assert set(dominant) <= set(ids)
    assert "f.dominant_frequency BETWEEN" in dominant_adql and "EXISTS" not in dominant_adql
    assert tap_ids(anonymous, base, dominant_adql) == dominant
    # A light curve with a frequency in range other than its dominant one is found by "any"
    # only (the sample's multi-periodic pulsators give some).
    only_any = set(ids) - set(dominant)
    assert only_any
    for pid in only_any:
        top = node.rows(
            "SELECT dominant_frequency FROM archive.features WHERE product_id = %s", pid
        )
        assert top[0][0] is None or not 5 <= float(top[0][0]) <= 10  # type: ignore[arg-type]

    # A minimum S/N narrows "any" the same way.
    strong, _, _ = _search(anonymous, base, "freq_min=5&freq_max=10&amp_min=1&snr_min=20")
    assert set(strong) == (
        _matching(node, "q.frequency BETWEEN 5 AND 10 AND q.amplitude >= 1 AND q.snr >= 20")
        & visible
    )

    # The class: every result is of that class, and every light curve of it is a result.
    for var_class in ("pulsator", "eclipsing", "constant"):
        found, classes, class_adql = _search(anonymous, base, f"var_class={var_class}")
        rows = node.rows(
            "SELECT product_id FROM archive.features WHERE error IS NULL AND var_class = %s",
            var_class,
        )
        assert set(found) == {int(r[0]) for r in rows} & visible, var_class  # type: ignore[call-overload]
        assert set(classes) <= {var_class}
        assert tap_ids(anonymous, base, class_adql) == found
    pulsators, _, _ = _search(anonymous, base, "var_class=pulsator")
    assert pulsators

    # Sorted by dominant amplitude, largest first; light curves without features come last.
    ids, _, adql = _search(anonymous, base, "channel=astero&sort=amplitude&order=desc")
    amplitudes = {
        int(r[0]): None if r[1] is None else float(r[1])  # type: ignore[call-overload, arg-type]
        for r in node.rows("SELECT product_id, dominant_amplitude FROM archive.features")
    }
    keys = [amplitudes.get(i) for i in ids]
    with_value = [k for k in keys if k is not None]
    assert with_value == sorted(with_value, reverse=True)
    assert keys == with_value + [None] * (len(keys) - len(with_value))
    assert tap_ids(anonymous, base, adql) == ids


def test_bad_pulsation_input_is_a_400_per_field(archive: Archive) -> None:
    session = archive.callers["anonymous"].session
    cases = {
        "freq_min=-1": ("freq_min", "must be 0"),
        "freq_max=fast": ("freq_max", "not a number"),
        "freq_min=10&freq_max=5": ("freq_max", "must not be below"),
        "amp_min=-0.5": ("amp_min", "must be 0 or more"),
        "snr_min=nan": ("snr_min", "must be 0 or more"),
        "var_class=planet": ("var_class", "one of pulsator"),
        "freq_match=all": ("freq_match", "one of any, dominant"),
    }
    for query, (field, message) in cases.items():
        page = search_page(session, f"{archive.base}/search?{query}", status=400)
        assert any(e.startswith(f"{field}: ") and message in e for e in page.field_errors), (
            query,
            page.field_errors,
        )
    text = session.get(f"{archive.base}/search.adql?freq_min=-1", timeout=30)
    assert text.status_code == 400 and "freq_min" in text.text


def _strongest(archive: Archive) -> tuple[int, float, float, int]:
    """The public N2 light curve with the loudest dominant frequency: (product id, dominant
    frequency, dominant amplitude, number of frequencies)."""
    visible = archive.expected(archive.callers["anonymous"])
    rows = archive.node.rows(
        "SELECT f.product_id, f.dominant_frequency, f.dominant_amplitude, f.n_frequencies"
        " FROM archive.features f WHERE f.error IS NULL AND f.dominant_frequency IS NOT NULL"
        " AND f.product_id = ANY(%s) ORDER BY f.dominant_snr DESC LIMIT 1",
        sorted(visible),
    )
    pid, freq, amp, n = rows[0]
    return int(pid), float(freq), float(amp), int(n)  # type: ignore[arg-type, call-overload]


def test_product_page_and_periodogram(archive: Archive, tmp_path: Path) -> None:
    node, base = archive.node, archive.base
    session = archive.callers["anonymous"].session
    pid, dominant, amplitude, n_frequencies = _strongest(archive)
    frequencies = node.rows(
        "SELECT rank, frequency, amplitude FROM archive.feature_frequencies"
        " WHERE product_id = %s ORDER BY rank",
        pid,
    )
    assert len(frequencies) == n_frequencies >= 1
    software = node.scalar(
        "SELECT fp.software FROM archive.features f JOIN archive.feature_parameters fp"
        " USING (params_id) WHERE f.product_id = %s",
        pid,
    )

    # The page: the features, each frequency, the software, the plot.
    page = session.get(f"{base}/products/{pid}", timeout=30)
    assert page.status_code == 200
    assert "Pulsation features" in page.text
    assert f"{dominant:.5f} c/d" in page.text and f"{amplitude:.3f} mmag" in page.text
    for rank, freq, _ in frequencies:
        assert f'<td>f{rank}</td><td class="n">{float(freq):.5f}</td>' in page.text  # type: ignore[arg-type]
    assert str(software) in page.text
    assert f"/products/{pid}/periodogram.png" in page.text

    # The plot: a PNG that lists the peaks; cached, conditional.
    png = session.get(f"{base}/products/{pid}/periodogram.png", timeout=120)
    assert png.status_code == 200, png.text[:300]
    assert png.headers["Content-Type"] == "image/png"
    assert "private" in png.headers["Cache-Control"]
    with Image.open(io.BytesIO(png.content)) as image:
        assert image.format == "PNG" and image.size == (900, 420)
        description = image.info["Description"]
        image.verify()
    for rank, freq, _ in frequencies:
        assert f"f{rank} = {float(freq):.4f} c/d" in description  # type: ignore[arg-type]
    cached = list(node.settings.preview_root.rglob(f"*-{pid}-*periodogram*.png"))
    assert len(cached) == 1 and cached[0].read_bytes() == png.content
    again = session.get(
        f"{base}/products/{pid}/periodogram.png",
        headers={"If-None-Match": png.headers["ETag"]},
        timeout=30,
    )
    assert again.status_code == 304

    # The VOTable: valid, strictly; its highest peak where the stored dominant frequency is.
    vot = session.get(f"{base}/products/{pid}/periodogram.vot", timeout=120)
    assert vot.status_code == 200, vot.text[:300]
    assert vot.headers["Content-Type"].startswith("application/x-votable+xml")
    document = parse(io.BytesIO(vot.content), verify="exception")
    table = document.get_first_table()
    params = {p.name: p.value for p in table.params}
    assert int(params["product_id"]) == pid
    assert params["software"] == software
    resolution = float(params["frequency_resolution"])
    assert 0 < resolution < 1
    spectrum = table.to_table()
    assert str(spectrum["frequency"].unit) == "1 / d" and str(spectrum["amplitude"].unit) == "mmag"
    fields = {f.name: f for f in table.fields}
    assert fields["frequency"].ucd == "em.freq" and fields["amplitude"].ucd == "src.var.amplitude"
    peak = int(spectrum["amplitude"].argmax())
    assert abs(float(spectrum["frequency"][peak]) - dominant) <= resolution
    assert abs(float(spectrum["amplitude"][peak]) - amplitude) <= 0.2 * amplitude
    if shutil.which("stilts"):
        path = tmp_path / "periodogram.vot"
        path.write_bytes(vot.content)
        status, report = votlint(path, "version=1.4")
        assert status == 0 and report == "", report[:2000]

    # Computed again, the features give another plot (another cache key).
    node.cli("features", str(pid), check=True)
    fresh = session.get(f"{base}/products/{pid}/periodogram.png", timeout=120)
    assert fresh.status_code == 200 and fresh.headers["ETag"] != png.headers["ETag"]

    # Not computed yet: the page says so, the plot and the VOTable are 404s that say so.
    with node.db.admin() as conn:
        conn.execute("DELETE FROM archive.features WHERE product_id = %s", (pid,))
    page = session.get(f"{base}/products/{pid}", timeout=30)
    assert "not computed yet" in page.text and "periodogram.png" not in page.text
    for suffix in ("png", "vot"):
        resp = session.get(f"{base}/products/{pid}/periodogram.{suffix}", timeout=30)
        assert resp.status_code == 404 and "not computed yet" in resp.text

    # Its file could not be read when they were computed: the page says that instead.
    with node.db.admin() as conn:
        params_id = conn.execute("SELECT min(params_id) FROM archive.feature_parameters")
        conn.execute(
            "INSERT INTO archive.features (product_id, params_id, error) VALUES (%s, %s, %s)",
            (pid, params_id.fetchone()[0], "OSError: unreadable"),  # type: ignore[index]
        )
    page = session.get(f"{base}/products/{pid}", timeout=30)
    assert "could not be read" in page.text and "not computed yet" not in page.text


def _delivered(node: Node, count: int) -> list[tuple[int, int]]:
    """(status, bytes) of the recorded accesses that delivered a product, once there are
    ``count`` of them (the recorder flushes every FLUSH_S)."""
    deadline = time.monotonic() + 30
    while True:
        rows = node.rows(
            "SELECT status, bytes FROM stats.accesses WHERE channel = 'products' AND products = 1"
        )
        if len(rows) >= count or time.monotonic() > deadline:
            time.sleep(5 * FLUSH_S)  # and nothing more comes
            rows = node.rows(
                "SELECT status, bytes FROM stats.accesses"
                " WHERE channel = 'products' AND products = 1"
            )
            return sorted((int(r[0]), int(r[1])) for r in rows)  # type: ignore[call-overload]
        time.sleep(FLUSH_S)


def test_periodograms_follow_the_policy(archive: Archive) -> None:
    node, base = archive.node, archive.base
    products = archive.products()
    anonymous, gi, admin = (archive.callers[c] for c in ("anonymous", "gi_other", "admin"))
    featured = {
        int(r[0])  # type: ignore[call-overload]
        for r in node.rows(
            "SELECT product_id FROM archive.features WHERE error IS NULL AND epoch IS NOT NULL"
        )
    }
    n1 = [int(p["id"]) for p in products if p["level"] == "N1"]  # type: ignore[call-overload]
    hidden_n2 = sorted(featured - archive.expected(gi))
    assert n1 and hidden_n2
    with node.db.admin() as conn:
        conn.execute("DELETE FROM stats.accesses")
    sizes = []
    # Hidden and missing alike: 401 anonymous, 403 with credentials, the same message.
    for suffix in ("png", "vot"):
        answers = set()
        for pid in (n1[0], hidden_n2[0], 10**9):
            resp = anonymous.session.get(f"{base}/products/{pid}/periodogram.{suffix}", timeout=30)
            assert resp.status_code == 401, (pid, suffix)
            answers.add(resp.text.replace(str(pid), "ID"))
        for pid in (hidden_n2[0], 10**9):
            resp = gi.session.get(f"{base}/products/{pid}/periodogram.{suffix}", timeout=30)
            assert resp.status_code == 403, (pid, suffix)
        assert len(answers) == 1
        # Seen, but not an N2 light curve: a 404 that says why.
        resp = admin.session.get(f"{base}/products/{n1[0]}/periodogram.{suffix}", timeout=30)
        assert resp.status_code == 404 and "N2 light curves only" in resp.text
        # A caller with rights has the hidden one.
        resp = admin.session.get(
            f"{base}/products/{hidden_n2[0]}/periodogram.{suffix}", timeout=120
        )
        assert resp.status_code == 200, resp.text[:300]
        sizes.append(len(resp.content))
    page = admin.session.get(f"{base}/products/{n1[0]}", timeout=30)
    assert page.status_code == 200 and "computed for the N2 light curves only" in page.text
    # The class filter finds exactly the light curves of that class the caller may see.
    found = {"anonymous": 0, "admin": 0}
    for var_class in ("pulsator", "constant"):
        rows = node.rows("SELECT product_id FROM archive.features WHERE var_class = %s", var_class)
        of_class = {int(r[0]) for r in rows}  # type: ignore[call-overload]
        for name, caller in (("anonymous", anonymous), ("admin", admin)):
            ids, classes, _ = _search(caller.session, base, f"var_class={var_class}")
            assert ids and set(ids) == of_class & archive.expected(caller), (name, var_class)
            assert set(classes) == {var_class}
            found[name] += len(ids)
    assert found["anonymous"] < found["admin"]  # the policy hid some

    # The statistics: a plot and a VOTable each count as a product delivered, as a preview
    # and a light-curve document do (the refusals and 404s as accesses without one).
    public = sorted(featured & archive.expected(anonymous))[0]
    for suffix in ("png", "vot"):
        resp = anonymous.session.get(f"{base}/products/{public}/periodogram.{suffix}", timeout=120)
        assert resp.status_code == 200
        sizes.append(len(resp.content))
    assert _delivered(node, len(sizes)) == sorted((200, size) for size in sizes)
