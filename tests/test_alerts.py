"""N1 alert deliveries: daily files concatenated per star, the handler called once per delivery."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import fitsio
import numpy as np
from conftest import Node, fits_files

from ingest.alerts import group_daily_files


def _daily(sample_dir: Path) -> list[Path]:
    daily = [p for p in fits_files(sample_dir) if "_ALERT_" in p.name]
    assert daily, "the sample holds alert deliveries"
    return daily


def test_daily_files_are_concatenated_per_star(node: Node, sample_dir: Path) -> None:
    node.cli("ingest", str(sample_dir), check=True)
    groups = group_daily_files(_daily(sample_dir))
    rows = node.rows(
        "SELECT s.source_id, p.series, p.archive_path, p.n_points FROM archive.products p"
        " JOIN archive.stars s USING (star_id) WHERE p.product_type LIKE 'EN1_ALERT_%%'"
    )
    assert len(rows) == len(groups)
    by_key = {(int(r[0]), str(r[1]).split(":")[1]): r for r in rows}  # type: ignore[call-overload]
    duplicates_seen = 0
    for group in groups:
        row = by_key[(group.corotid, group.week)]
        times = np.concatenate([fitsio.read(str(p), ext="BAR")["DATETT"] for p in group.files])
        unique = np.unique(times)
        duplicates_seen += times.size - unique.size
        stored = fitsio.read(str(node.settings.roots[0] / str(row[2])), ext="BAR")["DATETT"]
        assert row[3] == unique.size == stored.size
        assert np.all(np.diff(stored) > 0)  # ordered, no repeated time stamp
        np.testing.assert_array_equal(stored, unique)
    assert duplicates_seen > 0, "the sample repeats boundary points between days"


def test_handler_spool_gets_one_file_per_delivery(node: Node, sample_dir: Path) -> None:
    node.cli("ingest", str(sample_dir), check=True)
    groups = group_daily_files(_daily(sample_dir))
    deliveries = {g.delivery for g in groups}
    spooled = sorted(node.settings.spool.glob("*.json"))
    assert {p.stem for p in spooled} == deliveries
    for path in spooled:
        message = json.loads(path.read_text())
        expected = {g.corotid for g in groups if g.delivery == message["delivery"]}
        assert {lc["corotid"] for lc in message["light_curves"]} == expected
        for lc in message["light_curves"]:
            assert all(Path(p).is_file() for p in lc["paths"])
    handled = node.scalar(
        "SELECT count(*) FROM archive.alert_deliveries WHERE handler_status = 'ok'"
    )
    assert handled == len(deliveries)


def test_handler_command_called_once_per_delivery(
    node: Node, sample_dir: Path, tmp_path: Path
) -> None:
    log = tmp_path / "calls.jsonl"
    hook = tmp_path / "hook.py"
    hook.write_text(
        "import sys, json\n"
        f"with open({str(log)!r}, 'a') as fh:\n"
        "    fh.write(json.dumps(json.load(sys.stdin)) + '\\n')\n"
    )
    env_hook = f"{sys.executable} {hook}"
    node.settings = node.settings.model_copy(update={"alert_hook": env_hook})
    env = node.env()
    env["VO_NODE_ALERT_HOOK"] = env_hook
    import subprocess

    for _ in range(2):  # the second ingest finds nothing new: no second call
        subprocess.run(
            [sys.executable, "-m", "vo_node", "ingest", str(sample_dir)],
            env=env,
            check=True,
            capture_output=True,
        )
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    deliveries = {g.delivery for g in group_daily_files(_daily(sample_dir))}
    assert sorted(c["delivery"] for c in calls) == sorted(deliveries)


def test_failed_handler_is_retried_by_the_next_ingest(
    node: Node, sample_dir: Path, tmp_path: Path
) -> None:
    import subprocess

    env = node.env()
    env["VO_NODE_ALERT_HOOK"] = "false"
    subprocess.run(
        [sys.executable, "-m", "vo_node", "ingest", str(sample_dir)],
        env=env,
        capture_output=True,
        check=True,
    )
    failed = node.scalar(
        "SELECT count(*) FROM archive.alert_deliveries WHERE handled_at IS NULL"
        " AND handler_status LIKE 'failed: exit 1%%'"
    )
    assert failed and failed > 0
    node.cli("ingest", str(sample_dir), check=True)  # default handler: the spool
    assert (
        node.scalar("SELECT count(*) FROM archive.alert_deliveries WHERE handled_at IS NULL") == 0
    )
    assert len(list(node.settings.spool.glob("*.json"))) == failed


def test_redelivery_announces_only_the_new_light_curves(
    node: Node, sample_dir: Path, tmp_path: Path
) -> None:
    import shutil

    groups = group_daily_files(_daily(sample_dir))
    delivery = max({g.delivery for g in groups}, key=lambda d: sum(g.delivery == d for g in groups))
    mine = [g for g in groups if g.delivery == delivery]
    assert len(mine) >= 2, "a delivery with several stars"
    late, early = mine[0], mine[1:]
    target = tmp_path / "N1-ALERT" / late.files[0].parent.parent.name / late.week
    target.mkdir(parents=True)
    for group in early:
        for path in group.files:
            shutil.copyfile(path, target / path.name)
    node.cli("ingest", str(tmp_path / "N1-ALERT"), check=True)
    for path in late.files:  # the late star's files arrive afterwards
        shutil.copyfile(path, target / path.name)
    node.cli("ingest", str(tmp_path / "N1-ALERT"), check=True)

    first = json.loads((node.settings.spool / f"{delivery}.json").read_text())
    second = json.loads((node.settings.spool / f"{delivery}.2.json").read_text())
    assert {lc["corotid"] for lc in first["light_curves"]} == {g.corotid for g in early}
    assert [lc["corotid"] for lc in second["light_curves"]] == [late.corotid]
    assert node.scalar(
        "SELECT cardinality(products) FROM archive.alert_deliveries WHERE delivery = %s", delivery
    ) == len(mine)


def test_daily_file_outside_a_delivery_directory_is_rejected(
    node: Node, sample_dir: Path, tmp_path: Path
) -> None:
    import shutil

    stray = tmp_path / "flat" / _daily(sample_dir)[0].name
    stray.parent.mkdir()
    shutil.copyfile(_daily(sample_dir)[0], stray)
    proc = node.cli("ingest", "--json", str(stray.parent))
    assert proc.returncode == 1
    summary = json.loads(proc.stdout)
    assert summary["rejected"] == 1 and summary["ingested"] == 0
    assert [p["code"] for p in summary["rejections"][0]["problems"]] == ["LC022"]
