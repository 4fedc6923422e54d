"""Fixtures: a throwaway PostgreSQL cluster for the whole session, a fresh database and fresh
storage roots per test, generated sample data, and the ``vo-node`` command.

The cluster is the real thing (initdb + pg_ctl, pgSphere), run as an unprivileged account when
the suite runs as root, with durability switched off since it is thrown away.
"""

from __future__ import annotations

import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import requests
from psycopg import sql

from vo_node.db.cluster import ADMIN_ROLE, SUPERUSER
from vo_node.db.node import NodeDatabase
from vo_node.settings import Settings

TEMPLATE_DB = "vo_node_template"
_FAST = "fsync = off\nsynchronous_commit = off\nfull_page_writes = off"


@pytest.fixture(scope="session")
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="vo-node-test-"))
    path.chmod(0o755)  # the cluster's account must reach its data directory
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def cluster_settings(workdir: Path) -> Settings:
    # A free port, so that two test runs on one machine (two checkouts) do not collide.
    return Settings(
        var_dir=workdir / "var", pg_port=_free_port(), database=TEMPLATE_DB, fsync=False
    )


@pytest.fixture(scope="session")
def template_db(cluster_settings: Settings) -> Iterator[NodeDatabase]:
    """The migrated template every test database is copied from."""
    db = NodeDatabase.from_settings(cluster_settings, extra_conf=_FAST)
    db.ensure()
    yield db
    db.cluster.stop()


@dataclass
class Node:
    """One test's archive: its own database and storage roots on the shared cluster."""

    settings: Settings
    db: NodeDatabase

    def env(self) -> dict[str, str]:
        """Environment for running the ``vo-node`` command against this archive."""
        s = self.settings
        env = dict(os.environ)
        env.update(
            VO_NODE_VAR_DIR=str(s.var_dir),
            VO_NODE_PG_DATA=str(self.db.cluster.data_dir),
            VO_NODE_PG_SOCKET_DIR=str(self.db.cluster.socket_dir),
            VO_NODE_PG_PORT=str(s.pg_port),
            VO_NODE_DATABASE=s.database,
            VO_NODE_STORAGE_ROOTS=",".join(str(r) for r in s.roots),
            VO_NODE_QUARANTINE_DIR=str(s.quarantine),
            VO_NODE_ALERT_SPOOL=str(s.spool),
            VO_NODE_FSYNC="false",
        )
        return env

    def cli(
        self, *args: str, check: bool = False, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "vo_node", *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"vo-node {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
        return proc

    def scalar(self, query: str, *params: object) -> object:
        with self.db.admin() as conn:
            row = conn.execute(query, params).fetchone()  # type: ignore[call-overload]
            return row[0] if row else None

    def rows(self, query: str, *params: object) -> list[tuple[object, ...]]:
        with self.db.admin() as conn:
            return conn.execute(query, params).fetchall()  # type: ignore[call-overload]

    def public_rows(self, query: str, *params: object) -> list[tuple[object, ...]]:
        """``query`` as the anonymous caller sees it: the service role, under the policy,
        without a caller ticket (the administrator's :meth:`rows` see every product)."""
        with self.db.service() as conn:
            return conn.execute(query, params).fetchall()  # type: ignore[call-overload]

    def public_scalar(self, query: str, *params: object) -> object:
        found = self.public_rows(query, *params)
        return found[0][0] if found else None


@pytest.fixture
def node(template_db: NodeDatabase, cluster_settings: Settings, tmp_path: Path) -> Iterator[Node]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    with template_db.cluster.connect(SUPERUSER, "postgres", autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {} OWNER {}").format(
                sql.Identifier(name), sql.Identifier(TEMPLATE_DB), sql.Identifier(ADMIN_ROLE)
            )
        )
    # The rights production gives (CREATE DATABASE ... TEMPLATE does not copy them).
    template_db.cluster.secure_database(name)
    roots = (tmp_path / "storage" / "a", tmp_path / "storage" / "b")
    for root in roots:
        root.mkdir(parents=True)
    settings = cluster_settings.model_copy(
        update={
            "database": name,
            "storage_roots": roots,
            "quarantine_dir": tmp_path / "quarantine",
            "alert_spool": tmp_path / "alerts",
        }
    )
    db = NodeDatabase(template_db.cluster, name)
    yield Node(settings, db)
    with template_db.cluster.connect(SUPERUSER, "postgres", autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture(scope="session")
def sample_dir(workdir: Path) -> Path:
    """A small generated delivery with every layout, version and oddity (read-only: copy it
    before changing anything)."""
    from ingest.sample import SampleSpec, generate

    out = workdir / "sample"
    generate(SampleSpec(out_dir=out, stars=120, runs=3, seed=7, days=6.0, n1_fraction=0.3))
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served_env() -> dict[str, str]:
    """Settings (VO_NODE_* variables) of the served node; a test module overrides this
    fixture to serve with other limits."""
    return {}


@pytest.fixture
def served(
    node: Node, sample_dir: Path, tmp_path: Path, served_env: dict[str, str]
) -> Iterator[tuple[Node, str]]:
    """The node with the sample ingested, served by gunicorn on 127.0.0.1, with an async
    worker; their logs go to files (a pipe nobody reads would fill and block the server)."""
    node.cli("ingest", str(sample_dir), check=True)
    port = _free_port()
    env = node.env()
    # The worker computes no features unless a test asks for it (tests/test_features_*.py):
    # every served test would pay for a periodogram of each sample light curve.
    env.update(VO_NODE_PORT=str(port), VO_NODE_WORKERS="1", VO_NODE_FEATURE_WORKERS="0")
    env.update(served_env)
    logs = {name: (tmp_path / f"{name}.log").open("w") for name in ("serve", "worker")}
    procs = {
        name: subprocess.Popen(
            [sys.executable, "-m", "vo_node", name],
            env=env,
            stdout=logs[name],
            stderr=subprocess.STDOUT,
        )
        for name in ("serve", "worker")
    }
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(base + "/health", timeout=5)
                break
            except (requests.ConnectionError, requests.Timeout):  # a busy machine is slow
                if procs["serve"].poll() is not None or time.monotonic() > deadline:
                    log = (tmp_path / "serve.log").read_text()
                    raise AssertionError(f"server did not start:\n{log[-3000:]}") from None
                time.sleep(0.2)
        yield node, base
    finally:
        # Also when the start failed: no server outlives its test.
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for log in logs.values():
            log.close()


def angular_distance(ra1: float, dec1: float, ra2: float, dec2: float) -> float:
    """Degrees between two positions, computed independently of pgSphere (brute-force
    checks of cone searches and crossmatches)."""
    r1, d1, r2, d2 = map(math.radians, (ra1, dec1, ra2, dec2))
    cos = math.sin(d1) * math.sin(d2) + math.cos(d1) * math.cos(d2) * math.cos(r1 - r2)
    return math.degrees(math.acos(max(-1.0, min(1.0, cos))))


def fits_files(root: Path) -> list[Path]:
    return sorted(root.rglob("*.fits"))


__all__ = ["Node", "angular_distance", "fits_files", "psycopg"]
