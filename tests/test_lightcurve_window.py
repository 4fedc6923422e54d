"""The time window of a light curve: the binary search that finds a cut-out's rows
(:func:`row_range`) against a brute-force scan, also with invalid times in the column, and a
windowed read against the whole read of a real file."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from vo_node.products.lightcurve import row_range


def _inside(times: np.ndarray, offset: float, low: float | None, high: float | None) -> np.ndarray:
    """Brute force: which rows have a valid time within the window (as the documents mask)."""
    values = np.asarray(times, dtype="f8")
    keep = np.isfinite(values) & (values > 0)
    mjd = np.where(keep, values + offset, np.nan)
    if low is not None:
        keep &= mjd >= low
    if high is not None:
        keep &= mjd <= high
    return keep


def _covered(times: np.ndarray, offset: float, low: float | None, high: float | None) -> None:
    start, stop = row_range(times, offset, (low, high))
    wanted = np.flatnonzero(_inside(times, offset, low, high))
    assert 0 <= start <= stop <= times.size
    assert wanted.size == 0 or (start <= wanted[0] and wanted[-1] < stop), (low, high)
    # Besides invalid rows, at most one spare valid point on each side.
    values = np.asarray(times[start:stop], dtype="f8")
    valid = int(np.count_nonzero(np.isfinite(values) & (values > 0)))
    assert valid - wanted.size <= 2, (low, high, start, stop, wanted.size)


@pytest.mark.parametrize("invalid_share", [0.0, 0.05, 0.5, 0.95])
def test_row_range_matches_a_scan(invalid_share: float) -> None:
    rng = np.random.default_rng(17)
    n = 5000
    # Irregular steps (gaps are missing rows), big-endian like a FITS column.
    times = (2660.0 + np.cumsum(rng.uniform(0.0001, 0.01, n))).astype(">f8")
    bad = rng.random(n) < invalid_share
    times[bad] = rng.choice([np.nan, 0.0, -1.0], size=int(bad.sum()))
    offset = 51544.5
    valid = times[np.isfinite(times) & (times > 0)] + offset
    first, last = float(valid.min()), float(valid.max())
    cases: list[tuple[float | None, float | None]] = [
        (None, None),
        (first, last),
        (first - 10, first - 5),
        (last + 1, last + 2),
        (None, first),
        (last, None),
        (float(valid[len(valid) // 2]), float(valid[len(valid) // 2])),
    ]
    for _ in range(200):
        a, b = sorted(rng.uniform(first - 1, last + 1, 2))
        cases.append((float(a), float(b)))
    for low, high in cases:
        _covered(times, offset, low, high)


def test_all_invalid_and_empty_columns() -> None:
    for times in (np.full(100, np.nan), np.zeros(0), np.zeros(7)):
        start, stop = row_range(times, 0.0, (1.0, 2.0))
        assert not _inside(times, 0.0, 1.0, 2.0).any()
        assert 0 <= start <= stop <= times.size


def test_windowed_read_equals_the_masked_whole(tmp_path: Path) -> None:
    from vo_node.products.lightcurve import read_lightcurve

    n = 20000
    rng = np.random.default_rng(3)
    raw = 54200.0 + np.arange(n) * (32 / 86400)
    raw[rng.random(n) < 0.01] = np.nan
    status = (rng.random(n) < 0.1).astype(">i4") * 4
    flux = rng.normal(1e6, 100, n).astype(">f4")
    table = fits.BinTableHDU.from_columns(
        [
            fits.Column("DATEBARTT", "D", array=raw),
            fits.Column("STATUS", "J", array=status),
            fits.Column("WHITEFLUX", "E", array=flux),
            fits.Column("WHITEFLUXDEV", "E", array=np.abs(flux) ** 0.5),
        ],
        name="BAR",
    )
    path = tmp_path / "lc.fits"
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(path)
    whole = read_lightcurve(path, "v4-exo")
    offset = 2400000.0 - 2400000.5
    low, high = 54200.0 + offset + 1.25, 54200.0 + offset + 2.5
    part = read_lightcurve(path, "v4-exo", window=(low, high), columns=frozenset({"flux_white"}))
    keep = np.isfinite(whole.time) & (whole.time >= low) & (whole.time <= high)
    assert 0 < int(keep.sum()) < n
    assert np.array_equal(part.time, whole.time[keep])
    assert np.array_equal(part.status, whole.status[keep])
    assert [p.name for p in part.photometry] == ["flux_white"]
    assert np.array_equal(part.photometry[0].values, whole.photometry[0].values[keep])


def test_a_file_out_of_time_order_is_still_cut_right(tmp_path: Path) -> None:
    """The binary search needs time order; a file without it is scanned whole."""
    from vo_node.datalink.soda import CutoutRequest, fits_cutout
    from vo_node.db.policy import ProductFile
    from vo_node.products.lightcurve import read_lightcurve

    n = 3000
    rng = np.random.default_rng(5)
    raw = 54200.0 + rng.permutation(n) * (32 / 86400)  # every time, in no order
    table = fits.BinTableHDU.from_columns(
        [
            fits.Column("DATEBARTT", "D", array=raw),
            fits.Column("STATUS", "J", array=np.zeros(n, dtype=np.int32)),
            fits.Column("WHITEFLUX", "E", array=np.arange(n, dtype=np.float32)),
        ],
        name="BAR",
    )
    path = tmp_path / "shuffled.fits"
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(path)
    offset = 2400000.0 - 2400000.5
    low, high = 54200.0 + offset + 0.2, 54200.0 + offset + 0.4
    keep = (raw + offset >= low) & (raw + offset <= high)
    assert 0 < int(keep.sum()) < n
    part = read_lightcurve(path, "v4-exo", window=(low, high))
    assert np.array_equal(part.time, raw[keep] + offset)
    product = ProductFile(1, "x", "shuffled.fits", 0, "0" * 64, (), layout="v4-exo")
    cut = fits_cutout(path, product, CutoutRequest("1", 1, (low, high), None, "application/fits"))
    with fits.open(io.BytesIO(cut)) as hdul:
        assert np.array_equal(np.asarray(hdul["BAR"].data["DATEBARTT"]), raw[keep])
