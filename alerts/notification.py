"""One notification for one receiver: what the engine decided, in a form the outbox can store.

The engine builds it, the outbox stores ``to_payload()`` as jsonb, the sender rebuilds it with
``from_payload`` and hands it to the receiver. The field set is the contract in
/work/notes/alerts-interface.md (item 2); keep it JSON-safe (ISO-8601 datetimes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

EVENTS = ("firing", "resolved", "reminder", "escalation")
SEVERITIES = ("info", "warning", "critical")
SUBJECT_KINDS = ("station", "region")
_DATETIMES = ("started_at", "ended_at", "observed_at")


class PayloadError(ValueError):
    """A stored payload that does not describe a notification (kept, marked dead by the sender)."""


@dataclass(frozen=True)
class Notification:
    idempotency_key: str
    receiver: str
    episode_id: int
    event: str
    rule: str
    severity: str
    labels: dict[str, str]
    subject_kind: str
    subject_id: str
    subject_name: str
    city: str | None
    county: str | None
    parameter: str | None
    value: float | None
    limit: float | None
    unit: str | None
    clause: str | None
    summary: str
    started_at: datetime
    ended_at: datetime | None
    observed_at: datetime

    def __post_init__(self) -> None:
        if self.event not in EVENTS:
            raise ValueError(f"event must be one of {EVENTS}, got {self.event!r}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, got {self.severity!r}")
        if self.subject_kind not in SUBJECT_KINDS:
            raise ValueError(
                f"subject_kind must be one of {SUBJECT_KINDS}, got {self.subject_kind!r}"
            )
        for name in ("value", "limit"):
            number = getattr(self, name)
            if number is not None and not math.isfinite(number):
                # NaN/inf would make invalid JSON, which jsonb refuses inside the engine's
                # transaction: refuse it where it is built instead.
                raise ValueError(f"{name} must be a finite number, got {number!r}")
        for name in _DATETIMES:
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"{name} must be timezone-aware (UTC), got {value!r}")

    @property
    def is_resolved(self) -> bool:
        return self.event == "resolved"

    def to_payload(self) -> dict[str, Any]:
        """JSON-safe dict (datetimes as ISO-8601 UTC strings)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}  # asdict's deep copy is slow
        out["labels"] = dict(self.labels)
        for name in _DATETIMES:
            value = out[name]
            out[name] = None if value is None else value.astimezone(UTC).isoformat()
        return out

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Notification:
        """Inverse of ``to_payload``; raises PayloadError naming what is wrong."""
        names = [f.name for f in fields(cls)]
        missing = [n for n in names if n not in payload]
        if missing:
            raise PayloadError(f"payload lacks {', '.join(missing)}")
        kwargs = {n: payload[n] for n in names}
        try:
            for name in _DATETIMES:
                if kwargs[name] is not None:
                    kwargs[name] = datetime.fromisoformat(kwargs[name])
            for name in ("value", "limit"):
                if kwargs[name] is not None:
                    kwargs[name] = float(kwargs[name])
            kwargs["episode_id"] = int(kwargs["episode_id"])
            kwargs["labels"] = {str(k): str(v) for k, v in dict(kwargs["labels"]).items()}
            return cls(**kwargs)
        except (TypeError, ValueError) as exc:
            raise PayloadError(str(exc)) from exc
