"""DingTalk (钉钉) group robot: Markdown message, optionally the signed-URL scheme.

Signed URL: ``sign`` = urlencode(base64(HMAC-SHA256(secret, TIMESTAMP + "\\n" + secret))) with
TIMESTAMP in milliseconds, both added as query parameters beside ``access_token``; DingTalk
rejects a timestamp more than an hour off. The robot takes no idempotency key: the message
names the notification key so people can spot a repeat.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from urllib.parse import urlencode

from yarl import URL

from alerts.notification import Notification
from alerts.receivers.config import DingTalkConfig
from alerts.receivers.http import JsonPoster, robot_errcode
from alerts.templates import render

# -1: system busy; 130101: more than 20 messages a minute to this robot.
_TRANSIENT = frozenset({-1, 130101})


def sign(secret: str, timestamp_ms: int) -> str:
    """The base64 signature (before URL encoding) of DingTalk's signed-URL scheme."""
    mac = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


class DingTalkReceiver:
    def __init__(self, config: DingTalkConfig) -> None:
        self._config = config
        self.max_per_minute = config.max_per_minute
        self._token = config.required_secret("access_token")
        self._secret = config.secret("secret")
        self._http = JsonPoster()

    def url(self, timestamp_ms: int) -> URL:
        query = {"access_token": self._token}
        if self._secret is not None:
            query |= {"timestamp": str(timestamp_ms), "sign": sign(self._secret, timestamp_ms)}
        # Encoded once here (urlencode quotes like quote_plus); yarl must not re-quote it.
        return URL(f"{self._config.url}?{urlencode(query)}", encoded=True)

    async def send(self, n: Notification) -> None:
        message = render(n, self._config.language)
        markdown = {"title": message.title, "text": message.markdown()}
        body = {"msgtype": "markdown", "markdown": markdown}
        _, content = await self._http.post(self.url(int(time.time() * 1000)), body)
        robot_errcode(content, _TRANSIENT)

    async def close(self) -> None:
        await self._http.close()
