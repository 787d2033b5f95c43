"""Rejection details are storable in PostgreSQL text and safe on one log line."""

from __future__ import annotations

import pytest

from ingest.errors import MAX_DETAIL_CHARS, Rejection, safe_text


@pytest.mark.parametrize(("raw", "safe"), [
    ("x\x00: Extra inputs are not permitted", "x\\x00: Extra inputs are not permitted"),
    ("line\nforged INFO line", "line\\x0aforged INFO line"),
    ("bell\x07 esc\x1b[31m del\x7f c1\x85", "bell\\x07 esc\\x1b[31m del\\x7f c1\\x85"),
    ("tab\tkept, 中文 kept", "tab\tkept, 中文 kept"),
])
def test_control_characters_are_escaped(raw: str, safe: str) -> None:
    assert safe_text(raw) == safe
    rej = Rejection("schema", raw, "st\x00ation")
    assert rej.detail == safe and rej.station_id == "st\\x00ation"


def test_details_are_bounded_and_say_how_much_was_cut() -> None:
    detail = Rejection("schema", "k" * 100_000).detail
    assert detail.startswith("k" * MAX_DETAIL_CHARS)
    assert detail.endswith(f"(+{100_000 - MAX_DETAIL_CHARS} chars)")
    assert len(detail) < MAX_DETAIL_CHARS + 40
