"""The direction of dependencies (DESIGN.md), checked on the source: a violation fails here
before it becomes a tangle."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("vo_node", "tap_schema", "ssa", "registry", "ingest")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _modules(package: str) -> dict[Path, set[str]]:
    return {p: _imports(p) for p in (ROOT / package).rglob("*.py")}


def _top(names: set[str]) -> set[str]:
    return {n.split(".")[0] for n in names}


def test_protocol_packages_do_not_import_each_other() -> None:
    for package in ("ssa", "registry", "ingest"):
        others = {"ssa", "registry", "ingest"} - {package}
        for path, names in _modules(package).items():
            assert not (_top(names) & others), f"{path.relative_to(ROOT)} imports {others}"


def test_only_the_web_edge_imports_flask() -> None:
    allowed = {"app.py", "server.py"}
    for package in PACKAGES:
        for path, names in _modules(package).items():
            if "flask" in _top(names) or "werkzeug" in _top(names):
                rel = path.relative_to(ROOT)
                # DESIGN.md: only views and the HTTP edge (plus the composition root and the
                # server) import Flask.
                assert (
                    rel.parts[:2] in {("vo_node", "web"), ("vo_node", "http")}
                    or rel.name == "views.py"
                    or (rel.parts[0] == "vo_node" and rel.name in allowed)
                ), f"{rel} imports Flask"


def test_vo_node_core_does_not_reach_into_protocol_packages() -> None:
    """vo_node's plumbing serves the packages; only the composition root and the command
    line (which wires commands to packages) may import them."""
    wiring = {"app.py", "cli.py"}
    for path, names in _modules("vo_node").items():
        if path.name in wiring:
            continue
        assert not (_top(names) & {"ssa", "registry", "ingest"}), (
            f"{path.relative_to(ROOT)} imports a protocol package"
        )


def test_no_grab_bag_modules() -> None:
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            assert path.stem not in {"utils", "helpers", "misc", "common"}, path
