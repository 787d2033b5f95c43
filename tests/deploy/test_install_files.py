"""The environment file of the systemd install (deploy/envmon.env.example): every key is an
envmon setting and the example values validate."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from envmon.settings import Settings

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy/envmon.env.example"


def entries() -> dict[str, str]:
    lines = [line for line in EXAMPLE.read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


def is_setting(key: str) -> bool:
    model: type[BaseModel] = Settings
    *parents, leaf = key.removeprefix("ENVMON_").lower().split("__")
    for name in parents:
        annotation = model.model_fields[name].annotation if name in model.model_fields else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return False
        model = annotation
    return leaf in model.model_fields


def test_every_key_is_a_setting() -> None:
    keys = entries()
    assert "ENVMON_DATABASE_URL" in keys and "ENVMON_MQTT_URL" in keys
    unknown = [k for k in keys if not k.startswith("ENVMON_") or not is_setting(k)]
    assert not unknown
    assert not is_setting("ENVMON_NO_SUCH__THING")  # the walk can say no


def test_example_values_validate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ENVMON_CONFIG", raising=False)
    for key, value in entries().items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    target = settings.mqtt_target()
    assert target is not None and target.username == "envmon-ingest"
    assert settings.log_json
