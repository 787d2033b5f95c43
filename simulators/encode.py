"""Documents to wire bytes: JSON v1 (this module) and HJ 212-2017 (through the ingest encoder,
so simulator and gateway can never disagree about framing, codes or CRC)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta
from typing import Protocol

from envmon.parameters import StationKind
from envmon.stations import Station
from ingest.hj212 import code_table, encode_data_packet, new_qn
from simulators.document import UNREGISTERED_PREFIX, Channel, Document, rfc3339

# A history upload is split so one payload stays far below ingest's 1 MiB / 10 000-document limits.
MAX_DOCUMENTS_PER_PAYLOAD = 500

_HJ212_CN = {"rt": "2011", "min": "2051", "hour": "2061", "day": "2031"}  # reference/hj212.md §6.2
_HJ212_ST = {"water": "21", "air": "22", "noise": "23"}  # reference/hj212.md §6.1
DEFAULT_HJ212_PASSWORD = "123456"


class Encoder(Protocol):
    channel: Channel

    def carries(self, kind: StationKind, parameter: str) -> bool:
        """Whether this encoding can transmit ``parameter`` at all."""
        ...

    def one(self, doc: Document) -> bytes:
        """The payload of a single live document."""
        ...

    def buffer(self, docs: Sequence[Document]) -> list[bytes]:
        """Payloads for a logger's buffered documents (a history upload)."""
        ...


def json_document(doc: Document) -> dict[str, object]:
    out: dict[str, object] = {"ts": rfc3339(doc.ts), "interval": doc.interval,
                              "values": doc.values}
    if doc.flags:
        out["flags"] = doc.flags
    return out


class JsonEncoder:
    """Wire contract v1: one object per live message, an array per history upload."""

    channel: Channel = "data"

    def carries(self, kind: StationKind, parameter: str) -> bool:
        return True

    def one(self, doc: Document) -> bytes:
        return json.dumps(json_document(doc), separators=(",", ":")).encode()

    def buffer(self, docs: Sequence[Document]) -> list[bytes]:
        n = MAX_DOCUMENTS_PER_PAYLOAD
        return [json.dumps([json_document(d) for d in docs[i:i + n]],
                           separators=(",", ":")).encode() for i in range(0, len(docs), n)]


class Hj212Encoder:
    """HJ 212-2017 data uploads (CN 2011/2051/2061/2031), one packet per document.

    QN is derived from the document's time so that output is reproducible under a seed.
    """

    channel: Channel = "hj212"

    def __init__(self, stations: Sequence[Station]) -> None:
        self._stations = {s.station_id: s for s in stations}

    def carries(self, kind: StationKind, parameter: str) -> bool:
        return code_table().primary(kind, parameter) is not None

    def one(self, doc: Document) -> bytes:
        station = self._stations.get(doc.station_id)
        if station is None:  # an unregistered id: the kind of the real station behind it
            real = self._stations[doc.station_id.removeprefix(UNREGISTERED_PREFIX)]
            mn, pw, kind = doc.station_id, DEFAULT_HJ212_PASSWORD, real.kind
        else:
            mn = station.mn or station.station_id
            pw = station.hj212_password or DEFAULT_HJ212_PASSWORD
            kind = station.kind
        # Parameters without an HJ 212 code (rain, dew point, chlorophyll a) cannot be sent.
        values = {p: v for p, v in doc.values.items() if self.carries(kind, p)}
        flags = {p: f for p, f in doc.flags.items() if p in values}
        return encode_data_packet(
            mn=mn, pw=pw, cn=_HJ212_CN[doc.interval], st=_HJ212_ST[kind],
            data_time_local=doc.ts, values=values, flags=flags,
            qn=new_qn(doc.ts + timedelta(seconds=1)),
        )

    def buffer(self, docs: Sequence[Document]) -> list[bytes]:
        return [self.one(d) for d in docs]
