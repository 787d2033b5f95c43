"""Simulated stations: seeded air/water/noise physics, HJ 212 cadences, fault injection, load
mode and real-data replay (``envmon simulate``; the demo is :func:`simulators.demo.run`)."""

from simulators.document import Document, Message
from simulators.encode import Hj212Encoder, JsonEncoder
from simulators.faults import FAULTS, FaultInjector, FaultRates
from simulators.load import LoadResult, load_stations, run_load
from simulators.play import MqttSink, PlayStats, play
from simulators.publish import Publisher, PublishError
from simulators.replay import history, prsa_files
from simulators.station import Cadence, SimStation
from simulators.stream import Run, Scenario
from simulators.tcp import Hj212TcpSink

__all__ = [
    "FAULTS",
    "Cadence",
    "Document",
    "FaultInjector",
    "FaultRates",
    "Hj212Encoder",
    "Hj212TcpSink",
    "JsonEncoder",
    "LoadResult",
    "Message",
    "MqttSink",
    "PlayStats",
    "PublishError",
    "Publisher",
    "Run",
    "Scenario",
    "SimStation",
    "history",
    "load_stations",
    "play",
    "prsa_files",
    "run_load",
]
