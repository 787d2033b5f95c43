"""HJ 212-2017 (and HJ/T 212-2005) packets: CRC, framing, decoding, encoding, TCP gateway."""

from ingest.hj212.codes import Code, CodeTable, code_table
from ingest.hj212.crc import crc16, crc16_hex
from ingest.hj212.decode import (
    DATA_COMMANDS,
    Decoded,
    Skipped,
    StationLookup,
    UnitOverrides,
    decode_data,
)
from ingest.hj212.encode import (
    encode_ack_9014,
    encode_data_packet,
    encode_frame,
    encode_segment,
    new_qn,
)
from ingest.hj212.intake import Intake, take_packet, take_payload
from ingest.hj212.mqtt import Hj212MqttDecoder, Hj212Readings, decode_mqtt_payload
from ingest.hj212.packet import Packet, cp_items, parse_packet
from ingest.hj212.reasons import REASONS
from ingest.hj212.reassembly import Reassembler, merge

__all__ = [
    "DATA_COMMANDS",
    "REASONS",
    "Code",
    "CodeTable",
    "Decoded",
    "Hj212MqttDecoder",
    "Hj212Readings",
    "Intake",
    "Packet",
    "Reassembler",
    "Skipped",
    "StationLookup",
    "UnitOverrides",
    "code_table",
    "cp_items",
    "crc16",
    "crc16_hex",
    "decode_data",
    "decode_mqtt_payload",
    "encode_ack_9014",
    "encode_data_packet",
    "encode_frame",
    "encode_segment",
    "merge",
    "new_qn",
    "parse_packet",
    "take_packet",
    "take_payload",
]
