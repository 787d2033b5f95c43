"""An in-process MQTT broker (amqtt) for ``envmon run`` when no broker is configured.

amqtt speaks MQTT 3.1.1 only, so whoever starts it must switch the ingest consumer to 3.1.1
(``Settings.mqtt_protocol``). It listens on 127.0.0.1 only. amqtt keeps the session of a
``clean_session=False`` client (subscriptions and queued QoS 1 messages while the client is
away) only when that client was authenticated rather than anonymous, and its stock
anonymous plugin marks everyone anonymous: :class:`LoopbackAuthPlugin` accepts every client
of the loopback listener as authenticated, which is what makes persistent sessions work.
"""

from __future__ import annotations

import errno
import logging
import socket
from dataclasses import dataclass
from typing import Any

from amqtt.broker import Broker
from amqtt.errors import BrokerError
from amqtt.plugins.base import BaseAuthPlugin
from amqtt.session import Session

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
DEFAULT_PORT = 1883


class EmbeddedBrokerError(RuntimeError):
    """The embedded broker could not start; the message says why."""


class LoopbackAuthPlugin(BaseAuthPlugin):  # type: ignore[misc]
    """Accept every client as a known (non-anonymous) user; safe only on a loopback listener."""

    async def authenticate(self, *, session: Session) -> bool:
        session.is_anonymous = False
        return True


@dataclass
class EmbeddedBroker:
    """A running in-process broker; ``await stop()`` closes listeners and sessions."""

    broker: Broker
    port: int

    @property
    def url(self) -> str:
        return f"mqtt://{HOST}:{self.port}"

    async def stop(self) -> None:
        await self.broker.shutdown()


async def start(
    port: int | None = None, session_expiry_seconds: int | None = None
) -> EmbeddedBroker:
    """Start a broker on 127.0.0.1.

    ``port=None`` means the MQTT default 1883 when it is free and any free port otherwise;
    an explicit port must be free.
    """
    chosen = port if port is not None else (DEFAULT_PORT if _is_free(DEFAULT_PORT) else 0)
    if chosen == 0:
        chosen = _free_port()
    config: dict[str, Any] = {
        "listeners": {"default": {"type": "tcp", "bind": f"{HOST}:{chosen}"}},
        "session_expiry_interval": session_expiry_seconds,
        # Only our plugin: the stock ones log every packet or publish $SYS topics.
        "plugins": {f"{__name__}.LoopbackAuthPlugin": {}},
    }
    broker = Broker(config)
    try:
        await broker.start()
    except BrokerError as exc:
        raise EmbeddedBrokerError(f"cannot start the embedded MQTT broker on {HOST}:{chosen}: "
                                  f"{exc.__cause__ or exc}") from exc
    log.info("embedded MQTT broker listening on %s:%d", HOST, chosen)
    return EmbeddedBroker(broker, chosen)


def _is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((HOST, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise
    return True


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])

