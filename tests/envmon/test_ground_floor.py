"""``envmon/`` is the ground floor (issue 16): it imports no component and not the composition
root, not even lazily by a module-path string, so every component can build on it."""

from __future__ import annotations

import ast
import re

from tests.conftest import REPO

ABOVE = ("ingest", "aggregator", "alerts", "simulators", "web", "app")
# a module path or "module:attribute" string, as importlib.import_module or a command table takes
MODULE_STRING = re.compile(rf"^(?:{'|'.join(ABOVE)})(?:[.:][\w.:]*)?$")


def upward_references(source: str) -> list[tuple[int, str]]:
    """(line, what) for every import of, or module-path string naming, a package above."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names = [node.value] if MODULE_STRING.match(node.value) else []
        else:
            continue
        found += [(node.lineno, name) for name in names if name.split(".")[0].split(":")[0]
                  in ABOVE]
    return sorted(found)


def test_the_checker_sees_imports_and_import_strings() -> None:
    source = ("import ingest.writer\nfrom aggregator import queue\n"
              "TABLE = {'run': 'app.run:run', 'x': 'envmon.db:connect'}\n"
              "def f():\n    import web\n    return __import__('alerts')\n")
    assert [what for _, what in upward_references(source)] == [
        "ingest.writer", "aggregator", "app.run:run", "web", "alerts"]


def test_envmon_imports_nothing_above_it() -> None:
    offenders = [f"{path.relative_to(REPO)}:{line}: {what}"
                 for path in sorted((REPO / "envmon").rglob("*.py"))
                 for line, what in upward_references(path.read_text())]
    assert not offenders, "envmon/ must not import components or app/:\n" + "\n".join(offenders)
