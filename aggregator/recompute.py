"""One unit of aggregator work: lease dirty station-days, recompute them, then the regions
and period figures that depend on them, in one transaction that ends by removing the marks.

A batch goes down the layers and back once: claim (store/queue.py) → load its stations and
their readings (``load``) → compute the station rows (compute/station_day.py) → take the
region-day locks and load the regions' other stations (store/locks.py, store/stations.py,
store/stored_indicators.py) → compute the region rows (compute/region_day.py) → write all
rows (store/batch_writes.py) → finish. Period figures are another load → compute → write
step (``recompute_periods``).

A station-day that fails for a reason retrying cannot fix (bad station configuration, a bug)
does not block the queue: the failing ones are isolated by bisection (each half in a
savepoint: a few attempts for a batch of thousands, not one per station-day) and go to
``failed_days`` with their error. Every attempt of a batch writes with the same ``now``, so a
value an earlier attempt wrote is not taken for a published one
(``store.indicator_rows.published``).

Period figures (air region months and years, water section months) are computed last, after
the batch's own marks are gone, and only for periods none of whose days is still queued
(``recompute_periods``).
"""

from __future__ import annotations

import contextlib
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from psycopg import AsyncConnection

from aggregator.compute import periods, region_day, station_day
from aggregator.compute.beijing_time import DAY, period_end
from aggregator.compute.station_readings import HourReadings
from aggregator.store import batch_readings, batch_writes, locks, queue, stations, stored_indicators
from aggregator.store.indicator_rows import SyncStats
from envmon import alert_feed, db  # alert_feed: recomputed station-days for the alerts engine

log = logging.getLogger(__name__)


@dataclass(slots=True)
class BatchResult:
    station_days: int
    stats: SyncStats
    #: seconds from each claimed mark (commit of its readings) to this batch's commit
    lags: list[float] = field(default_factory=list)
    failed: int = 0


#: Minute/real-time readings one batch may hold (as arrays, 16 bytes each, plus the binary
#: result while it is read; aggregator/compute/sample_hours.py): a batch of history is thousands of
#: station-days, and a station sending minute data has 8 640 readings a day. Days beyond the
#: budget are given back to the queue for the next batch. The counts are the ingest writer's
#: (``station_day_samples``): known before the readings are read, so they are read once.
MAX_SAMPLES = 12_000_000


@dataclass(slots=True)
class Loaded:
    """What a batch reads before computing: its stations and their readings; ``deferred``:
    claimed days left for a later batch (their minute data did not fit ``MAX_SAMPLES``)."""

    dirty: dict[str, list[date]]
    infos: dict[str, station_day.StationInfo]
    windows: dict[str, list[tuple[datetime, datetime]]]
    readings: dict[str, HourReadings]
    deferred: set[tuple[str, date]] = field(default_factory=set)


def _within_budget(
    dirty: dict[str, list[date]], counts: dict[tuple[str, date], int], budget: int
) -> set[tuple[str, date]]:
    """The station-days to defer so that the minute data of the others' windows (D-1 … D+1)
    fits ``budget``; newest days first, and never all of them."""
    used, deferred = 0, set()
    for day, sid in sorted(((d, s) for s, ds in dirty.items() for d in ds), reverse=True):
        cost = sum(counts.get((sid, day + k * DAY), 0) for k in (-1, 0, 1))
        if used and used + cost > budget:
            deferred.add((sid, day))
        else:
            used += cost
    return deferred


async def load(conn: AsyncConnection[Any], claimed: Sequence[queue.DirtyDay]) -> Loaded:
    """The stations of the claimed days and their readings D-1 … D+1 (caller's transaction)."""
    dirty: dict[str, list[date]] = defaultdict(list)
    for item in claimed:
        dirty[item.station_id].append(item.day)
    infos = await stations.load_station_info(conn, dirty)
    for sid in sorted(set(dirty) - set(infos)):
        log.warning("dirty days of unknown station %s dropped", sid)
        del dirty[sid]
    windows = {sid: station_day.windows(days) for sid, days in dirty.items()}
    if not windows:
        return Loaded(dirty, infos, windows, {})
    readings, counts = await batch_readings.load(conn, windows)
    deferred = _within_budget(dirty, counts, MAX_SAMPLES) if counts else set()
    if deferred:
        dirty = {sid: kept for sid, days in dirty.items()
                 if (kept := [d for d in days if (sid, d) not in deferred])}
        windows = {sid: station_day.windows(days) for sid, days in dirty.items()}
    with_samples = {sid for sid, _ in counts}
    await batch_readings.load_samples(
        conn, {sid: w for sid, w in windows.items() if sid in with_samples}, readings)
    return Loaded(dirty, infos, windows, readings, deferred)


