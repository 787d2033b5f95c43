"""Options of the HJ 212 TCP gateway (``envmon hj212-gateway``; the ``hj212`` settings section
of ``envmon run``). Plain pydantic with no envmon imports, so the settings model can embed it."""

from __future__ import annotations

from pydantic import BaseModel, Field


class GatewaySettings(BaseModel):
    """``envmon hj212-gateway`` options (and the ``hj212`` section for ``envmon run``)."""

    enabled: bool = False
    host: str = "0.0.0.0"  # loggers connect from the field; the gateway is off by default
    port: int = Field(9212, ge=0, le=65535)
    max_packet_bytes: int = Field(4096, ge=1036)  # 表2: 2+4+1024+4+2 = 1036 for a full packet
    idle_timeout_seconds: float = Field(900.0, gt=0)
    max_packets_per_second: float = Field(20.0, gt=0)
    burst_packets: int = Field(200, ge=1)
    max_connections: int = Field(5000, ge=1)
    reassembly_timeout_seconds: float = Field(300.0, gt=0)
