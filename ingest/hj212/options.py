"""Options of the HJ 212 TCP gateway (``envmon hj212-gateway``; the ``hj212`` settings section
of ``envmon run``). Plain pydantic with no envmon imports, so the settings model can embed it.

What happens at each limit is in docs/hj212.md ("Gateway limits").
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class GatewaySettings(BaseModel):
    """``envmon hj212-gateway`` options (and the ``hj212`` section for ``envmon run``)."""

    enabled: bool = False
    host: str = "0.0.0.0"  # loggers connect from the field; the gateway is off by default
    port: int = Field(9212, ge=0, le=65535)
    max_packet_bytes: int = Field(4096, ge=1036)  # 表2: 2+4+1024+4+2 = 1036 for a full packet
    # connections: lowered at start to stay below the descriptor limit (RLIMIT_NOFILE)
    max_connections: int = Field(5000, ge=1)
    # time limits: before the first good packet, inside one packet, between good packets
    first_packet_timeout_seconds: float = Field(30.0, gt=0)
    packet_timeout_seconds: float = Field(10.0, gt=0)  # 表1: a logger's answer timeout is 10 s
    idle_timeout_seconds: float = Field(900.0, gt=0)
    # per connection: packets and bytes (token buckets: beyond them the gateway reads slower)
    max_packets_per_second: float = Field(20.0, gt=0)
    burst_packets: int = Field(200, ge=1)
    max_bytes_per_second: float = Field(16_384.0, gt=0)
    burst_bytes: int = Field(65_536, ge=4096)
    # bytes read since the last good packet before the connection is closed
    max_garbage_bytes: int = Field(65_536, ge=4096)
    # the whole gateway
    total_packets_per_second: float = Field(2_000.0, gt=0)
    total_bytes_per_second: float = Field(4_194_304.0, gt=0)
    # dead-letter rows for anonymous garbage (bad framing/CRC, unknown MN, wrong PW)
    dead_letters_per_second: float = Field(10.0, gt=0)
    dead_letter_burst: int = Field(100, ge=1)
    flood_summary_seconds: float = Field(60.0, gt=0)
    reassembly_timeout_seconds: float = Field(300.0, gt=0)
