"""Evaluation and lifecycle: feed rows -> observations -> episodes -> notifications.

One evaluation cycle is one transaction (serialised across processes by an advisory lock):
claim feed rows, read what they name, apply each observation to its (rule, subject) episode
in data-time order, then the wall-clock duties (silent stations, reminders, escalation, firing
notifications held back by a silence that has ended), enqueue the notifications and commit.
Everything a cycle decides is committed together with the feed rows it consumed, so a crash
repeats a cycle rather than half of one, and idempotency keys make the repeat harmless.

Lifecycle per (rule, subject), see :func:`decide`: a breach opens a *pending* episode; once the
breach has lasted ``for`` (data time, from the start of the first breaching interval to the
end of the latest) it is *firing*; a clear observation (beyond the hysteresis limit) resolves
a firing episode or cancels a pending one; observations inside the band change nothing.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal

from psycopg import AsyncConnection

from aggregator.compute.beijing_time import BEIJING
from alerts import conditions as c
from alerts import feed, sources, state
from alerts import rules as r
from alerts.metrics import EngineMetrics
from alerts.notification import Notification
from alerts.outbox import enqueue
from alerts.state import Episode, Silence

log = logging.getLogger(__name__)

Action = Literal["none", "late", "open", "open_firing", "fire", "observe", "resolve", "cancel"]
LOCK_SQL = "SELECT pg_advisory_xact_lock(hashtext('envmon.alerts'))"
HEARTBEAT_S = 60.0


def decide(ep: Episode | None, rule: Any, obs: c.Observation, now: datetime) -> Action:
    """What ``obs`` does to the subject's open episode ``ep`` (pure; table-tested)."""
    if ep is None:
        if not obs.breach:
            return "none"
        if obs.end < now - rule.late_after and rule.late != "open":
            return "late"
        return "open_firing" if obs.end - obs.start >= rule.for_ else "open"
    if obs.end < ep.last_observed_at:
        return "none"  # older than the observation that decided the state: out of order
    if ep.state == "pending":
        if obs.breach:
            return "fire" if obs.end - ep.started_at >= rule.for_ else "observe"
        return "cancel" if obs.clear else "observe"
    return "resolve" if obs.clear else "observe"


def idempotency_key(episode_id: int, event: str, seq: int, receiver: str) -> str:
    """The contract's key (alerts-interface.md item 2)."""
    return f"{episode_id}:{event}:{seq}:{receiver}"


@dataclass
class CycleResult:
    batches: int = 0
    observations: int = 0
    transitions: int = 0
    notifications: list[Notification] = field(default_factory=list)


