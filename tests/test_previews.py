"""/products/<id>/preview.png: a PNG plot of a product's light curve, rendered once into the
disk cache and served from it, under the policy; and the renderer's choice of points."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import requests
from conftest import Node
from PIL import Image

from vo_node.db.policy import ProductFile
from vo_node.products import preview
from vo_node.products.lightcurve import LAYOUTS, LightCurve, Photometry

PUBLIC_LAYOUTS = {"v4-exo", "v4-astero", "v1-3-exo", "v1-3-astero"}
SIZE = (800, 400)
_PRODUCT = "SELECT product_id, layout, sha256 FROM archive.products"


def _one_per_layout(rows: list[tuple[object, ...]]) -> dict[str, tuple[int, str, str]]:
    found: dict[str, tuple[int, str, str]] = {}
    for pid, layout, sha in rows:
        found.setdefault(str(layout), (int(pid), str(layout), str(sha).strip()))  # type: ignore[call-overload]
    return found


def _cached(root: Path, sha: str, pid: object) -> Path:
    """Where the documented cache layout keeps the preview of product ``pid``, file ``sha``."""
    return root / sha[:2] / f"{sha}-{pid}-{preview.RENDER_VERSION}.png"


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def _preview_root(node: Node) -> Path:
    # The server runs with node.env(): check that it derives the same root as the test.
    env = node.env()
    assert env["VO_NODE_VAR_DIR"] == str(node.settings.var_dir)
    assert "VO_NODE_PREVIEW_DIR" not in env
    return node.settings.preview_root


def _check_png(resp: requests.Response) -> None:
    assert resp.status_code == 200, (resp.status_code, resp.text[:300])
    assert resp.headers["Content-Type"] == "image/png"
    assert "private" in resp.headers["Cache-Control"]
    with Image.open(io.BytesIO(resp.content)) as image:
        assert image.format == "PNG"
        assert image.size == SIZE
        image.verify()


def test_previews_of_every_layout_are_rendered_once_and_cached(
    served: tuple[Node, str],
) -> None:
    node, base = served
    root = _preview_root(node)
    public = _one_per_layout(node.public_rows(_PRODUCT + " ORDER BY product_id"))
    assert set(public) >= PUBLIC_LAYOUTS, sorted(public)
    for layout in sorted(PUBLIC_LAYOUTS):
        pid, _, sha = public[layout]
        # The root outlives one test (it is under the session's var_dir): start from a miss.
        _cached(root, sha, pid).unlink(missing_ok=True)
        before = _files(root)
        first = requests.get(f"{base}/products/{pid}/preview.png", timeout=60)
        _check_png(first)
        path = _cached(root, sha, pid)
        assert _files(root) - before == {path}, layout
        assert before - _files(root) == set()
        assert path.read_bytes() == first.content
        mtime = path.stat().st_mtime_ns

        second = requests.get(f"{base}/products/{pid}/preview.png", timeout=60)
        _check_png(second)
        assert second.content == first.content
        assert path.stat().st_mtime_ns == mtime, f"{layout}: the cached file was rewritten"
        assert _files(root) - before == {path}

        etag = first.headers["ETag"]
        assert etag == f'"{sha}-{pid}-{preview.RENDER_VERSION}"' == second.headers["ETag"]
        again = requests.get(
            f"{base}/products/{pid}/preview.png", headers={"If-None-Match": etag}, timeout=60
        )
        assert again.status_code == 304, layout
        assert again.content == b""


def test_previews_follow_the_policy(served: tuple[Node, str]) -> None:
    node, base = served
    root = _preview_root(node)
    n1 = _one_per_layout(node.rows(_PRODUCT + " WHERE level = 'N1' ORDER BY product_id"))
    assert n1
    visible = {r[0] for r in node.public_rows("SELECT product_id FROM archive.products")}
    missing = int(node.scalar("SELECT max(product_id) + 1000 FROM archive.products"))  # type: ignore[call-overload]
    absent = requests.get(f"{base}/products/{missing}/preview.png", timeout=30)
    assert absent.status_code == 401
    for pid, layout, sha in n1.values():
        assert pid not in visible
        _cached(root, sha, pid).unlink(missing_ok=True)
        before = _files(root)
        hidden = requests.get(f"{base}/products/{pid}/preview.png", timeout=30)
        assert hidden.status_code == absent.status_code, layout
        assert hidden.text.replace(str(pid), "ID") == absent.text.replace(str(missing), "ID")
        assert hidden.headers["Content-Type"] == absent.headers["Content-Type"]
        assert (
            hidden.raw.headers.getlist("WWW-Authenticate")
            == absent.raw.headers.getlist("WWW-Authenticate")
            != []
        )
        assert _files(root) == before, f"{layout}: a hidden product's preview was cached"

    for bad in ("abc", "1.5", "-3"):
        assert requests.get(f"{base}/products/{bad}/preview.png", timeout=30).status_code == 404

    # Every stored copy cut short, and no preview cached yet: 503, and nothing cached.
    cut, archive_path, cut_sha = node.public_rows(
        "SELECT product_id, archive_path, sha256 FROM archive.products"
        " ORDER BY product_id DESC LIMIT 1"
    )[0]
    _cached(root, str(cut_sha).strip(), cut).unlink(missing_ok=True)
    for storage in node.settings.roots:
        stored = storage / str(archive_path)
        stored.write_bytes(stored.read_bytes()[:4000])
    before = _files(root)
    resp = requests.get(f"{base}/products/{cut}/preview.png", timeout=30)
    assert resp.status_code == 503, (resp.status_code, resp.text[:300])
    assert resp.headers["Content-Type"].startswith("text/plain")
    assert "Traceback" not in resp.text and "can be read" in resp.text
    assert _files(root) == before


# The renderer, on curves made here.

_PRODUCT_FILE = ProductFile(
    product_id=1,
    archive_path="x.fits",
    file_name="x.fits",
    file_size=1,
    sha256="ab" * 32,
    good_sites=("a",),
    layout="v4-exo",
    time_scale="TT",
    time_refpos="BARYCENTER",
    corotid=102912345,
    run_code="LRc01",
    version="4.0",
    level="N2",
    product_type="EN2_STAR_CHR",
)


def _flux(band: str, values: np.ndarray) -> Photometry:
    return Photometry(f"flux_{band}", f"{band.upper()}FLUX", "flux", band, values)


def _curve(time: np.ndarray, status: np.ndarray, *photometry: Photometry) -> LightCurve:
    return LightCurve(LAYOUTS["v4-exo"], time, status.astype(np.int32), list(photometry))


def _png_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        image.verify()
        return image.size


def test_plotted_points_separate_good_and_flagged() -> None:
    time = 55000.0 + np.arange(8, dtype=np.float64)
    time[5] = np.nan  # no valid time: neither good nor flagged
    status = np.array([0, 4, 0, 0, 16, 0, 0, 2])
    white = np.arange(8, dtype=np.float32) * 10
    white[6] = np.nan  # no valid flux
    background = Photometry("background", "BG", "background", None, np.ones(8, np.float32))
    red = _flux("red", np.full(8, 1e6, np.float32))
    points = preview.plotted_points(_curve(time, status, red, background, _flux("white", white)))
    assert points.label == "white"  # the white flux wins over a colour
    assert points.good_time.tolist() == [55000.0, 55002.0, 55003.0]
    assert points.good_flux.tolist() == [0.0, 20.0, 30.0]
    assert points.flagged_time.tolist() == [55001.0, 55004.0, 55007.0]
    assert points.flagged_flux.tolist() == [10.0, 40.0, 70.0]
    assert (
        _png_size(preview.render_png(_curve(time, status, _flux("white", white)), _PRODUCT_FILE))
        == SIZE
    )


def test_three_colour_curves_plot_the_sum_of_the_colours() -> None:
    time = 55000.0 + np.arange(4, dtype=np.float64)
    status = np.array([0, 0, 1, 0])
    red = _flux("red", np.array([1, 2, 3, np.nan], np.float32))
    green = _flux("green", np.array([10, 20, 30, 40], np.float32))
    blue = _flux("blue", np.array([100, 200, 300, 400], np.float32))
    points = preview.plotted_points(_curve(time, status, red, green, blue))
    assert points.label == "red+green+blue"
    # A point missing a colour has no sum.
    assert points.good_flux.tolist() == [111.0, 222.0]
    assert points.flagged_flux.tolist() == [333.0]


@pytest.mark.parametrize("kind", ["no points", "no valid time", "no flux column"])
def test_empty_curves_still_render(kind: str) -> None:
    n = 0 if kind == "no points" else 5
    time = np.full(n, np.nan) if kind == "no valid time" else 55000.0 + np.arange(n)
    photometry = [] if kind == "no flux column" else [_flux("white", np.ones(n, np.float32))]
    lc = _curve(time, np.zeros(n), *photometry)
    points = preview.plotted_points(lc)
    assert points.good_time.size == points.flagged_time.size == 0
    assert _png_size(preview.render_png(lc, _PRODUCT_FILE)) == SIZE


def test_large_curves_are_reduced_per_column(monkeypatch: pytest.MonkeyPatch) -> None:
    n = 400_000
    rng = np.random.default_rng(5)
    time = 55000.0 + np.arange(n) * 32 / 86400
    flux = (1e5 + rng.normal(0, 100, n)).astype(np.float32)
    status = np.where(rng.random(n) < 0.1, 8, 0)
    lc = _curve(time, status, _flux("white", flux))
    reduced: list[int] = []
    envelope = preview.column_envelope

    def spy(t: np.ndarray, f: np.ndarray, columns: int = preview.COLUMNS) -> preview.Envelope:
        reduced.append(t.size)
        return envelope(t, f, columns)

    monkeypatch.setattr(preview, "column_envelope", spy)
    assert _png_size(preview.render_png(lc, _PRODUCT_FILE)) == SIZE
    points = preview.plotted_points(lc)
    # Both the good and the flagged points (40,000 of them) went through the reduction.
    assert sorted(reduced) == sorted([points.good_time.size, points.flagged_time.size])


def test_the_envelope_keeps_the_extremes_of_every_column() -> None:
    rng = np.random.default_rng(11)
    n, columns = 50_000, 97
    time = np.sort(55000.0 + rng.random(n) * 3.0)
    time[1000:3000] = time[999]  # many points at one time
    flux = rng.normal(0, 1, n)
    envelope = preview.column_envelope(time, flux, columns)
    start, width = time.min(), (time.max() - time.min()) / columns
    # Brute force: the points of each column, found from its edges.
    expected_low, expected_high, expected_centre = [], [], []
    for i in range(columns):
        inside = (time >= start + i * width) & (time < start + (i + 1) * width)
        if i == columns - 1:
            inside |= time == time.max()
        if inside.any():
            expected_low.append(flux[inside].min())
            expected_high.append(flux[inside].max())
            expected_centre.append(start + (i + 0.5) * width)
    assert envelope.low.tolist() == expected_low
    assert envelope.high.tolist() == expected_high
    assert np.allclose(envelope.time, expected_centre, rtol=0, atol=1e-9)
    assert np.all(np.diff(envelope.time) > 0)
    assert envelope.low.min() == flux.min() and envelope.high.max() == flux.max()
    # A curve of one instant is one column.
    one = preview.column_envelope(np.full(3, 55000.0), np.array([2.0, -1.0, 5.0]))
    assert (one.time.tolist(), one.low.tolist(), one.high.tolist()) == ([55000.0], [-1.0], [5.0])


def test_the_cache_renders_once_and_writes_whole_files(tmp_path: Path) -> None:
    root = tmp_path / "previews"
    cache = preview.PreviewCache(root)
    calls: list[int] = []

    def make() -> tuple[bytes, bool]:
        calls.append(1)
        return b"png bytes", True

    assert cache.get(_PRODUCT_FILE, make) == b"png bytes"
    path = _cached(root, "ab" * 32, 1)
    assert path.read_bytes() == b"png bytes"
    assert cache.get(_PRODUCT_FILE, make) == b"png bytes" and len(calls) == 1
    # The same file as another product: its own picture (the title names the product).
    twin = ProductFile(**{**_PRODUCT_FILE.__dict__, "product_id": 2})
    assert cache.key(twin) != cache.key(_PRODUCT_FILE)

    other = ProductFile(**{**_PRODUCT_FILE.__dict__, "sha256": "cd" * 32})

    def broken() -> tuple[bytes, bool]:
        raise RuntimeError("no picture")

    with pytest.raises(RuntimeError):
        cache.get(other, broken)
    # Nothing cached, and no temporary file left behind.
    assert _files(root) == {path}
    # Drawn from a copy not known to be good: served, not kept.
    assert cache.get(other, lambda: (b"unsure", False)) == b"unsure"
    assert _files(root) == {path}

    bad = ProductFile(**{**_PRODUCT_FILE.__dict__, "sha256": "../" * 20 + "abcd"})
    with pytest.raises(ValueError):
        cache.get(bad, make)
