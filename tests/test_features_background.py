"""New light curves get their pulsation features in the background (issue 8): the worker
(`vo-node worker`, started by the served fixture) computes what is missing when it starts and
after each ingest, woken by the ingest's notice: the poll interval is set to an hour here, so
only the notice can explain the computation after the second ingest. It frees the
computation's lock between rounds of 64 light curves, so that an operator's
`vo-node features --all` is not kept waiting for a whole archive.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from conftest import Node

from ingest.sample import SampleSpec, generate


@pytest.fixture
def served_env() -> dict[str, str]:
    return {"VO_NODE_FEATURE_WORKERS": "1", "VO_NODE_FEATURE_POLL_S": "3600"}


def _missing(node: Node) -> set[int]:
    rows = node.rows(
        "SELECT p.product_id FROM archive.products p WHERE p.level = 'N2' AND NOT EXISTS"
        " (SELECT 1 FROM archive.features f WHERE f.product_id = p.product_id)"
    )
    return {int(r[0]) for r in rows}  # type: ignore[call-overload]


def _wait_until_none_missing(node: Node, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while _missing(node):
        assert time.monotonic() < deadline, (
            f"{len(_missing(node))} light curves still without features"
        )
        time.sleep(0.5)


def test_the_worker_computes_new_light_curves_after_an_ingest(
    served: tuple[Node, str], tmp_path: Path
) -> None:
    node, _ = served
    _wait_until_none_missing(node, 600)  # the sample the fixture ingested before serving
    before = _n2(node)

    delivery = tmp_path / "second"
    generate(SampleSpec(out_dir=delivery, stars=12, runs=1, seed=99, days=4.0, n1_fraction=0.0))
    node.cli("ingest", str(delivery), check=True)
    new = _n2(node) - before
    assert new
    _wait_until_none_missing(node, 300)
    computed = node.scalar(
        "SELECT count(*) FROM archive.features WHERE product_id = ANY(%s)", list(new)
    )
    assert computed == len(new)


def _n2(node: Node) -> set[int]:
    rows = node.rows("SELECT product_id FROM archive.products WHERE level = 'N2'")
    return {int(r[0]) for r in rows}  # type: ignore[call-overload]


def test_a_round_computes_one_batch_and_frees_the_lock(node: Node, sample_dir: Path) -> None:
    from vo_node.features import runner, store
    from vo_node.features.watcher import ROUND, FeatureWatcher
    from vo_node.storage import MirroredStore

    node.cli("ingest", str(sample_dir), check=True)
    total = len(_missing(node))
    assert total > ROUND
    watcher = FeatureWatcher(
        node.db, MirroredStore.from_roots(node.settings.roots), 1, 3600.0, threading.Event()
    )
    with node.db.admin(autocommit=True) as conn:
        assert watcher._round(conn) is True  # more to do
        assert total - len(_missing(node)) == ROUND
        with node.db.admin(autocommit=True) as other:
            assert store.try_lock(other)  # free between rounds: an operator's run can start
            store.unlock(other)
        # While another computation holds it, a round does nothing.
        with node.db.admin(autocommit=True) as other, runner.computation_lock(other) as held:
            assert held
            assert watcher._round(conn) is False
            assert total - len(_missing(node)) == ROUND
