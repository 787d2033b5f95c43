"""Helpers of the system test: envmon commands as real processes, copying readings into a
fresh database, the readings layout as it really is, and the indicator tables compared row
for row."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg

from aggregator.store import batch_readings
from envmon import db, storage
from tests.conftest import REPO, free_port
from tests.ingest.support import local_http, local_metric

#: Every indicator table and view, with the column naming its station or region; all rows
#: of the scope are compared, every column but ``computed_at``.
INDICATORS: dict[str, str] = {
    "hourly_rollup": "station_id",
    "excluded_readings": "station_id",
    "air_station_hourly": "station_id",
    "air_station_daily": "station_id",
    "air_region_hourly": "city",
    "air_region_daily": "city",
    "air_city_daily": "city",
    "air_region_period": "city",
    "water_station_hourly": "station_id",
    "water_station_daily": "station_id",
    "water_station_monthly": "station_id",
    "water_region_monthly": "city",
    "noise_station_hourly": "station_id",
    "noise_station_daily": "station_id",
    "noise_region_daily": "city",
}
#: Log lines that must not appear: a traceback, an error, a failed batch or station-day.
BAD_LOG = re.compile(r"Traceback|\bERROR\b|\bCRITICAL\b|\bfailed\b")


@dataclass
class Command:
    """``envmon ARGS`` as a subprocess (what an operator runs), its log in a file."""

    args: list[str]
    env: dict[str, str]
    name: str
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    logs: list[Path] = field(default_factory=list)

    def start(self, ready: bool = True) -> Command:
        env = {**os.environ, **self.env, "ENVMON_METRICS_PORT": str(self.port)}
        env.pop("ENVMON_CONFIG", None)
        log = Path(f"/tmp/envmon-system-{os.getpid()}-{self.name}-{len(self.logs)}.log")
        self.logs.append(log)
        with log.open("wb") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "app", *self.args],
                                         env=env, stdout=out, stderr=out, cwd=REPO)
        return self.wait_ready() if ready else self

    def wait_ready(self, timeout: float = 60) -> Command:
        """Until ``/readyz`` answers 200 (several commands may start meanwhile)."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while self.http("/readyz")[0] != 200:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"{self.name} not ready: {self.log_text()[-3000:]}")
            time.sleep(0.1)
        return self

    def http(self, path: str) -> tuple[int, str]:
        return local_http(self.port, path)

    def metric(self, name: str) -> float:
        """Sum of a metric's samples."""
        return local_metric(self.port, name)

    def kill(self, sig: int = signal.SIGKILL) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(60)

    def stop(self) -> int:
        return self.kill(signal.SIGTERM)

    def log_text(self) -> str:
        return "".join(p.read_text(errors="replace") for p in self.logs if p.exists())

    def bad_log_lines(self) -> list[str]:
        return [line for line in self.log_text().splitlines() if BAD_LOG.search(line)]


def run_once(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    """``envmon ARGS`` to completion; exit code and output."""
    done = subprocess.run([sys.executable, "-m", "app", *args], cwd=REPO, check=False,
                          env={**os.environ, **env}, capture_output=True, timeout=900)
    return done.returncode, done.stdout.decode() + done.stderr.decode()


def readings_layout(url: str) -> str:
    """``timescale`` when TimescaleDB lists ``readings`` among its hypertables, ``plain`` when
    it is a partitioned table: the layout the database really has, not the one asked for."""
    with psycopg.connect(url) as conn:
        partitioned = conn.execute("SELECT relkind = 'p' FROM pg_class"
                                   " WHERE oid = 'public.readings'::regclass").fetchone()
        if partitioned and partitioned[0]:
            return "plain"
        hypertable = conn.execute(
            "SELECT count(*) FROM timescaledb_information.hypertables"
            " WHERE hypertable_schema = 'public' AND hypertable_name = 'readings'").fetchone()
        return "timescale" if hypertable and hypertable[0] == 1 else "neither"


def compressed_chunks(url: str) -> list[tuple[str, datetime, datetime]]:
    """The compressed chunks of ``readings`` (TimescaleDB): name, start and end of range."""
    with psycopg.connect(url) as conn:
        return [(name, start, end) for name, start, end in conn.execute(
            "SELECT chunk_name, range_start, range_end FROM timescaledb_information.chunks"
            " WHERE hypertable_name = 'readings' AND is_compressed ORDER BY range_start")]


def row_store_readings(url: str, stations: list[str], before: datetime) -> int:
    """Readings of ``stations`` before ``before`` in the row store, i.e. not in compressed
    batches: on compressed chunks, what was written (or decompressed) after compression."""
    with psycopg.connect(url) as conn:
        conn.execute("SET timescaledb.enable_columnarscan = off")
        row = conn.execute("SELECT count(*) FROM readings WHERE station_id = ANY(%s)"
                           " AND ts < %s", (stations, before)).fetchone()
        return int(row[0]) if row else 0


async def fresh_copy(source_url: str, url: str, stations: list[str]) -> None:
    """Fill ``url``, a new database migrated with the layout of ``source_url``, with the
    stations and all their readings (the readings' days marked dirty and their
    minute/real-time readings counted, as the ingest writer does) and no indicator at all."""
    columns = "station_id, parameter, interval, ts, value, flag, source, received_at"
    with psycopg.connect(source_url) as src, psycopg.connect(url) as dst:
        station_cols = ", ".join(r[0] for r in src.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'stations'"
            " AND table_schema = 'public' ORDER BY ordinal_position").fetchall())
        months = [r[0] for r in src.execute(
            "SELECT DISTINCT date_trunc('month', ts AT TIME ZONE 'UTC')::date FROM readings"
            " WHERE station_id = ANY(%s)", (stations,)).fetchall()]
        async with await db.connect(url) as aconn:
            if await storage.is_partitioned(aconn):  # plain: its monthly partitions
                await storage.ensure_partitions(aconn, months)
            await aconn.commit()
        for table, where in (("stations", "station_id = ANY(%s)"),
                             ("readings", "station_id = ANY(%s)")):
            picked = station_cols if table == "stations" else columns
            with src.cursor().copy(
                    f"COPY (SELECT {picked} FROM {table} WHERE {where}) TO STDOUT"  # noqa: S608
                    " (FORMAT binary)", (stations,)) as out, dst.cursor().copy(
                    f"COPY {table} ({picked}) FROM STDIN (FORMAT binary)") as into:
                for block in out:
                    into.write(block)
        dst.execute("INSERT INTO dirty_days (station_id, day) SELECT DISTINCT station_id,"
                    " (ts AT TIME ZONE 'Asia/Shanghai')::date FROM readings")
        dst.execute(batch_readings.RECOUNT_SAMPLES)  # and their sample counts, as it keeps them


def snapshot(url: str, table: str, scope: list[str]) -> list[tuple[Any, ...]]:
    """The rows of an indicator table in the scope, every column but computed_at, sorted."""
    with psycopg.connect(url) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        names = [r[0] for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s"
            " AND table_schema = 'public' AND column_name <> 'computed_at'"
            " ORDER BY ordinal_position", (table,)).fetchall()]
        cols = ", ".join(names)
        return conn.execute(
            f"SELECT {cols} FROM {table} WHERE {INDICATORS[table]} = ANY(%s)"  # noqa: S608
            f" ORDER BY {', '.join(str(i + 1) for i in range(len(names)))}", (scope,)
        ).fetchall()
