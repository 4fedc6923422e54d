"""/products/<id>.vot and .csv: a product's light curve as VOTable and CSV, under the policy.

The documents are checked against what the ingest recorded of each file (n_points, n_good,
t_min/t_max, time_scale/time_refpos), for products of every layout of the sample.
"""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import numpy as np
import pytest
import requests
from astropy.io.votable import parse
from astropy.timeseries import TimeSeries
from conftest import Node
from stilts import votlint

from vo_node.auth import store
from vo_node.auth.passwords import hash_password

PASSWORD = "long enough pw"
PUBLIC_LAYOUTS = {"v4-exo", "v4-astero", "v1-3-exo", "v1-3-astero"}
N1_LAYOUTS = {"n1-exo", "n1-astero"}
_PRODUCT = (
    "SELECT product_id, layout, time_scale, time_refpos, n_points, n_good, t_min, t_max,"
    " version FROM archive.products"
)


def _one_per_layout(rows: list[tuple[object, ...]]) -> dict[str, tuple[object, ...]]:
    found: dict[str, tuple[object, ...]] = {}
    for row in rows:
        found.setdefault(str(row[1]), row)
    return found


def _check_documents(
    session: requests.Session, base: str, product: tuple[object, ...], tmp_path: Path
) -> Path:
    """Fetch the .vot and .csv of ``product`` and check them against its catalogue row;
    return the path of the saved VOTable."""
    pid, layout, scale, refpos, n_points, n_good, t_min, t_max, version = product
    resp = session.get(f"{base}/products/{pid}.vot", timeout=60)
    assert resp.status_code == 200, (layout, resp.status_code, resp.text[:300])
    assert resp.headers["Content-Type"].startswith("application/x-votable+xml")
    path = tmp_path / f"{pid}.vot"
    path.write_bytes(resp.content)

    votable = parse(str(path), verify="exception")
    (system,) = votable.resources[0].time_systems
    assert (system.timescale, system.refposition) == (scale, refpos), layout
    assert float(system.timeorigin) == 2400000.5
    table = votable.get_first_table()
    fields = {f.name: f for f in table.fields}
    assert fields["time"].ref == system.ID
    assert (fields["time"].unit.to_string(), fields["time"].ucd) == ("d", "time.epoch")
    assert fields["status"].ucd == "meta.code.qual"
    fluxes = [f for f in table.fields if f.ucd and f.ucd.startswith("phot.flux")]
    assert fluxes, layout
    params = {p.name: p.value for p in table.params}
    assert int(params["product_id"]) == pid
    assert params["version"] == version
    assert int(params["exptime"]) in (32, 512)

    data = table.to_table()
    assert len(data) == n_points, layout
    times = np.asarray(data["time"], dtype=float)
    valid = times[np.isfinite(times)]
    assert abs(valid[0] - float(t_min)) <= 1e-9 and abs(valid[-1] - float(t_max)) <= 1e-9  # type: ignore[arg-type]
    assert int(np.sum(np.asarray(data["status"]) == 0)) == n_good, layout

    series = TimeSeries.read(
        str(path), format="votable", time_column="time", time_format="mjd", time_scale="tt"
    )
    assert len(series) == n_points
    assert abs(series.time[0].mjd - float(t_min)) <= 1e-9  # type: ignore[arg-type]

    resp = session.get(f"{base}/products/{pid}.csv", timeout=60)
    assert resp.status_code == 200, (layout, resp.status_code)
    assert resp.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(resp.text)))
    assert rows[0] == list(data.colnames)
    assert len(rows) - 1 == n_points
    for i, name in enumerate(data.colnames):
        column = data[name]
        texts = [r[i] for r in rows[1:]]
        mask = np.ma.getmaskarray(column)
        assert [t == "" for t in texts] == mask.tolist(), (layout, name)
        kind = np.asarray(column).dtype.type
        got = np.array([kind(float(t)) for t, m in zip(texts, mask, strict=True) if not m])
        assert np.array_equal(got, np.asarray(column)[~mask]), (layout, name)
    return path


