"""Prometheus Alertmanager, API v2: POST /api/v2/alerts.

Alertmanager owns grouping, routing, inhibition and silences; envmon only keeps it told. A
firing (or reminder, or escalation) post carries endsAt = now + ``firing_hold_s`` so the alert
stays active between reminders; the resolve post carries the episode's end as endsAt, which
resolves the alert at once. Alertmanager identifies an alert by its label set, so a repeated
post of the same episode updates it instead of adding one.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from alerts.notification import Notification
from alerts.receivers.config import AlertmanagerConfig
from alerts.receivers.http import JsonPoster
from alerts.templates import render

_LABEL_NAME = re.compile(r"[^A-Za-z0-9_]")


def _label_name(name: str) -> str:
    clean = _LABEL_NAME.sub("_", name)
    return clean if clean[:1].isalpha() or clean[:1] == "_" else "_" + clean


def labels(n: Notification) -> dict[str, str]:
    """The rule's labels, then envmon's own (which win): alertname, rule, station/region,
    severity, and where known city, county and parameter."""
    out = {_label_name(k): v for k, v in n.labels.items()}
    out.update(
        alertname=n.rule,
        rule=n.rule,
        severity=n.severity,
        subject_kind=n.subject_kind,
    )
    out[n.subject_kind] = n.subject_id
    for key, value in (("city", n.city), ("county", n.county), ("parameter", n.parameter)):
        if value:
            out[key] = value
    return out


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


class AlertmanagerReceiver:
    def __init__(self, config: AlertmanagerConfig) -> None:
        self._config = config
        self.max_per_minute = config.max_per_minute
        token = config.secret("bearer_token")
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._url = config.url.rstrip("/") + "/api/v2/alerts"
        self._http = JsonPoster()

    def alert(self, n: Notification, now: datetime) -> dict[str, Any]:
        message = render(n, self._config.language)
        if n.is_resolved:
            ends = n.ended_at or n.observed_at
        else:
            ends = now + timedelta(seconds=self._config.firing_hold_s)
        annotations = {
            "summary": n.summary,
            "title": message.title,
            "description": message.text(),
            "episode_id": str(n.episode_id),
            "idempotency_key": n.idempotency_key,
        }
        for key, value in (("value", n.value), ("limit", n.limit), ("clause", n.clause)):
            if value is not None:
                annotations[key] = str(value)
        alert: dict[str, Any] = {
            "labels": labels(n),
            "annotations": annotations,
            "startsAt": _iso(n.started_at),
            "endsAt": _iso(ends),
        }
        if self._config.generator_url:
            alert["generatorURL"] = self._config.generator_url
        return alert

    async def send(self, n: Notification) -> None:
        await self._http.post(self._url, [self.alert(n, datetime.now(UTC))], self._headers)

    async def close(self) -> None:
        await self._http.close()
