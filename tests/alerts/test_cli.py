"""``envmon alerts`` commands against the real PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from alerts.cli import alerts_group
from alerts.service import demo_rules_file
from tests.alerts import engine_kit as kit
from tests.alerts.peers import migrated_database

pytestmark = pytest.mark.integration

RULE = """
[[rules]]
name = "pm25-cli"
kind = "threshold"
parameter = "pm25"
above = 115
receivers = ["ops"]
escalate = { after = "10m", receivers = ["director"] }
"""


@pytest.fixture
async def url() -> AsyncIterator[str]:
    async with migrated_database() as u:
        await kit.add_stations(u)
        yield u


def _cli(url: str, *args: str) -> tuple[int, str]:
    """Run a command (in a thread when called from a test's event loop: it runs its own)."""
    result = CliRunner().invoke(alerts_group, list(args), env={"ENVMON_DATABASE_URL": url,
                                                               "ENVMON_CONFIG": ""})
    return result.exit_code, result.output


def test_check_accepts_the_starter_file_and_names_the_line_of_an_error(tmp_path: Path) -> None:
    code, out = _cli("postgresql://unused", "check", str(demo_rules_file()))
    assert code == 0 and "12 rules" in out
    bad = tmp_path / "bad.toml"
    bad.write_text('[[rules]]\nname = "x"\nkind = "aqi_daily"\nabove = 9000\n')
    code, out = _cli("postgresql://unused", "check", str(bad))
    assert code == 1
    assert f"{bad}:4: rules.0.above" in out


async def test_list_ack_silence_and_outbox(url: str) -> None:
    await kit.write(url, *kit.hourly("t-air-1", "pm25", kit.NOW - kit.HOUR, [300]))
    await kit.cycle(url, kit.engine(RULE), kit.NOW)
    (episode_id, *_), = await kit.episodes(url)
    code, out = await asyncio.to_thread(_cli, url, "list")
    assert code == 0 and f"#{episode_id} firing" in out and "pm25 300" in out
    code, out = await asyncio.to_thread(_cli, url, "ack", str(episode_id), "--by", "duty officer")
    assert code == 0
    code, out = await asyncio.to_thread(_cli, url, "ack", str(episode_id))
    assert code == 1 and "no open, unacknowledged episode" in out
    code, out = await asyncio.to_thread(_cli, url, "list", "--format", "json")
    (shown,) = json.loads(out)
    assert shown["acked_by"] == "duty officer"
    code, out = await asyncio.to_thread(_cli, url, "silence", "--station", "t-air-1",
                                        "--label", "team=air", "--for", "2h",
                                        "--comment", "analyser swap")
    assert code == 0 and out.startswith("silence #")
    silence_id = out.split("#")[1].split()[0]
    code, out = await asyncio.to_thread(_cli, url, "silences")
    assert "station=t-air-1, team=air" in out and "analyser swap" in out
    code, out = await asyncio.to_thread(_cli, url, "unsilence", silence_id)
    assert code == 0
    code, out = await asyncio.to_thread(_cli, url, "silences")
    assert out.strip().endswith("0 silences")
    code, out = await asyncio.to_thread(_cli, url, "silence", "--for", "1h")
    assert code == 2 and "at least one matcher" in out
    code, out = await asyncio.to_thread(_cli, url, "outbox", "--status", "pending")
    assert code == 0 and f"{episode_id}:firing:0:ops" in out and "1 rows" in out


async def test_the_live_summary_shows_open_episodes(url: str) -> None:
    from rich.console import Console

    from app.live_summary import RateMeter, render, take

    await kit.write(url, *kit.hourly("t-air-1", "pm25", kit.NOW - kit.HOUR, [300]))
    await kit.cycle(url, kit.engine(RULE), kit.NOW)
    async with await kit.db.connect(url, autocommit=True) as conn:
        snap = await take(conn, RateMeter())
    assert [(r["rule"], r["state"]) for r in snap.alerts] == [("pm25-cli", "firing")]
    console = Console(record=True, width=200)
    console.print(render(snap))
    assert "pm25-cli" in console.export_text()