async def recompute(
    conn: AsyncConnection[Any], claimed: Sequence[queue.DirtyDay], *,
    loaded: Loaded | None = None, now: datetime | None = None,
) -> SyncStats:
    """Recompute the given station-days and their regions, and queue their period figures
    (caller's transaction). ``loaded``: the days' readings when already read (``load``);
    ``now``: the batch's computation time."""
    batch = loaded or await load(conn, claimed)
    if not batch.dirty:
        return SyncStats()
    return await _station_and_regions(conn, batch, now or datetime.now(UTC))


async def recompute_periods(conn: AsyncConnection[Any], now: datetime) -> SyncStats:
    """The queued figures over periods (air region months and years, water section months)
    none of whose days is still queued, from the stored daily rows (caller's transaction;
    call it after the batch's own marks are removed)."""
    stats = SyncStats()
    for region, keys in sorted((await queue.take_periods(conn)).items()):
        await locks.lock(conn, (f"air-period:{region.label}:{p}:{s}" for p, s in keys))
        rows = []
        for period, start in sorted(keys):
            daily = await stored_indicators.region_days(
                conn, region.city, region.county, start, period_end(period, start))
            rows.append(periods.region_period(
                {"city": region.city, "county": region.county, "period": period,
                 "period_start": start}, daily))
        stats.add(await batch_writes.region_periods(conn, region, keys, rows, now))
    months = await queue.take_water_months(conn)
    infos = await stations.load_station_info(conn, months)
    for sid, wanted in sorted(months.items()):
        info = infos.get(sid)
        if info is None or info.kind != "water":
            continue
        by_month = await stored_indicators.water_daily_means(conn, sid, wanted)
        rows = [periods.water_month(info, {"station_id": sid, "month": m}, days)
                for m, days in sorted(by_month.items())]
        stats.add(await batch_writes.water_months(conn, sid, wanted, rows, now))
    return stats


def _subset(loaded: Loaded, days: Sequence[queue.DirtyDay]) -> Loaded:
    """The part of a batch's readings a subset of its days needs (no second read)."""
    dirty: dict[str, list[date]] = defaultdict(list)
    for item in days:
        if item.station_id in loaded.dirty:
            dirty[item.station_id].append(item.day)
    return Loaded(dict(dirty), loaded.infos,
                  {sid: station_day.windows(ds) for sid, ds in dirty.items()},
                  {sid: r for sid, r in loaded.readings.items() if sid in dirty})


async def _station_and_regions(
    conn: AsyncConnection[Any], batch: Loaded, now: datetime
) -> SyncStats:
    """Compute the station rows, then (under the region-day locks) the region rows from
    them and the regions' other stations, then write them all."""
    dirty = batch.dirty
    station = station_day.compute_stations(batch.infos, dirty, batch.windows, batch.readings)
    days = region_day.region_days(batch.infos, dirty)
    regions = None
    if days:
        await locks.lock(conn, region_day.lock_keys(days))
        members = await stations.region_members(conn, days)
        stored = await stored_indicators.stored_hours(
            conn, region_day.missing_grids(days, members, station.grids))
        daily = await stored_indicators.daily_means(
            conn, sorted({s for ss in members.values() for s in ss}),
            *region_day.first_and_last(days))
        region_day.own_daily(daily, station, dirty)
        regions = region_day.compute_regions(days, members, station, dirty, stored, daily)
    stats = await batch_writes.station_rows(conn, dirty, station.rows, now)
    await queue.mark_water_months(conn, batch.infos, dirty)
    if regions is not None:
        stats.add(await batch_writes.region_rows(conn, days, regions, now))
        await queue.mark_periods(conn, days)
    return stats


