"""One unit of aggregator work: claim dirty station-days, recompute them, then the regions
and period figures that depend on them, all in one transaction."""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from psycopg import AsyncConnection

from aggregator import queue, regions, station_days
from aggregator.revisions import SyncStats

log = logging.getLogger(__name__)


@dataclass(slots=True)
class BatchResult:
    station_days: int
    stats: SyncStats
    #: seconds from each claimed mark (commit of its readings) to this batch's commit
    lags: list[float] = field(default_factory=list)


async def run_batch(conn: AsyncConnection[Any], limit: int = 200) -> BatchResult | None:
    """Claim and recompute up to ``limit`` dirty station-days; None when the queue is empty."""
    async with conn.transaction():
        claimed = await queue.claim(conn, limit)
        if not claimed:
            return None
        now = datetime.now(UTC)
        dirty: dict[str, list[date]] = defaultdict(list)
        for item in claimed:
            dirty[item.station_id].append(item.day)
        infos = await station_days.load_station_info(conn, dirty)
        for sid in sorted(set(dirty) - set(infos)):
            log.warning("dirty days of unknown station %s dropped", sid)
            del dirty[sid]
        stats = SyncStats()
        if dirty:
            samples = await station_days.load_samples(
                conn, {sid: station_days.windows(days) for sid, days in dirty.items()}
            )
            rows = station_days.StationRows([], [], [], [], [], [], [])
            for sid, days in dirty.items():
                station_days.compute(infos[sid], days, samples.get(sid, []), rows)
            stats.add(await station_days.store(conn, dirty, rows, now))
            stats.add(await station_days.store_water_monthly(conn, infos, dirty, now))
            region_days: dict[regions.Region, set[date]] = defaultdict(set)
            for sid, days in dirty.items():
                info = infos[sid]
                if info.kind == "air":
                    for region in regions.regions_of(info.city, info.county):
                        region_days[region].update(days)
            if region_days:
                stats.add(await regions.recompute_air(conn, region_days, now))
                stats.add(await regions.recompute_periods(conn, region_days, now))
    done = datetime.now(UTC)
    return BatchResult(
        len(claimed), stats, [(done - item.marked_at).total_seconds() for item in claimed]
    )
