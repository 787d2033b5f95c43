"""Generic JSON webhook, signed so the receiving side can trust and de-duplicate it.

Signature: ``X-Envmon-Signature: sha256=HEX`` where HEX is HMAC-SHA256(secret,
``TIMESTAMP + "." + BODY``) and TIMESTAMP is the ``X-Envmon-Timestamp`` header (Unix seconds).
Signing the timestamp lets the receiver reject replays older than its window; the
``Idempotency-Key`` header lets it drop a retry it has already accepted. Verification for the
receiving side: docs/alerts-delivery.md.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

from alerts.notification import Notification
from alerts.receivers.config import WebhookConfig
from alerts.receivers.http import JsonPoster
from alerts.templates import render

BODY_VERSION = 1


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class WebhookReceiver:
    def __init__(self, config: WebhookConfig) -> None:
        self._config = config
        self.max_per_minute = config.max_per_minute
        self._secret = config.required_secret("secret")
        self._http = JsonPoster()

    def body(self, n: Notification) -> bytes:
        message = render(n, self._config.language)
        doc = {
            "version": BODY_VERSION,
            "notification": n.to_payload(),
            "message": {
                "language": self._config.language,
                "title": message.title,
                "text": message.text(),
            },
        }
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()

    async def send(self, n: Notification) -> None:
        body = self.body(n)
        ts = int(time.time())
        headers = {
            "X-Envmon-Timestamp": str(ts),
            "X-Envmon-Signature": signature(self._secret, ts, body),
            "Idempotency-Key": n.idempotency_key,
            "X-Envmon-Event": n.event,
        }
        await self._http.post(self._config.url, body, headers)

    async def close(self) -> None:
        await self._http.close()