class _Cycle:
    """The state of one evaluation transaction."""

    def __init__(self, conn: AsyncConnection[Any], now: datetime, metrics: EngineMetrics,
                 episodes: dict[tuple[str, str, str], Episode], silences: list[Silence]) -> None:
        self.conn = conn
        self.now = now
        self.metrics = metrics
        self.open = episodes
        self.silences = silences
        self.dirty: dict[int, Episode] = {}
        self.result = CycleResult()

    def silenced(self, ep: Episode) -> bool:
        return any(s.matches(ep) for s in self.silences)

    async def apply(self, rule: Any, obs: c.Observation) -> None:
        self.result.observations += 1
        key = (rule.name, obs.subject.kind, obs.subject.id)
        ep = self.open.get(key)
        action = decide(ep, rule, obs, self.now)
        if action == "none":
            return
        if action == "late":
            self.metrics.late.labels(rule.name).inc()
            return
        if ep is None:
            ep = self._new(rule, obs)
            self.open[key] = ep
            await state.save(self.conn, ep)
            self._count(rule, "pending")
        ep.last_observed_at = max(ep.last_observed_at, obs.end)
        if obs.breach:
            ep.value, ep.limit, ep.summary = obs.value, obs.limit, _summary(rule, obs)
        if action in ("open_firing", "fire"):
            ep.state, ep.fired_at = "firing", obs.end
            self._count(rule, "firing")
            if not self.silenced(ep):
                await self._firing(rule, ep)
        elif action == "resolve":
            ep.state, ep.resolved_at = "resolved", obs.end
            ep.summary = f"{ep.summary}; cleared: {obs.text}"
            self._count(rule, "resolved")
            del self.open[key]
            if ep.firing_notified:  # receivers that heard of the episode hear of its end
                extra = rule.escalate.receivers if rule.escalate and ep.escalated else ()
                await self._notify(ep, rule, "resolved", 0, [*rule.receivers, *extra])
        elif action == "cancel":
            ep.state, ep.resolved_at = "cancelled", obs.end
            self._count(rule, "cancelled")
            del self.open[key]
        if action in ("resolve", "cancel"):
            # closed now: a breach later in this cycle may open the next episode at once
            await state.save(self.conn, ep)
            self.dirty.pop(ep.episode_id or 0, None)
            return
        self._touch(ep)

    def _count(self, rule: Any, to: str) -> None:
        self.result.transitions += 1
        self.metrics.transitions.labels(rule.name, to).inc()

    def _touch(self, ep: Episode) -> None:
        assert ep.episode_id is not None
        self.dirty[ep.episode_id] = ep

    def _new(self, rule: Any, obs: c.Observation) -> Episode:
        s = obs.subject
        labels = {**rule.labels, "rule": rule.name, "kind": rule.kind}
        if s.station_kind:
            labels["station_kind"] = s.station_kind
        return Episode(
            rule=rule.name, subject_kind=s.kind, subject_id=s.id, subject_name=s.name,
            city=s.city or None, county=s.county or None, state="pending",
            severity=rule.severity, summary=_summary(rule, obs), started_at=obs.start,
            last_observed_at=obs.end, labels=labels, parameter=obs.parameter, value=obs.value,
            limit=obs.limit, unit=obs.unit, clause=obs.clause,
            late=obs.end < self.now - rule.late_after)

    async def _firing(self, rule: Any, ep: Episode) -> None:
        ep.firing_notified = True
        if rule.repeat is not None:
            ep.next_reminder_at = self.now + rule.repeat
        if rule.escalate is not None:
            ep.escalate_at = self.now + rule.escalate.after
        await self._notify(ep, rule, "firing", 0, rule.receivers)

    async def _notify(self, ep: Episode, rule: Any, event: str, seq: int,
                      receivers: Iterable[str]) -> None:
        assert ep.episode_id is not None
        for receiver in dict.fromkeys(receivers):
            self.result.notifications.append(Notification(
                idempotency_key=idempotency_key(ep.episode_id, event, seq, receiver),
                receiver=receiver, episode_id=ep.episode_id, event=event, rule=ep.rule,
                severity=ep.severity, labels=dict(ep.labels), subject_kind=ep.subject_kind,
                subject_id=ep.subject_id, subject_name=ep.subject_name, city=ep.city,
                county=ep.county, parameter=ep.parameter, value=ep.value, limit=ep.limit,
                unit=ep.unit, clause=ep.clause, summary=ep.summary,
                started_at=ep.started_at.astimezone(UTC),
                ended_at=ep.resolved_at.astimezone(UTC) if ep.resolved_at else None,
                observed_at=ep.last_observed_at.astimezone(UTC)))
            self.metrics.notifications.labels(event).inc()

    async def wall_clock(self, ruleset: r.RuleSet) -> None:
        """Reminders, escalation and held-back firing notifications (wall-clock driven)."""
        for ep in list(self.open.values()):
            rule = ruleset.rule(ep.rule)
            if rule is None or ep.state != "firing" or self.silenced(ep):
                continue  # a silence holds everything back; its end lets it all resume
            if not ep.firing_notified:
                await self._firing(rule, ep)
                self._touch(ep)
                continue
            if rule.repeat is not None and ep.next_reminder_at is not None \
                    and ep.next_reminder_at <= self.now:
                ep.reminders_sent += 1
                ep.next_reminder_at = self.now + rule.repeat
                await self._notify(ep, rule, "reminder", ep.reminders_sent, rule.receivers)
                self._touch(ep)
            if rule.escalate is not None and ep.acked_at is None and ep.escalated == 0 \
                    and ep.escalate_at is not None and ep.escalate_at <= self.now:
                ep.escalated = 1
                await self._notify(ep, rule, "escalation", 1, rule.escalate.receivers)
                self._touch(ep)


