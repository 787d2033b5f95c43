"""Late data into compressed TimescaleDB chunks: a logger resends a month of corrected history.

    python bench/late_resend_compressed.py [--stations 20] [--minute-stations 2]

Starts its own PostgreSQL cluster preloading the real TimescaleDB (tests/layouts.py), fills a
year of hourly readings for ``--stations`` stations and two months of minute readings for
``--minute-stations`` more (6 parameters, values at 0.1 resolution), compresses every chunk
and prints the compression ratio, then measures, for a month's corrected resend of one station:

(a) the previous, unbounded revision statement (one join over the whole hypertable), rolled back;
(b) ``ingest.writer.write_readings`` as ingest and ``envmon import`` run it, hourly data;
(c) the same for a month of minute data, in ingest-sized batches of 12 000 readings;
(d) for comparison, a redelivery of 12 000 recent readings (uncompressed chunk, duplicates).

"Tuples decompressed" is the growth of the uncompressed part of the hypertable (rows read with
the columnar scan switched off), i.e. what DML had to take out of compressed batches.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

from psycopg import AsyncConnection

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from envmon import db
from ingest import writer
from ingest.reading import Reading
from tests import layouts
from tests.conftest import create_database, free_port

RECENT = "2026-01-01"  # three days of minute data for every station, left uncompressed
PARAMS = ("pm25", "pm10", "so2", "no2", "o3", "co")
# the revision statement as it was before it was bounded per day (for the comparison only)
UNBOUNDED_REVISE = (
    writer._REVISE.replace(
        "  AND s.ts BETWEEN %(lo)s AND %(hi)s AND r.ts BETWEEN %(lo)s AND %(hi)s"
        "  AND r.station_id = ANY(%(stations)s) AND r.parameter = ANY(%(parameters)s)", "")
    .replace("  AND r.ts BETWEEN %(lo)s AND %(hi)s"
             "  AND r.station_id = ANY(%(stations)s) AND r.parameter = ANY(%(parameters)s)", "")
)

FILL = """
INSERT INTO readings (station_id, parameter, interval, ts, value, flag, source)
SELECT %(prefix)s || s, p, %(interval)s, t,
       round((40 + 25 * sin(extract(epoch FROM t) / 43200.0 + s) + random() * 4)::numeric, 1),
       'N', 'import'
FROM generate_series(1, %(n)s) s, unnest(%(params)s::text[]) p,
     generate_series(%(start)s::timestamptz, %(end)s::timestamptz, %(step)s::interval) t
