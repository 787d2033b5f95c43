"""docs/hj212.md lists every supported code, alias, command and rejection reason."""

from __future__ import annotations

from pathlib import Path

from ingest.hj212 import DATA_COMMANDS, REASONS, code_table

DOC = (Path(__file__).resolve().parents[3] / "docs" / "hj212.md").read_text("utf-8")


def test_every_code_and_alias_is_documented() -> None:
    for names in code_table().by_name.values():
        for name in names:
            assert f"`{name}`" in DOC, name


def test_every_command_and_reason_is_documented() -> None:
    for cn in DATA_COMMANDS:
        assert f"| {cn} |" in DOC, cn
    for reason in REASONS:
        assert f"| `{reason}` |" in DOC, reason
