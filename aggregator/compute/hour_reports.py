"""Hourly AQI reports packed as they are stored: one row per station (or region) and Beijing
day, of 24-element arrays (envmon/migrations/0021; written by aggregator/store/hour_arrays.py).

``hours`` holds per hour whether there is a report, the AQI, the level and the primary
pollutants in one integer; ``iaqi`` the IAQI of the nine hourly indicators in two integers;
``concentrations`` the values the report was computed from. :func:`hour_report` reads one hour
back as the hourly views show it (for revision entries).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Any, Protocol

import numpy as np

from aggregator import standards
from aggregator.compute.air_arrays import HOURLY_COLUMNS, HOURLY_INDICATORS, Reports

Array = np.ndarray[Any, Any]
HOURS = 24
#: bit layout of ``hours`` (migration 0021): present, AQI + 1 (0 = NA), level, primary mask
_AQI_SHIFT, _LEVEL_SHIFT, _MASK_SHIFT = 1, 11, 14
#: ``iaqi``: IAQI + 1 (0 = none) of indicator k in 10 bits at 10 * (k % 6) of element k // 6
_IAQI_BITS, _IAQI_PER_ELEMENT = 10, 6


@cache
def _levels() -> Array:
    """HJ 633 表2 level of every AQI 0..500 (the standards library decides)."""
    return np.array([standards.category(a).level for a in range(501)], dtype=np.int32)


def pack_hours(present: Array, aqi: Array, primary_mask: Array) -> Array:
    """The ``hours`` integers of reports (aqi -1 = NA; the level follows from the AQI)."""
    aqi = aqi.astype(np.int32)
    level = np.where(aqi >= 0, _levels()[np.clip(aqi, 0, 500)], 0)
    return (present.astype(np.int32) | ((aqi + 1) << _AQI_SHIFT) | (level << _LEVEL_SHIFT)
            | (primary_mask.astype(np.int32) << _MASK_SHIFT))


def pack_iaqi(iaqi: Array) -> Array:
    """[..., 9] IAQI (-1 = none) -> [..., 2] int64."""
    v = iaqi.astype(np.int64) + 1
    out = np.zeros((*iaqi.shape[:-1], 2), dtype=np.int64)
    for k in range(iaqi.shape[-1]):
        out[..., k // _IAQI_PER_ELEMENT] |= v[..., k] << (_IAQI_BITS * (k % _IAQI_PER_ELEMENT))
    return out


@dataclass(frozen=True, slots=True)
class HourBlocks:
    """The hourly reports of consecutive Beijing days of one station or region, packed as
    stored (``pack_hours``, ``pack_iaqi``)."""

    key: tuple[str, ...]
    first_day: date
    rules: list[str]  # per day
    hours: Array  # int32[days, 24]
    iaqi: Array  # int64[days, 24, 2]
    concentrations: Array  # float64[days, 24, len(HOURLY_CONCENTRATIONS)], NaN = none
    n_stations: Array | None = None  # int16[days, 24] (regions)

    @classmethod
    def from_reports(
        cls, key: tuple[str, ...], first_day: date, reports: Reports,
        n_stations: Array | None = None,
    ) -> HourBlocks:
        """Blocks of whole days from reports of ``24 * days`` consecutive hours."""
        days = len(reports.aqi) // HOURS
        return cls(
            key, first_day, list(reports.rules[::HOURS]),
            pack_hours(reports.present, reports.aqi, reports.primary).reshape(days, HOURS),
            pack_iaqi(reports.iaqi).reshape(days, HOURS, 2),
            np.asarray(reports.values, dtype=np.float64).reshape(days, HOURS, -1),
            None if n_stations is None else n_stations.astype(np.int16).reshape(days, HOURS),
        )

    @property
    def present(self) -> Array:
        return (self.hours & 1).astype(bool)

    def index(self, day: date) -> int | None:
        i = (day - self.first_day).days
        return i if 0 <= i < len(self.rules) else None


class StoredColumns(Protocol):
    """A packed table's stored concentrations (``store.hour_arrays.BlockTable``)."""

    @property
    def columns(self) -> tuple[str, ...]: ...


def hour_report(
    table: StoredColumns, rules: str, arrays: Sequence[Array], h: int
) -> dict[str, Any]:
    """Hour ``h`` of a stored day as the hourly view shows it, without the 1-h station
    concentrations the view adds from hourly_values (for revision entries)."""
    head, iaqi, conc = int(arrays[0][h]), arrays[1][h], arrays[2][h]
    a = ((head >> _AQI_SHIFT) & 1023) - 1
    level = (head >> _LEVEL_SHIFT) & 7
    mask = head >> _MASK_SHIFT
    values = {}
    for k, name in enumerate(HOURLY_INDICATORS):
        v = (int(iaqi[k // _IAQI_PER_ELEMENT]) >> (_IAQI_BITS * (k % _IAQI_PER_ELEMENT))) & 1023
        if v:
            values[name] = v - 1
    out: dict[str, Any] = {
        "rules": rules,
        "aqi": a if a >= 0 else None,
        "level": level or None,
        "category": standards.category(a).name if a >= 0 else None,
        "primary_pollutants": [n for k, n in enumerate(HOURLY_INDICATORS) if mask & (1 << k)],
        "iaqi": values,
        "concentrations": {
            n: None if np.isnan(v) else float(v)
            for n, v in zip(table.columns, conc, strict=True) if n in HOURLY_COLUMNS[rules]
        },
    }
    if len(arrays) > 3:
        out["n_stations"] = int(arrays[3][h])
    return out
