"""Episode lifecycle against the real PostgreSQL: readings committed by the real ingest writer,
evaluated by engine cycles at chosen (simulated) times, notifications counted in the outbox."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from alerts import state
from tests.alerts import engine_kit as kit
from tests.alerts.peers import migrated_database

pytestmark = pytest.mark.integration

PM25 = """
[[rules]]
name = "pm25-high"
kind = "threshold"
parameter = "pm25"
interval = "hour"
above = 115
clear = 100
for = "2h"
max_age = "1d"
receivers = ["ops", "duty"]
"""


@pytest.fixture
async def url() -> AsyncIterator[str]:
    async with migrated_database() as u:
        await kit.add_stations(u)
        yield u


async def test_breach_past_for_fires_once_recovery_resolves_once_flapping_is_silent(
    url: str,
) -> None:
    eng = kit.engine(PM25)
    t0 = kit.NOW - 10 * kit.HOUR
    # 1 h of breach: pending only (for = 2h)
    await kit.write(url, *kit.hourly("t-air-1", "pm25", t0, [130]))
    await kit.cycle(url, eng, kit.NOW)
    assert [e[3] for e in await kit.episodes(url)] == ["pending"]
    assert await kit.outbox(url) == Counter()
    # the second breaching hour makes 2 h: firing, one notification per receiver
    await kit.write(url, *kit.hourly("t-air-1", "pm25", t0 + kit.HOUR, [140]))
    await kit.cycle(url, eng, kit.NOW)
    await kit.write(url, *kit.hourly("t-air-1", "pm25", t0 + 2 * kit.HOUR, [150]))
    await kit.cycle(url, eng, kit.NOW)
    assert await kit.outbox(url) == Counter({("firing", "ops"): 1, ("firing", "duty"): 1})
    # inside the hysteresis band (100 < v <= 115) and back above: nothing new
    await kit.write(url, *kit.hourly("t-air-1", "pm25", t0 + 3 * kit.HOUR, [105, 120, 101, 110]))
    await kit.cycle(url, eng, kit.NOW)
    assert await kit.outbox(url) == Counter({("firing", "ops"): 1, ("firing", "duty"): 1})
    # back to <= 100: resolved, once per receiver; more clean hours change nothing
    await kit.write(url, *kit.hourly("t-air-1", "pm25", t0 + 7 * kit.HOUR, [95, 90]))
    await kit.cycle(url, eng, kit.NOW)
    await kit.write(url, *kit.hourly("t-air-1", "pm25", t0 + 9 * kit.HOUR, [80]))
    await kit.cycle(url, eng, kit.NOW)
    assert await kit.outbox(url) == Counter({
        ("firing", "ops"): 1, ("firing", "duty"): 1,
        ("resolved", "ops"): 1, ("resolved", "duty"): 1})
    assert [e[3] for e in await kit.episodes(url)] == ["resolved"]


async def test_a_breach_that_clears_while_pending_is_cancelled_without_notification(
    url: str,
) -> None:
    eng = kit.engine(PM25)
    await kit.write(url, *kit.hourly("t-air-1", "pm25", kit.NOW - 4 * kit.HOUR, [130, 90]))
    await kit.cycle(url, eng, kit.NOW)
    assert [e[3] for e in await kit.episodes(url)] == ["cancelled"]
    assert await kit.outbox(url) == Counter()


async def test_late_data_for_an_hour_long_past_opens_no_episode_unless_asked(url: str) -> None:
    eng = kit.engine(PM25 + PM25.replace('"pm25-high"', '"pm25-late-ok"')
                     .replace('for = "2h"', 'for = "2h"\nlate = "open"'))
    old = kit.NOW - 48 * kit.HOUR
    await kit.write(url, *kit.hourly("t-air-1", "pm25", old, [200, 210, 220]))
    result = await kit.cycle(url, eng, kit.NOW)
    assert result.observations == 6
    assert [(e[1], e[3]) for e in await kit.episodes(url)] == [("pm25-late-ok", "firing")]
    assert eng.metrics.late.labels("pm25-high")._value.get() == 3


async def test_restart_neither_forgets_a_firing_episode_nor_resends(url: str) -> None:
    t0 = kit.NOW - 6 * kit.HOUR
    await kit.write(url, *kit.hourly("t-air-1", "pm25", t0, [130, 140, 150]))
    await kit.cycle(url, kit.engine(PM25), kit.NOW)
    fired = await kit.outbox(url)
    # a new engine (a restarted process) on the same database
    again = kit.engine(PM25)
    await kit.write(url, *kit.hourly("t-air-1", "pm25", t0 + 3 * kit.HOUR, [160]))
    await kit.cycle(url, again, kit.NOW)
    assert await kit.outbox(url) == fired
    await kit.write(url, *kit.hourly("t-air-1", "pm25", t0 + 4 * kit.HOUR, [50]))
    await kit.cycle(url, again, kit.NOW)
    assert (await kit.outbox(url))[("resolved", "ops")] == 1
    assert len(await kit.episodes(url)) == 1


SILENT = """
[[rules]]
name = "quiet"
kind = "silent"
factor = 3
min_silence = "1s"
min_samples = 3
receivers = ["ops"]
"""


async def test_a_quiet_station_fires_after_its_own_cadence_and_resolves_when_data_return(
    url: str,
) -> None:
    eng = kit.engine(SILENT)
    t = kit.NOW - kit.HOUR
    for i in range(5):  # one value a minute (data time)
        await kit.write(url, kit.Reading("t-air-1", "temp", "min", t + timedelta(minutes=i), 1.0))
        await kit.cycle(url, eng, datetime.now(UTC))
    # pretend the last data arrived an hour ago, so the simulated clock below stays in the past
    await kit.sql(url, "UPDATE alert_station_cadence SET last_seen_at = last_seen_at"
                  " - interval '1 hour' WHERE station_id = 't-air-1'")
    async with await kit.db.connect(url) as conn:
        cur = await conn.execute("SELECT last_seen_at, gaps FROM alert_station_cadence"
                                 " WHERE station_id = 't-air-1'")
        row = await cur.fetchone()
    assert row is not None
    last_seen, gaps = row
    assert gaps == [60.0] * 4  # the station's own rhythm: one value a minute
    # 2 minutes of silence: within 3 x 60 s
    await kit.cycle(url, eng, last_seen + timedelta(minutes=2))
    assert await kit.outbox(url) == Counter()
    # 3 minutes and a bit: overdue
    await kit.cycle(url, eng, last_seen + timedelta(minutes=3, seconds=5))
    assert await kit.outbox(url) == Counter({("firing", "ops"): 1})
    await kit.cycle(url, eng, last_seen + timedelta(minutes=10))
    assert await kit.outbox(url) == Counter({("firing", "ops"): 1})
    # data return: resolved
    await kit.write(url, kit.Reading("t-air-1", "temp", "min", t + timedelta(minutes=15), 1.0))
    await kit.cycle(url, eng, datetime.now(UTC))
    assert await kit.outbox(url) == Counter({("firing", "ops"): 1, ("resolved", "ops"): 1})
    assert [e[3] for e in await kit.episodes(url)] == ["resolved"]


REMIND = """
[[rules]]
name = "pm25-remind"
kind = "threshold"
parameter = "pm25"
above = 115
receivers = ["ops"]
repeat = "1h"
escalate = { after = "30m", receivers = ["director"] }
"""


async def test_a_silence_suppresses_and_its_end_lets_reminders_resume(url: str) -> None:
    eng = kit.engine(REMIND)
    now = kit.NOW
    await kit.write(url, *kit.hourly("t-air-1", "pm25", now - kit.HOUR, [200]))
    await kit.cycle(url, eng, now)
    assert await kit.outbox(url) == Counter({("firing", "ops"): 1})
    await kit.sql(url, "INSERT INTO alert_silences (subject_id, starts_at, ends_at)"
                  " VALUES ('t-air-1', %s, %s)", now, now + 3 * kit.HOUR)
    await kit.cycle(url, eng, now + 2 * kit.HOUR)  # reminder and escalation both due: held
    assert await kit.outbox(url) == Counter({("firing", "ops"): 1})
    await kit.cycle(url, eng, now + 3 * kit.HOUR + timedelta(minutes=1))  # silence over
    assert await kit.outbox(url) == Counter({
        ("firing", "ops"): 1, ("reminder", "ops"): 1, ("escalation", "director"): 1})
    await kit.cycle(url, eng, now + 3 * kit.HOUR + timedelta(minutes=30))  # next one in 1 h
    await kit.cycle(url, eng, now + 4 * kit.HOUR + timedelta(minutes=2))
    assert (await kit.outbox(url))[("reminder", "ops")] == 2


async def test_a_firing_silenced_from_the_start_is_notified_when_the_silence_ends(
    url: str,
) -> None:
    eng = kit.engine(REMIND)
    await kit.sql(url, "INSERT INTO alert_silences (rule, starts_at, ends_at)"
                  " VALUES ('pm25-remind', %s, %s)", kit.NOW - kit.HOUR, kit.NOW + kit.HOUR)
    await kit.write(url, *kit.hourly("t-air-1", "pm25", kit.NOW - kit.HOUR, [200]))
    await kit.cycle(url, eng, kit.NOW)
    assert await kit.outbox(url) == Counter()
    await kit.cycle(url, eng, kit.NOW + kit.HOUR + timedelta(seconds=1))
    assert await kit.outbox(url) == Counter({("firing", "ops"): 1})


async def test_ack_stops_escalation(url: str) -> None:
    eng = kit.engine(REMIND)
    await kit.write(url, *kit.hourly("t-air-1", "pm25", kit.NOW - kit.HOUR, [200]))
    await kit.write(url, *kit.hourly("t-air-2", "pm25", kit.NOW - kit.HOUR, [200]))
    await kit.cycle(url, eng, kit.NOW)
    acked = next(e[0] for e in await kit.episodes(url) if e[2] == "t-air-1")
    async with await kit.db.connect(url) as conn:
        assert await state.ack(conn, acked, "duty officer")
        await conn.commit()
    await kit.cycle(url, eng, kit.NOW + timedelta(minutes=31))
    box = await kit.outbox(url)
    assert box[("escalation", "director")] == 1  # only the unacknowledged one
    async with await kit.db.connect(url) as conn:
        cur = await conn.execute("SELECT payload->>'subject_id' FROM alert_outbox"
                                 " WHERE event = 'escalation'")
        assert [r[0] for r in await cur.fetchall()] == ["t-air-2"]


async def test_resolve_and_a_new_breach_in_one_batch_give_two_episodes(url: str) -> None:
    eng = kit.engine(PM25.replace('for = "2h"', 'for = "0s"'))
    await kit.write(url, *kit.hourly("t-air-1", "pm25", kit.NOW - 4 * kit.HOUR,
                                     [200, 50, 210]))
    await kit.cycle(url, eng, kit.NOW)
    assert [e[3] for e in await kit.episodes(url)] == ["resolved", "firing"]
    assert (await kit.outbox(url))[("firing", "ops")] == 2


FLAGGED = """
[[rules]]
name = "fault"
kind = "flagged"
flags = ["D", "M"]
for = "2h"
receivers = ["ops"]
"""


async def test_flags_d_or_m_for_longer_than_for_fire_and_normal_data_resolve(url: str) -> None:
    eng = kit.engine(FLAGGED)
    t0 = kit.NOW - 5 * kit.HOUR
    # pm25 in fault (D) for 0 h .. 1 h: under 2 h, and cleared by normal data (cancelled)
    await kit.write(url, *kit.hourly("t-air-1", "pm25", t0, [30, 31], flag="D"),
                    *kit.hourly("t-air-1", "pm10", t0, [50, 51]),
                    *kit.hourly("t-air-1", "pm25", t0 + 2 * kit.HOUR, [32]))
    await kit.cycle(url, eng, kit.NOW)
    assert [e[3] for e in await kit.episodes(url)] == ["cancelled"]
    # maintenance (M) on every parameter from 3 h on: 2 h reached at the third hour
    await kit.write(url, *kit.hourly("t-air-1", "pm25", t0 + 3 * kit.HOUR, [0, 0, 0], flag="M"))
    await kit.cycle(url, eng, kit.NOW + 2 * kit.HOUR)
    assert await kit.outbox(url) == Counter({("firing", "ops"): 1})
    # normal again: resolved
    await kit.write(url, *kit.hourly("t-air-1", "pm25", t0 + 6 * kit.HOUR, [33, 34]))
    await kit.cycle(url, eng, kit.NOW + 2 * kit.HOUR)
    assert await kit.outbox(url) == Counter({("firing", "ops"): 1, ("resolved", "ops"): 1})


async def test_a_history_upload_is_not_read_back_for_rules_it_cannot_fire(url: str) -> None:
    eng = kit.engine(PM25 + FLAGGED)
    old = kit.NOW - 72 * kit.HOUR  # older than both rules' max_age (1 d, 6 h)
    await kit.write(url, *kit.hourly("t-air-1", "pm25", old, [300, 300, 300], flag="D"),
                    *kit.hourly("t-air-2", "pm25", old, [300, 300, 300]))
    result = await kit.cycle(url, eng, kit.NOW)
    assert result.observations == 0
    assert await kit.episodes(url) == []


async def test_an_ack_during_an_evaluation_waits_for_it_and_is_not_overwritten(
    url: str,
) -> None:
    await kit.write(url, *kit.hourly("t-air-1", "pm25", kit.NOW - kit.HOUR, [200]))
    await kit.cycle(url, kit.engine(REMIND), kit.NOW)
    (episode_id, *_), = await kit.episodes(url)
    async with await kit.db.connect(url) as engine_conn, \
            await kit.db.connect(url) as cli_conn:
        episodes = await state.open_episodes(engine_conn)  # the engine's cycle holds them
        await cli_conn.execute("SET lock_timeout = '50ms'")
        with pytest.raises(psycopg.errors.LockNotAvailable):
            await state.ack(cli_conn, episode_id, "duty officer")
        await cli_conn.rollback()
        for ep in episodes.values():
            await state.save(engine_conn, ep)
        await engine_conn.commit()
        assert await state.ack(cli_conn, episode_id, "duty officer")
        await cli_conn.commit()
    async with await kit.db.connect(url) as conn:
        assert (await state.open_episodes(conn))[("pm25-remind", "station", "t-air-1")].acked_by \
            == "duty officer"