def _summary(rule: Any, obs: c.Observation) -> str:
    return f"{rule.name}: {obs.subject.name}: {obs.text}"


def _too_late(rule: Any, key: feed.ReadingKey, now: datetime) -> bool:
    """All of the key's data are late for the rule (a history upload): they cannot open an
    episode, so they need not be read back unless one is open."""
    end = key.last + c.INTERVAL_LENGTH.get(key.interval, c.INTERVAL_LENGTH["hour"])
    return bool(rule.late != "open" and end < now - rule.late_after)


def _may_change(rule: Any, key: feed.ReadingKey, open_episode: bool, now: datetime) -> bool:
    """Can the key's values change the rule's episode of that station? Values that cannot
    breach, or are all late, change nothing unless an episode is open (to clear or advance)."""
    if key.parameter != rule.parameter or key.interval != rule.interval:
        return False
    if open_episode:
        return True
    if _too_late(rule, key, now):
        return False
    if rule.limit is not None:  # target-class limits differ by station
        return True
    return bool(key.v_max > rule.above if rule.above is not None else key.v_min < rule.below)


def _in_scope(rule: Any, st: c.StationInfo) -> bool:
    return bool(rule.scope.matches(st.kind, st.station_id, st.city, st.county))


def _regions(rule: Any, stations: Iterable[c.StationInfo]) -> set[tuple[str, str]]:
    """The city and county regions the stations belong to, within the rule's scope."""
    out = set()
    for st in stations:
        if st.kind != "air" or not st.city:
            continue
        for county in ("", st.county) if st.county else ("",):
            if rule.scope.matches(None, None, st.city, county):
                out.add((st.city, county))
    return out


_Rows = Callable[..., Awaitable[list[Any]]]
# Per AQI rule kind: its rows per station (station, time, AQI), per region (city, county,
# time, AQI), and the condition that judges one row.
_AQI_KINDS: dict[str, tuple[_Rows, _Rows, Callable[..., c.Observation | None]]] = {
    "aqi_hourly": (sources.air_station_hourly, sources.air_region_hourly, c.aqi_hourly),
    "aqi_daily": (sources.air_station_daily, sources.air_region_daily, c.aqi_daily),
}


