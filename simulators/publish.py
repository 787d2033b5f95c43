"""A lean asyncio MQTT 3.1.1 publisher: QoS 1 with a bounded window of unacknowledged messages.

Why not paho-mqtt: measured on this machine against local Mosquitto, paho 2 reached about
7 400 QoS 1 messages/s with a 2 000-message window (and fewer with a larger one), well short of
the 20 000/s the load mode must drive; its thread also does not belong in ``envmon run``'s event
loop. Publishing is a small, fixed subset of MQTT 3.1.1 (CONNECT/CONNACK, PUBLISH/PUBACK,
PINGREQ/PINGRESP, DISCONNECT; OASIS MQTT 3.1.1 §3), encoded by ingest/mqtt_wire.py and tested
against the real broker. The window (at most 60 000, below the 16-bit packet ids) is the
backpressure: ``publish`` waits while it is full.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import ssl
import struct
from types import TracebackType

from envmon.settings import MqttTarget
from ingest import mqtt_wire as wire

MAX_WINDOW = 60_000


class PublishError(RuntimeError):
    """The broker refused the connection, closed it, or stopped acknowledging."""


class Publisher:
    """``async with Publisher(target) as pub: await pub.publish(topic, payload)``."""

    def __init__(self, target: MqttTarget, *, window: int = 5000, client_id: str | None = None,
                 keepalive: int = 60, ca_file: str | None = None,
                 connect_timeout: float = 10.0, flush_timeout: float = 60.0) -> None:
        if not 1 <= window <= MAX_WINDOW:
            raise ValueError(f"window must be 1..{MAX_WINDOW}")
        self.target = target
        self.window = window
        self.client_id = client_id or f"envmon-sim-{secrets.token_hex(4)}"
        self.keepalive = keepalive
        self._ca_file = ca_file
        self.connect_timeout = connect_timeout
        self.flush_timeout = flush_timeout
        self._outstanding: set[int] = set()
        self._next_id = 0
        self._room = asyncio.Event()
        self._room.set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._error: BaseException | None = None
        self.sent = 0
        self.acked = 0

    async def connect(self) -> Publisher:
        context = None
        if self.target.tls:
            context = ssl.create_default_context(cafile=self._ca_file)
        try:
            async with asyncio.timeout(self.connect_timeout):
                reader, writer = await asyncio.open_connection(
                    self.target.host, self.target.port, ssl=context)
                writer.write(wire.connect_packet(
                    self.client_id, version=4, clean=True, keepalive=self.keepalive,
                    username=self.target.username, password=self.target.password))
                head = await reader.readexactly(4)
        except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
            raise PublishError(f"cannot connect to {self.target.host}:{self.target.port}: "
                               f"{exc!r}") from exc
        if head[0] != wire.CONNACK or head[3] != 0:
            writer.close()
            raise PublishError(f"broker refused the connection (CONNACK return code {head[3]})")
        self._reader, self._writer = reader, writer
        self._tasks = [asyncio.create_task(self._read_acks()), asyncio.create_task(self._ping())]
        return self

    async def _read_acks(self) -> None:
        assert self._reader is not None
        reader = self._reader
        try:
            while True:
                kind = (await reader.readexactly(1))[0]
                length = 0
                shift = 0
                while True:
                    b = (await reader.readexactly(1))[0]
                    length |= (b & 0x7F) << shift
                    shift += 7
                    if not b & 0x80:
                        break
                body = await reader.readexactly(length) if length else b""
                if kind & 0xF0 == wire.PUBACK:
                    self._outstanding.discard(struct.unpack("!H", body[:2])[0])
                    self.acked += 1
                    if len(self._outstanding) < self.window:
                        self._room.set()
                    if not self._outstanding:
                        self._idle.set()
        except (OSError, asyncio.IncompleteReadError) as exc:
            self._error = exc
            self._room.set()
            self._idle.set()

    async def _ping(self) -> None:
        while True:
            await asyncio.sleep(self.keepalive / 2)
            if self._writer is not None:
                self._writer.write(wire.PINGREQ_PACKET)

    def _check(self) -> None:
        if self._error is not None:
            raise PublishError(f"connection to the broker lost: {self._error!r}")

    async def publish(self, topic: str, payload: bytes) -> None:
        """Send one QoS 1 message, first waiting for room in the window."""
        while len(self._outstanding) >= self.window:
            self._room.clear()
            await self._room.wait()
            self._check()
        self._check()
        assert self._writer is not None
        self._next_id = self._next_id % 65535 + 1
        self._outstanding.add(self._next_id)
        self._idle.clear()
        self._writer.write(wire.publish_packet(topic.encode(), self._next_id, payload))
        self.sent += 1
        if self.sent % 256 == 0:
            await self._writer.drain()

    async def flush(self) -> None:
        """Wait until every message sent so far is acknowledged."""
        assert self._writer is not None
        await self._writer.drain()
        try:
            await asyncio.wait_for(self._idle.wait(), self.flush_timeout)
        except TimeoutError as exc:
            raise PublishError(f"{len(self._outstanding)} messages unacknowledged after "
                               f"{self.flush_timeout:.0f} s") from exc
        self._check()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._writer is not None:
            with contextlib.suppress(OSError):
                self._writer.write(wire.DISCONNECT_PACKET)
                await self._writer.drain()
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()

    async def __aenter__(self) -> Publisher:
        return await self.connect()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        try:
            if exc_type is None:
                await self.flush()
        finally:
            await self.close()
