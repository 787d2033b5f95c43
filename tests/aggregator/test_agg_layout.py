"""The aggregator's layout holds (docs/aggregator.md): aggregator/compute/ is pure — it reads
no database and knows nothing of aggregator/store/ — so that the computation of a batch can be
followed, tested and benchmarked without PostgreSQL."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

COMPUTE = Path(__file__).resolve().parents[2] / "aggregator" / "compute"
#: what compute/ may import besides the standard library
ALLOWED = ("numpy", "aggregator.standards", "aggregator.compute", "envmon.beijing_time",
           "envmon.parameters", "ingest.reading")


def imports(path: Path) -> set[str]:
    """Every module a file imports, ``from package import module`` as ``package.module``."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names
                    if node.module == "aggregator"}
    return out


def _within(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


@pytest.mark.parametrize("path", sorted(COMPUTE.glob("*.py")), ids=lambda p: p.name)
def test_compute_reads_no_database(path: Path) -> None:
    names = imports(path)
    assert not {n for n in names if _within(n, ("psycopg", "aggregator.store"))}
    third_party = {n for n in names
                   if n.split(".")[0] in ("numpy", "aggregator", "envmon", "ingest")}
    assert {n for n in third_party
            if not _within(n, ALLOWED) and n != "aggregator"} == set()


def test_imports_sees_a_database_import(tmp_path: Path) -> None:
    """The check above can fail: a module importing the store or psycopg is seen."""
    bad = tmp_path / "bad.py"
    bad.write_text("from aggregator import store\nfrom psycopg import sql\n")
    assert {"aggregator.store", "psycopg"} <= imports(bad)


_LOADED = ("import json, sys, {module}; print(json.dumps(sorted(m for m in sys.modules"
           " if m.split('.')[0] == 'psycopg' or m.startswith('aggregator.store')"
           ")))")


@pytest.mark.parametrize("path", sorted(COMPUTE.glob("*.py")), ids=lambda p: p.name)
def test_compute_loads_no_database_driver(path: Path) -> None:
    """Importing a compute module loads neither psycopg nor the store."""
    module = "aggregator.compute" + ("" if path.stem == "__init__" else f".{path.stem}")
    got = subprocess.run(
        [sys.executable, "-c", _LOADED.format(module=module)],
        capture_output=True, text=True, check=True, cwd=COMPUTE.parents[1],
    )
    loaded = set(json.loads(got.stdout))
    assert not loaded, loaded