def test_documents_of_every_layout_match_the_catalogue(
    served: tuple[Node, str], tmp_path: Path
) -> None:
    node, base = served
    public = _one_per_layout(node.public_rows(_PRODUCT + " ORDER BY product_id"))
    assert set(public) >= PUBLIC_LAYOUTS, sorted(public)
    anonymous = requests.Session()
    for layout in sorted(PUBLIC_LAYOUTS):
        _check_documents(anonymous, base, public[layout], tmp_path)


def test_n1_documents_follow_the_policy(served: tuple[Node, str], tmp_path: Path) -> None:
    node, base = served
    n1 = _one_per_layout(node.rows(_PRODUCT + " WHERE level = 'N1' ORDER BY product_id"))
    assert set(n1) >= N1_LAYOUTS, sorted(n1)
    visible = {r[0] for r in node.public_rows("SELECT product_id FROM archive.products")}
    missing = int(node.scalar("SELECT max(product_id) + 1000 FROM archive.products"))  # type: ignore[call-overload]
    with node.db.admin() as conn:
        store.create_user(conn, "n1user", password_hash=hash_password(PASSWORD))
        store.add_member(conn, "n1user", "n1-community")
    member = requests.Session()
    member.auth = ("n1user", PASSWORD)
    for layout in sorted(N1_LAYOUTS):
        pid = n1[layout][0]
        assert pid not in visible
        for suffix in ("vot", "csv", "fits"):
            hidden = requests.get(f"{base}/products/{pid}.{suffix}", timeout=30)
            absent = requests.get(f"{base}/products/{missing}.{suffix}", timeout=30)
            assert hidden.status_code == absent.status_code == 401, suffix
            assert hidden.text.replace(str(pid), "ID") == absent.text.replace(str(missing), "ID")
            assert hidden.headers["Content-Type"] == absent.headers["Content-Type"]
            assert (
                hidden.raw.headers.getlist("WWW-Authenticate")
                == absent.raw.headers.getlist("WWW-Authenticate")
                != []
            )
        _check_documents(member, base, n1[layout], tmp_path)


def test_bad_ids_and_unreadable_files(served: tuple[Node, str]) -> None:
    node, base = served
    for suffix in ("vot", "csv"):
        for bad in ("abc", "1.5", "-3", "0x10"):
            resp = requests.get(f"{base}/products/{bad}.{suffix}", timeout=30)
            assert resp.status_code == 404, (bad, suffix)
    # Every stored copy of a product cut short: the file is there but no light curve.
    pid, archive_path = node.public_rows(
        "SELECT product_id, archive_path FROM archive.products ORDER BY product_id LIMIT 1"
    )[0]
    for root in node.settings.roots:
        stored = root / str(archive_path)
        stored.write_bytes(stored.read_bytes()[:4000])
    for suffix in ("vot", "csv"):
        resp = requests.get(f"{base}/products/{pid}.{suffix}", timeout=30)
        assert resp.status_code == 503, (suffix, resp.status_code, resp.text[:300])
        assert resp.headers["Content-Type"].startswith("text/plain")
        assert "Traceback" not in resp.text and "can be read" in resp.text


@pytest.mark.skipif(shutil.which("stilts") is None, reason="STILTS (votlint) is not installed")
def test_votlint_accepts_the_documents(served: tuple[Node, str], tmp_path: Path) -> None:
    node, base = served
    public = _one_per_layout(node.public_rows(_PRODUCT + " ORDER BY product_id"))
    assert set(public) >= PUBLIC_LAYOUTS
    for layout in sorted(PUBLIC_LAYOUTS):
        pid = public[layout][0]
        resp = requests.get(f"{base}/products/{pid}.vot", timeout=60)
        assert resp.status_code == 200
        path = tmp_path / f"{pid}.vot"
        path.write_bytes(resp.content)
        status, report = votlint(path, "version=1.4")
        assert status == 0 and report == "", f"{layout}:\n{report[:2000]}"
