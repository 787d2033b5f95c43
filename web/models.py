"""Response shapes of the API (they are the OpenAPI document's schemas)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, Field

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """A slice of a longer list: ask again with ``offset=next_offset`` until it is null."""

    items: list[T]
    limit: int
    offset: int
    next_offset: int | None


class LatestValue(BaseModel):
    value: float
    ts: datetime = Field(description="UTC start of the averaging interval")
    interval: Literal["rt", "min", "hour", "day"]
    flag: str
    unit: str


class ReadingRow(BaseModel):
    ts: datetime = Field(description="UTC start of the averaging interval")
    value: float
    flag: str = Field(description="HJ 212 data flag (N = normal)")
    source: str


class StationAqi(BaseModel):
    ts: datetime
    aqi: int | None
    level: int | None
    category: str | None
    primary_pollutants: list[str] | None
    colour: str | None = Field(description="HJ 633 Annex A colour of the AQI band")


class Station(BaseModel):
    station_id: str
    kind: Literal["air", "water", "noise"]
    name: str | None
    city: str | None
    county: str | None
    lat: float | None
    lon: float | None
    water_target_class: int | None
    water_body: str | None
    noise_zone: str | None
    state: Literal["online", "late", "offline"]
    cadence_seconds: float | None = Field(description="learned from the latest intervals")
    last_seen: datetime | None = Field(description="end of the latest interval received")
    latest: dict[str, LatestValue]
    aqi: StationAqi | None = Field(description="latest hourly AQI (air stations)")


class AqiBand(BaseModel):
    level: int
    lower: int
    upper: int | None
    name: str
    name_en: str
    colour: str
    colour_en: str
    hex: str


class Region(BaseModel):
    city: str
    county: str = Field(description="'' = the whole city")
    stations: int
    air_stations: int


class AirRow(BaseModel):
    station_id: str | None = None
    city: str | None = None
    county: str | None = None
    ts: datetime | None = Field(None, description="hourly: UTC start of the hour")
    day: date | None = Field(None, description="daily: Beijing natural day")
    rules: str
    aqi: int | None
    level: int | None
    category: str | None
    primary_pollutants: list[str]
    iaqi: dict[str, Any]
    colour: str | None
    concentrations: dict[str, Any] | None = None
    n_stations: int | None = None
    complete: bool | None = None
    so2: float | None = None
    no2: float | None = None
    co: float | None = None
    pm10: float | None = None
    pm25: float | None = None
    o3_8h: float | None = None
    o3_1h: float | None = None


class WaterRow(BaseModel):
    station_id: str
    name: str | None
    city: str | None
    county: str | None
    water_body: str | None
    target_class: int | None
    period_start: date
    water_class: int | None = Field(description="1-5, 6 = worse than V")
    class_label: str | None
    compliant: bool | None
    exceeding: dict[str, Any]
    means: dict[str, Any]
    n_days: int | None


class NoiseLimits(BaseModel):
    day: float
    night: float
    night_lmax: float


class NoiseRow(BaseModel):
    station_id: str
    name: str | None
    city: str | None
    county: str | None
    zone: str
    day: date
    ld: float | None
    ln: float | None
    ldn: float | None
    n_day: int
    n_night: int
    night_lmax: float | None
    day_ok: bool | None
    night_ok: bool | None
    night_lmax_ok: bool | None
    limits: NoiseLimits | None


class Alerts(Page[dict[str, Any]]):
    available: bool = Field(description="false: the alerts module's table does not exist")
