"""Ingest of generated deliveries into the real database and both storage roots."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from conftest import Node, fits_files

from vo_node.storage import sha256_file


def test_ingest_registers_every_layout_and_version(node: Node, sample_dir: Path) -> None:
    proc = node.cli("ingest", "--json", str(sample_dir))
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    files = fits_files(sample_dir)
    assert summary["seen"] == len(files)
    assert summary["rejected"] == 0 and summary["skipped"] == 0
    assert summary["ingested"] == len(files)

    stored = {r[0] for r in node.rows("SELECT file_name FROM archive.products WHERE level = 'N2'")}
    n2_files = {p.name for p in files if p.name.split("_")[0] in {"EN2", "AN2"}}
    assert stored == n2_files

    layouts = {r[0] for r in node.rows("SELECT DISTINCT layout FROM archive.products")}
    assert layouts == {"v4-exo", "v4-astero", "v1-3-exo", "v1-3-astero", "n1-exo", "n1-astero"}
    types = {r[0] for r in node.rows("SELECT DISTINCT product_type FROM archive.products")}
    assert {"EN2_STAR_CHR", "EN2_STAR_MON", "AN2_STAR"} <= types
    assert any(t.startswith("EN1_ALERT_") for t in types)
    versions = {r[0] for r in node.rows("SELECT DISTINCT version FROM archive.products")}
    assert "N2-4.4" in versions and any(v.startswith("N2-") and v != "N2-4.4" for v in versions)


def test_every_product_has_two_verified_copies(node: Node, sample_dir: Path) -> None:
    node.cli("ingest", str(sample_dir), check=True)
    rows = node.rows("SELECT archive_path, sha256, file_size FROM archive.products")
    assert rows
    for relpath, sha, size in rows:
        for root in node.settings.roots:
            copy = root / str(relpath)
            assert copy.stat().st_size == size
            assert sha256_file(copy) == str(sha)
    copies = node.scalar("SELECT count(*) FROM archive.product_copies WHERE status = 'ok'")
    assert copies == 2 * len(rows)


def test_metadata_matches_the_headers_and_the_truth(node: Node, sample_dir: Path) -> None:
    import csv

    node.cli("ingest", str(sample_dir), check=True)
    truth = {int(r["corotid"]): r for r in csv.DictReader((sample_dir / "truth.csv").open())}
    stars = node.rows("SELECT source_id, ra, dec, mag_v FROM archive.stars")
    assert {int(s[0]) for s in stars} == set(truth)
    for source_id, ra, dec, _ in stars:
        t = truth[int(source_id)]
        if ra is not None:  # a star whose files all lack a position stays unknown
            assert abs(float(ra) - float(t["ra"])) < 1e-6
            assert abs(float(dec) - float(t["dec"])) < 1e-6
    # Positions are pgSphere points that the GiST index answers: a cone around a known star.
    source_id, ra, dec, _ = next(s for s in stars if s[1] is not None)
    found = node.scalar(
        "SELECT count(*) FROM archive.stars WHERE pos <@ scircle(spoint(radians(%s), radians(%s)),"
        " radians(0.0001))",
        ra,
        dec,
    )
    assert found == 1
    # Times are MJD inside the mission; the range and the point counts are consistent.
    bad = node.scalar(
        "SELECT count(*) FROM archive.products WHERE t_min < 54100 OR t_max > 56300"
        " OR n_good > n_points OR n_points = 0"
    )
    assert bad == 0


def _first_time(path: Path) -> tuple[float, float]:
    """The first and last time stamp of a file as MJD, read independently with astropy,
    following docs/corot-files.md: v4 columns are JD - 2400000, v1-3 columns CoRoT JD
    (JD - 2451545)."""
    from astropy.io import fits

    with fits.open(path) as hdul:
        names = {h.name for h in hdul}
        if "BARFILL" in names or ("BAR" in names and "DATEBARTT" in hdul["BAR"].columns.names):
            values = hdul["BAR"].data["DATEBARTT"] - 0.5
        elif "BINTABLE" in names:
            values = hdul["BINTABLE"].data["DATEHEL"] + 51544.5
        elif "HEL" in names:
            values = hdul["HEL"].data["DATEHEL"] + 51544.5
        else:  # N1 astero: RAW only
            values = hdul["RAW"].data["DATETT"] - 0.5
    return float(values.min()), float(values.max())


def test_time_ranges_are_mjd_of_the_files(node: Node, sample_dir: Path) -> None:
    node.cli("ingest", str(sample_dir), check=True)
    rows = node.rows("SELECT file_name, archive_path, t_min, t_max, layout FROM archive.products")
    by_layout: dict[str, int] = {}
    for _, relpath, t_min, t_max, layout in rows:
        expected = _first_time(node.settings.roots[0] / str(relpath))
        assert abs(float(t_min) - expected[0]) < 1e-9, (relpath, t_min, expected)  # type: ignore[arg-type]
        assert abs(float(t_max) - expected[1]) < 1e-9, (relpath, t_max, expected)  # type: ignore[arg-type]
        by_layout[str(layout)] = by_layout.get(str(layout), 0) + 1
    assert len(by_layout) == 6
    # Versions 1-3 and 4 of one star and run count time differently; both must land on the
    # same MJD (the start does not move between versions; light-time corrections differ by
    # seconds).
    pairs = node.rows(
        "SELECT a.t_min, b.t_min FROM archive.products a JOIN archive.products b"
        " USING (star_id, run_id, series)"
        " WHERE a.layout LIKE 'v4-%%' AND b.layout LIKE 'v1-3-%%'"
    )
    assert pairs
    for v4_start, v13_start in pairs:
        assert abs(float(v4_start) - float(v13_start)) < 0.01  # type: ignore[arg-type]


def test_latest_view_picks_the_newest_version(node: Node, sample_dir: Path) -> None:
    node.cli("ingest", str(sample_dir), check=True)
    multi = node.rows(
        "SELECT star_id, run_id, series, max(version_rank), count(*) FROM archive.products"
        " WHERE level = 'N2' GROUP BY 1, 2, 3 HAVING count(*) > 1"
    )
    assert multi, "the sample holds several versions of some products"
    for star_id, run_id, series, newest, _ in multi:
        latest = node.rows(
            "SELECT version_rank FROM archive.products_latest"
            " WHERE star_id = %s AND run_id = %s AND series = %s",
            star_id,
            run_id,
            series,
        )
        assert latest == [(newest,)]
    total = node.scalar("SELECT count(*) FROM archive.products")
    latest_total = node.scalar("SELECT count(*) FROM archive.products_latest")
    assert latest_total == total - sum(int(m[4]) - 1 for m in multi)  # type: ignore[call-overload]


def test_reingest_skips_everything(node: Node, sample_dir: Path) -> None:
    node.cli("ingest", str(sample_dir), check=True)
    before = node.rows("SELECT product_id, sha256 FROM archive.products ORDER BY 1")
    second = json.loads(node.cli("ingest", "--json", str(sample_dir), check=True).stdout)
    assert second["ingested"] == 0
    assert second["skipped"] == second["seen"] == len(fits_files(sample_dir))
    assert node.rows("SELECT product_id, sha256 FROM archive.products ORDER BY 1") == before


def test_new_version_sits_beside_the_old(node: Node, sample_dir: Path, tmp_path: Path) -> None:
    """A re-processed run arrives as a new version directory: both versions stay."""
    original = next(p for p in fits_files(sample_dir) if "/N2-4.4/" in str(p))
    node.cli("ingest", str(original), check=True)
    newer = tmp_path / "N2-4.5" / original.relative_to(sample_dir / "N2-4.4")
    newer.parent.mkdir(parents=True)
    shutil.copyfile(original, newer)
    # Same name, new version label and different bytes (a re-processing changes the data).
    from astropy.io import fits

    with fits.open(newer, mode="update") as hdul:
        hdul[0].header["HISTORY"] = "re-processed"
    assert sha256_file(newer) != sha256_file(original)
    node.cli("ingest", str(newer), check=True)
    versions = node.rows(
        "SELECT version FROM archive.products WHERE file_name = %s ORDER BY version_rank",
        original.name,
    )
    assert versions == [("N2-4.4",), ("N2-4.5",)]
    latest = node.rows(
        "SELECT version FROM archive.products_latest WHERE file_name = %s", original.name
    )
    assert latest == [("N2-4.5",)]
    paths = node.rows(
        "SELECT archive_path, sha256 FROM archive.products WHERE file_name = %s", original.name
    )
    for relpath, sha in paths:
        for root in node.settings.roots:
            assert sha256_file(root / str(relpath)) == str(sha)
    assert {str(p[1]) for p in paths} == {sha256_file(original), sha256_file(newer)}


def test_summary_line_and_landing_counts(node: Node, sample_dir: Path) -> None:
    proc = node.cli("ingest", str(sample_dir), check=True)
    n = len(fits_files(sample_dir))
    assert (
        proc.stdout.strip()
        .splitlines()[-1]
        .startswith(f"{n} files seen, {n} ingested, 0 skipped as already present, 0 rejected")
    )
    assert node.scalar("SELECT ingested FROM archive.ingest_runs") == n
