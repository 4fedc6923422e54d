"""Bad files, missing storage, and a killed ingest: nothing half-written, nothing lost."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from astropy.io import fits
from conftest import Node, fits_files

from ingest.alerts import group_daily_files
from vo_node.storage import sha256_file


def _copy_some(sample: Path, dest: Path, pattern: str, n: int) -> list[Path]:
    picked = [p for p in fits_files(sample) if re.search(pattern, str(p))][:n]
    out = []
    for path in picked:
        target = dest / path.relative_to(sample)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        out.append(target)
    return out


def _codes(summary: dict, name: str) -> list[str]:
    for r in summary["rejections"]:
        if Path(r["source"]).name == name:
            return [p["code"] for p in r["problems"]]
    raise AssertionError(f"{name} was not rejected: {summary['rejections']}")


def test_bad_files_are_quarantined_and_the_rest_goes_on(
    node: Node, sample_dir: Path, tmp_path: Path
) -> None:
    delivery = tmp_path / "delivery"
    files = _copy_some(sample_dir, delivery, "/N2-4.4/", 6)
    truncated, garbage, no_id, *good = files
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 2])
    garbage.write_bytes(b"this is not a FITS file at all\n" * 200)
    with fits.open(no_id, mode="update") as hdul:
        del hdul[0].header["COROTID"]
    foreign = delivery / "N2-4.4" / "README.fits"
    foreign.write_bytes(b"SIMPLE  =                    T")

    proc = node.cli("ingest", "--json", str(delivery))
    assert proc.returncode == 1  # a file was rejected
    summary = json.loads(proc.stdout)
    assert summary["ingested"] == len(good)
    assert summary["rejected"] == 4
    assert "LC004" in _codes(summary, truncated.name)
    assert "LC003" in _codes(summary, garbage.name)
    assert "LC001" in _codes(summary, no_id.name)
    assert "LC008" in _codes(summary, foreign.name)

    # Quarantined: a copy of each rejected file and a report naming the code and the reason.
    for rejected, code in ((truncated, "LC004"), (garbage, "LC003"), (no_id, "LC001")):
        copies = list(node.settings.quarantine.rglob(rejected.name))
        assert copies and sha256_file(copies[0]) == sha256_file(rejected)
        report = next(node.settings.quarantine.rglob(rejected.name + ".problems.txt")).read_text()
        assert code in report and str(rejected) in report
    assert rejected.exists()  # the delivery itself is untouched
    stored = {r[0] for r in node.rows("SELECT file_name FROM archive.products")}
    assert stored == {p.name for p in good}
    codes = {r[0] for r in node.rows("SELECT DISTINCT code FROM archive.ingest_problems")}
    assert {"LC001", "LC003", "LC004", "LC008"} <= codes


def test_file_cut_at_an_hdu_boundary_is_rejected(
    node: Node, sample_dir: Path, tmp_path: Path
) -> None:
    """An N2 file that lost its last tables must not pass for an N1 file (whose layout has
    only BAR or RAW): the name says N2, so the layout must be an N2 one."""
    delivery = tmp_path / "delivery"
    (mon,) = _copy_some(sample_dir, delivery, r"/N2-4\.4/.*/EN2_STAR_MON_", 1)
    (astero,) = _copy_some(sample_dir, delivery, r"/N2-4\.4/.*/AN2_STAR_", 1)
    for path, keep in ((mon, 2), (astero, 2)):  # PRIMARY + BAR, PRIMARY + RAW
        with fits.open(path) as hdul:
            fits.HDUList([h.copy() for h in hdul[:keep]]).writeto(path, overwrite=True)
    summary = json.loads(node.cli("ingest", "--json", str(mon), str(astero)).stdout)
    assert summary["rejected"] == 2 and summary["ingested"] == 0
    assert _codes(summary, mon.name) == ["LC005"]
    assert _codes(summary, astero.name) == ["LC005"]


def test_strict_rejects_files_with_warnings(node: Node, sample_dir: Path, tmp_path: Path) -> None:
    delivery = tmp_path / "delivery"
    (path,) = _copy_some(sample_dir, delivery, "/N2-4.4/", 1)
    with fits.open(path, mode="update") as hdul:
        hdul[0].header["COROTID"] = f"{hdul[0].header['COROTID']:010d}"  # an odd type
        hdul[0].header["MAGNIT_V"] = "bright"  # not a number
    strict = json.loads(node.cli("ingest", "--json", "--strict", str(delivery)).stdout)
    assert strict["rejected"] == 1
    assert set(_codes(strict, path.name)) == {"LC011", "LC013"}
    accepted = json.loads(node.cli("ingest", "--json", str(delivery)).stdout)
    assert accepted["ingested"] == 1 and accepted["warnings"] == 2
    warnings = node.scalar("SELECT warnings FROM archive.products")
    assert warnings == ["LC011", "LC013"]


def test_same_path_with_other_content_is_never_overwritten(
    node: Node, sample_dir: Path, tmp_path: Path
) -> None:
    delivery = tmp_path / "delivery"
    (path,) = _copy_some(sample_dir, delivery, "/N2-4.4/", 1)
    node.cli("ingest", str(delivery), check=True)
    original_sha = sha256_file(path)
    with fits.open(path, mode="update") as hdul:
        hdul[0].header["HISTORY"] = "changed without a new version"
    summary = json.loads(node.cli("ingest", "--json", str(delivery)).stdout)
    assert _codes(summary, path.name) == ["LC015"]
    relpath = node.scalar("SELECT archive_path FROM archive.products")
    for root in node.settings.roots:
        assert sha256_file(root / str(relpath)) == original_sha


def test_missing_storage_root_stops_the_ingest(
    node: Node, sample_dir: Path, tmp_path: Path
) -> None:
    delivery = tmp_path / "delivery"
    _copy_some(sample_dir, delivery, "/N2-4.4/", 3)
    shutil.rmtree(node.settings.roots[1])
    proc = node.cli("ingest", str(delivery))
    assert proc.returncode == 2
    assert "storage root b" in proc.stderr and "does not exist" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert node.scalar("SELECT count(*) FROM archive.products") == 0
    assert not any(node.settings.roots[0].rglob("*.fits"))


def _storage_files(node: Node) -> set[str]:
    found = set()
    for root in node.settings.roots:
        for path in root.rglob("*"):
            if path.is_file() and ".damaged" not in path.parts:
                found.add(f"{root.name}:{path.relative_to(root)}")
    return found


@pytest.mark.slow
@pytest.mark.parametrize("moment", ["journalled", "registered"])
def test_killed_ingest_leaves_nothing_half_written(node: Node, workdir: Path, moment: str) -> None:
    """kill -9 while files are being copied (journal non-empty) or between batches; then the
    re-run cleans up and ends in the same state as an uninterrupted ingest."""
    from ingest.sample import SampleSpec, generate

    delivery = workdir / "crash-sample"
    if not delivery.exists():
        generate(SampleSpec(out_dir=delivery, stars=700, runs=2, seed=11, days=4.0))
    env = node.env()
    env["VO_NODE_FSYNC"] = "true"  # slower copies: a wider window to be killed in
    proc = subprocess.Popen(
        [sys.executable, "-m", "vo_node", "ingest", str(delivery)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    query = (
        "SELECT count(*) FROM archive.ingest_pending"
        if moment == "journalled"
        else "SELECT count(*) FROM archive.products"
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if int(node.scalar(query) or 0) > 0:  # type: ignore[call-overload]
            break
        time.sleep(0.01)
    assert proc.poll() is None, "the ingest ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()

    # Whatever is visible is whole: every registered product has two good copies.
    for relpath, sha in node.rows("SELECT archive_path, sha256 FROM archive.products"):
        for root in node.settings.roots:
            assert sha256_file(root / str(relpath)) == str(sha)
    pending = int(node.scalar("SELECT count(*) FROM archive.ingest_pending"))  # type: ignore[call-overload]
    if moment == "journalled":
        assert pending > 0, "the kill landed inside a batch"

    # A run on an empty delivery cleans up on its own: nothing of the killed run is adopted.
    empty = workdir / f"empty-{moment}"
    empty.mkdir(exist_ok=True)
    cleanup = json.loads(node.cli("ingest", "--json", str(empty), check=True).stdout)
    assert cleanup["cleaned_up"] >= pending
    assert node.scalar("SELECT count(*) FROM archive.ingest_pending") == 0
    # The killed run's log row is closed as interrupted, when its last product came (the
    # feed announces what it registered).
    killed = node.rows(
        "SELECT i.outcome, i.finished_at = coalesce((SELECT max(p.ingested_at)"
        " FROM archive.products p WHERE p.ingest_id = i.ingest_id), i.started_at)"
        " FROM archive.ingest_runs i ORDER BY i.ingest_id LIMIT 1"
    )
    assert killed == [("interrupted", True)]
    registered = {str(r[0]) for r in node.rows("SELECT archive_path FROM archive.products")}
    expected = {f"{root.name}:{p}" for root in node.settings.roots for p in registered}
    assert _storage_files(node) == expected  # no orphan, nothing left in .incoming

    rerun = json.loads(node.cli("ingest", "--json", str(delivery), check=True).stdout)
    assert rerun["skipped"] >= len(registered)
    assert rerun["ingested"] + rerun["skipped"] == rerun["seen"]
    registered = {str(r[0]) for r in node.rows("SELECT archive_path FROM archive.products")}
    expected = {f"{root.name}:{p}" for root in node.settings.roots for p in registered}
    assert _storage_files(node) == expected
    # The same products as an uninterrupted ingest: every product file, and one alert light
    # curve per star and delivery.
    files = fits_files(delivery)
    daily = [p for p in files if "_ALERT_" in p.name]
    assert len(registered) == len(files) - len(daily) + len(group_daily_files(daily))


def test_second_concurrent_ingest_is_refused(node: Node, sample_dir: Path) -> None:
    from vo_node.db.locks import STORAGE_WRITER

    with node.db.admin(autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (STORAGE_WRITER,))
        proc = node.cli("ingest", str(sample_dir))
    assert proc.returncode == 2
    assert "another ingest or repair is running" in proc.stderr
    assert node.scalar("SELECT count(*) FROM archive.products") == 0
    # Once the first is over, the same command goes through.
    assert node.cli("ingest", str(sample_dir)).returncode == 0


@pytest.mark.slow
def test_workers_die_with_a_killed_ingest(node: Node, workdir: Path) -> None:
    """kill -9 of the ingest alone (not its process group): its workers must not live on,
    copying files and holding the operator's terminal (here: a pipe) open."""
    from ingest.sample import SampleSpec, generate

    delivery = workdir / "crash-sample"
    if not delivery.exists():
        generate(SampleSpec(out_dir=delivery, stars=700, runs=2, seed=11, days=4.0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "vo_node", "ingest", str(delivery)],
        env=node.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 120
    children: list[str] = []
    while time.monotonic() < deadline and proc.poll() is None and not children:
        listing = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True)
        children = listing.stdout.split()
        time.sleep(0.05)
    assert children, "the ingest started no worker processes"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.stdout is not None
    proc.stdout.read()  # returns only when no process holds the pipe any more
    time.sleep(0.5)
    alive = [
        pid
        for pid in children
        if Path(f"/proc/{pid}").exists()
        and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]
    ]
    assert not alive, f"workers outlived the ingest: {alive}"
