"""What every receiver is: something that sends one notification or raises DeliveryError."""

from __future__ import annotations

from typing import Protocol

from alerts.notification import Notification


class DeliveryError(Exception):
    """A failed send. ``permanent``: retrying the same request cannot help (marked dead at
    once); ``retry_after``: the peer asked for this pause (seconds) before the next try."""

    def __init__(
        self, message: str, *, permanent: bool = False, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after


class Receiver(Protocol):
    #: sends allowed per sliding minute (None: no limit); the sender keeps the count
    max_per_minute: int | None

    async def send(self, notification: Notification) -> None:
        """Deliver it once; raise DeliveryError when the peer did not accept it."""

    async def close(self) -> None:
        """Release connections (the sender calls it when it stops)."""
