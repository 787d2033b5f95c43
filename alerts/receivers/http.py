"""The HTTP side shared by the webhook, Alertmanager and group-robot receivers."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import aiohttp
from yarl import URL

from alerts.receivers.base import DeliveryError

# Statuses after which the same request may succeed later; any other 4xx is permanent.
_RETRYABLE = frozenset({408, 425, 429})


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Retry-After", "")
    return float(value) if value.isdigit() else None


class JsonPoster:
    """POSTs JSON on one aiohttp session per receiver (opened on first use, in the loop)."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    async def post(
        self, url: str | URL, body: Any, headers: Mapping[str, str] | None = None
    ) -> tuple[int, bytes]:
        """Send ``body`` (bytes as they are, anything else JSON-encoded); 2xx or DeliveryError."""
        data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
        if self._session is None:
            self._session = aiohttp.ClientSession()
        all_headers = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
        try:
            async with self._session.post(url, data=data, headers=all_headers) as resp:
                content = await resp.read()
                status, retry_after = resp.status, _retry_after(resp.headers)
        except aiohttp.ClientError as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc
        if 200 <= status < 300:
            return status, content
        snippet = content[:200].decode("utf-8", "replace")
        permanent = 400 <= status < 500 and status not in _RETRYABLE
        raise DeliveryError(
            f"HTTP {status}: {snippet}", permanent=permanent, retry_after=retry_after
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def robot_errcode(content: bytes, transient: frozenset[int]) -> None:
    """DingTalk and WeCom answer HTTP 200 with {"errcode": N, "errmsg": ...}; 0 means sent."""
    try:
        reply = json.loads(content)
        code = int(reply["errcode"])
    except (ValueError, KeyError, TypeError) as exc:
        raise DeliveryError(f"unexpected robot reply: {content[:200]!r}") from exc
    if code != 0:
        raise DeliveryError(
            f"robot errcode {code}: {reply.get('errmsg', '')}", permanent=code not in transient
        )
