"""The HTTP JSON API and the status page, one read-only ASGI application.

Every query runs in a read-only transaction (``default_transaction_read_only``) on a small
pool; the report endpoints return exactly what ``envmon report --format json|csv`` prints
(aggregator/report_cli.py ``build`` + ``render``). Off loopback every ``/api`` call needs
``Authorization: Bearer <token>`` (``ApiSettings`` in envmon/settings.py); the page, the
OpenAPI document and ``/healthz`` carry no data and stay open.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import click
import psycopg
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, PlainTextResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from aggregator import report_cli, standards
from envmon import __version__
from web import alerts, indicators, stations
from web.colours import aqi_bands
from web.models import (
    AirRow,
    Alerts,
    AqiBand,
    NoiseRow,
    Page,
    ReadingRow,
    Region,
    Station,
    WaterRow,
)

STATIC = Path(__file__).resolve().parent / "static"
MAX_LIMIT = 1000
POOL_TIMEOUT_S = 10.0
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self';"
       " connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
T = TypeVar("T")

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="items per page")]
Offset = Annotated[int, Query(ge=0, description="items to skip")]
City = Annotated[str | None, Query(description="region: a city")]
County = Annotated[str | None, Query(description="region: a county of the city")]
StartTs = Annotated[datetime | None, Query(description="from (inclusive); default end - 24 h")]
EndTs = Annotated[datetime | None, Query(description="to (exclusive); default now")]
StartDay = Annotated[date | None, Query(description="first day (inclusive)")]
EndDay = Annotated[date | None, Query(
    description="last day (exclusive); default tomorrow (Beijing)")]


def page(rows: Sequence[T], limit: int, offset: int) -> dict[str, Any]:
    """The envelope of a slice fetched with ``limit + 1`` rows (the extra one says "more")."""
    more = len(rows) > limit
    return {"items": list(rows[:limit]), "limit": limit, "offset": offset,
            "next_offset": offset + limit if more else None}


def _utc(ts: datetime) -> datetime:
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)


def ts_range(start: datetime | None, end: datetime | None, span: timedelta
             ) -> tuple[datetime, datetime]:
    """[start, end) in UTC (naive times are UTC); defaults to the ``span`` before now."""
    hi = _utc(end) if end else datetime.now(UTC)
    lo = _utc(start) if start else hi - span
    if lo >= hi:
        raise HTTPException(400, "start must be before end")
    return lo, hi


def day_range(start: date | None, end: date | None, span: timedelta) -> tuple[date, date]:
    """[start, end) of Beijing natural days; defaults to the ``span`` up to today included."""
    hi = end or datetime.now(standards.BEIJING).date() + timedelta(days=1)
    lo = start or hi - span
    if lo >= hi:
        raise HTTPException(400, "start must be before end")
    return lo, hi


async def air_page(conn: AsyncConnection[Any], scope: indicators.Scope,
                   report: Literal["hourly", "daily"], key: dict[str, str],
                   span: tuple[datetime, datetime] | tuple[date, date], limit: int,
                   offset: int) -> dict[str, Any]:
    """One page of AQI rows: the four air endpoints differ only in scope, report, key and span."""
    rows = await indicators.air(conn, scope, report, key, span[0], span[1], limit + 1, offset)
    return page(rows, limit, offset)


async def connection(request: Request) -> AsyncIterator[AsyncConnection[Any]]:
    pool: AsyncConnectionPool[AsyncConnection[Any]] = request.app.state.pool
    async with pool.connection() as conn:
        yield conn


Conn = Annotated[AsyncConnection[Any], Depends(connection)]
_bearer = HTTPBearer(auto_error=False, description="required when not bound to loopback")


def require_token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    token: str | None = request.app.state.token
    if token is None:
        return
    given = credentials.credentials if credentials else ""
    if not secrets.compare_digest(given.encode(), token.encode()):
        raise HTTPException(401, "bearer token required", {"WWW-Authenticate": "Bearer"})


api = APIRouter(prefix="/api/v1", dependencies=[Depends(require_token)])


@api.get("/aqi/bands", response_model=list[AqiBand], tags=["air"])
async def get_aqi_bands() -> list[dict[str, Any]]:
    """HJ 633 表2 AQI bands with their Annex A colours."""
    return aqi_bands()


@api.get("/regions", response_model=list[Region], tags=["stations"])
async def get_regions(conn: Conn) -> list[dict[str, Any]]:
    """Cities and counties of the registered stations."""
    return await indicators.regions(conn)


@api.get("/stations", response_model=Page[Station], tags=["stations"])
async def get_stations(
    conn: Conn, kind: Literal["air", "water", "noise"] | None = None, city: City = None,
    county: County = None, limit: Limit = 100, offset: Offset = 0,
) -> dict[str, Any]:
    """Stations with latest values and state (online/late/offline by their own cadence)."""
    rows = await stations.station_page(conn, datetime.now(UTC), kind=kind, city=city,
                                       county=county, limit=limit + 1, offset=offset)
    return page(rows, limit, offset)


@api.get("/stations/{station_id}/readings", response_model=Page[ReadingRow],
         tags=["stations"])
async def station_readings(
    conn: Conn, station_id: str,
    parameter: Annotated[str, Query(description="canonical name, e.g. pm25, do, leq")],
    interval: Literal["rt", "min", "hour", "day"] = "hour", start: StartTs = None,
    end: EndTs = None, limit: Limit = 100, offset: Offset = 0,
) -> dict[str, Any]:
    """Stored readings of one parameter of a station, oldest first (default: last 24 h)."""
    lo, hi = ts_range(start, end, timedelta(hours=24))
    rows = await indicators.readings(conn, station_id, parameter, interval, lo, hi,
                                     limit + 1, offset)
    return page(rows, limit, offset)


@api.get("/air/stations/{station_id}/hourly", response_model=Page[AirRow], tags=["air"])
async def air_station_hourly(conn: Conn, station_id: str, start: StartTs = None,
                             end: EndTs = None, limit: Limit = 100, offset: Offset = 0
                             ) -> dict[str, Any]:
    """Hourly AQI of a station (``ts`` = UTC start of the hour)."""
    return await air_page(conn, "station", "hourly", {"id": station_id},
                          ts_range(start, end, timedelta(hours=24)), limit, offset)


@api.get("/air/stations/{station_id}/daily", response_model=Page[AirRow], tags=["air"])
async def air_station_daily(conn: Conn, station_id: str, start: StartDay = None,
                            end: EndDay = None, limit: Limit = 100, offset: Offset = 0
                            ) -> dict[str, Any]:
    """Daily AQI of a station per Beijing natural day (default: the last 31 days)."""
    return await air_page(conn, "station", "daily", {"id": station_id},
                          day_range(start, end, timedelta(days=31)), limit, offset)


@api.get("/air/regions/hourly", response_model=Page[AirRow], tags=["air"])
async def air_region_hourly(conn: Conn, city: str, county: str = "", start: StartTs = None,
                            end: EndTs = None, limit: Limit = 100, offset: Offset = 0
                            ) -> dict[str, Any]:
    """Hourly AQI of a city (``county`` empty) or county."""
    return await air_page(conn, "region", "hourly", {"city": city, "county": county},
                          ts_range(start, end, timedelta(hours=24)), limit, offset)


@api.get("/air/regions/daily", response_model=Page[AirRow], tags=["air"])
async def air_region_daily(conn: Conn, city: str, county: str = "", start: StartDay = None,
                           end: EndDay = None, limit: Limit = 100, offset: Offset = 0
                           ) -> dict[str, Any]:
    """Daily AQI of a city (``county`` empty) or county (default: the last 31 days)."""
    return await air_page(conn, "region", "daily", {"city": city, "county": county},
                          day_range(start, end, timedelta(days=31)), limit, offset)


@api.get("/water/sections", response_model=Page[WaterRow], tags=["water"])
async def water_sections(
    conn: Conn, period: Literal["day", "month"] = "month", station: str | None = None,
    city: City = None, county: County = None, start: StartDay = None, end: EndDay = None,
    limit: Limit = 100, offset: Offset = 0,
) -> dict[str, Any]:
    """GB 3838 class of each section per day or month against its target (default: 1 year)."""
    lo, hi = day_range(start, end, timedelta(days=366))
    rows = await indicators.water(conn, period, lo, hi, station=station, city=city,
                                  county=county, limit=limit + 1, offset=offset)
    return page(rows, limit, offset)


@api.get("/noise/points", response_model=Page[NoiseRow], tags=["noise"])
async def noise_points(
    conn: Conn, station: str | None = None, city: City = None, county: County = None,
    start: StartDay = None, end: EndDay = None, limit: Limit = 100, offset: Offset = 0,
) -> dict[str, Any]:
    """GB 3096 day/night levels and compliance per point and day (default: 31 days)."""
    lo, hi = day_range(start, end, timedelta(days=31))
    rows = await indicators.noise(conn, lo, hi, station=station, city=city, county=county,
                                  limit=limit + 1, offset=offset)
    return page(rows, limit, offset)


_REPORT_RESPONSES: dict[int | str, dict[str, Any]] = {200: {"content": {
    "application/json": {"schema": {}},
    "text/csv": {"schema": {"type": "string"}}}}}


@api.get("/reports/{kind}", response_class=Response, responses=_REPORT_RESPONSES,
         tags=["reports"])
async def get_report(
    conn: Conn, kind: report_cli.ReportKind,
    day: Annotated[str | None, Query(description="YYYY-MM-DD (Beijing)")] = None,
    month: Annotated[str | None, Query(description="YYYY-MM")] = None,
    quarter: Annotated[str | None, Query(description="YYYY-Qn")] = None,
    year: Annotated[str | None, Query(description="YYYY")] = None,
    ytd: Annotated[str | None, Query(description="through YYYY-MM-DD, or 'today'")] = None,
    city: City = None, county: County = None,
    station: Annotated[list[str] | None, Query(description="repeatable")] = None,
    format: Literal["json", "csv"] = "json",
) -> Response:
    """``envmon report KIND`` for any period and region: the same figures and the same JSON
    (or CSV) as the command prints."""
    ids = station or []
    try:
        period = report_cli.period_from_options(
            {"day": day, "month": month, "quarter": quarter, "year": year, "ytd": ytd})
        regions = report_cli.scopes(city, county, ids)
    except click.UsageError as exc:
        raise HTTPException(400, exc.message) from exc
    rows, doc = await report_cli.build(conn, kind, period, regions, ids)
    body = report_cli.render(rows, format, doc)
    if format == "csv":
        return PlainTextResponse(body, media_type="text/csv; charset=utf-8", headers={
            "Content-Disposition": f'attachment; filename="{kind}-{period.label}.csv"'})
    return Response(body, media_type="application/json")


@api.get("/alerts/open", response_model=Alerts, tags=["alerts"])
async def open_alerts(conn: Conn, limit: Limit = 100, offset: Offset = 0) -> dict[str, Any]:
    """Open alert episodes (empty with ``available: false`` until the alerts module exists)."""
    available, rows = await alerts.open_episodes(conn, limit + 1, offset)
    return {**page(rows, limit, offset), "available": available}


def create_app(database_url: str, token: str | None, pool_size: int = 4,
               pool_timeout_s: float = POOL_TIMEOUT_S) -> FastAPI:
    """The application; the pool opens with the ASGI lifespan."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncConnectionPool(
            database_url, min_size=1, max_size=pool_size, open=False, timeout=pool_timeout_s,
            kwargs={"autocommit": True, "application_name": "envmon-web",
                    "options": "-c default_transaction_read_only=on"},
        ) as pool:
            app.state.pool = pool
            yield

    app = FastAPI(title="envmon", version=__version__, lifespan=lifespan,
                  docs_url=None, redoc_url=None,
                  description="Air, water and noise indicators of envmon (read-only). "
                              "Times are UTC unless named a Beijing day. docs/web.md")
    app.state.token = token
    app.include_router(api)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        """The page runs only its own scripts and talks only to its own origin."""
        response: Response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        return response

    @app.exception_handler(PoolTimeout)
    @app.exception_handler(psycopg.OperationalError)
    async def database_unavailable(request: Request, exc: Exception) -> PlainTextResponse:
        """An unreachable database is a 503 the client may retry, not an internal error."""
        return PlainTextResponse(f"database unavailable: {exc}", status_code=503,
                                 headers={"Retry-After": "10"})

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> PlainTextResponse:
        return PlainTextResponse("ok\n")

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> FileResponse:
        return FileResponse(STATIC / "docs.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
