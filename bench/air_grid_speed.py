"""Benchmark: aggregator.compute.air_arrays (numpy) against the reference functions of
aggregator.compute.air_reference.

    python bench/air_grid_speed.py [--stations 100] [--days 365] [--reference 5]
                                   [--start 2025-06-01] [--seed 1]

Builds ``stations`` x (1 + ``days``) days of integer-valued hourly data (CO to one decimal,
about 3% of the hours missing) and a region of all stations. Times, for the vector path:
``hourly`` over ``days`` days (the first day is history for the moving averages), ``daily``,
``region_grid``, the region's ``hourly`` and ``region_daily``. In the same run the reference
(``air_reference``'s ``hours``, ``station_day``, ``region_series``, ``region_day``) for
``reference`` stations, scaled to ``stations`` (the region's own hours and days unscaled);
the reference results of those stations are checked equal to the vector ones (not timed).
Then the aggregator's batches: ``batches`` windows of ``batch_days`` days (every 50 days; the
first day is history, hourly reports for the others, daily reports without the first and the
last), timed as one ``hourly``/``daily`` call per station and window against one
``hourly_many``/``daily_many`` call per window; both results are checked equal (not timed).
Run on demand, not a test.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aggregator.compute import air_arrays as ag
from aggregator.compute import air_reference
from aggregator.standards.air_time import day_start
from envmon.beijing_time import HOUR

T = TypeVar("T")
BASE = np.array([9.0, 35.0, 0.8, 70.0, 80.0, 45.0])  # so2 no2 co o3 pm10 pm25


def station_values(rng: np.random.Generator, station: int, n_hours: int) -> np.ndarray:
    """Diurnal, seasonal, noisy concentrations rounded like station data (cf.
    bench/aggregator_recompute.py)."""
    h = np.arange(n_hours)
    seasonal = 1 + 0.5 * np.cos(2 * np.pi * h / 8760)
    diurnal = 1 + 0.3 * np.sin(2 * np.pi * (h % 24) / 24 + station)
    v = BASE[:, None] * seasonal * diurnal * rng.lognormal(0, 0.35, (6, n_hours))
    v = np.round(v)
    v[2] = np.round(BASE[2] * seasonal * diurnal * rng.lognormal(0, 0.35, n_hours), 1)
    v[rng.random(v.shape) < 0.03] = np.nan
    return v


def timed(fn: Callable[..., T], *args: Any) -> tuple[T, float]:
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stations", type=int, default=100)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--reference", type=int, default=5)
    ap.add_argument("--start", type=date.fromisoformat, default=date(2025, 6, 1))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--batches", type=int, default=7)
    ap.add_argument("--batch-days", type=int, default=52)
    args = ap.parse_args()
    n_days = args.days + 1
    rng = np.random.default_rng(args.seed)
    start = day_start(args.start)
    grids = [ag.Grid(start, station_values(rng, i, n_days * 24)) for i in range(args.stations)]
    hours = args.days * 24
    print(f"{args.stations} stations x {args.days} days (+1 day history) from {args.start}, "
          f"rules switch 2026-03-01")

    # ---- vector path (best of --repeat runs; the machine may be shared) ----
    runs: list[dict[str, float]] = []
    for _ in range(args.repeat):
        ag.FALLBACKS.clear()
        t: dict[str, float] = {}
        cpu0 = time.process_time()
        t0 = time.perf_counter()
        station_hourly = [ag.hourly(g, 24, hours) for g in grids]
        t["hourly"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        station_daily = [ag.daily(g, 1, args.days) for g in grids]
        t["daily"] = time.perf_counter() - t0
        station_fallbacks = dict(ag.FALLBACKS)
        ag.FALLBACKS.clear()
        (region, _), t["region_grid"] = timed(ag.region_grid, grids)
        _, t["region hourly"] = timed(ag.hourly, region, 24, hours)
        values = np.stack([d.values[:, :5] for d in station_daily])
        _, t["region_daily"] = timed(ag.region_daily, values, region, 1, args.days)
        region_fallbacks = dict(ag.FALLBACKS)
        t["total"] = sum(t.values())
        t["cpu"] = time.process_time() - cpu0
        runs.append(t)
    best = min(runs, key=lambda r: r["total"])
    vector = best["total"]
    print(f"vector path (all stations; best of {args.repeat}, first run in brackets):")
    for label, sec in best.items():
        print(f"  {label:<15} {sec:8.3f} s   ({runs[0][label]:.3f} s)"
              + ("   <- process CPU time of the run" if label == "cpu" else ""))
    elements = sum(int(r.present.sum()) for r in station_hourly) * 7 + args.stations * args.days * 7
    print(f"  fallbacks per run: stations {station_fallbacks or 'none'} "
          f"(of {elements} IAQI elements), region {region_fallbacks or 'none'}")

    # ---- reference, a sample of stations, scaled ----
    k = min(args.reference, args.stations)
    scale = args.stations / k
    sample = grids[:k]
    series, t_convert = timed(lambda: [ag.series_from_grid(g) for g in sample])
    starts = [start + (24 + i) * HOUR for i in range(hours)]
    days = [args.start + timedelta(days=1 + d) for d in range(args.days)]
    t0 = time.perf_counter()
    ref_hours = [air_reference.hours(s, starts) for s in series]
    t_ref_hourly = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref_days = [[air_reference.station_day(s, d) for d in days] for s in series]
    t_ref_daily = time.perf_counter() - t0
    ref_region, t_ref_region_series = timed(air_reference.region_series, series)
    _, t_ref_region_hourly = timed(air_reference.hours, ref_region, starts)
    t0 = time.perf_counter()
    for j, d in enumerate(days):
        air_reference.region_day([ref_days[i][j].values for i in range(k)], ref_region, d)
    t_ref_region_daily = time.perf_counter() - t0
    reference = (
        (t_ref_hourly + t_ref_daily + t_ref_region_series) * scale
        + t_ref_region_hourly + t_ref_region_daily
    )
    print(f"reference ({k} stations, per-station parts scaled x{scale:g}):")
    for label, sec in (("hourly", t_ref_hourly * scale), ("daily", t_ref_daily * scale),
                       ("region_series", t_ref_region_series * scale),
                       ("region hours", t_ref_region_hourly),
                       ("region_day", t_ref_region_daily)):
        print(f"  {label:<15} {sec:8.3f} s")
    print(f"  {'total':<15} {reference:8.3f} s")
    print(f"speed-up: x{reference / vector:.1f}  (series_from_grid for the sample: "
          f"{t_convert:.3f} s, not counted)")

    # ---- check the sample (not timed) ----
    for i in range(k):
        got = station_hourly[i]
        by_ts = {h.ts: h for h in ref_hours[i]}
        for r, ts in enumerate(starts):
            h = by_ts.get(ts)
            want = None if h is None else ag.ReportView.of(h.report, h.values)
            assert ag.report_at(got, r) == want, (i, ts)
        for r, day in enumerate(ref_days[i]):
            assert ag.report_at(station_daily[i], r) == ag.ReportView.of(day.report, day.values)
    print(f"check: {k} stations' hourly and daily reports equal the reference")
    batches(grids, args.batches, args.batch_days, args.repeat)


def same(a: ag.Reports, b: ag.Reports) -> bool:
    return a.rules == b.rules and all(
        np.array_equal(getattr(a, f), getattr(b, f), equal_nan=f == "values")
        for f in ("present", "aqi", "iaqi", "primary", "complete", "values")
    )


def batches(grids: list[ag.Grid], n_batches: int, batch_days: int, repeat: int) -> None:
    """The aggregator's windows: per-station calls against one stacked call per window."""
    n_days = grids[0].n_hours // 24
    step = batch_days - 2
    n_batches = min(n_batches, (n_days - batch_days) // step + 1)
    if n_batches < 1:
        print(f"batches: the grids' {n_days} days are too few for {batch_days}-day windows")
        return
    stacked = np.stack([g.values for g in grids])
    windows = []
    for b in range(n_batches):
        lo = b * step * 24
        values = np.ascontiguousarray(stacked[:, :, lo : lo + batch_days * 24])
        windows.append((grids[0].start + lo * HOUR, values))
    hours, days = (batch_days - 1) * 24, batch_days - 2
    print(f"{len(grids)} stations x {n_batches} batches of {batch_days} days "
          f"(best of {repeat}, first run in brackets):")
    rows: dict[str, list[float]] = {}
    for _ in range(repeat):
        ag.FALLBACKS.clear()
        t0 = time.perf_counter()
        one = []
        for start, values in windows:
            station_grids = [ag.Grid(start, v) for v in values]
            one.append(([ag.hourly(g, 24, hours) for g in station_grids],
                        [ag.daily(g, 1, days) for g in station_grids]))
        t_one = time.perf_counter() - t0
        one_fallbacks = dict(ag.FALLBACKS)
        ag.FALLBACKS.clear()
        t0 = time.perf_counter()
        many = [(ag.hourly_many(start, values, 24, hours), ag.daily_many(start, values, 1, days))
                for start, values in windows]
        t_many = time.perf_counter() - t0
        many_fallbacks = dict(ag.FALLBACKS)
        rows.setdefault("per-station calls", []).append(t_one)
        rows.setdefault("stacked calls", []).append(t_many)
    for label, secs in rows.items():
        print(f"  {label:<18} {min(secs):8.3f} s   ({secs[0]:.3f} s)")
    print(f"  speed-up x{min(rows['per-station calls']) / min(rows['stacked calls']):.1f}; "
          f"fallbacks per run: per station {one_fallbacks or 'none'}, "
          f"stacked {many_fallbacks or 'none'}")
    for (h1, d1), (h2, d2) in zip(one, many, strict=True):
        assert all(same(a, b) for a, b in zip(h1 + d1, h2 + d2, strict=True))
    print("check: stacked reports equal the per-station ones")


if __name__ == "__main__":
    main()