class Engine:
    """Evaluates one rules file; ``cycle`` is the unit of work (one transaction)."""

    def __init__(self, ruleset: r.RuleSet, metrics: EngineMetrics, batch_limit: int = 500
                 ) -> None:
        self.ruleset = ruleset
        self.metrics = metrics
        self.batch_limit = batch_limit
        self._of_kind: dict[str, list[Any]] = defaultdict(list)
        for rule in ruleset.rules:
            self._of_kind[rule.kind].append(rule)
        self._plan_checked: date | None = None
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self._beat_at = 0.0

    def rules(self, kind: str) -> list[Any]:
        return self._of_kind.get(kind, [])

    async def cycle(self, conn: AsyncConnection[Any], now: datetime | None = None
                    ) -> CycleResult:
        """Evaluate what was committed since the last cycle plus the wall-clock duties."""
        now = now or datetime.now(UTC)
        async with conn.transaction():
            await conn.execute(LOCK_SQL)
            if time.monotonic() - self._beat_at > HEARTBEAT_S:
                await feed.heartbeat(conn, self.name)
                self._beat_at = time.monotonic()
            claimed = await feed.claim(conn, self.batch_limit)
            cyc = _Cycle(conn, now, self.metrics, await state.open_episodes(conn),
                         await state.silences(conn, now))
            cyc.result.batches = len(claimed.commits)
            stations = await sources.stations(conn)
            watched = {(rule, sid) for rule, kind, sid in cyc.open if kind == "station"}
            observations = await self._observations(conn, claimed, stations, now, watched)
            observations.sort(key=lambda ro: ro[1].end)
            for rule, obs in observations:
                await cyc.apply(rule, obs)
            if claimed.readings:
                await sources.learn_cadence(conn, claimed.readings, max(claimed.commits))
            for rule, obs in await self._silent(conn, stations, now):
                await cyc.apply(rule, obs)
            await cyc.wall_clock(self.ruleset)
            for ep in cyc.dirty.values():
                await state.save(conn, ep)
            if cyc.result.notifications:
                await enqueue(conn, cyc.result.notifications)
        done = datetime.now(UTC)
        for committed in claimed.commits:
            self.metrics.lag.observe(max(0.0, (done - committed).total_seconds()))
        return cyc.result

    async def _observations(self, conn: AsyncConnection[Any], claimed: feed.Claimed,
                            stations: dict[str, c.StationInfo], now: datetime,
                            watched: set[tuple[str, str]]) -> list[tuple[Any, c.Observation]]:
        out: list[tuple[Any, c.Observation]] = []
        out.extend(await self._reading_observations(conn, claimed.readings, stations, now,
                                                    watched))
        out.extend(await self._indicator_observations(conn, claimed.station_days, stations))
        today = now.astimezone(BEIJING).date()
        if self.rules("plan_target") and (
                claimed.station_days or claimed.periods or self._plan_checked != today):
            self._plan_checked = today
            out.extend(await self._plan(conn, today, now))
        return out

    async def _reading_observations(
        self, conn: AsyncConnection[Any], keys: Sequence[feed.ReadingKey],
        stations: dict[str, c.StationInfo], now: datetime, watched: set[tuple[str, str]],
    ) -> list[tuple[Any, c.Observation]]:
        out: list[tuple[Any, c.Observation]] = []
        for rule in self.rules("silent"):  # data arriving: quiet stations are back
            for sid in sorted({k.station_id for k in keys}):
                st = stations.get(sid)
                if st is not None and (rule.name, sid) in watched:
                    out.append((rule, c.back_online(st, now)))
        thresholds = self.rules("threshold")
        known = [k for k in keys if k.station_id in stations]
        relevant = [k for k in known if any(
            _may_change(t, k, (t.name, k.station_id) in watched, now) for t in thresholds)]
        rows = await sources.readings(conn, relevant)
        by_key: dict[tuple[str, str, str], list[tuple[datetime, float, str]]] = defaultdict(list)
        for sid, parameter, interval, ts, value, flag in rows:
            by_key[(sid, parameter, interval)].append((ts, value, flag))
        for rule in thresholds:
            for (sid, parameter, interval), values in by_key.items():
                st = stations[sid]
                if parameter == rule.parameter and interval == rule.interval \
                        and _in_scope(rule, st):
                    out.extend((rule, o) for o in c.threshold(rule, st, values))
        for rule in self.rules("flagged"):
            # only stations with flagged data, or with an episode that normal data may end
            mine = [k for k in known if _in_scope(rule, stations[k.station_id]) and (
                (rule.name, k.station_id) in watched
                or (k.n_flagged and not _too_late(rule, k, now)))]
            by_station: dict[str, list[tuple[datetime, list[str] | None, bool]]] = \
                defaultdict(list)
            for sid, ts, hits, clean in await sources.flag_changes(
                    conn, mine, rule.flags, rule.parameters):
                by_station[sid].append((ts, hits, clean))
            for sid, groups in by_station.items():
                out.extend((rule, o) for o in c.flagged(rule, stations[sid], groups))
        return out

    async def _indicator_observations(
        self, conn: AsyncConnection[Any], station_days: set[tuple[str, date]],
        stations: dict[str, c.StationInfo],
    ) -> list[tuple[Any, c.Observation]]:
        out: list[tuple[Any, c.Observation]] = []
        known = {(s, d) for s, d in station_days if s in stations}
        if not known:
            return out
        days = {d for _, d in known}
        touched = [stations[s] for s in {s for s, _ in known}]
        for kind, (station_rows, region_rows, condition) in _AQI_KINDS.items():
            for rule in self.rules(kind):
                if rule.subject == "station":
                    mine = {(s, d) for s, d in known if _in_scope(rule, stations[s])}
                    aqis = [(c.Subject.station(stations[sid]), at, aqi)
                            for sid, at, aqi in await station_rows(conn, mine)] if mine else []
                else:
                    aqis = [(c.Subject.region(city, county), at, aqi) for city, county, at, aqi
                            in await region_rows(conn, _regions(rule, touched), days)]
                for subject, at, aqi in aqis:
                    o = condition(rule, subject, at, aqi)
                    if o:
                        out.append((rule, o))
        for rule in self.rules("water_class"):
            mine = {(s, d) for s, d in known
                    if stations[s].kind == "water" and _in_scope(rule, stations[s])}
            for sid, day, klass, ok, label, exc in await sources.water_daily(conn, mine) \
                    if mine else []:
                o = c.water_class(stations[sid], day, klass, ok, label, exc or {})
                if o:
                    out.append((rule, o))
        noise_rules = [*self.rules("noise_night_leq"), *self.rules("noise_night_lmax")]
        noise_days = {(s, d) for s, d in known if stations[s].kind == "noise"}
        rows = await sources.noise_hourly(conn, noise_days) if noise_rules and noise_days else []
        for rule in noise_rules:
            for sid, ts, leq, lmax in rows:
                if _in_scope(rule, stations[sid]):
                    o = c.noise_night(rule, stations[sid], ts, leq, lmax)
                    if o:
                        out.append((rule, o))
        return out

    async def _plan(self, conn: AsyncConnection[Any], today: date, now: datetime
                    ) -> list[tuple[Any, c.Observation]]:
        out: list[tuple[Any, c.Observation]] = []
        rows = await sources.region_years(conn, date(today.year, 1, 1))
        for rule in self.rules("plan_target"):
            for city, county, good, valid in rows:
                if rule.scope.matches(None, None, city, county):
                    o = c.plan_target(rule, c.Subject.region(city, county), good, valid,
                                      today, now)
                    if o:
                        out.append((rule, o))
        return out

    async def _silent(self, conn: AsyncConnection[Any], stations: dict[str, c.StationInfo],
                      now: datetime) -> list[tuple[Any, c.Observation]]:
        rules = self.rules("silent")
        if not rules:
            return []
        out: list[tuple[Any, c.Observation]] = []
        for sid, _last_ts, last_seen, gaps in await sources.cadences(conn):
            st = stations.get(sid)
            if st is None:
                continue
            for rule in rules:
                if _in_scope(rule, st):
                    o = c.silent(rule, st, last_seen, gaps, now)
                    if o:
                        out.append((rule, o))
        return out

    async def count_open(self, conn: AsyncConnection[Any]) -> None:
        """Set the episodes gauge from the table (all processes' episodes)."""
        cur = await conn.execute(
            "SELECT state, severity, count(*) FROM alert_episodes"
            " WHERE state IN ('pending', 'firing') GROUP BY 1, 2")
        counts = {(s, v): int(n) for s, v, n in await cur.fetchall()}
        for st in state.OPEN_STATES:
            for sev in ("info", "warning", "critical"):
                self.metrics.episodes.labels(st, sev).set(counts.get((st, sev), 0))
        await conn.commit()


def one_line(ep: Episode) -> str:
    """An episode for ``envmon alerts list`` and the live summary."""
    since = ep.fired_at or ep.started_at
    ack = f" acked by {ep.acked_by}" if ep.acked_at else ""
    return (f"#{ep.episode_id} {ep.state:<8} {ep.severity:<8} {ep.rule} {ep.subject_name}"
            f" since {since.astimezone(BEIJING):%m-%d %H:%M}{ack}: {ep.summary}")
