"""Real peers on loopback for the delivery tests, and the sample data they receive.

Each peer is the real thing or speaks the real request format: Debian's prometheus-alertmanager
process, an aiosmtpd SMTP server with STARTTLS, and aiohttp servers for the generic webhook and
the DingTalk / WeCom group robots.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from alerts.notification import Notification
from envmon import db
from envmon.settings import StorageSettings
from tests.conftest import create_database, drop_database

T0 = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)


def sample_notification(
    receiver: str = "ops", episode_id: int = 1, event: str = "firing", seq: int = 0, **kw: Any
) -> Notification:
    """An hourly PM2.5 breach at a Pingliang station (115 µg/m³: IAQI 150, HJ 633-2012 Table 1)."""
    fields: dict[str, Any] = {
        "idempotency_key": f"{episode_id}:{event}:{seq}:{receiver}",
        "receiver": receiver,
        "episode_id": episode_id,
        "event": event,
        "rule": "pm25_hourly_high",
        "severity": "warning",
        "labels": {"team": "air"},
        "subject_kind": "station",
        "subject_id": "pl-air-01",
        "subject_name": "平凉市监测站",
        "city": "平凉市",
        "county": "崆峒区",
        "parameter": "pm25",
        "value": 131.0,
        "limit": 115.0,
        "unit": "µg/m³",
        "clause": "HJ 633-2012 表1",
        "summary": "PM2.5 hourly 131 > 115 µg/m³ for 2h at pl-air-01",
        "started_at": T0,
        "ended_at": T0.replace(hour=9) if event == "resolved" else None,
        "observed_at": T0.replace(hour=9) if event == "resolved" else T0,
    }
    fields.update(kw)
    return Notification(**fields)


@asynccontextmanager
async def migrated_database() -> AsyncIterator[str]:
    """A database of its own (the outbox tests count every row in alert_outbox)."""
    url = await asyncio.to_thread(create_database, "envmon_alerts_delivery")
    try:
        async with await db.connect(url) as conn:
            await db.migrate(conn, StorageSettings(backend="plain"))
        yield url
    finally:
        await asyncio.to_thread(drop_database, url)
