"""PostgreSQL arrays <-> numpy arrays in the binary wire format, without Python objects.

A year of hourly data for 100 stations is 5 million values: as Python floats and datetimes
(psycopg's default loaders) they cost more than the whole computation. Aggregating them into
one array per station and parameter (``array_agg``) and reading the binary array straight
into numpy costs about what PostgreSQL needs to scan them.

Binary array format (PostgreSQL ``array_send``): int32 ndim, int32 has-nulls, uint32 element
oid, per dimension int32 size and lower bound, then per element int32 length (-1 = NULL) and
the big-endian value. Elements here are fixed size, so without NULLs they form a strided
record array.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

import numpy as np
from psycopg import AsyncCursor, sql
from psycopg.adapt import Loader
from psycopg.pq import Format

from aggregator.compute.beijing_time import to_us

#: 2000-01-01 UTC, PostgreSQL's epoch of timestamptz, in Unix microseconds
PG_EPOCH_US = 946_684_800_000_000
_TIMESTAMPTZ = 1184
#: element oid -> (array oid, big-endian element dtype)
_ELEMENTS: dict[int, tuple[int, str]] = {
    16: (1000, ">u1"),  # bool
    21: (1005, ">i2"),  # int2
    23: (1007, ">i4"),  # int4
    20: (1016, ">i8"),  # int8
    701: (1022, ">f8"),  # float8
    1184: (1185, ">i8"),  # timestamptz: microseconds since 2000-01-01 UTC (decoded: Unix µs)
}
_NATIVE = {">u1": np.bool_, ">i2": np.int16, ">i4": np.int32, ">i8": np.int64, ">f8": np.float64}
#: numpy dtype -> element oid of the arrays written
_DUMP_OIDS = {np.dtype(np.bool_): 16, np.dtype(np.int16): 21, np.dtype(np.int32): 23,
              np.dtype(np.int64): 20, np.dtype(np.float64): 701}


class ArrayDecodeError(ValueError):
    """An array that this module cannot read (NULL elements, wrong element type)."""


def decode(data: bytes | bytearray | memoryview, element_oid: int) -> np.ndarray[Any, Any]:
    """A binary array (any number of dimensions) as a native numpy array (no NULLs allowed)."""
    buf = bytes(data)
    ndim, has_nulls, oid = struct.unpack_from(">iiI", buf)
    big = _ELEMENTS[element_oid][1]
    if ndim == 0:
        return np.empty(0, _NATIVE[big])
    if oid != element_oid:
        raise ArrayDecodeError(f"expected elements of oid {element_oid}, got {oid}")
    if has_nulls:  # a NULL element has no value bytes: the records below would not line up
        raise ArrayDecodeError("array has NULL elements")
    shape = struct.unpack_from(f">{'i4x' * ndim}", buf, 12)
    size = np.dtype(big).itemsize
    count = int(np.prod(shape))
    records = np.frombuffer(buf, dtype=[("n", ">i4"), ("v", big)], count=count,
                            offset=12 + 8 * ndim)
    if count and (records["n"] != size).any():
        raise ArrayDecodeError("array elements of unexpected length")
    values = records["v"].astype(_NATIVE[big]).reshape(shape)
    if element_oid == _TIMESTAMPTZ:  # the computation's unit: microseconds since 1970
        values += PG_EPOCH_US
    return values


def encode_each(arrays: np.ndarray[Any, Any]) -> list[bytes]:
    """Each ``arrays[i]`` as a binary PostgreSQL array (no NULLs: NaN stays NaN), all in one
    numpy pass: a year of daily rows of one station costs one conversion instead of 365."""
    element = _DUMP_OIDS[arrays.dtype]
    big = _ELEMENTS[element][1]
    inner = arrays.shape[1:]
    header = struct.pack(">iiI", len(inner), 0, element)
    header += b"".join(struct.pack(">ii", n, 1) for n in inner)
    records = np.empty(arrays.size, dtype=[("n", ">i4"), ("v", big)])
    records["n"] = np.dtype(big).itemsize
    records["v"] = arrays.reshape(-1)
    data = records.tobytes()
    step = len(data) // len(arrays) if len(arrays) else 0
    return [header + data[i : i + step] for i in range(0, len(data), step)] if step else []


#: binary COPY stream framing (PostgreSQL docs, COPY "Binary Format"): signature, flags,
#: header extension length; rows are int16 field count + (int32 length, bytes) per field
COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
COPY_TRAILER = b"\xff\xff"
_PG_EPOCH_DATE = date(2000, 1, 1)


def field(data: bytes) -> bytes:
    """One non-NULL field of a binary COPY row."""
    return struct.pack(">i", len(data)) + data


def text_field(value: str) -> bytes:
    return field(value.encode())


def date_field(day: date) -> bytes:
    return field(struct.pack(">i", (day - _PG_EPOCH_DATE).days))


def timestamptz_field(ts: datetime) -> bytes:
    return field(struct.pack(">q", to_us(ts) - PG_EPOCH_US))


def row_start(n_fields: int) -> bytes:
    return struct.pack(">h", n_fields)


def _loader(element_oid: int) -> type[Loader]:
    class ArrayLoader(Loader):
        format = Format.BINARY

        def load(self, data: Any) -> np.ndarray[Any, Any]:
            return decode(data, element_oid)

    return ArrayLoader


def use_numpy(cur: AsyncCursor[Any]) -> None:
    """Make ``cur`` read bool/int/float/timestamptz arrays as numpy arrays (with
    ``binary=True`` results)."""
    for element_oid, (array_oid, _) in _ELEMENTS.items():
        cur.adapters.register_loader(array_oid, _loader(element_oid))


async def copy_upsert(
    cur: AsyncCursor[Any], table: str, key: Sequence[str], columns: Sequence[str],
    data: bytes | Iterable[Sequence[Any]], types: Sequence[int] = (),
) -> None:
    """Upsert ``columns`` from a binary COPY stream (``COPY_SIGNATURE`` … ``COPY_TRAILER``,
    for array columns encoded by ``encode_each``) or from rows that psycopg's binary dumpers
    of the column ``types`` (oids) write (faster for scalar columns: bench/copy_encoders.py):
    COPY into a per-transaction stage, then one INSERT … ON CONFLICT (``key``) that
    overwrites the other columns."""
    stage = sql.Identifier(f"stage_{table}")
    names = sql.SQL(", ").join(map(sql.Identifier, columns))
    await cur.execute(sql.SQL(
        "CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
    ).format(stage, sql.Identifier(table)))
    await cur.execute(sql.SQL("DELETE FROM {}").format(stage))
    async with cur.copy(
        sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(stage, names)
    ) as copy:
        if isinstance(data, bytes):
            await copy.write(data)
        else:
            copy.set_types(types)
            for row in data:
                await copy.write_row(row)
    await cur.execute(sql.SQL(
        "INSERT INTO {t} ({names}) SELECT {names} FROM {stage}"
        " ON CONFLICT ({key}) DO UPDATE SET {sets}"
    ).format(
        t=sql.Identifier(table), names=names, stage=stage,
        key=sql.SQL(", ").join(map(sql.Identifier, key)),
        sets=sql.SQL(", ").join(sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c))
                                for c in columns if c not in key),
    ))