"""


async def scalar(conn: AsyncConnection[Any], sql: str, *args: Any) -> Any:
    cur = await conn.execute(sql, args)
    row = await cur.fetchone()
    return row[0] if row else None


async def uncompressed(conn: AsyncConnection[Any]) -> int:
    await conn.execute("SET timescaledb.enable_columnarscan = off")
    n = int(await scalar(conn, "SELECT count(*) FROM readings"))
    await conn.execute("RESET timescaledb.enable_columnarscan")
    return n


async def month_resend(conn: AsyncConnection[Any], sid: str, interval: str) -> list[Reading]:
    """The stored month (March 2024) of ``sid``, every tenth value corrected by +1."""
    cur = await conn.execute(
        "SELECT parameter, ts, value FROM readings WHERE station_id = %s AND interval = %s"
        " AND ts >= '2024-03-01' AND ts < '2024-04-01' ORDER BY ts, parameter", (sid, interval))
    return [Reading(sid, p, interval, ts, v + (1 if i % 10 == 0 else 0), "N", "json")  # type: ignore[arg-type]
            for i, (p, ts, v) in enumerate(await cur.fetchall())]


async def redelivery(conn: AsyncConnection[Any]) -> list[Reading]:
    """12 000 stored recent readings (uncompressed chunk): a QoS 1 redelivery after a restart."""
    cur = await conn.execute(
        "SELECT station_id, parameter, ts, value FROM readings WHERE interval = 'min'"
        " AND ts >= %s::timestamptz + interval '1 day' ORDER BY ts, station_id, parameter"
        " LIMIT 12000", (RECENT,))
    return [Reading(sid, p, "min", ts, v, "N", "json")
            for sid, p, ts, v in await cur.fetchall()]


async def unbounded_revision(url: str, resend: list[Reading]) -> None:
    """(a) the previous statement, in a transaction that is rolled back."""
    async with await db.connect(url) as conn, conn.transaction(force_rollback=True):
        base = await uncompressed(conn)
        await conn.execute(writer._UNCAP_DECOMPRESSION)
        await conn.execute(writer._STAGE_DDL)
        async with conn.cursor() as cur, cur.copy(
                "COPY envmon_stage (station_id, parameter, interval, ts, value, flag,"
                " source) FROM STDIN") as copy:
            for r in resend:
                await copy.write_row((r.station_id, r.parameter, r.interval, r.ts,
                                      r.value, r.flag, r.source))
        t = time.perf_counter()
        await conn.execute(UNBOUNDED_REVISE)
        took = time.perf_counter() - t
        print(f"{'(a) unbounded revision statement, hourly month':52} {len(resend):>9} "
              f"{await uncompressed(conn) - base:>13} {took:>8.2f}")


async def run(args: argparse.Namespace) -> None:
    cluster = layouts.start_timescale_cluster(free_port)
    try:
        url = create_database("envmon_bench", admin_url=cluster.url)
        async with await db.connect(url, autocommit=True) as conn:
            await db.migrate(conn, layouts.storage_settings("timescale"))
            t = time.perf_counter()
            await conn.execute(FILL, {"prefix": "h", "interval": "hour", "n": args.stations,
                                      "params": list(PARAMS), "start": "2024-01-01",
                                      "end": "2024-12-31 23:00", "step": "1 hour"})
            await conn.execute(FILL, {"prefix": "m", "interval": "min",
                                      "n": args.minute_stations, "params": list(PARAMS),
                                      "start": "2024-03-01", "end": "2024-04-30 23:59",
                                      "step": "1 minute"})
            await conn.execute(FILL, {"prefix": "h", "interval": "min", "n": args.stations,
                                      "params": list(PARAMS), "start": RECENT,
                                      "end": "2026-01-03 23:59", "step": "1 minute"})
            total = await scalar(conn, "SELECT count(*) FROM readings")
            print(f"history: {total} readings ({args.stations} stations hourly for 2024, "
                  f"{args.minute_stations} minute for Mar-Apr, {args.stations} minute for "
                  f"3 recent days), {time.perf_counter() - t:.0f} s")
            t = time.perf_counter()
            chunks = await scalar(conn, "SELECT count(compress_chunk(c)) FROM show_chunks("
                                  "'readings', older_than => %s::timestamptz) c", RECENT)
            packed = total - await uncompressed(conn)
            cur = await conn.execute(
                "SELECT before_compression_total_bytes, after_compression_total_bytes"
                " FROM hypertable_compression_stats('readings')")
            before, after = await cur.fetchone() or (0, 0)
            print(f"compressed {chunks} chunks in {time.perf_counter() - t:.0f} s: "
                  f"{before / 2**20:.0f} MB -> {after / 2**20:.1f} MB "
                  f"(ratio {before / after:.1f}, {before / packed:.0f} -> "
                  f"{after / packed:.1f} bytes/reading)")
        async with await db.connect(url) as conn:
            print(f"{'case':52} {'readings':>9} {'decompressed':>13} {'seconds':>8}")
            resend = await month_resend(conn, "h1", "hour")
            await conn.commit()
            await unbounded_revision(url, resend)  # own connection: it is rolled back
            # (b), (c) the writer, committed batch by batch like ingest
            cases = [("(b) write_readings, hourly month, 1 batch", resend, len(resend)),
                     ("(c) write_readings, minute month, 12 000/batch",
                      await month_resend(conn, "m1", "min"), 12_000),
                     ("(d) redelivered recent minutes, all stations, 1 batch",
                      await redelivery(conn), 12_000)]
            await conn.commit()
            for name, readings, size in cases:
                base = await uncompressed(conn)
                await conn.commit()
                t = time.perf_counter()
                stats = writer.WriteStats()
                for i in range(0, len(readings), size):
                    async with conn.transaction():
                        stats += await writer.write_readings(conn, readings[i:i + size])
                took = time.perf_counter() - t
                print(f"{name:52} {len(readings):>9} {await uncompressed(conn) - base:>13} "
                      f"{took:>8.2f}   revised {stats.revised}, duplicates {stats.duplicates}")
                await conn.commit()
    finally:
        cluster.destroy()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stations", type=int, default=20)
    ap.add_argument("--minute-stations", type=int, default=2)
    asyncio.run(run(ap.parse_args()))


if __name__ == "__main__":
    main()
