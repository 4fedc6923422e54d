"""The memory-mapped FITS tables (vo_node/products/fitstable.py) against astropy: the same
values for every table of every file of the generated sample, cut-out files that astropy
reads back with the rows and columns asked for, and a fallback for what is not mapped."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from conftest import fits_files

from vo_node.products.fitstable import TableFormatError, map_table, table_bytes


def _same(mapped: np.ndarray, reference: np.ndarray) -> bool:
    if mapped.dtype.kind == "S":
        return [bytes(v).rstrip(b" \0") for v in mapped] == [
            str(v).rstrip().encode() for v in reference
        ]
    return bool(np.array_equal(mapped, np.asarray(reference), equal_nan=mapped.dtype.kind == "f"))


def test_every_table_of_the_sample_reads_as_astropy_reads_it(sample_dir: Path) -> None:
    files = fits_files(sample_dir)
    assert len(files) > 100
    tables = 0
    for path in files:
        with fits.open(path) as hdul:
            for hdu in hdul[1:]:
                if not isinstance(hdu, fits.BinTableHDU):
                    continue
                mapped = map_table(path, hdu.name)
                assert mapped is not None, (path, hdu.name)
                assert mapped.names == list(hdu.columns.names)
                assert len(mapped.rows) == len(hdu.data)
                for name in mapped.names:
                    assert _same(mapped.rows[name], hdu.data[name]), (path.name, hdu.name, name)
                assert mapped.primary == hdul[0].header
                tables += 1
    assert tables > len(files)


def test_cutout_files_keep_the_rows_and_columns_asked_for(sample_dir: Path) -> None:
    path = next(
        p
        for p in fits_files(sample_dir)
        if p.name.startswith("EN2_STAR_CHR") and "N2-4.4" in p.parts  # a version 4 file: BAR
    )
    with fits.open(path) as hdul:
        reference = hdul["BAR"].data.copy()
        units = {c.name: c.unit for c in hdul["BAR"].columns}
    table = map_table(path, "BAR")
    assert table is not None
    pick = np.zeros(len(table.rows), dtype=bool)
    pick[10:200:3] = True
    keep = ["DATEBARTT", "STATUS", "WHITEFLUX"]
    for columns in (None, keep):
        data = table_bytes(table, table.rows[pick], columns, "test cut-out")
        assert len(data) % 2880 == 0
        with fits.open(io.BytesIO(data)) as out:
            out.verify("exception")
            assert out[0].header == table.primary
            got = out["BAR"].data
            assert list(got.columns.names) == (columns or table.names)
            assert len(got) == int(pick.sum())
            for name in got.columns.names:
                expected = np.asarray(reference[name])[pick]  # astropy's reading of the file
                assert np.array_equal(
                    np.asarray(got[name]), expected, equal_nan=expected.dtype.kind == "f"
                ), name
                assert got.columns[name].unit == units[name]
            assert "test cut-out" in str(out["BAR"].header["HISTORY"])


def test_what_is_not_mapped_and_what_is_not_fits(tmp_path: Path) -> None:
    plain = fits.BinTableHDU.from_columns(
        [fits.Column("FLUX", "J", array=np.arange(5, dtype=np.int32))], name="BAR"
    )
    path = tmp_path / "scaled.fits"
    fits.HDUList([fits.PrimaryHDU(), plain]).writeto(path)
    assert map_table(path, "BAR") is not None
    fits.setval(path, "TSCAL1", value=0.5, ext=1)
    assert map_table(path, "BAR") is None  # astropy reads it instead
    with pytest.raises(KeyError):
        map_table(path, "HEL")
    cut = tmp_path / "cut.fits"
    cut.write_bytes(path.read_bytes()[:4000])
    with pytest.raises(TableFormatError):
        map_table(cut, "BAR")
    text = tmp_path / "text.fits"
    text.write_bytes(b"not a FITS file at all\n" * 200)
    with pytest.raises(TableFormatError):
        map_table(text, "BAR")
