"""The audit finds a damaged or missing copy and repairs it from the good one, never the reverse."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import Node

from vo_node.storage import sha256_file


def _ingested(node: Node, sample_dir: Path) -> list[tuple[str, str]]:
    node.cli("ingest", str(sample_dir), check=True)
    return [
        (str(p), str(s))
        for p, s in node.rows(
            "SELECT archive_path, sha256 FROM archive.products ORDER BY product_id LIMIT 3"
        )
    ]


def _flip_byte(path: Path, offset: int = 3000) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_clean_archive_audits_clean(node: Node, sample_dir: Path) -> None:
    _ingested(node, sample_dir)
    proc = node.cli("audit", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    total = node.scalar("SELECT count(*) FROM archive.products")
    assert report["checked"] == total and report["copies_ok"] == 2 * total
    assert report["findings"] == []


def test_flipped_byte_is_found_and_repaired(node: Node, sample_dir: Path) -> None:
    (relpath, sha), *_ = _ingested(node, sample_dir)
    root_a, root_b = node.settings.roots
    _flip_byte(root_b / relpath)

    found = node.cli("audit")
    assert found.returncode == 1
    assert f"corrupt copy at site b: {relpath} (NOT repaired)" in found.stderr
    status = node.scalar(
        "SELECT status FROM archive.product_copies c JOIN archive.products p"
        " USING (product_id) WHERE archive_path = %s AND site = 'b'",
        relpath,
    )
    assert status == "corrupt"

    repaired = node.cli("audit", "--repair")
    assert repaired.returncode == 0, repaired.stderr
    assert "1 repaired, 0 problems remain" in repaired.stdout
    assert sha256_file(root_b / relpath) == sha == sha256_file(root_a / relpath)
    # The damaged bytes are kept aside for inspection, not destroyed.
    assert any((root_b / ".damaged").rglob(Path(relpath).name + ".*"))
    assert node.cli("audit").returncode == 0


def test_missing_copy_is_restored(node: Node, sample_dir: Path) -> None:
    (relpath, sha), *_ = _ingested(node, sample_dir)
    (node.settings.roots[0] / relpath).unlink()
    report = json.loads(node.cli("audit", "--json", "--repair").stdout)
    assert [(f["site"], f["status"], f["repaired"]) for f in report["findings"]] == [
        ("a", "missing", True)
    ]
    assert sha256_file(node.settings.roots[0] / relpath) == sha


def test_no_good_copy_is_never_repaired_from_a_bad_one(node: Node, sample_dir: Path) -> None:
    (relpath, _), *_ = _ingested(node, sample_dir)
    for offset, root in zip((3000, 4000), node.settings.roots, strict=True):
        _flip_byte(root / relpath, offset)
    damaged = {root.name: sha256_file(root / relpath) for root in node.settings.roots}
    proc = node.cli("audit", "--repair", "--json")
    assert proc.returncode == 1
    report = json.loads(proc.stdout)
    assert report["problems_remaining"] == 2
    assert {root.name: sha256_file(root / relpath) for root in node.settings.roots} == damaged


def test_sample_checks_a_subset(node: Node, sample_dir: Path) -> None:
    _ingested(node, sample_dir)
    report = json.loads(node.cli("audit", "--sample", "5", "--json", check=True).stdout)
    assert report["checked"] == 5
    bad = node.cli("audit", "--sample", "lots")
    assert bad.returncode == 2 and "give a count" in bad.stderr


def test_missing_storage_root_is_a_clear_error(node: Node, sample_dir: Path) -> None:
    _ingested(node, sample_dir)
    import shutil

    shutil.rmtree(node.settings.roots[1])
    proc = node.cli("audit", "--repair")
    assert proc.returncode == 2
    assert "storage root b" in proc.stderr and "does not exist" in proc.stderr
    assert "Traceback" not in proc.stderr
    # Nothing was recorded as missing: an absent root is not a thousand lost copies.
    assert node.scalar("SELECT count(*) FROM archive.product_copies WHERE status <> 'ok'") == 0


def test_repair_waits_for_no_ingest(node: Node, sample_dir: Path) -> None:
    _ingested(node, sample_dir)
    from vo_node.db.locks import STORAGE_WRITER

    with node.db.admin(autocommit=True) as ingest_session:
        ingest_session.execute("SELECT pg_advisory_lock(%s)", (STORAGE_WRITER,))
        blocked = node.cli("audit", "--repair")
        assert blocked.returncode == 2 and "ingest or another repair is running" in blocked.stderr
        assert node.cli("audit").returncode == 0  # a read-only audit needs no lock
