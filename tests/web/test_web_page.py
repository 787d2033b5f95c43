"""The status page in real headless Chromium, on ``envmon run --demo`` from a fresh HOME.

The page must load without console errors, show live readings, AQI badges in the official
HJ 633 colours and the plan-target gauge, and draw every view; a screenshot of each view is
saved under ``$ENVMON_TEST_ARTIFACTS`` (default tests/artifacts/, git-ignored).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import pytest

from aggregator import standards
from envmon import db
from envmon.beijing_time import BEIJING
from envmon.settings import StorageSettings
from envmon.stations import parse_station_file
from simulators.demo import pingliang_file
from tests.conftest import REPO, create_database, drop_database, free_port
from tests.run.support import RunProcess, clean_env, envmon_argv, reap_servers
from tests.web.cdp import Browser

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ARTIFACTS = Path(os.environ.get("ENVMON_TEST_ARTIFACTS", REPO / "tests" / "artifacts"))
STATUS_LINE = re.compile(r"status\s+(http://\S+/)\s")
# view -> JavaScript that is true once the view shows demo data
VIEWS = {
    "overview": "document.querySelectorAll('#stations tr[data-state=online]').length > 0",
    "calendar": "document.querySelectorAll('#calendar rect[data-aqi]:not([data-aqi=\"\"])')"
                ".length > 0",
    "trends": "['air', 'water', 'noise'].every(k => document.querySelectorAll("
              "`#trends figure[data-kind=${k}] circle`).length > 0)",
    "water": "document.querySelectorAll('#water td[data-class]').length > 0",
    "noise": "document.querySelectorAll('#noise tr[data-point]').length > 0",
    "alerts": "document.getElementById('alerts').textContent.length > 0",
}


def _rgb(hex_colour: str) -> str:
    n = int(hex_colour[1:], 16)
    return f"rgb({n >> 16}, {(n >> 8) & 255}, {n & 255})"


@pytest.fixture
def fresh_home() -> Iterator[Path]:
    """An empty HOME outside pytest's base temp, whose permissions a concurrent pytest run
    resets to 0700 (the embedded PostgreSQL runs as another user and must traverse it)."""
    home = Path(tempfile.mkdtemp(prefix="envmon-web-home-"))
    yield home
    shutil.rmtree(home, ignore_errors=True)


@contextmanager
def api_page(database_url: str, home: Path, token: str | None = None
             ) -> Iterator[tuple[str, Browser]]:
    """``envmon api`` on ``database_url`` (from a clean ``home``, with ``token`` if given),
    its page's URL and a browser; killed if the body fails, else it must exit 0."""
    port = free_port()
    extra = {"ENVMON_DATABASE_URL": database_url, "ENVMON_API__PORT": str(port)}
    if token is not None:
        extra["ENVMON_API__TOKEN"] = token
    api = RunProcess([*envmon_argv(), "api"], clean_env(home, extra), cwd=REPO)
    browser: Browser | None = None
    try:
        api.wait_for(f"status    http://127.0.0.1:{port}/", timeout_s=60)
        browser = Browser()
        yield f"http://127.0.0.1:{port}/", browser
    except BaseException:
        api.kill()
        raise
    finally:
        if browser is not None:
            browser.close()
    assert api.terminate() == 0, api.stderr


