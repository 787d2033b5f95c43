"""History import: hourly station data in CSV files turned into readings (pure parsing).

A :class:`CsvMapping` says which column holds the station, how the time is written (one
column with a format, or year/month/day/hour columns), in which time zone and whether the
hour is labelled by its start or its end, which columns are which parameters, their unit
factors and the missing-value markers; it can be kept in a TOML file (e.g.
``bench/beijing-prsa.toml``). Storing goes through ``ingest.writer`` like every other
reading, so re-running an import stores nothing twice.
"""

from __future__ import annotations

import csv
import gzip
import io
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any, Literal, cast
from zoneinfo import ZoneInfo

from envmon.parameters import StationKind, parameter
from ingest.errors import Rejection
from ingest.reading import Interval, Reading

HourLabel = Literal["start", "end"]
_DATE_PARTS = ("year", "month", "day", "hour")


@dataclass(frozen=True)
class CsvMapping:
    """How the columns of a CSV file become readings."""

    kind: StationKind
    columns: Mapping[str, str]  # CSV column -> canonical parameter
    scale: Mapping[str, float] = field(default_factory=dict)  # parameter -> factor
    station_column: str | None = None
    station: str | None = None  # fixed station id when the file has no station column
    station_prefix: str = ""
    time_column: str | None = None
    time_format: str = "%Y-%m-%d %H:%M:%S"
    date_parts: Sequence[str] = _DATE_PARTS  # year, month, day, hour column names
    tz: str = "Asia/Shanghai"
    hour_label: HourLabel = "start"
    interval: Interval = "hour"
    missing: frozenset[str] = frozenset({"", "NA", "NaN", "nan", "null"})

    def __post_init__(self) -> None:
        if (self.station_column is None) == (self.station is None):
            raise ValueError("give exactly one of station_column and station")
        unknown = sorted(p for p in self.columns.values() if parameter(self.kind, p) is None)
        if unknown:
            raise ValueError(f"not {self.kind} parameters of the catalogue: {', '.join(unknown)}")
        ZoneInfo(self.tz)


def load_mapping(path: Path | None, **overrides: Any) -> CsvMapping:
    """A mapping from a TOML file (keys = :class:`CsvMapping` fields), options overriding it."""
    spec: dict[str, Any] = tomllib.loads(path.read_text("utf-8")) if path else {}
    spec.update({k: v for k, v in overrides.items() if v not in (None, {}, ())})
    if overrides.get("station") is not None:
        spec.pop("station_column", None)
    if "missing" in spec:
        spec["missing"] = frozenset(spec["missing"]) | {""}
    return CsvMapping(**spec)


def open_text(path: Path) -> tuple[IO[bytes], IO[str]]:
    """The raw byte stream (for progress) and a text stream over it (gzip by suffix)."""
    raw = path.open("rb")
    data = cast(IO[bytes], gzip.GzipFile(fileobj=raw)) if path.suffix == ".gz" else raw
    return raw, io.TextIOWrapper(data, encoding="utf-8-sig", newline="")


@dataclass
class ParseStats:
    rows: int = 0
    values: int = 0
    missing: int = 0
    rejected: dict[str, int] = field(default_factory=dict)

    def reject(self, reason: str) -> None:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1


class _Parser:
    def __init__(self, mapping: CsvMapping, header: Sequence[str]) -> None:
        self.m = mapping
        self.zone = ZoneInfo(mapping.tz)
        needed = [*mapping.columns]
        needed += [mapping.time_column] if mapping.time_column else list(mapping.date_parts)
        needed += [mapping.station_column] if mapping.station_column else []
        absent = [c for c in needed if c not in header]
        if absent:
            raise Rejection("missing_column", f"columns not in the file: {', '.join(absent)}")
        self.shift = timedelta(hours=-1) if mapping.hour_label == "end" else timedelta(0)
        self.limits = {p: parameter(mapping.kind, p) for p in mapping.columns.values()}

    def ts(self, row: Mapping[str, str]) -> datetime:
        m = self.m
        if m.time_column:
            local = datetime.strptime(row[m.time_column], m.time_format)
        else:
            y, mo, d, h = (int(row[c]) for c in m.date_parts)
            local = datetime(y, mo, d) + timedelta(hours=h)
        return local.replace(tzinfo=self.zone) + self.shift

    def readings(self, row: Mapping[str, str], stats: ParseStats) -> list[Reading]:
        m = self.m
        station = m.station if m.station else m.station_prefix + row[m.station_column or ""]
        try:
            ts = self.ts(row)
        except (ValueError, KeyError):
            stats.reject("bad_time")
            return []
        out = []
        for column, name in m.columns.items():
            text = row[column].strip()
            if text in m.missing:
                stats.missing += 1
                continue
            try:
                value = float(text) * m.scale.get(name, 1.0)
            except ValueError:
                stats.reject("bad_number")
                continue
            limits = self.limits[name]
            if limits is not None and not limits.min <= value <= limits.max:
                stats.reject("out_of_range")
                continue
            out.append(Reading(station, name, m.interval, ts, value, "N", "import"))
        stats.values += len(out)
        return out


def parse(
    text: IO[str], mapping: CsvMapping, stats: ParseStats, batch_rows: int = 2000
) -> Iterator[list[Reading]]:
    """Readings of a CSV stream, in batches of the readings of ``batch_rows`` rows."""
    reader = csv.DictReader(text)
    parser = _Parser(mapping, reader.fieldnames or [])
    batch: list[Reading] = []
    for n, row in enumerate(reader, start=1):
        stats.rows += 1
        batch += parser.readings(row, stats)
        if n % batch_rows == 0:
            yield batch
            batch = []
    if batch:
        yield batch
