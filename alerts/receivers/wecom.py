"""WeCom (企业微信) group robot: Markdown message to ``URL?key=KEY``.

The robot takes no idempotency key: the message names the notification key so people can spot
a repeat. Markdown content is limited to 4096 bytes; ours is far below it.
"""

from __future__ import annotations

from urllib.parse import urlencode

from yarl import URL

from alerts.notification import Notification
from alerts.receivers.config import WeComConfig
from alerts.receivers.http import JsonPoster, robot_errcode
from alerts.templates import render

# -1: system busy; 45009: API call frequency over the limit (20 messages a minute).
_TRANSIENT = frozenset({-1, 45009})


class WeComReceiver:
    def __init__(self, config: WeComConfig) -> None:
        self._config = config
        self.max_per_minute = config.max_per_minute
        query = urlencode({"key": config.required_secret("key")})
        self._url = URL(f"{config.url}?{query}", encoded=True)
        self._http = JsonPoster()

    async def send(self, n: Notification) -> None:
        message = render(n, self._config.language)
        body = {"msgtype": "markdown", "markdown": {"content": message.markdown()}}
        _, content = await self._http.post(self._url, body)
        robot_errcode(content, _TRANSIENT)

    async def close(self) -> None:
        await self._http.close()
