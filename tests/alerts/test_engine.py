"""Pure logic of the engine: the lifecycle decision table and the condition kinds' limits,
each limit checked against the standard's clause it comes from."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from aggregator.compute.beijing_time import BEIJING
from alerts import conditions as c
from alerts import rules as r
from alerts.engine import decide, idempotency_key
from alerts.state import Episode

T = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)
H = timedelta(hours=1)
AIR = c.StationInfo("s1", "air", "S1", "Pingliang", "Kongtong")
RIVER_III = c.StationInfo("w1", "water", "W1", "Pingliang", "Kongtong", 3, "river")
NOISE_1 = c.StationInfo("n1", "noise", "N1", "Pingliang", "Kongtong", noise_zone="1")


def _rule(**kw: object) -> r.ThresholdRule:
    base: dict[str, object] = {"name": "x", "kind": "threshold", "parameter": "pm25",
                               "above": 115, "for": "2h"}
    return r.ThresholdRule.model_validate({**base, **kw})


def _obs(start: datetime, breach: bool, clear: bool, length: timedelta = H) -> c.Observation:
    return c.Observation(c.Subject.station(AIR), start, start + length, breach, clear)


def _ep(state: str, started: datetime, last: datetime) -> Episode:
    return Episode("x", "station", "s1", "S1", None, None, state, "warning", "", started, last)


NOW = T + 10 * H


@pytest.mark.parametrize(
    ("episode", "obs", "expected"),
    [
        (None, _obs(T, False, True), "none"),
        (None, _obs(T + 8 * H, True, False), "open"),  # 1 h < for
        (None, _obs(T - 10 * H, True, False), "late"),  # ended 9 h before now > max_age 3 h
        (_ep("pending", T, T + H), _obs(T + H, True, False), "fire"),  # 2 h reached
        (_ep("pending", T, T + H), _obs(T + H, False, False), "observe"),  # in the band
        (_ep("pending", T, T + H), _obs(T + H, False, True), "cancel"),
        (_ep("firing", T, T + 3 * H), _obs(T + 3 * H, False, False), "observe"),
        (_ep("firing", T, T + 3 * H), _obs(T + 3 * H, True, False), "observe"),
        (_ep("firing", T, T + 3 * H), _obs(T + 3 * H, False, True), "resolve"),
        (_ep("firing", T, T + 3 * H), _obs(T, False, True), "none"),  # older: out of order
    ],
)
def test_lifecycle_decisions(episode: Episode | None, obs: c.Observation, expected: str) -> None:
    assert decide(episode, _rule(), obs, NOW) == expected


def test_for_zero_fires_at_once_and_late_open_opens_late_data() -> None:
    assert decide(None, _rule(**{"for": "0s"}), _obs(T + 8 * H, True, False), NOW) \
        == "open_firing"
    assert decide(None, _rule(late="open"), _obs(T - 10 * H, True, False), NOW) == "open"


def test_idempotency_key_format_of_the_contract() -> None:
    assert idempotency_key(42, "reminder", 3, "ops") == "42:reminder:3:ops"


@pytest.mark.parametrize(
    ("value", "direction", "limit", "clear_at", "expected"),
    [
        (120, "above", 115, 100, (True, False)),
        (110, "above", 115, 100, (False, False)),  # hysteresis band
        (100, "above", 115, 100, (False, True)),
        (1.5, "below", 2, 3, (True, False)),  # DO below 2 mg/L
        (2.5, "below", 2, 3, (False, False)),
        (3.0, "below", 2, 3, (False, True)),
    ],
)
def test_hysteresis(value: float, direction: str, limit: float, clear_at: float,
                    expected: tuple[bool, bool]) -> None:
    assert c.judge(value, limit, direction, clear_at) == expected


@pytest.mark.parametrize(
    ("parameter", "value", "station", "breach", "limit"),
    [
        # GB 3838-2002 表1: NH3-N class III limit 1.0 mg/L, class II 0.5 mg/L
        ("nh3n", 1.2, RIVER_III, True, 1.0),
        ("nh3n", 0.9, RIVER_III, False, 1.0),
        ("nh3n", 0.6, c.StationInfo("w2", "water", "W2", "P", "K", 2, "river"), True, 0.5),
        # TP: rivers class III 0.2, lakes class III 0.05 (表1 note)
        ("tp", 0.1, c.StationInfo("w3", "water", "W3", "P", "K", 3, "lake"), True, 0.05),
        # DO is a minimum: class III needs >= 5 mg/L
        ("do", 4.0, RIVER_III, True, 5.0),
        ("do", 6.0, RIVER_III, False, 5.0),
    ],
)
def test_target_class_limits_gb3838(parameter: str, value: float, station: c.StationInfo,
                                    breach: bool, limit: float) -> None:
    rule = _rule(parameter=parameter, above=None, limit="target_class", **{"for": "0s"})
    (obs,) = c.threshold(rule, station, [(T, value, "N")])
    assert (obs.breach, obs.limit) == (breach, limit)
    assert obs.clause is not None and "GB 3838" in obs.clause


def test_flagged_readings_are_not_judged_by_thresholds() -> None:
    # HJ 212-2017 表8: only N enters statistics (aggregator/compute/flags.py)
    assert c.threshold(_rule(), AIR, [(T, 500.0, "D"), (T + H, 500.0, "N")])[0].start == T + H


@pytest.mark.parametrize(
    ("hour_beijing", "leq", "lmax", "leq_breach", "lmax_breach"),
    [
        # GB 3096-2008 表1 zone 1: night limit 45 dB(A); 5.4: night Lmax <= 45 + 15 = 60
        (23, 46.0, 59.0, True, False),
        (2, 44.0, 61.0, False, True),
        (12, 70.0, 90.0, None, None),  # daytime: not judged by the night rules
    ],
)
def test_noise_night_limits_gb3096(hour_beijing: int, leq: float, lmax: float,
                                   leq_breach: bool | None, lmax_breach: bool | None) -> None:
    ts = datetime(2026, 3, 2, hour_beijing, tzinfo=BEIJING).astimezone(UTC)
    leq_rule = r.NoiseNightLeqRule(name="l", kind="noise_night_leq")
    lmax_rule = r.NoiseNightLmaxRule(name="m", kind="noise_night_lmax")
    o1 = c.noise_night(leq_rule, NOISE_1, ts, leq, lmax)
    o2 = c.noise_night(lmax_rule, NOISE_1, ts, leq, lmax)
    assert (o1.breach if o1 else None, o2.breach if o2 else None) == (leq_breach, lmax_breach)
    if o2:
        assert o2.limit == 60.0


@pytest.mark.parametrize(
    ("good", "valid", "today", "below", "breach"),
    [
        # targets.toml: 2026 plan target; affordable = floor(g + R - t(v + R)) (targets.py)
        (50, 60, date(2026, 3, 1), 0, False),
        (10, 60, date(2026, 3, 1), 0, True),  # too many bad days: target out of reach
    ],
)
def test_plan_target_uses_the_aggregator_target_logic(good: int, valid: int, today: date,
                                                     below: int, breach: bool) -> None:
    from aggregator.standards import air_target_status

    rule = r.PlanTargetRule(name="p", kind="plan_target", affordable_below=below)
    obs = c.plan_target(rule, c.Subject.region("Pingliang", ""), good, valid, today, T)
    status = air_target_status(good, valid, today.year, as_of=today)
    assert obs is not None
    assert obs.value == status.affordable
    assert obs.breach is breach


def test_silent_judges_by_the_station_cadence() -> None:
    rule = r.SilentRule(name="q", kind="silent", factor=3, min_silence=timedelta(seconds=1))
    assert c.silent(rule, AIR, T, [30.0, 30.0, 30.0], T + timedelta(seconds=80)) is None
    late = c.silent(rule, AIR, T, [30.0, 30.0, 30.0], T + timedelta(seconds=95))
    assert late is not None and late.breach and late.limit == 90
    # an hourly station is not silent after 95 s
    assert c.silent(rule, AIR, T, [3600.0] * 3, T + timedelta(seconds=95)) is None
    assert c.silent(rule, AIR, T, [30.0], T + H) is None  # too few gaps to judge


def test_flagged_breaches_on_d_or_m_and_clears_on_all_normal() -> None:
    rule = r.FlaggedRule(name="f", kind="flagged")
    out = c.flagged(rule, AIR, [(T, ["pm25"], False), (T + H, None, False),
                                (T + 2 * H, None, True)])
    assert [(o.breach, o.clear) for o in out] == [(True, False), (False, False), (False, True)]
    assert out[0].text == "data flagged D/M (pm25)"
