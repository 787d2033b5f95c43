"""Wire contract v1, JSON: payload bytes → readings, or a :class:`Rejection` saying why not.

Payload: one document ``{"ts", "interval", "values", "flags"}`` or an array of them (a logger
resending its buffer). A message is accepted or rejected as a whole.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from envmon.beijing_time import BEIJING
from envmon.parameters import catalogue, parameter
from envmon.stations import Station
from ingest.errors import Rejection
from ingest.reading import DataFlag, Interval, Reading

MAX_DOCUMENTS = 10_000
FUTURE_TOLERANCE = timedelta(minutes=10)


class Document(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    ts: AwareDatetime
    interval: Interval = "rt"
    values: Annotated[dict[str, float], Field(min_length=1, max_length=200)]
    flags: dict[str, DataFlag] = Field(default_factory=dict)


_PAYLOAD: TypeAdapter[Document | list[Document]] = TypeAdapter(
    Document | Annotated[list[Document], Field(min_length=1, max_length=MAX_DOCUMENTS)]
)


def _validation_rejection(exc: ValidationError, station_id: str) -> Rejection:
    errors = exc.errors(include_url=False)
    first = errors[0]
    kind = first["type"]
    where = ".".join(str(p) for p in first["loc"])
    detail = f"{where or 'payload'}: {first['msg']}"
    if len(errors) > 1:
        detail += f" (+{len(errors) - 1} more errors)"
    if kind == "json_invalid":
        return Rejection("malformed_json", first["msg"] + f": {first.get('ctx', {})}", station_id)
    if kind == "finite_number":
        return Rejection("non_finite_value", detail, station_id)
    return Rejection("schema", detail, station_id)


def _check_alignment(doc: Document) -> None:
    """Interval starts must sit on their boundary (day: Beijing midnight, HJ 663 natural day)."""
    ts = doc.ts
    if doc.interval == "min":
        ok = ts.second == 0 and ts.microsecond == 0
    elif doc.interval == "hour":
        ok = ts.minute == 0 and ts.second == 0 and ts.microsecond == 0
    elif doc.interval == "day":
        local = ts.astimezone(BEIJING)
        ok = (local.hour, local.minute, local.second, local.microsecond) == (0, 0, 0, 0)
    else:
        return
    if not ok:
        raise ValueError(f"ts {ts.isoformat()} is not the start of a {doc.interval!r} interval")


def decode_json(
    station: Station, payload: bytes, now: datetime | None = None
) -> list[Reading]:
    """Decode and validate a JSON payload for an already-resolved station."""
    sid = station.station_id
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Rejection("invalid_utf8", f"byte {exc.start}: {exc.reason}", sid) from None
    try:
        parsed = _PAYLOAD.validate_json(payload)
    except ValidationError as exc:
        raise _validation_rejection(exc, sid) from None
    docs = parsed if isinstance(parsed, list) else [parsed]
    limit = (now or datetime.now(UTC)) + FUTURE_TOLERANCE
    known = catalogue()[station.kind]
    out: list[Reading] = []
    for i, doc in enumerate(docs):
        where = f"document {i}: " if len(docs) > 1 else ""
        if doc.ts > limit:
            raise Rejection("future_timestamp",
                            f"{where}ts {doc.ts.isoformat()} is ahead of server time", sid)
        try:
            _check_alignment(doc)
        except ValueError as exc:
            raise Rejection("misaligned_interval", f"{where}{exc}", sid) from None
        stray = set(doc.flags) - set(doc.values)
        if stray:
            raise Rejection("schema", f"{where}flags for parameters without values: "
                            f"{', '.join(sorted(stray))}", sid)
        ts = doc.ts.astimezone(UTC)
        for name, value in doc.values.items():
            spec = known.get(name)
            if spec is None:
                other = [k for k in catalogue() if parameter(k, name) is not None]
                if other:
                    raise Rejection("wrong_kind_parameter", f"{where}{name!r} is a {other[0]} "
                                    f"parameter; station {sid} is {station.kind}", sid)
                raise Rejection("unknown_parameter", f"{where}unknown parameter {name!r}", sid)
            if not (spec.min <= value <= spec.max) or math.isnan(value):
                raise Rejection("out_of_range", f"{where}{name}={value} outside "
                                f"[{spec.min:g}, {spec.max:g}] {spec.unit}", sid)
            out.append(Reading(sid, name, doc.interval, ts, value,
                               doc.flags.get(name, "N"), "json"))
    return out
