"""Benchmark: binary COPY of scalar indicator rows, encoded by the hand-written field
encoders aggregator/pg_arrays.py (now store/wire_format.py) had (``field_encoder``, kept
here for the measurement) vs psycopg's own ``Copy.write_row`` with ``set_types`` (its C
dumpers), which ``store.indicator_rows._upsert`` uses since (issue 16 item 5).

    python bench/copy_encoders.py [--rows 20000] [--repeat 5]

Creates (and drops) a scratch database laid out by the migrations; copies the same rows of
``air_station_daily`` (text, date, int, smallint, bool, float8, text[], jsonb) and
``hourly_rollup`` (text, timestamptz, float8, bool, int) into a temporary copy of each table,
both ways in the same run; best of ``--repeat``; prints both times and their ratio.
Run on demand, not in CI.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import struct
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from psycopg import AsyncConnection, sql

from aggregator.store.wire_format import (
    COPY_SIGNATURE,
    COPY_TRAILER,
    date_field,
    field,
    row_start,
    text_field,
    timestamptz_field,
)
from envmon import db
from envmon.settings import StorageSettings
from tests.conftest import create_database, drop_database

Row = dict[str, Any]
NOW = datetime(2026, 1, 1, tzinfo=UTC)

_NULL = struct.pack(">i", -1)
_FIXED: dict[int, str] = {20: ">q", 21: ">h", 23: ">i", 701: ">d"}


def _text_array(values: Sequence[str | None]) -> bytes:
    header = struct.pack(">iiIii", 1, any(v is None for v in values), 25, len(values), 1)
    return header + b"".join(_NULL if v is None else field(v.encode()) for v in values)


def field_encoder(oid: int) -> Callable[[Any], bytes]:
    """A function from a Python value to its binary COPY field (NULL for None), for the
    column types indicator tables use (aggregator/pg_arrays.py until this measurement)."""
    encode: Callable[[Any], bytes]
    if oid in _FIXED:
        fmt = struct.Struct(_FIXED[oid])
        cast = float if oid == 701 else int
        encode = lambda v: field(fmt.pack(cast(v)))  # noqa: E731
    elif oid == 25:  # ids, rule sets, category names: few distinct values
        encode = lru_cache(maxsize=1 << 16)(text_field)
    elif oid == 16:
        encode = lambda v: field(b"\x01" if v else b"\x00")  # noqa: E731
    elif oid == 1082:
        encode = date_field
    elif oid == 1184:
        encode = timestamptz_field
    elif oid == 3802:  # jsonb: version 1, then the JSON text
        encode = lambda v: field(b"\x01" + json.dumps(v, separators=(",", ":")).encode())  # noqa: E731
    elif oid == 1009:
        cached = lru_cache(maxsize=1 << 12)(lambda t: field(_text_array(t)))
        encode = lambda v: cached(tuple(v))  # noqa: E731
    else:
        raise TypeError(f"no binary COPY encoder for type oid {oid}")
    return lambda v: _NULL if v is None else encode(v)


def daily_rows(n: int, rng: random.Random) -> list[Row]:
    out = []
    for i in range(n):
        aqi = rng.randint(20, 300)
        out.append({
            "station_id": f"bench-{i % 100:04d}", "day": date(2025, 1, 1) + timedelta(i // 100),
            "rules": "HJ633-2012", "aqi": aqi, "level": 1 + aqi // 50,
            "category": "良", "primary_pollutants": ["pm25"], "complete": True,
            **{p: round(rng.uniform(1, 200), 1) for p in
               ("so2", "no2", "co", "pm10", "pm25", "o3_8h", "o3_1h")},
            "iaqi": {p: rng.randint(0, 300) for p in ("so2", "no2", "co", "pm10", "pm25")},
        })
    return out


def rollup_rows(n: int, rng: random.Random) -> list[Row]:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    return [{"station_id": f"bench-{i % 10:04d}", "ts": start + timedelta(hours=i // 60),
             "parameter": ("so2", "no2", "co", "o3", "pm10", "pm25")[i % 6],
             "value": round(rng.uniform(1, 200), 1), "valid": True, "source": "min",
             "n_samples": 60, "n_excluded": 0} for i in range(n)]


async def column_oids(conn: AsyncConnection[Any], table: str) -> dict[str, int]:
    cur = await conn.execute(
        "SELECT attname, atttypid::int FROM pg_attribute WHERE attrelid = %s::regclass"
        " AND attnum > 0", (table,))
    return {name: oid for name, oid in await cur.fetchall()}


async def copy_hand(conn: AsyncConnection[Any], stage: str, oids: dict[str, int],
                    cols: Sequence[str], rows: list[Row]) -> None:
    """As revisions._upsert did: pre-encoded fields joined into one stream."""
    fields: list[Callable[[Any], bytes]] = [field_encoder(oids[c]) for c in cols]
    head = row_start(len(fields) + 1)
    stamp = field_encoder(oids["computed_at"])(NOW)
    data = b"".join([COPY_SIGNATURE, *(
        head + b"".join([f(row[c]) for f, c in zip(fields, cols, strict=True)]) + stamp
        for row in rows), COPY_TRAILER])
    names = sql.SQL(", ").join(map(sql.Identifier, (*cols, "computed_at")))
    async with conn.cursor() as cur, cur.copy(sql.SQL(
            "COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(sql.Identifier(stage), names)
    ) as copy:
        await copy.write(data)


async def copy_write_row(conn: AsyncConnection[Any], stage: str, oids: dict[str, int],
                         cols: Sequence[str], rows: list[Row]) -> None:
    """psycopg's binary COPY: ``set_types`` then ``write_row`` per row."""
    names = sql.SQL(", ").join(map(sql.Identifier, (*cols, "computed_at")))
    async with conn.cursor() as cur, cur.copy(sql.SQL(
            "COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(sql.Identifier(stage), names)
    ) as copy:
        copy.set_types([oids[c] for c in (*cols, "computed_at")])
        for row in rows:
            await copy.write_row([*(row[c] for c in cols), NOW])


async def measure(url: str, n: int, repeat: int) -> None:
    rng = random.Random(16)
    async with await db.connect(url) as conn:
        await db.migrate(conn, StorageSettings(backend="plain"))
        await conn.commit()
        for table, rows in (("air_station_daily", daily_rows(n, rng)),
                            ("hourly_rollup", rollup_rows(n, rng))):
            oids = await column_oids(conn, table)
            cols = [c for c in rows[0] if c != "computed_at"]
            stage = f"stage_{table}"
            await conn.execute(sql.SQL("CREATE TEMP TABLE {} (LIKE {})").format(
                sql.Identifier(stage), sql.Identifier(table)))
            times: dict[str, list[float]] = {"hand": [], "write_row": []}
            copies = {"hand": copy_hand, "write_row": copy_write_row}
            for _ in range(repeat):
                for name, copy in copies.items():
                    await conn.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(stage)))
                    started = time.perf_counter()
                    await copy(conn, stage, oids, cols, rows)
                    times[name].append(time.perf_counter() - started)
            cur = await conn.execute(sql.SQL("SELECT count(*) FROM {}").format(
                sql.Identifier(stage)))
            assert (await cur.fetchone() or (0,))[0] == n
            hand, write_row = min(times["hand"]), min(times["write_row"])
            print(f"{table}: {n} rows, hand-written encoders {1000 * hand:.0f} ms,"
                  f" psycopg write_row {1000 * write_row:.0f} ms (best of {repeat}):"
                  f" write_row / hand = {write_row / hand:.2f}")
            await conn.commit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    url = create_database("envmon_bench_copy")
    try:
        asyncio.run(measure(url, args.rows, args.repeat))
    finally:
        drop_database(url)


if __name__ == "__main__":
    main()
