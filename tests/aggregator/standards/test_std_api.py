"""The public surface of ``aggregator.standards``: exported, importable and documented."""

from __future__ import annotations

from pathlib import Path

import aggregator.standards as standards

DOC = Path(__file__).parents[3] / "docs" / "standards.md"


def test_all_names_exist() -> None:
    assert len(set(standards.__all__)) == len(standards.__all__)
    for name in standards.__all__:
        assert hasattr(standards, name), name


def test_every_public_name_is_documented() -> None:
    """docs/standards.md is the contract the aggregator service codes against."""
    text = DOC.read_text(encoding="utf-8")
    missing = [
        name for name in standards.__all__ if f"`{name}" not in text and f"{name}(" not in text
    ]
    assert missing == []
