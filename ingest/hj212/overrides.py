"""Per-station unit overrides (table ``hj212_unit_overrides``, migration 0020).

Loggers that send the units printed in HJ 212-2017 表B.2 (PM in ng/m3, gases in mg/m3) or
other non-default units get one row per factor code (reference/hj212.md §7.1).
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

from envmon.parameters import StationKind
from ingest.hj212.codes import code_table


async def load_unit_overrides(conn: AsyncConnection[Any]) -> dict[str, dict[str, str]]:
    """station_id -> wire code -> unit; raises ValueError for a unit that cannot be converted."""
    cur = await conn.execute(
        "SELECT o.station_id, s.kind, o.code, o.unit FROM hj212_unit_overrides o"
        " JOIN stations s USING (station_id) ORDER BY 1, 3"
    )
    out: dict[str, dict[str, str]] = {}
    problems = []
    for station_id, kind, code, unit in await cur.fetchall():
        problem = unit_problem(kind, code, unit)
        if problem:
            problems.append(f"{station_id}: {problem}")
        out.setdefault(station_id, {})[code] = unit
    if problems:
        raise ValueError("invalid rows in hj212_unit_overrides: " + "; ".join(problems))
    return out


def unit_problem(kind: StationKind, code: str, unit: str) -> str | None:
    """Why ``unit`` cannot be an override for ``code`` of station kind ``kind``, or ``None``."""
    table = code_table()
    found = table.lookup(kind, code)
    if found is None:
        return f"{code} is not a known {kind} code"
    try:
        table.factor(kind, found.parameter, unit)
    except KeyError:
        return f"no conversion from {unit} for {code} ({found.parameter})"
    return None
