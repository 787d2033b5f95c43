"""The stations as the aggregator reads them: a batch's station info, the air stations of
regions, the stations a report covers."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from aggregator.compute.region_day import Region, regions_of
from aggregator.compute.station_day import Row, StationInfo


async def load_station_info(
    conn: AsyncConnection[Any], ids: Iterable[str]
) -> dict[str, StationInfo]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT station_id, kind, city, county, water_target_class, water_body, noise_zone"
            " FROM stations WHERE station_id = ANY(%s)",
            (sorted(set(ids)),),
        )
        return {r["station_id"]: StationInfo(**r) for r in await cur.fetchall()}


async def region_members(
    conn: AsyncConnection[Any], regions: Iterable[Region]
) -> dict[Region, list[str]]:
    """The air stations of each region (one query)."""
    wanted = set(regions)
    cur = await conn.execute(
        "SELECT station_id, city, county FROM stations WHERE kind = 'air' AND city = ANY(%s)"
        " ORDER BY station_id",
        (sorted({r.city for r in wanted}),),
    )
    out: dict[Region, list[str]] = {r: [] for r in wanted}
    for sid, city, county in await cur.fetchall():
        for region in regions_of(city, county):
            if region in wanted:
                out[region].append(sid)
    return out


async def of_kind(
    conn: AsyncConnection[Any], kind: str, regions: Sequence[tuple[str, str]],
    stations: Sequence[str],
) -> list[Row]:
    """The stations of ``kind`` among ``stations`` or in ``regions`` (city, county; county
    '' = the whole city), with what grading them needs."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT station_id, city, county, water_target_class, water_body, noise_zone"
            " FROM stations WHERE kind = %s AND (station_id = ANY(%s) OR (city, county) IN"
            " (SELECT c, k FROM unnest(%s::text[], %s::text[]) AS r(c, k))"
            " OR (city, '') IN (SELECT c, k FROM unnest(%s::text[], %s::text[]) AS r(c, k)))"
            " ORDER BY station_id",
            (kind, list(stations), *[[r[i] for r in regions] for i in (0, 1)] * 2),
        )
        return await cur.fetchall()
