"""The gateway component as `envmon run` and `envmon hj212-gateway` start it (real PostgreSQL)."""

from __future__ import annotations

import asyncio
import secrets
from datetime import datetime

import psycopg
import pytest

from envmon.settings import GatewaySettings, Settings
from envmon.stations import Station, upsert_stations
from ingest.hj212 import encode_data_packet, parse_packet
from ingest.hj212.service import gateway_settings, serve
from tests.conftest import free_port

pytestmark = pytest.mark.integration


async def test_serve_loads_stations_and_overrides_and_answers(database_url: str) -> None:
    mn = secrets.token_hex(12).upper()
    station = Station(f"svc-{mn[:8].lower()}", "air", "svc", mn=mn, hj212_password="424242")
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        await upsert_stations(conn, [station])
        await conn.execute("INSERT INTO hj212_unit_overrides (station_id, code, unit)"
                           " VALUES (%s, 'a21026', 'mg/m3')", (station.station_id,))
    port = free_port()
    stop = asyncio.Event()
    task = asyncio.create_task(serve(Settings(database_url=database_url),
                                     GatewaySettings(host="127.0.0.1", port=port), stop,
                                     serve_health=False))
    async with asyncio.timeout(30):
        while True:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                break
            except OSError:
                await asyncio.sleep(0.05)
        writer.write(encode_data_packet(mn, "424242", "2061", "22", datetime(2026, 3, 2, 8),
                                        {"a21026": 0.012}, qn="20260302090000777"))
        await writer.drain()
        answer = await reader.readuntil(b"\r\n")
    assert (parse_packet(answer).cn, parse_packet(answer).qn) == ("9014", "20260302090000777")
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        cur = await conn.execute("SELECT parameter, value FROM readings WHERE station_id = %s",
                                 (station.station_id,))
        assert await cur.fetchall() == [("so2", 12.0)]  # 0.012 mg/m3 -> 12 ug/m3
    writer.close()
    stop.set()
    await task


def test_gateway_settings_come_from_the_hj212_section(monkeypatch: pytest.MonkeyPatch) -> None:
    assert gateway_settings(Settings()).port == GatewaySettings().port
    assert not gateway_settings(Settings()).enabled
    monkeypatch.setenv("ENVMON_HJ212__ENABLED", "true")
    monkeypatch.setenv("ENVMON_HJ212__PORT", "7000")
    options = gateway_settings(Settings())
    assert (options.enabled, options.port) == (True, 7000)
