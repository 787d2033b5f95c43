"""Station state by learned cadence, and the listener's token rule (pure logic)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from envmon.settings import ApiSettings, InsecureBinding
from web.state import Judgement, judge, learned_cadence

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
S, M, H = timedelta(seconds=1), timedelta(minutes=1), timedelta(hours=1)


def every(step: timedelta, last: datetime, n: int = 10) -> list[datetime]:
    return [last - i * step for i in range(n)]


@pytest.mark.parametrize(("stamps", "expected"), [
    ([], None),
    ([NOW], None),
    ([NOW, NOW], None),  # one distinct timestamp: nothing to learn
    (every(30 * S, NOW), 30 * S),
    (every(H, NOW), H),
    # one gap (an outage) does not change the cadence: the median does not move
    ([*every(M, NOW, 9), NOW - 3 * H], M),
    ([NOW, NOW - H, NOW - 2 * H, NOW - 2 * H], H),  # duplicates ignored
])
def test_learned_cadence(stamps: list[datetime], expected: timedelta | None) -> None:
    assert learned_cadence(stamps) == expected


@pytest.mark.parametrize(("interval", "last", "series", "state"), [
    (None, None, [], "offline"),
    # real-time every 30 s: 2 cadences + 5 min grace = 6 min
    ("rt", NOW - 5 * M, every(30 * S, NOW - 5 * M), "online"),
    ("rt", NOW - 7 * M, every(30 * S, NOW - 7 * M), "late"),  # 6 x 30 s + 5 min = 8 min
    ("rt", NOW - 9 * M, every(30 * S, NOW - 9 * M), "offline"),
    # hourly: the 10:00 hour ends at 11:00, so at 12:00 it is one hour old: online
    ("hour", NOW - 2 * H, every(H, NOW - 2 * H), "online"),
    ("hour", NOW - 4 * H, every(H, NOW - 4 * H), "late"),  # ended 3 h ago (> 2 h 5 min)
    ("hour", NOW - 8 * H, every(H, NOW - 8 * H), "offline"),  # ended 7 h ago (> 6 h 5 min)
    # a single hourly value: nominal cadence of the interval
    ("hour", NOW - 2 * H, [NOW - 2 * H], "online"),
    # daily values: yesterday's (ended at midnight) is on time
    ("day", NOW - 36 * H, every(24 * H, NOW - 36 * H), "online"),
])
def test_state_by_own_cadence(interval: str | None, last: datetime | None,
                              series: list[datetime], state: str) -> None:
    verdict = judge(interval, last, series, NOW)
    assert verdict.state == state
    if last is None:
        assert verdict == Judgement("offline", None, None)


@pytest.mark.parametrize(("host", "token", "expected"), [
    ("127.0.0.1", None, None),
    ("::1", None, None),
    ("localhost", None, None),
    ("127.0.0.1", "t0k", "t0k"),
    ("0.0.0.0", "t0k", "t0k"),
    ("10.1.2.3", "t0k", "t0k"),
    ("0.0.0.0", None, InsecureBinding),
    ("::", None, InsecureBinding),
    ("envmon.example.org", None, InsecureBinding),
])
def test_token_needed_beyond_loopback(host: str, token: str | None,
                                      expected: str | type[Exception] | None) -> None:
    settings = ApiSettings(host=host, token=SecretStr(token) if token else None)
    if isinstance(expected, type):
        with pytest.raises(expected, match="ENVMON_API__TOKEN"):
            settings.checked_token()
    else:
        assert settings.checked_token() == expected


def test_token_from_file(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("from-file\n")
    assert ApiSettings(host="0.0.0.0", token_file=path).checked_token() == "from-file"
    path.write_text("\n")
    with pytest.raises(ValueError, match="empty"):
        ApiSettings(host="0.0.0.0", token_file=path).checked_token()
