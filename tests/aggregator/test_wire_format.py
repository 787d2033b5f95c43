"""PostgreSQL binary arrays read straight into numpy (aggregator/store/wire_format.py), against
the real server: values as sent, timestamps converted once to the computation's unit
(microseconds since the Unix epoch, aggregator/compute/beijing_time.py), NULLs refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from psycopg import AsyncConnection

from aggregator.compute.beijing_time import from_us, to_us
from aggregator.store.wire_format import ArrayDecodeError, use_numpy

pytestmark = pytest.mark.integration

STAMPS = [datetime(1999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),  # before PostgreSQL's epoch
          datetime(2000, 1, 1, tzinfo=UTC),
          datetime(2026, 3, 1, 7, 30, 0, 123_456, tzinfo=UTC)]


async def _select(conn: AsyncConnection[Any], query: str, *params: Any) -> Any:
    async with conn.cursor(binary=True) as cur:
        use_numpy(cur)
        await cur.execute(query, params)
        got = await cur.fetchone()
        assert got is not None
        return got[0]


async def test_timestamps_arrive_in_unix_microseconds(db_conn: AsyncConnection[Any]) -> None:
    got = await _select(db_conn, "SELECT %s::timestamptz[]", STAMPS)
    assert got.dtype == np.int64
    assert got.tolist() == [to_us(t) for t in STAMPS]
    assert [from_us(us) for us in got.tolist()] == STAMPS


async def test_floats_and_two_dimensions_as_sent(db_conn: AsyncConnection[Any]) -> None:
    got = await _select(db_conn, "SELECT ARRAY[[0.1, -2.5e-300], [1e308, 'NaN']]::float8[]")
    assert got.shape == (2, 2)
    assert got[0].tolist() == [0.1, -2.5e-300] and got[1, 0] == 1e308 and np.isnan(got[1, 1])
    assert (await _select(db_conn, "SELECT '{}'::timestamptz[]")).size == 0


async def test_null_elements_are_refused(db_conn: AsyncConnection[Any]) -> None:
    with pytest.raises(ArrayDecodeError, match="NULL"):
        await _select(db_conn, "SELECT ARRAY[%s, NULL]::timestamptz[]",
                      STAMPS[0] + timedelta(hours=1))