def test_status_page_on_the_demo(fresh_home: Path) -> None:
    home = fresh_home
    env = clean_env(home, {"ENVMON_METRICS_PORT": str(free_port()),
                           "ENVMON_API__PORT": str(free_port())})
    run = RunProcess([*envmon_argv(), "run", "--demo", "--no-summary"], env, cwd=REPO)
    browser: Browser | None = None
    try:
        run.wait_for(lambda: STATUS_LINE.search(run.stderr) is not None, timeout_s=90)
        match = STATUS_LINE.search(run.stderr)
        assert match is not None
        url = match.group(1)
        assert url == f"http://127.0.0.1:{env['ENVMON_API__PORT']}/"
        browser = Browser()
        browser.navigate(url + "#overview")
        # live readings of every demo station, then (once yesterday is aggregated) the gauge
        stations = parse_station_file(pingliang_file())
        browser.wait_for(f"document.querySelectorAll('#stations tr[data-station]').length"
                         f" === {len(stations)}", timeout_s=90)
        browser.wait_for("document.querySelectorAll('#stations [data-param=pm25]').length"
                         " > 0 && document.querySelector('#gauge svg')"
                         " && document.querySelector('#gauge svg').dataset.ratio !== ''"
                         " && document.querySelectorAll('#stations .aqi[data-aqi]').length > 0",
                         timeout_s=150)
        badges = browser.evaluate(
            "[...document.querySelectorAll('#stations .aqi[data-aqi]')].map(b => "
            "[Number(b.dataset.aqi), getComputedStyle(b).backgroundColor])")
        assert badges
        for aqi, colour in badges:
            assert colour == _rgb(standards.category(aqi).hex), (aqi, colour)
        gauge = browser.evaluate(
            "(() => { const s = document.querySelector('#gauge svg'); return {ratio:"
            " Number(s.dataset.ratio), target: s.dataset.target,"
            " mark: !!s.querySelector('.target-mark'),"
            " text: document.getElementById('gauge-text').textContent}; })()")
        year = datetime.now(BEIJING).year
        target = standards.plan_target("air_good_day_ratio", year)
        assert 0 <= gauge["ratio"] <= 100
        if target is not None:
            assert float(gauge["target"]) == target and gauge["mark"]
            assert f"plan target {target:g}%" in gauge["text"]
        states = browser.evaluate(
            "[...document.querySelectorAll('#stations tr[data-station]')]"
            ".map(r => r.dataset.state)")
        assert "online" in states
        for view, ready in VIEWS.items():
            browser.navigate(f"{url}#{view}")
            browser.wait_for(f"document.body.dataset.view === '{view}' && ({ready})",
                             timeout_s=90)
            assert browser.evaluate("document.getElementById('error').hidden"), view
            browser.screenshot(ARTIFACTS / f"status-{view}.png")
            assert (ARTIFACTS / f"status-{view}.png").stat().st_size > 10_000
        browser.navigate(url + "docs")
        browser.wait_for("document.querySelectorAll('#doc .card').length > 10 && "
                         "document.getElementById('doc').textContent"
                         ".includes('GET /api/v1/stations')", timeout_s=30)
        browser.screenshot(ARTIFACTS / "api-docs.png")
        assert browser.errors == []
    except BaseException:
        run.kill()
        reap_servers(home)
        raise
    finally:
        if browser is not None:
            browser.close()
    assert run.terminate() == 0, run.stderr[-4000:]


def test_page_asks_for_and_uses_the_token(demo_url: str, tmp_path: Path) -> None:
    """Behind a token the page says how to give it, then works with ``#token=``; the
    Content-Security-Policy the server sends is obeyed (no violation in the console)."""
    token = "page-token-1"
    with api_page(demo_url, tmp_path, token) as (url, browser):
        browser.navigate(url)
        message = browser.wait_for("!document.getElementById('error').hidden && "
                                   "document.getElementById('error').textContent", 30)
        assert "#token=" in message
        browser.navigate("about:blank")  # so that the next one is a full page load
        browser.wait_for("location.href === 'about:blank'", 30)
        browser.errors.clear()  # the refused requests are expected console entries
        browser.navigate(f"{url}#token={token}")
        browser.wait_for("document.querySelectorAll('#stations tr[data-station]').length > 0",
                         30)
        assert browser.evaluate("location.hash") == "#overview"  # the token left the URL
        assert browser.evaluate("document.getElementById('error').hidden")
        assert browser.errors == []


@pytest.fixture
def empty_db() -> Iterator[str]:
    url = create_database("envmon_web_empty")

    async def migrate() -> None:
        async with await db.connect(url) as aconn:
            await db.migrate(aconn, StorageSettings(backend="plain"))
            await aconn.commit()

    asyncio.run(migrate())
    yield url
    drop_database(url)


def test_every_view_of_an_empty_database(empty_db: str, tmp_path: Path) -> None:
    """A first deployment, no station registered yet: every view renders without an error and
    the overview says why it is empty."""
    with api_page(empty_db, tmp_path) as (url, browser):
        for view in VIEWS:
            browser.navigate(f"{url}#{view}")
            browser.wait_for(f"document.body.dataset.view === '{view}'", 30)
        assert "No station registered yet." in browser.evaluate("document.body.textContent")
        assert browser.errors == []
