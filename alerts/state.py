"""Episodes, silences and acknowledgements in PostgreSQL (migration 0030_alerts.sql).

The engine loads the open episodes, changes them in memory and saves them in the same
transaction as the notifications the changes cause; so a crash loses either both or neither.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection, sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

OPEN_STATES = ("pending", "firing")


@dataclass
class Episode:
    rule: str
    subject_kind: str
    subject_id: str
    subject_name: str
    city: str | None
    county: str | None
    state: str
    severity: str
    summary: str
    started_at: datetime
    last_observed_at: datetime
    labels: dict[str, str] = field(default_factory=dict)
    parameter: str | None = None
    value: float | None = None
    limit: float | None = None
    unit: str | None = None
    clause: str | None = None
    fired_at: datetime | None = None
    resolved_at: datetime | None = None
    late: bool = False
    firing_notified: bool = False
    reminders_sent: int = 0
    next_reminder_at: datetime | None = None
    escalate_at: datetime | None = None
    escalated: int = 0
    acked_at: datetime | None = None
    acked_by: str | None = None
    episode_id: int | None = None
    updated_at: datetime | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return self.rule, self.subject_kind, self.subject_id


_COLUMNS = [f.name for f in fields(Episode) if f.name not in ("episode_id", "updated_at")]
_COLS = sql.SQL(", ").join(map(sql.Identifier, _COLUMNS))
_SELECT = sql.SQL("SELECT episode_id, updated_at, {} FROM alert_episodes ").format(_COLS)
_INSERT = sql.SQL("INSERT INTO alert_episodes ({}) VALUES ({}) RETURNING episode_id").format(
    _COLS, sql.SQL(", ").join(sql.Placeholder() * len(_COLUMNS)))
_UPDATE = sql.SQL("UPDATE alert_episodes SET {}, updated_at = now() WHERE episode_id = %s").format(
    sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(c)) for c in _COLUMNS))


def _episode(row: dict[str, Any]) -> Episode:
    return Episode(**{k: row[k] for k in (*_COLUMNS, "episode_id", "updated_at")})


async def open_episodes(conn: AsyncConnection[Any]) -> dict[tuple[str, str, str], Episode]:
    """The open episodes, locked until the caller's transaction ends: an ack committed
    meanwhile waits instead of being overwritten when the engine saves the episode."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_SELECT + sql.SQL("WHERE state IN ('pending', 'firing') FOR UPDATE"))
        return {ep.key: ep for ep in map(_episode, await cur.fetchall())}


async def save(conn: AsyncConnection[Any], ep: Episode) -> None:
    """Insert a new episode (sets ``episode_id``) or write back a changed one."""
    values = [Jsonb(ep.labels) if c == "labels" else getattr(ep, c) for c in _COLUMNS]
    if ep.episode_id is None:
        cur = await conn.execute(_INSERT, values)
        row = await cur.fetchone()
        assert row is not None
        ep.episode_id = int(row[0])
        return
    await conn.execute(_UPDATE, [*values, ep.episode_id])


async def list_episodes(conn: AsyncConnection[Any], include_closed: bool = False,
                        limit: int = 200) -> list[Episode]:
    where = "" if include_closed else "WHERE state IN ('pending', 'firing') "
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_SELECT + sql.SQL(where + "ORDER BY updated_at DESC LIMIT %s"),
                          (limit,))
        return [_episode(r) for r in await cur.fetchall()]


async def ack(conn: AsyncConnection[Any], episode_id: int, by: str) -> bool:
    """Acknowledge an open episode (stops its escalation); False when none such is open."""
    cur = await conn.execute(
        "UPDATE alert_episodes SET acked_at = now(), acked_by = %s, updated_at = now()"
        " WHERE episode_id = %s AND state IN ('pending', 'firing') AND acked_at IS NULL",
        (by, episode_id))
    return cur.rowcount == 1


@dataclass(frozen=True)
class Silence:
    silence_id: int
    subject_id: str | None
    rule: str | None
    labels: dict[str, str]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str

    def matches(self, ep: Episode) -> bool:
        return ((self.subject_id is None or self.subject_id == ep.subject_id)
                and (self.rule is None or self.rule == ep.rule)
                and all(ep.labels.get(k) == v for k, v in self.labels.items()))


async def add_silence(conn: AsyncConnection[Any], *, subject_id: str | None, rule: str | None,
                      labels: dict[str, str], ends_at: datetime, starts_at: datetime | None,
                      created_by: str, comment: str) -> int:
    if subject_id is None and rule is None and not labels:
        raise ValueError("a silence needs at least one matcher (station, rule or label)")
    cur = await conn.execute(
        "INSERT INTO alert_silences (subject_id, rule, labels, starts_at, ends_at, created_by,"
        " comment) VALUES (%s, %s, %s, coalesce(%s, now()), %s, %s, %s) RETURNING silence_id",
        (subject_id, rule, Jsonb(labels), starts_at, ends_at, created_by, comment))
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def silences(conn: AsyncConnection[Any], at: datetime | None = None,
                   include_expired: bool = False) -> list[Silence]:
    """Silences in force at ``at`` (default now), or all not yet ended."""
    cur = await conn.execute(
        "SELECT silence_id, subject_id, rule, labels, starts_at, ends_at, created_by, comment"
        " FROM alert_silences WHERE %(all)s OR (starts_at <= coalesce(%(at)s, now())"
        " AND ends_at > coalesce(%(at)s, now())) ORDER BY silence_id",
        {"at": at, "all": include_expired})
    return [Silence(*row) for row in await cur.fetchall()]


async def end_silence(conn: AsyncConnection[Any], silence_id: int) -> bool:
    cur = await conn.execute(
        "UPDATE alert_silences SET ends_at = greatest(starts_at + interval '1 microsecond', now())"
        " WHERE silence_id = %s AND ends_at > now()", (silence_id,))
    return cur.rowcount == 1
