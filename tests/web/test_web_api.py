"""The HTTP API against a real database with demo data: every endpoint, the OpenAPI document,
the report endpoint against ``envmon report``, pagination, token and read-only access."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from click.testing import CliRunner
from openapi_spec_validator import validate

from aggregator import standards
from app.cli import main
from envmon.beijing_time import BEIJING
from envmon.stations import parse_station_file
from simulators.demo import pingliang_file
from tests.conftest import REPO, free_port
from tests.run.support import RunProcess, clean_env, envmon_argv
from tests.web.support import on_every_layout
from web.app import create_app
from web.colours import aqi_bands

pytestmark = pytest.mark.integration
TOKEN = "s3cret-token"
CITY = "Pingliang"
STATIONS = parse_station_file(pingliang_file())
HEX = {b["hex"] for b in aqi_bands()}


@pytest.fixture(scope="module")
async def client(demo_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(demo_url, None)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://envmon") as c:
        c.app = app  # type: ignore[attr-defined]
        yield c


def today() -> date:
    return datetime.now(BEIJING).date()


async def get(client: httpx.AsyncClient, path: str, **params: Any) -> Any:
    resp = await client.get(path, params=params)
    assert resp.status_code == 200, resp.text
    return resp.json()


async def test_openapi_document_validates(client: httpx.AsyncClient) -> None:
    doc = await get(client, "/openapi.json")
    validate(doc)  # raises on an invalid OpenAPI 3.x document
    assert doc["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    docs = await client.get("/docs")
    assert docs.status_code == 200 and "/static/docs.js" in docs.text


def _yesterday_range() -> dict[str, str]:
    return {"start": str(today() - timedelta(days=1)), "end": str(today())}


# path -> (query, check of the JSON answer); test_every_endpoint_is_covered keeps it complete
ENDPOINTS: dict[str, tuple[dict[str, Any], Any]] = {
    "/api/v1/aqi/bands": ({}, lambda d: [b["hex"] for b in d] == [
        standards.category(v).hex for v in (0, 51, 101, 151, 201, 301)]),
    "/api/v1/regions": ({}, lambda d: {"city": CITY, "county": "", "stations": len(STATIONS),
                                        "air_stations": 9} in d),
    "/api/v1/stations": ({"limit": 1000}, lambda d: len(d["items"]) == len(STATIONS)),
    "/api/v1/stations/{station_id}/readings": (
        {"parameter": "pm25"}, lambda d: len(d["items"]) >= 23 and all(
            r["source"] == "sim" and r["value"] > 0 for r in d["items"])),
    "/api/v1/air/stations/{station_id}/hourly": (
        {}, lambda d: len(d["items"]) >= 20 and all(r["colour"] in HEX for r in d["items"])),
    "/api/v1/air/stations/{station_id}/daily": (
        _yesterday_range(), lambda d: len(d["items"]) == 1 and d["items"][0]["aqi"] > 0),
    "/api/v1/air/regions/hourly": (
        {"city": CITY}, lambda d: d["items"] and d["items"][0]["n_stations"] == 9),
    "/api/v1/air/regions/daily": (
        {"city": CITY, **_yesterday_range()},
        lambda d: d["items"][0]["day"] == str(today() - timedelta(days=1))
        and d["items"][0]["colour"] == standards.category(d["items"][0]["aqi"]).hex),
    "/api/v1/water/sections": ({"period": "day", **_yesterday_range()},
                               lambda d: len(d["items"]) == 5
                               and all(r["water_class"] for r in d["items"])),
    "/api/v1/noise/points": (_yesterday_range(), lambda d: len(d["items"]) == 7 and all(
        r["ld"] is not None and r["limits"]["day"] >= 50 for r in d["items"])),
    "/api/v1/reports/{kind}": ({"day": str(today() - timedelta(days=1)), "city": CITY},
                               lambda d: d["valid_days"] == 1),
    # migration 0030 creates the alerts module's episodes table; no engine ran on this data
    "/api/v1/alerts/open": ({}, lambda d: d == {"items": [], "limit": 100, "offset": 0,
                                                "next_offset": None, "available": True}),
}
PATH_VALUES = {"station_id": "pl-air-kongtong-1", "kind": "air"}


@on_every_layout
@pytest.mark.parametrize("template", list(ENDPOINTS))
async def test_every_endpoint_answers_with_demo_data(client: httpx.AsyncClient,
                                                    template: str) -> None:
    query, check = ENDPOINTS[template]
    body = await get(client, template.format(**PATH_VALUES), **query)
    assert check(body), json.dumps(body, ensure_ascii=False, default=str)[:2000]


async def test_every_endpoint_is_covered(client: httpx.AsyncClient) -> None:
    assert set((await get(client, "/openapi.json"))["paths"]) == set(ENDPOINTS)


@on_every_layout
async def test_stations_have_live_readings_and_state(client: httpx.AsyncClient) -> None:
    items = (await get(client, "/api/v1/stations", limit=1000))["items"]
    by_id = {s["station_id"]: s for s in items}
    assert set(by_id) == {s.station_id for s in STATIONS}
    # the demo data runs up to now: everyone reported within its own cadence
    assert {s["state"] for s in items} == {"online"}
    air = by_id["pl-air-kongtong-1"]
    assert air["latest"]["pm25"]["interval"] == "rt" and air["cadence_seconds"] == 60
    assert air["aqi"]["colour"] == standards.category(air["aqi"]["aqi"]).hex
    water = by_id["pl-water-jing-pingliang"]
    assert water["aqi"] is None and water["latest"]["ph"]["unit"]


async def test_pages_cover_the_list_once(client: httpx.AsyncClient) -> None:
    seen: list[str] = []
    offset: int | None = 0
    while offset is not None:
        page = await get(client, "/api/v1/stations", limit=6, offset=offset)
        assert len(page["items"]) <= 6
        seen += [s["station_id"] for s in page["items"]]
        offset = page["next_offset"]
    assert seen == sorted(s.station_id for s in STATIONS)


async def test_time_range_bounds_the_hours(client: httpx.AsyncClient) -> None:
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(hours=6)
    rows = (await get(client, "/api/v1/air/regions/hourly", city=CITY,
                      start=start.isoformat(), end=end.isoformat()))["items"]
    stamps = [datetime.fromisoformat(r["ts"]) for r in rows]
    assert stamps == sorted(stamps) and len(stamps) == 6
    assert min(stamps) == start and max(stamps) < end


@pytest.mark.parametrize(("path", "query", "status"), [
    ("/api/v1/reports/air", {"city": CITY}, 400),  # no period
    ("/api/v1/reports/air", {"month": "2026-01", "year": "2026", "city": CITY}, 400),
    ("/api/v1/reports/air", {"month": "2026-01"}, 400),  # no scope
    ("/api/v1/reports/air", {"quarter": "2026-Q5", "city": CITY}, 400),
    ("/api/v1/reports/soil", {"month": "2026-01", "city": CITY}, 422),
    ("/api/v1/stations", {"limit": 1001}, 422),
    ("/api/v1/air/regions/daily", {"city": CITY, "start": "2026-02-01",
                                   "end": "2026-01-01"}, 400),
])
async def test_bad_requests_say_why(client: httpx.AsyncClient, path: str,
                                    query: dict[str, str], status: int) -> None:
    resp = await client.get(path, params=query)
    assert resp.status_code == status, resp.text
    assert resp.json()["detail"]


def _cli(url: str, args: list[str]) -> str:
    result = CliRunner().invoke(main, ["report", *args], env={"ENVMON_DATABASE_URL": url})
    assert result.exit_code == 0, result.output
    return result.output


REPORT_CASES = [
    ("air", {"day": "yesterday", "city": CITY}),
    ("air", {"ytd": "today", "city": CITY, "county": "Kongtong"}),
    ("air", {"month": "this", "station": ["pl-air-kongtong-1", "pl-air-lingtai"]}),
    ("water", {"month": "this", "city": CITY}),
    ("water", {"year": "this", "station": ["pl-water-jing-pingliang"]}),
    ("noise", {"day": "yesterday", "city": CITY}),
    ("noise", {"quarter": "this", "city": CITY}),
]


def _concrete(query: dict[str, Any]) -> dict[str, Any]:
    """``this``/``yesterday`` as the period values of the day the test runs."""
    day = today()
    this = {"month": f"{day:%Y-%m}", "year": str(day.year),
            "quarter": f"{day.year}-Q{(day.month - 1) // 3 + 1}"}
    out = dict(query)
    for key, value in query.items():
        if value == "this":
            out[key] = this[key]
        elif value == "yesterday":
            out[key] = str(day - timedelta(days=1))
    return out


@pytest.mark.parametrize(("kind", "query"), REPORT_CASES)
@pytest.mark.parametrize("fmt", ["json", "csv"])
async def test_report_endpoint_is_envmon_report(client: httpx.AsyncClient, demo_url: str,
                                                kind: str, query: dict[str, Any],
                                                fmt: str) -> None:
    query = _concrete(query)
    args = [kind, "--format", fmt]
    for key, value in query.items():
        for v in value if isinstance(value, list) else [value]:
            args += [f"--{key}", v]
    printed = await asyncio.to_thread(_cli, demo_url, args)
    resp = await client.get(f"/api/v1/reports/{kind}", params={**query, "format": fmt})
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith(
        "application/json" if fmt == "json" else "text/csv")
    assert resp.text.rstrip("\n") == printed.rstrip("\n")
    if fmt == "json":
        doc = resp.json()
        first = doc[0] if isinstance(doc, list) else doc
        assert first.get("valid_days", 0) > 0 or first.get("sections") or first.get("zones")


async def test_open_alerts_from_the_episodes_table() -> None:
    """With the alerts module's episodes table (the columns this endpoint relies on, as in
    migration 0030_alerts.sql), pending and firing episodes are listed newest first."""
    from tests.conftest import create_database, drop_database

    url = create_database("envmon_web_alerts")
    try:
        with psycopg.connect(url) as conn:
            conn.execute(
                "CREATE TABLE alert_episodes (episode_id bigserial PRIMARY KEY, rule text,"
                " subject_id text, severity text, summary text, state text NOT NULL,"
                " started_at timestamptz NOT NULL, resolved_at timestamptz)")
            conn.execute(
                "INSERT INTO alert_episodes (rule, subject_id, severity, summary, state,"
                " started_at, resolved_at) VALUES"
                " ('pm25-high', 'pl-air-lingtai', 'warning', 'PM2.5 high', 'firing',"
                "  now() - interval '2 h', NULL),"
                " ('do-low', 'pl-water-jing-pingliang', 'critical', 'DO low', 'pending',"
                "  now() - interval '1 h', NULL),"
                " ('old', 'pl-air-lingtai', 'info', 'over', 'resolved', now() - interval '9 h',"
                "  now() - interval '8 h'),"
                " ('blip', 'pl-air-lingtai', 'info', 'gone', 'cancelled', now(), NULL)")
        app = create_app(url, None)
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://envmon") as c:
            body = await get(c, "/api/v1/alerts/open")
            one = await get(c, "/api/v1/alerts/open", limit=1)
    finally:
        drop_database(url)
    assert body["available"] is True
    assert [(a["rule"], a["state"]) for a in body["items"]] == [
        ("do-low", "pending"), ("pm25-high", "firing")]
    assert one["next_offset"] == 1 and len(one["items"]) == 1


async def test_token_guards_the_api_only(demo_url: str) -> None:
    app = create_app(demo_url, TOKEN)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://envmon") as c:
        assert (await c.get("/api/v1/regions")).status_code == 401
        wrong = await c.get("/api/v1/regions", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
        ok = await c.get("/api/v1/regions", headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 200 and ok.json()
        for open_path in ("/", "/openapi.json", "/healthz", "/static/app.js"):
            assert (await c.get(open_path)).status_code == 200, open_path
        headers = (await c.get("/")).headers
        assert "script-src 'self'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"


async def test_connections_are_read_only(client: httpx.AsyncClient) -> None:
    pool = client.app.state.pool  # type: ignore[attr-defined]
    async with pool.connection() as conn:
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            await conn.execute("DELETE FROM stations")


def test_envmon_api_serves_until_sigterm(demo_url: str, tmp_path: Path) -> None:
    port = free_port()
    env = clean_env(tmp_path, {"ENVMON_DATABASE_URL": demo_url, "ENVMON_API__PORT": str(port),
                               "ENVMON_API__TOKEN": TOKEN})
    run = RunProcess([*envmon_argv(), "api"], env, cwd=REPO)
    try:
        run.wait_for(f"status    http://127.0.0.1:{port}/", timeout_s=60)
        request = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/regions",
                                         headers={"Authorization": f"Bearer {TOKEN}"})
        with urllib.request.urlopen(request, timeout=30) as resp:
            assert {"city": CITY, "county": ""}.items() <= json.load(resp)[0].items()
    except BaseException:
        run.kill()
        raise
    assert run.terminate() == 0, run.stderr


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10"])
def test_envmon_api_refuses_an_open_network_bind(host: str) -> None:
    result = CliRunner().invoke(main, ["api"], env={
        "ENVMON_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none", "ENVMON_API__HOST": host,
        "ENVMON_API__TOKEN": None, "ENVMON_API__TOKEN_FILE": None})
    assert result.exit_code == 2
    assert "ENVMON_API__TOKEN" in result.output and host in result.output


async def test_unreachable_database_is_503() -> None:
    port = free_port()  # nothing listens there
    app = create_app(f"postgresql://nobody@127.0.0.1:{port}/none", None, pool_timeout_s=1)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://envmon") as c:
        resp = await c.get("/api/v1/regions")
    assert resp.status_code == 503 and resp.headers["retry-after"] == "10"
    assert "database unavailable" in resp.text
