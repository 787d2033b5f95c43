"""The station registry: import from TOML/CSV files, list, and an in-memory view for ingest."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import logging
import re
import tomllib
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Literal

from psycopg import AsyncConnection
from psycopg.rows import class_row
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from envmon.parameters import StationKind

log = logging.getLogger(__name__)

STATION_ID_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
NoiseZone = Literal["0", "1", "2", "3", "4a", "4b"]
WaterBody = Literal["river", "lake"]
_ROMAN = {"I": 1, "II": 2, "III": 3, "IV": 4, "V": 5}


@dataclass(frozen=True, slots=True)
class Station:
    station_id: str
    kind: StationKind
    name: str
    city: str = ""
    county: str = ""
    lat: float | None = None
    lon: float | None = None
    water_target_class: int | None = None
    water_body: WaterBody | None = None
    noise_zone: NoiseZone | None = None
    mn: str | None = None
    hj212_password: str | None = None


class StationSpec(BaseModel):
    """One station as written in a stations file (validated before anything is stored)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    station_id: str = Field(alias="id", pattern=STATION_ID_RE.pattern)
    kind: StationKind
    name: str = Field(min_length=1, max_length=200)
    city: str = ""
    county: str = ""
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)
    water_target_class: int | None = Field(None, ge=1, le=5)
    water_body: WaterBody | None = None
    noise_zone: NoiseZone | None = None
    mn: str | None = Field(None, pattern=STATION_ID_RE.pattern)
    hj212_password: str | None = Field(None, max_length=64)

    @field_validator("water_target_class", mode="before")
    @classmethod
    def _roman(cls, value: object) -> object:
        """Accept GB 3838 classes written as roman numerals (III) as well as integers."""
        if isinstance(value, str):
            v = value.strip().upper()
            if v in _ROMAN:
                return _ROMAN[v]
            return int(v) if v.isdigit() else value
        return value

    @field_validator("lat", "lon", "water_target_class", "water_body", "noise_zone", "mn",
                     "hj212_password", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @model_validator(mode="after")
    def _kind_fields(self) -> StationSpec:
        if self.kind != "water" and (self.water_target_class or self.water_body):
            raise ValueError("water_target_class/water_body are only for water stations")
        if self.kind != "noise" and self.noise_zone:
            raise ValueError("noise_zone is only for noise stations")
        if self.kind == "water" and (self.water_target_class is None or self.water_body is None):
            raise ValueError("water stations need water_target_class (I-V) and water_body")
        if self.kind == "noise" and self.noise_zone is None:
            raise ValueError("noise stations need noise_zone (0, 1, 2, 3, 4a, 4b)")
        return self

    def to_station(self) -> Station:
        return Station(**self.model_dump())


class StationFileError(ValueError):
    """A stations file that cannot be imported, with every problem listed."""


def parse_station_file(path: Path) -> list[Station]:
    """Read stations from TOML (``[[station]]`` tables) or CSV (header row of field names)."""
    rows: list[Mapping[str, Any]]
    if path.suffix.lower() == ".toml":
        rows = tomllib.loads(path.read_text("utf-8")).get("station", [])
    elif path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.DictReader(fh))
    else:
        raise StationFileError(f"{path}: unsupported file type (use .toml or .csv)")
    stations: list[Station] = []
    problems: list[str] = []
    for i, row in enumerate(rows, start=1):
        try:
            stations.append(StationSpec.model_validate(row).to_station())
        except ValidationError as exc:
            errs = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'row'}: {e['msg']}"
                             for e in exc.errors())
            problems.append(f"station #{i} ({row.get('id', '?')}): {errs}")
    ids = [s.station_id for s in stations]
    problems += [f"duplicate id {sid}" for sid in sorted({x for x in ids if ids.count(x) > 1})]
    if problems:
        raise StationFileError(f"{path}: " + "\n".join(problems))
    return stations


_COLUMNS = [f.name for f in fields(Station)]


async def upsert_stations(conn: AsyncConnection[Any], stations: Iterable[Station]) -> int:
    """Insert or update stations by id; returns how many rows were written."""
    cols = ", ".join(_COLUMNS)
    placeholders = ", ".join(f"%({c})s" for c in _COLUMNS)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in _COLUMNS[1:])
    query = (
        f"INSERT INTO stations ({cols}) VALUES ({placeholders}) "  # noqa: S608 - fixed names
        f"ON CONFLICT (station_id) DO UPDATE SET {updates}, updated_at = now()"
    )
    rows = [asdict(s) for s in stations]
    async with conn.cursor() as cur:
        await cur.executemany(query, rows)
        await cur.execute("NOTIFY envmon_stations")
    return len(rows)


async def load_stations(conn: AsyncConnection[Any]) -> list[Station]:
    async with conn.cursor(row_factory=class_row(Station)) as cur:
        await cur.execute(
            f"SELECT {', '.join(_COLUMNS)} FROM stations ORDER BY station_id"  # noqa: S608
        )
        return await cur.fetchall()


class StationRegistry:
    """In-memory view of the stations table, refreshed on demand (e.g. on an unknown id)."""

    def __init__(self, stations: Sequence[Station] = ()) -> None:
        self._by_id: dict[str, Station] = {}
        self._by_mn: dict[str, Station] = {}
        self.replace(stations)

    def replace(self, stations: Sequence[Station]) -> None:
        self._by_id = {s.station_id: s for s in stations}
        self._by_mn = {s.mn: s for s in stations if s.mn}

    async def refresh(self, conn: AsyncConnection[Any]) -> None:
        self.replace(await load_stations(conn))

    def get(self, station_id: str) -> Station | None:
        return self._by_id.get(station_id)

    def by_mn(self, mn: str) -> Station | None:
        return self._by_mn.get(mn) or self._by_id.get(mn)

    def __len__(self) -> int:
        return len(self._by_id)


Reload = Callable[[AsyncConnection[Any]], Awaitable[None]]


async def watch_registry(url: str, registry: StationRegistry, stop: asyncio.Event,
                         also: Reload | None = None, fallback_seconds: float = 30) -> None:
    """Keep ``registry`` current: reload on ``NOTIFY envmon_stations`` (sent by
    :func:`upsert_stations`) and every ``fallback_seconds``; ``also`` reloads what else a
    component keeps beside the registry (e.g. HJ 212 unit overrides)."""
    from envmon import db

    loop = asyncio.get_running_loop()
    while not stop.is_set():
        try:
            conn: AsyncConnection[Any] = await db.connect(url, autocommit=True)
            async with conn:
                await conn.execute("LISTEN envmon_stations")
                last = -fallback_seconds
                notified = True
                while not stop.is_set():
                    if notified or loop.time() - last > fallback_seconds:
                        await registry.refresh(conn)
                        if also is not None:
                            await also(conn)
                        last = loop.time()
                    notified = False
                    async for _ in conn.notifies(timeout=0.5, stop_after=1):
                        notified = True
        except Exception as exc:
            log.warning("station registry reload failed: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 2)