async def _isolate(
    conn: AsyncConnection[Any], days: Sequence[queue.DirtyDay], loaded: Loaded, now: datetime,
) -> tuple[SyncStats, list[tuple[queue.DirtyDay, str]]]:
    """Recompute a batch that failed as a whole: halves, each in a savepoint, down to the
    station-days that fail on their own (k failures among n days: about 2 k log2 n attempts)."""
    stats = SyncStats()
    failed: list[tuple[queue.DirtyDay, str]] = []
    ordered = sorted(days, key=lambda d: (d.day, d.station_id))  # a day's stations together
    pending = [ordered[: len(ordered) // 2], ordered[len(ordered) // 2 :]]
    while pending:
        part = pending.pop(0)
        if not part:
            continue
        try:
            async with conn.transaction():
                stats.add(await recompute(conn, part, loaded=_subset(loaded, part), now=now))
        except Exception as exc:
            if db.is_transient(exc):
                raise
            if len(part) > 1:
                pending[:0] = [part[: len(part) // 2], part[len(part) // 2 :]]
                continue
            item = part[0]
            log.exception("recomputing %s %s failed", item.station_id, item.day)
            failed.append((item, f"{type(exc).__name__}: {exc}"))
    return stats, failed


@dataclass(slots=True)
class Claimed:
    """Leased dirty days, with their readings when they were read ahead (``claim``)."""

    days: list[queue.DirtyDay]
    loaded: Loaded | None = None


async def claim(
    conn: AsyncConnection[Any], limit: int, lease_seconds: float, *, read: bool = False,
    holder: int | None = None,
) -> Claimed:
    """Lease about ``limit`` dirty station-days; with ``read`` also read their readings (on
    a second connection while another batch computes: PostgreSQL scans meanwhile; the lease
    is then recorded for ``holder``, the worker's main connection)."""
    days = await queue.claim(conn, limit, lease_seconds=lease_seconds, holder=holder)
    if not read or not days:
        return Claimed(days)
    try:
        async with conn.transaction():
            return Claimed(days, await load(conn, days))
    except Exception:
        with contextlib.suppress(Exception):
            await queue.release(conn, days)
        raise


async def run_batch(
    conn: AsyncConnection[Any], limit: int = 200, lease_seconds: float = 300.0,
    claimed: Claimed | None = None,
) -> BatchResult | None:
    """Recompute about ``limit`` dirty station-days (claimed now unless ``claimed``); None
    when nothing is waiting.

    A full batch (more work is likely queued) leaves its period figures queued for the
    batch that empties the queue.
    """
    if claimed is None:
        claimed = await claim(conn, limit, lease_seconds)
    days = claimed.days
    if not days:
        async with conn.transaction():
            stats = await recompute_periods(conn, datetime.now(UTC))
            if stats.inserted or stats.updated:  # alerts: region period figures changed
                await alert_feed.log_indicator_batch(conn, [], periods=True)
        return BatchResult(0, stats) if stats.inserted or stats.updated else None
    try:
        loaded = claimed.loaded
        if loaded is None:
            async with conn.transaction():
                loaded = await load(conn, days)
        later = [d for d in days if (d.station_id, d.day) in loaded.deferred]
        if later:
            await queue.release(conn, later)
            days = [d for d in days if (d.station_id, d.day) not in loaded.deferred]
        periods_now = len(claimed.days) < limit and not later
        now = datetime.now(UTC)
        async with conn.transaction():
            try:
                async with conn.transaction():
                    stats = await recompute(conn, days, loaded=loaded, now=now)
                failed: list[tuple[queue.DirtyDay, str]] = []
            except Exception as exc:
                if db.is_transient(exc):
                    raise
                log.warning("batch of %d station-days failed (%s); isolating the failing"
                            " ones", len(days), exc)
                stats, failed = await _isolate(conn, days, loaded, now)
            await queue.fail(conn, failed)
            await queue.finish(conn, days)
            if periods_now:
                stats.add(await recompute_periods(conn, now))
            await alert_feed.log_indicator_batch(  # alerts: indicators of these days changed
                conn, [(d.station_id, d.day) for d in days])
    except Exception:
        with contextlib.suppress(Exception):
            await queue.release(conn, days)
        raise
    done = datetime.now(UTC)
    return BatchResult(
        len(days), stats, [(done - item.marked_at).total_seconds() for item in days],
        len(failed),
    )
