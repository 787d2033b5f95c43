"""The public surface of ingest.hj212 (what simulators, the MQTT consumer and tests import)."""

from __future__ import annotations

import ingest.hj212


def test_public_names() -> None:
    assert sorted(ingest.hj212.__all__) == sorted([
        "DATA_COMMANDS", "REASONS", "Code", "CodeTable", "Decoded", "Hj212MqttDecoder",
        "Hj212Readings", "Intake", "Packet", "Reassembler", "Skipped", "StationLookup",
        "UnitOverrides", "code_table", "cp_items", "crc16", "crc16_hex", "decode_data",
        "decode_mqtt_payload", "encode_ack_9014", "encode_data_packet", "encode_frame",
        "encode_segment", "merge", "new_qn", "parse_packet", "take_packet", "take_payload",
    ])
    assert all(hasattr(ingest.hj212, name) for name in ingest.hj212.__all__)
