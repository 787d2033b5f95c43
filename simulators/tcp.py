"""HJ 212 over TCP to the gateway (``envmon hj212-gateway``), one connection per station as
real data loggers keep it (HJ 212-2017 §5; the gateway limits packets per connection).

Like a real logger, a packet that asks for an answer (Flag A bit) and gets no CN 9014 with its
QN within the answer timeout is sent again, up to the retry count (表1: 10 s, 3 retries),
reconnecting when the gateway closed the connection or was down. What counts is what was
answered: a gateway that died after a third of the packets shows as two thirds unanswered.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from dataclasses import dataclass

from ingest.hj212.framing import Framer
from ingest.hj212.packet import FLAG_ACK, parse_packet
from simulators.document import Message

_QN = re.compile(rb"QN=([^;]*);")
_MN = re.compile(rb"MN=([^;]*);")
_FLAG = re.compile(rb"Flag=(\d{1,3});")


@dataclass(slots=True)
class _Waiting:
    msg: Message
    sent_at: float
    tries: int = 1


class Hj212TcpSink:
    """Sends each station's packets on its own connection, counts the CN 9014 answers and
    resends unanswered packets."""

    def __init__(self, host: str, port: int, *, answer_timeout: float = 10.0,
                 retries: int = 3) -> None:
        self.host = host
        self.port = port
        self.answer_timeout = answer_timeout
        self.retries = retries
        self.sent = 0  # packets, each counted once however often it was sent
        self.answers = 0  # packets answered with CN 9014
        self.resent = 0  # sends after the first
        self.unanswered = 0  # packets that asked for an answer and never got one
        self._conns: dict[str, asyncio.StreamWriter] = {}
        self._readers: list[asyncio.Task[None]] = []
        self._waiting: dict[tuple[bytes, bytes], _Waiting] = {}  # (MN, QN), oldest first

    async def _connection(self, station_id: str) -> asyncio.StreamWriter | None:
        writer = self._conns.get(station_id)
        if writer is not None and not writer.is_closing():
            return writer
        try:
            reader, writer = await asyncio.open_connection(self.host, self.port)
        except OSError:
            return None  # the gateway is down: the packet waits for its resend
        self._conns[station_id] = writer
        self._readers.append(asyncio.create_task(self._read_answers(reader, writer)))
        return writer

    async def _read_answers(self, reader: asyncio.StreamReader,
                            writer: asyncio.StreamWriter) -> None:
        framer = Framer()
        with contextlib.suppress(OSError):
            while chunk := await reader.read(4096):
                for frame in framer.feed(chunk):
                    with contextlib.suppress(Exception):
                        answer = parse_packet(frame.data)
                        if answer.cn == "9014" and answer.qn is not None:
                            key = (answer.mn.encode(), answer.qn.encode())
                            self.answers += self._waiting.pop(key, None) is not None
        writer.close()  # closed by the gateway: the next send reconnects

    async def _write(self, msg: Message) -> None:
        writer = await self._connection(msg.station_id)
        if writer is None:
            return
        writer.write(msg.payload)
        with contextlib.suppress(OSError):
            await writer.drain()

    async def send(self, msg: Message) -> None:
        self.sent += 1
        key = answer_key(msg.payload)
        if key is not None:
            self._waiting[key] = _Waiting(msg, time.monotonic())
        await self._write(msg)
        await self._resend_due()

    async def _resend_due(self) -> None:
        now = time.monotonic()
        for key, waiting in list(self._waiting.items()):
            if now - waiting.sent_at < self.answer_timeout:
                break  # oldest first: the rest are not due either
            del self._waiting[key]
            if waiting.tries > self.retries:
                self.unanswered += 1
                continue
            waiting.tries += 1
            waiting.sent_at = now
            self._waiting[key] = waiting  # to the back of the line
            self.resent += 1
            await self._write(waiting.msg)

    async def flush(self) -> None:
        """Wait until every packet is answered or out of retries."""
        while self._waiting:
            await asyncio.sleep(min(0.1, self.answer_timeout / 4))
            await self._resend_due()

    async def close(self) -> None:
        for writer in self._conns.values():
            writer.close()
        for task in self._readers:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._conns.clear()

    def summary(self) -> str:
        return (f"HJ 212 over TCP: {self.sent} packets, {self.answers} answered (CN 9014), "
                f"{self.resent} resent, {self.unanswered} unanswered after {self.retries} "
                f"retries of {self.answer_timeout:g} s")


def answer_key(payload: bytes) -> tuple[bytes, bytes] | None:
    """(MN, QN) of a packet that asks for an answer, read from the raw bytes (a packet the
    simulator broke on purpose still asks, as its logger would)."""
    qn, mn, flag = _QN.search(payload), _MN.search(payload), _FLAG.search(payload)
    if qn is None or mn is None or flag is None or not int(flag.group(1)) & FLAG_ACK:
        return None
    return mn.group(1), qn.group(1)
