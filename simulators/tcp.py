"""HJ 212 over TCP to the gateway (``envmon hj212-gateway``), one connection per station as
real data loggers keep it (HJ 212-2017 §5; the gateway limits packets per connection)."""

from __future__ import annotations

import asyncio
import contextlib

from simulators.document import Message


class Hj212TcpSink:
    """Sends each station's packets on its own connection and counts the CN 9014 answers."""

    def __init__(self, host: str, port: int, *, quiet_seconds: float = 2.0) -> None:
        self.host = host
        self.port = port
        self.quiet_seconds = quiet_seconds
        self.sent = 0
        self.answers = 0
        self._conns: dict[str, asyncio.StreamWriter] = {}
        self._readers: list[asyncio.Task[None]] = []
        self._answered = asyncio.Event()

    async def _connection(self, station_id: str) -> asyncio.StreamWriter:
        writer = self._conns.get(station_id)
        if writer is None:
            reader, writer = await asyncio.open_connection(self.host, self.port)
            self._conns[station_id] = writer
            self._readers.append(asyncio.create_task(self._read_answers(reader)))
        return writer

    async def _read_answers(self, reader: asyncio.StreamReader) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while line := await reader.readuntil(b"\r\n"):
                if b"CN=9014" in line:
                    self.answers += 1
                    self._answered.set()

    async def send(self, msg: Message) -> None:
        writer = await self._connection(msg.station_id)
        writer.write(msg.payload)
        self.sent += 1
        await writer.drain()

    async def flush(self) -> None:
        """Wait until the gateway has gone quiet (no new answer for ``quiet_seconds``)."""
        while True:
            self._answered.clear()
            try:
                await asyncio.wait_for(self._answered.wait(), self.quiet_seconds)
            except TimeoutError:
                return

    async def close(self) -> None:
        for writer in self._conns.values():
            writer.close()
        for task in self._readers:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._conns.clear()
