"""paho-mqtt is a test/bench dependency only: every runtime module imports without it
(``envmon run --demo`` publishes through simulators/publish.py, which speaks MQTT itself)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

IMPORT_ALL_WITHOUT_PAHO = """
import fnmatch, importlib, pkgutil, sys
sys.modules["paho"] = None  # any "import paho..." now raises ImportError
patterns = sys.argv[1:]
names = [m.name for m in pkgutil.iter_modules(["."]) if m.ispkg
         and any(fnmatch.fnmatch(m.name, p) for p in patterns)]
count = 0
for name in names:
    package = importlib.import_module(name)
    for info in pkgutil.walk_packages(package.__path__, name + "."):
        if not info.name.endswith(".__main__"):  # that one runs the CLI
            importlib.import_module(info.name)
        count += 1
print(count)
"""


def test_runtime_packages_import_without_paho() -> None:
    meta = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert not any(d.startswith("paho") for d in meta["project"]["dependencies"])
    patterns = meta["tool"]["setuptools"]["packages"]["find"]["include"]
    done = subprocess.run([sys.executable, "-c", IMPORT_ALL_WITHOUT_PAHO, *patterns],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) > 20  # the walk really imported the runtime modules
