"""Pulsation features as operators and astronomers meet them (issue 8): `vo-node features`
computes every N2 light curve, resumes a killed run without computing anything twice, runs
the same on a dask.distributed cluster, and the results are published through TAP (declared
metadata, joins with products, stars and ObsCore) and DataLink #derivation links, under the
light curves' own access policy. The computation's accuracy on injected signals is
tests/test_features_recovery.py; the background computation after an ingest is
tests/test_features_background.py.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest
import pyvo
import requests
from astropy.io.votable import parse, parse_single_table
from conftest import Node
from policy_archive import make_archive
from stilts import datalinklint

from vo_node.features import classes as class_rule
from vo_node.tap.examples import EXAMPLES

# Columns compared between two computations of the same light curves.
_VALUES = (
    "SELECT product_id, var_class, dominant_frequency, dominant_amplitude, dominant_snr, fap,"
    " total_amplitude, n_frequencies, n_used FROM archive.features ORDER BY product_id"
)


def _n2(node: Node) -> set[int]:
    return {
        int(r[0]) for r in node.rows("SELECT product_id FROM archive.products WHERE level = 'N2'")
    }  # type: ignore[call-overload]


def _computed(node: Node) -> dict[int, object]:
    """product_id -> computed_at of every stored result."""
    return {
        int(r[0]): r[1] for r in node.rows("SELECT product_id, computed_at FROM archive.features")
    }  # type: ignore[call-overload]


def _status(node: Node) -> dict[str, int]:
    return json.loads(node.cli("features", "--json", check=True).stdout)  # type: ignore[no-any-return]


def test_a_killed_run_resumes_and_nothing_is_computed_twice(node: Node, sample_dir: Path) -> None:
    node.cli("ingest", str(sample_dir), check=True)
    light_curves = _n2(node)
    assert len(light_curves) > 100
    assert _status(node) == {
        "light_curves": len(light_curves),
        "current": 0,
        "stale": 0,
        "missing": len(light_curves),
        "failed": 0,
        "pending": len(light_curves),
    }

    # One worker, a result saved every 8 light curves; killed (with its pool) once some
    # batches are in.
    proc = subprocess.Popen(
        [sys.executable, "-m", "vo_node", "features", "--all", "--workers", "1", "--batch", "8"],
        env=node.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 240
        while len(_computed(node)) < 16:
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "no results saved in 240 s"
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    kept = _computed(node)
    assert 16 <= len(kept) < len(light_curves)
    assert len(kept) % 8 == 0  # whole batches only: a batch is one transaction

    # The next run computes exactly the rest; what was saved stays as it was.
    rerun = json.loads(node.cli("features", "--all", "--json", check=True, timeout=600).stdout)
    assert rerun["planned"] == len(light_curves) - len(kept)
    assert rerun["saved"] == rerun["planned"] and rerun["crashed"] == []
    after = _computed(node)
    assert set(after) == light_curves
    assert all(after[pid] == when for pid, when in kept.items())
    again = json.loads(node.cli("features", "--all", "--json", check=True).stdout)
    assert again["planned"] == 0 and again["saved"] == 0
    status = _status(node)
    assert status["current"] == len(light_curves) and status["pending"] == 0

    # Stored with the results: the parameters and the software.
    params = node.rows(
        "SELECT algorithm_version, software, parameters FROM archive.feature_parameters"
    )
    assert len(params) == 1
    version, software, parameters = params[0]
    assert version and "astropy" in str(software) and "numpy" in str(software)
    assert parameters["n_frequencies"] >= 1  # type: ignore[index]

    _sample_pulsators_are_recovered(node, sample_dir)


def _sample_pulsators_are_recovered(node: Node, sample_dir: Path) -> None:
    """End to end on the sample: the stars injected as pulsators (truth.csv) have their
    strongest injected frequency among the stored ones, within the frequency resolution,
    in their N2 light curves; and the strongest ones are classified as pulsators."""
    with (sample_dir / "truth.csv").open() as handle:
        truth = {int(r["corotid"]): r for r in csv.DictReader(handle)}
    rows = node.rows(
        "SELECT s.source_id, f.product_id, f.time_span, f.var_class,"
        " array_agg(q.frequency ORDER BY q.rank), array_agg(q.amplitude ORDER BY q.rank)"
        " FROM archive.features f JOIN archive.products p USING (product_id)"
        " JOIN archive.stars s USING (star_id)"
        " LEFT JOIN archive.feature_frequencies q USING (product_id)"
        " WHERE f.error IS NULL GROUP BY 1, 2, 3, 4"
    )
    checked = recovered = classified = close = 0
    for corotid, _pid, span, var_class, freqs, amps in rows:
        star = truth.get(int(corotid))  # type: ignore[call-overload]
        if star is None or star["class"] != "pulsator":
            continue
        injected = float(star["frequencies_cd"].split(";")[0])
        amplitude = float(star["amplitudes_mmag"].split(";")[0])
        if amplitude < 2.0:  # weak ones may drown in the noise of a faint star
            continue
        checked += 1
        found = [
            (f, a)
            for f, a in zip(freqs, amps, strict=True)  # type: ignore[call-overload]
            if f is not None
        ]
        match = [a for f, a in found if abs(f - injected) <= 1.0 / float(span)]  # type: ignore[arg-type]
        if match:
            recovered += 1
            close += abs(match[0] / amplitude - 1.0) <= 0.1
        classified += var_class == "pulsator"
    print(
        f"sample pulsators >= 2 mmag: {recovered}/{checked} recovered, {close} of them within"
        f" 10% of the injected amplitude, {classified} classified as pulsators"
    )
    assert checked >= 10
    assert recovered >= 0.95 * checked
    assert close >= 0.95 * recovered
    assert classified >= 0.8 * checked


def test_the_same_run_on_a_dask_cluster(node: Node, sample_dir: Path) -> None:
    distributed = pytest.importorskip("distributed")
    node.cli("ingest", str(sample_dir), check=True)
    node.cli("features", "--all", "--workers", "2", check=True, timeout=600)
    local = node.rows(_VALUES)
    node.rows("DELETE FROM archive.features RETURNING 1")
    assert node.scalar("SELECT count(*) FROM archive.feature_frequencies") == 0
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        with distributed.Client(cluster) as client, distributed.get_task_stream(client) as ran:
            proc = node.cli(
                "features", "--all", "--json", "--scheduler", cluster.scheduler_address, timeout=600
            )
            assert proc.returncode == 0, proc.stderr
            report = json.loads(proc.stdout)
        # The work went to the cluster's workers (its task stream saw every light curve), not
        # to a local pool.
        tasks = [t for t in ran.data if str(t["key"]).startswith("run_task")]
        assert len(tasks) == len(local)
        assert {t["worker"] for t in tasks} <= set(cluster.scheduler.workers)
    assert report["saved"] == len(local) == len(_n2(node))
    remote = node.rows(_VALUES)
    assert [r[:2] + r[7:] for r in remote] == [r[:2] + r[7:] for r in local]
    for a, b in zip(remote, local, strict=True):
        np.testing.assert_allclose(
            [np.nan if v is None else v for v in a[2:7]],
            [np.nan if v is None else v for v in b[2:7]],
            rtol=1e-9,
        )


@pytest.mark.parametrize("address", ["tcp://127.0.0.1:9", "garbage", ":::", "tcp://[::1"])
def test_a_scheduler_that_cannot_be_reached_is_one_clear_line(node: Node, address: str) -> None:
    proc = node.cli("features", "--all", "--scheduler", address)
    assert proc.returncode == 2, proc.stderr
    assert "dask scheduler" in proc.stderr and "Traceback" not in proc.stderr


def test_missing_and_damaged_files(node: Node, sample_dir: Path) -> None:
    """A light curve without a copy is not a result (the next run tries it again); one whose
    file cannot be read is stored as unreadable and tried again by the next --all run; ids
    that are not N2 light curves are named, not skipped in silence."""
    node.cli("ingest", str(sample_dir), check=True)
    first, second = sorted(_n2(node))[:2]
    paths = {}
    for pid in (first, second):
        relpath = str(
            node.scalar("SELECT archive_path FROM archive.products WHERE product_id = %s", pid)
        )
        paths[pid] = [root / relpath for root in node.settings.roots]
    for path in paths[first]:
        path.rename(path.with_suffix(".away"))
    saved = {path: path.read_bytes() for path in paths[second]}
    for path in paths[second]:
        path.write_bytes(b"SIMPLE  = garbage" + b" " * 2864)
    proc = node.cli("features", str(first), str(second), "--json")
    assert proc.returncode == 1
    report = json.loads(proc.stdout)
    assert [c["product_id"] for c in report["crashed"]] == [first]
    assert "no copy" in report["crashed"][0]["error"]
    assert report["saved"] == 1 and report["unreadable"] == 1
    assert node.scalar("SELECT count(*) FROM archive.features WHERE product_id = %s", first) == 0
    error = node.scalar("SELECT error FROM archive.features WHERE product_id = %s", second)
    assert error
    assert _status(node)["failed"] == 1

    # Files back: --all computes both, the unreadable one included.
    for path in paths[first]:
        path.with_suffix(".away").rename(path)
    for path, data in saved.items():
        path.write_bytes(data)
    report = json.loads(node.cli("features", "--all", "--json", check=True, timeout=600).stdout)
    assert report["crashed"] == [] and report["unreadable"] == 0
    rows = node.rows(
        "SELECT product_id, error, var_class FROM archive.features WHERE product_id = ANY(%s)",
        [first, second],
    )
    assert sorted((r[0], r[1]) for r in rows) == [(first, None), (second, None)]
    assert all(r[2] is not None for r in rows)

    n1 = int(node.scalar("SELECT min(product_id) FROM archive.products WHERE level = 'N1'"))  # type: ignore[call-overload]
    proc = node.cli("features", str(n1), "999999999")
    assert proc.returncode == 2
    assert f"{n1} 999999999" in proc.stderr and "Traceback" not in proc.stderr


def _links(base: str, pid_did: str) -> list[dict[str, object]]:
    resp = requests.get(base + "/datalink/links", params={"ID": pid_did}, timeout=60)
    assert resp.status_code == 200
    table = parse_single_table(io.BytesIO(resp.content)).to_table()
    return [dict(zip(table.colnames, row, strict=True)) for row in table]


def test_published_by_tap_and_datalink_under_the_policy(
    served: tuple[Node, str], tmp_path: Path
) -> None:
    node, base = served
    archive = make_archive(served)
    node.cli("features", "--all", check=True, timeout=600)
    computed = {
        int(r[0]): int(r[1])
        for r in node.rows("SELECT product_id, n_frequencies FROM archive.features")
    }  # type: ignore[call-overload]
    assert computed and set(computed) == _n2(node)

    seen_counts = {}
    for name in ("anonymous", "gi_run", "coi", "n1", "admin"):
        caller = archive.callers[name]
        expected = archive.expected(caller) & set(computed)
        table = archive.tap(
            caller,
            "SELECT f.product_id, p.proc_level, s.corotid, o.obs_id FROM corot.features AS f"
            " JOIN corot.products AS p ON p.product_id = f.product_id"
            " JOIN corot.stars AS s ON s.corotid = f.corotid"
            " JOIN ivoa.obscore AS o ON o.obs_publisher_did = f.obs_publisher_did",
        )
        assert {int(v) for v in table["product_id"]} == expected, name
        assert set(table["proc_level"]) <= {"N2"}
        frequencies = archive.tap(caller, "SELECT product_id, rank FROM corot.frequencies")
        assert {int(v) for v in frequencies["product_id"]} == {
            pid for pid in expected if computed[pid] > 0
        }, name
        assert len(frequencies) == sum(computed[pid] for pid in expected)
        seen_counts[name] = len(expected)
    # The policy bites: someone sees less than the administrator, who sees everything.
    assert seen_counts["anonymous"] < seen_counts["admin"] == len(computed)

    # The TAP examples about features give what they say.
    examples = {e.key: e.query for e in EXAMPLES}
    anonymous = archive.callers["anonymous"]
    classes = archive.tap(anonymous, examples["classes"])
    assert sum(int(n) for n in classes["light_curves"]) == seen_counts["anonymous"]
    pulsating = archive.tap(anonymous, examples["pulsators"])
    assert len(pulsating) > 0
    assert all(5 <= f <= 10 for f in pulsating["frequency"])
    assert set(int(v) for v in pulsating["product_id"]) <= archive.expected(anonymous)

    # Declared metadata: units and UCDs through TAP_SCHEMA.
    meta = archive.tap(
        archive.callers["anonymous"],
        "SELECT table_name, column_name, unit, ucd FROM TAP_SCHEMA.columns"
        " WHERE table_name IN ('corot.features', 'corot.frequencies')",
    )
    units = {(r["table_name"], r["column_name"]): (r["unit"], r["ucd"]) for r in meta}
    assert units[("corot.frequencies", "frequency")] == ("d-1", "em.freq;src.var")
    assert units[("corot.frequencies", "amplitude")] == ("mmag", "src.var.amplitude")
    assert units[("corot.features", "dominant_period")] == ("d", "time.period;src.var")

    # DataLink: a public light curve links its derived features; following them gives its
    # row and its frequencies.
    with_signal = node.rows(
        "SELECT product_id FROM archive.features WHERE dominant_frequency IS NOT NULL"
    )
    pid = min(archive.expected(archive.callers["anonymous"]) & {int(r[0]) for r in with_signal})  # type: ignore[call-overload]
    did = str(
        node.scalar("SELECT obs_publisher_did FROM corot.products WHERE product_id = %s", pid)
    )
    rows = _links(base, did)
    # pyvo, as a notebook would, finds the same derived data by their semantics.
    links = pyvo.dal.adhoc.DatalinkResults.from_result_url(f"{base}/datalink/links?ID={quote(did)}")
    # (include_narrower would fetch the vocabulary from the IVOA: no test leaves 127.0.0.1)
    derivations = links.bysemantics("#derivation", include_narrower=False)
    by_pyvo = sorted(str(r.access_url) for r in derivations)
    assert len(by_pyvo) == 4
    derived = {str(r["local_semantics"]): r for r in rows if r["semantics"] == "#derivation"}
    assert set(derived) == {"features", "frequencies", "periodogram", "periodogram-plot"}
    assert by_pyvo == sorted(str(r["access_url"]) for r in derived.values())
    # And the page that documents them, with the numbers the computation uses.
    documentation = [r for r in rows if r["local_semantics"] == "features-documentation"]
    assert [r["semantics"] for r in documentation] == ["#documentation"]
    page = requests.get(str(documentation[0]["access_url"]), timeout=30)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert (
        f"{class_rule.DETECTION_SNR}" in page.text
        and f"{class_rule.ORBIT_FREQUENCY:.3f}" in page.text
    )
    assert f"at least {class_rule.DIP_SKEWNESS}" in page.text
    got = requests.get(str(derived["features"]["access_url"]), timeout=60)
    assert got.status_code == 200
    features = parse_single_table(io.BytesIO(got.content)).to_table()
    assert list(features["product_id"]) == [pid]
    got = requests.get(str(derived["frequencies"]["access_url"]), timeout=60)
    freqs = parse_single_table(io.BytesIO(got.content)).to_table()
    assert list(freqs["rank"]) == list(range(1, computed[pid] + 1))
    # The dominant frequency is the first of the star's signal frequencies.
    signal = [f for f, k in zip(freqs["frequency"], freqs["kind"], strict=True) if k == "signal"]
    assert signal and features["dominant_frequency"][0] == signal[0]
    for key in ("periodogram", "periodogram-plot"):
        got = requests.get(str(derived[key]["access_url"]), timeout=120)
        assert got.status_code == 200, (key, got.text[:300])
        assert got.headers["Content-Type"].startswith(str(derived[key]["content_type"]))
    # An N1 light curve has no features and no #derivation links.
    n1 = int(node.scalar("SELECT min(product_id) FROM archive.products WHERE level = 'N1'"))  # type: ignore[call-overload]
    admin = archive.callers["admin"]
    resp = admin.session.get(base + "/datalink/links", params={"ID": str(n1)}, timeout=60)
    table = parse_single_table(io.BytesIO(resp.content)).to_table()
    assert len(table) > 1 and "#derivation" not in set(table["semantics"])

    if shutil.which("stilts") is not None:
        path = tmp_path / "links.vot"
        path.write_bytes(
            requests.get(base + "/datalink/links", params={"ID": did}, timeout=60).content
        )
        parse(str(path), verify="exception")
        _, findings = datalinklint(path)
        assert not findings, "\n".join(findings)
