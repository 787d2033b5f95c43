"""Cutting a TCP byte stream into ``##…\\r\\n`` packets (HJ 212-2017 表2; reference/hj212.md §9).

TCP delivers arbitrary chunks: a packet may arrive in pieces, several packets in one chunk, or
garbage between packets. Frames are cut on ``##`` … CR LF, not on the declared length (real
loggers mis-count it, §3.1 example 3). Bytes that are not a packet come out as rejected frames
(never dropped), except bare whitespace between packets; a packet longer than the limit is
rejected (its first bytes kept) and the stream resynchronises on the next ``##``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ingest.errors import Rejection

_WHITESPACE = b" \t\r\n\x00"
_HASH_RUN = re.compile(rb"#{3,}")


@dataclass(frozen=True, slots=True)
class Frame:
    """A candidate packet (``error`` is ``None``) or bytes rejected by the framer."""

    data: bytes
    error: Rejection | None = None


class Framer:
    """Incremental framer; feed it chunks, get complete frames back.

    Garbage between two packets (or within one chunk) comes out as *one* rejected frame however
    many pieces it has, so a chunk of ``#`` costs one frame, not one per ``##``.
    """

    def __init__(self, max_packet_bytes: int = 4096) -> None:
        if max_packet_bytes < 16:
            raise ValueError("max_packet_bytes must be at least 16")
        self._max = max_packet_bytes
        self._buf = bytearray()
        self._skipping = False  # inside an oversize packet: drop until the next '##'
        self._junk_sample = bytearray()
        self._junk_bytes = 0
        self._junk_details: list[str] = []

    @property
    def partial(self) -> bool:
        """A packet has started (``##`` seen) and has not ended yet."""
        return len(self._buf) >= 2 and not self._skipping

    def feed(self, chunk: bytes) -> list[Frame]:
        self._buf += chunk
        out: list[Frame] = []
        while self._buf:
            start = self._buf.find(b"##")
            if start < 0:
                keep = 1 if self._buf.endswith(b"#") else 0
                self._junk(len(self._buf) - keep, "bytes outside '##…\\r\\n'")
                break
            run = _HASH_RUN.match(self._buf, start)
            if run is not None:  # '####…': only the last two can start a packet
                start = run.end() - 2
            self._junk(start, "bytes outside '##…\\r\\n'")
            self._skipping = False
            end = self._buf.find(b"\r\n", 2)
            restart = self._buf.find(b"##", 2, end if end >= 0 else len(self._buf))
            if restart >= 0:  # a new packet starts before this one ended: it was truncated
                self._junk(restart, "packet cut off by the next '##'")
                continue
            if end < 0:
                if len(self._buf) > self._max:
                    self._reject(self._max, "oversize", f"no CR LF within {self._max} bytes", out)
                    self._skipping = True
                break
            if end + 2 > self._max:
                detail = f"packet of {end + 2} bytes exceeds {self._max}"
                self._reject(end + 2, "oversize", detail, out)
                continue
            self._flush_junk(out)
            out.append(Frame(bytes(self._buf[: end + 2])))
            del self._buf[: end + 2]
        self._flush_junk(out)
        return out

    def close(self) -> list[Frame]:
        """What is left when the connection ends: an unfinished packet is rejected."""
        out: list[Frame] = []
        if self._buf.strip(_WHITESPACE) and not self._skipping:
            out.append(Frame(bytes(self._buf[: self._max]),
                             Rejection("hj212_framing", "connection closed inside a packet")))
        self._buf.clear()
        return out

    def _junk(self, n: int, detail: str) -> None:
        """Drop ``n`` leading bytes that are not a packet, collecting non-whitespace ones."""
        if n <= 0:
            return
        junk = bytes(self._buf[:n])
        del self._buf[:n]
        if self._skipping or not junk.strip(_WHITESPACE):
            return
        self._junk_sample += junk[: self._max - len(self._junk_sample)]
        self._junk_bytes += n
        if detail not in self._junk_details:
            self._junk_details.append(detail)

    def _flush_junk(self, out: list[Frame]) -> None:
        """The garbage collected since the last frame as one rejected frame (first bytes)."""
        if not self._junk_bytes:
            return
        kept = " (first bytes kept)" if self._junk_bytes > len(self._junk_sample) else ""
        detail = f"{self._junk_bytes} bytes: {', '.join(self._junk_details)}{kept}"
        out.append(Frame(bytes(self._junk_sample), Rejection("hj212_framing", detail)))
        self._junk_sample.clear()
        self._junk_bytes = 0
        self._junk_details.clear()

    def _reject(self, n: int, reason: str, detail: str, out: list[Frame]) -> None:
        """Reject the first ``n`` buffered bytes, keeping at most ``max_packet_bytes`` of them."""
        self._flush_junk(out)
        if n > self._max:
            detail += " (first bytes kept)"
        out.append(Frame(bytes(self._buf[: min(n, self._max)]), Rejection(reason, detail)))
        del self._buf[:n]
