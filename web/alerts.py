"""Open alert episodes, read from the alerts module's table when it exists.

The alerts module (migration 0030_alerts.sql) keeps one row per episode in ``alert_episodes``;
an episode is open while its ``state`` is ``pending`` or ``firing``. Where that table is not
there (a database migrated before the alerts module), the list is empty and ``available`` is
false, so a client can tell "no alerts" from "no alerts module".
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

TABLE = "alert_episodes"
OPEN_STATES = ("pending", "firing")


async def open_episodes(conn: AsyncConnection[Any], limit: int, offset: int
                        ) -> tuple[bool, list[dict[str, Any]]]:
    """(table present, open episodes newest first) - each row as the table's own JSON."""
    cur = await conn.execute(
        "SELECT count(*) FROM information_schema.columns WHERE table_schema = current_schema()"
        " AND table_name = %s AND column_name IN ('state', 'started_at')", (TABLE,))
    found = await cur.fetchone()
    if found is None or found[0] < 2:
        return False, []
    cur = await conn.execute(
        "SELECT to_jsonb(e) FROM alert_episodes e WHERE e.state = ANY(%s)"
        " ORDER BY e.started_at DESC, e.episode_id DESC LIMIT %s OFFSET %s",
        (list(OPEN_STATES), limit, offset))
    return True, [r[0] for r in await cur.fetchall()]
