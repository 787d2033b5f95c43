"""Transport names are defined once (ingest/transports.py) and documented as the values of
``dead_letter.transport`` (issue 11: the gateway wrote `hj212-tcp`, replay looked for `tcp`)."""

from __future__ import annotations

from pathlib import Path

from ingest import transports

SCHEMA = (Path(__file__).resolve().parents[2] / "docs" / "schema.md").read_text("utf-8")


def test_every_transport_is_documented_and_distinct() -> None:
    names = [v for k, v in vars(transports).items() if k.isupper() and isinstance(v, str)]
    assert len(names) == len(set(names)) >= 3
    section = SCHEMA.split("## `dead_letter`", 1)[1].split("##", 1)[0]
    for name in names:
        assert f"`{name}`" in section, name
