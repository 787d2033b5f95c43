"""Replay of real history: the Beijing Multi-Site Air-Quality Data (../shared/data/beijing-prsa,
12 stations, hourly, 2013-03 to 2017-02) as hourly JSON documents, as if the stations were live.

Station ids are the dataset's ``station`` values, as in ``bench/beijing-stations.toml``.
Units follow the dataset README: CO comes in µg/m³ and is sent in mg/m³; RH is not in the data
and is derived from temperature and dew point; wind direction is a compass point.
"""

from __future__ import annotations

import csv
import gzip
import heapq
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from envmon.beijing_time import BEIJING
from simulators.document import Document
from simulators.models.base import magnus_rh
from simulators.station import DECIMALS

_COMPASS = ("N", "NNE", "NE", "ENE", "E", "ESE", "SE", "SSE",
            "S", "SSW", "SW", "WSW", "W", "WNW", "NW", "NNW")
_COLUMNS = {"PM2.5": "pm25", "PM10": "pm10", "SO2": "so2", "NO2": "no2", "O3": "o3",
            "TEMP": "temp", "PRES": "pres", "DEWP": "dewp", "RAIN": "rain", "WSPM": "ws"}


def prsa_files(directory: Path) -> list[Path]:
    files = sorted(directory.glob("PRSA_Data_*.csv.gz")) + sorted(directory.glob("PRSA_Data_*.csv"))
    if not files:
        raise FileNotFoundError(f"no PRSA_Data_*.csv[.gz] files in {directory}")
    return files


def row_document(row: dict[str, str]) -> Document | None:
    """One CSV row as an hourly document (``None`` when every value is missing)."""
    ts = datetime(int(row["year"]), int(row["month"]), int(row["day"]), int(row["hour"]),
                  tzinfo=BEIJING)
    values: dict[str, float] = {}
    for column, name in _COLUMNS.items():
        if row[column] != "NA":
            values[name] = float(row[column])
    if row["CO"] != "NA":
        values["co"] = float(row["CO"]) / 1000.0
    if row["wd"] in _COMPASS:
        values["wd"] = 22.5 * _COMPASS.index(row["wd"])
    if "temp" in values and "dewp" in values:
        values["rh"] = magnus_rh(values["temp"], values["dewp"])
    if not values:
        return None
    decimals = DECIMALS["air"]
    return Document(row["station"], "hour", ts,
                    {p: round(v, decimals[p]) for p, v in values.items()})


def _read(path: Path, start: datetime | None, end: datetime | None) -> Iterator[Document]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            doc = row_document(row)
            if doc is None or (start is not None and doc.ts < start):
                continue
            if end is not None and doc.ts >= end:
                break
            yield doc


def history(files: Sequence[Path], start: datetime | None = None, end: datetime | None = None,
            shift: timedelta = timedelta(0)) -> Iterator[tuple[datetime, Document]]:
    """All stations' documents merged in time order, each due at the end of its hour;
    ``shift`` moves every timestamp (to replay old data as if it were recent)."""
    streams = [_read(f, start, end) for f in files]
    merged = heapq.merge(*streams, key=lambda d: (d.ts, d.station_id))
    for doc in merged:
        moved = Document(doc.station_id, doc.interval, doc.ts + shift, doc.values)
        yield moved.ts + timedelta(hours=1), moved
