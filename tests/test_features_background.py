"""New light curves get their pulsation features in the background (issue 8): the worker
(`vo-node worker`, started by the served fixture) computes what is missing when it starts and
after each ingest, woken by the ingest's notice: the poll interval is set to an hour here, so
only the notice can explain the second round.
"""

from __future__ import annotations

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
