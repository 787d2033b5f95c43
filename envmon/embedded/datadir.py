"""Where ``envmon run`` keeps its embedded services' state, and the lock that guards it.

One run at a time may own a data directory: a second run would otherwise take the first
one's database server for an orphan and stop it. The lock is an ``flock`` on a file, so the
kernel releases it when the owner dies, even by SIGKILL; a server still running after that
is known to be an orphan.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/envmon``, else ``~/.local/share/envmon`` (XDG Base Directory spec)."""
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".local" / "share"
    return base / "envmon"


class DataDirBusy(RuntimeError):
    """Another live ``envmon run`` owns the data directory."""


class RunLock:
    """Exclusive ownership of a data directory for the lifetime of one run."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "run.lock"
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise DataDirBusy(
                f"another envmon run (pid {owner}) is using {self.path.parent}; stop it, or "
                "give this run its own directory with --data-dir"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
