"""The README's configuration table states the defaults of the settings model (issue 11: it
said the aggregator batch size defaults to 200 while the code said 10 000)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from envmon.settings import Settings

README = Path(__file__).resolve().parents[2] / "README.md"
NONE = ("—", "none")


def table_rows() -> list[tuple[list[str], list[str]]]:
    """(variable names, default texts) of each row of the README's settings table."""
    text = README.read_text(encoding="utf-8")
    table = text.split("| setting | default | meaning |", 1)[1].split("\n\n", 1)[0]
    rows = []
    for line in table.splitlines()[2:]:
        names_cell, default_cell = (c.strip() for c in line.strip("|").split("|")[:2])
        # "(`…__TOKEN_FILE`)": another way to give the same setting, no default of its own
        tokens = re.findall(r"`([^`]+)`", re.sub(r"\([^)]*\)", "", names_cell))
        first, names = tokens[0], []
        for token in tokens:
            if token.startswith("…"):  # "…__PORT": the first name with its tail replaced
                sep = "__" if token.startswith("…__") else "_"
                tail = token.removeprefix("…" + sep).split(sep)
                token = sep.join(first.split(sep)[: -len(tail)] + tail)
            names.append(token)
        defaults = [d.strip().strip("`") for d in default_cell.split(" / ")]
        rows.append((names, defaults if len(defaults) == len(names) else defaults * len(names)))
    return rows


def default_of(name: str) -> Any:
    """The model default behind ``ENVMON_A__B`` (``Settings().a.b``)."""
    model: Any = Settings
    value: Any = None
    for part in name.removeprefix("ENVMON_").lower().split("__"):
        assert part in model.model_fields, f"README names {name}, which is no setting"
        value = model.model_fields[part].get_default(call_default_factory=True)
        model = type(value) if isinstance(value, BaseModel) else None
    return value


def same(text: str, value: Any) -> bool:
    if value is None:
        return text.lower().startswith(NONE)
    if isinstance(value, bool):
        return text.lower() == str(value).lower()
    if isinstance(value, int | float):
        try:
            return float(text.replace(" ", "")) == float(value)
        except ValueError:
            return False
    return text == str(value)


ROWS = [(n, d) for names, defaults in table_rows() for n, d in zip(names, defaults, strict=True)]


def test_the_table_is_read() -> None:
    names = {n for n, _ in ROWS}
    assert {"ENVMON_AGGREGATOR__BATCH_SIZE", "ENVMON_HJ212__PORT", "ENVMON_LOG_LEVEL",
            "ENVMON_MQTT_CERT_FILE"} <= names


@pytest.mark.parametrize(("name", "documented"), ROWS, ids=[n for n, _ in ROWS])
def test_readme_default_is_the_models(name: str, documented: str) -> None:
    actual = default_of(name)
    assert same(documented, actual), f"README: {name} = {documented!r}, settings: {actual!r}"
