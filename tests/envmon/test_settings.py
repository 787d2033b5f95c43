"""Settings: environment over TOML over defaults, validated before anything connects."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from envmon.settings import MqttTarget, Settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("ENVMON_DATABASE_URL", "ENVMON_MQTT_URL", "ENVMON_CONFIG",
                "ENVMON_DATABASE_URL_FILE"):
        monkeypatch.delenv(var, raising=False)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mqtt://broker", MqttTarget(host="broker", port=1883, tls=False)),
        ("mqtts://broker", MqttTarget(host="broker", port=8883, tls=True)),
        ("mqtt://u:p%40ss@10.0.0.1:1884",
         MqttTarget(host="10.0.0.1", port=1884, tls=False, username="u", password="p@ss")),
    ],
)
def test_mqtt_urls(url: str, expected: MqttTarget) -> None:
    assert MqttTarget.parse(url) == expected


@pytest.mark.parametrize("url", ["http://broker", "mqtt://", "broker:1883"])
def test_bad_mqtt_url_is_a_clear_error(url: str) -> None:
    with pytest.raises(ValidationError, match="MQTT URL"):
        Settings(mqtt_url=url)


def test_database_url_must_be_postgresql() -> None:
    with pytest.raises(ValidationError, match="postgresql://"):
        Settings(database_url="mysql://x")


def test_toml_file_then_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conf = tmp_path / "envmon.toml"
    conf.write_text('mqtt_url = "mqtt://from-file"\ntopic_prefix = "city/pl"\n'
                    "[ingest]\nbatch_max_messages = 500\n[hj212]\nenabled = true\n")
    monkeypatch.setenv("ENVMON_CONFIG", str(conf))
    monkeypatch.setenv("ENVMON_MQTT_URL", "mqtt://from-env")
    s = Settings()
    assert s.mqtt_url == "mqtt://from-env"
    assert (s.topic_prefix, s.ingest.batch_max_messages, s.hj212.enabled) == (
        "city/pl", 500, True)


def test_unknown_keys_and_missing_file_are_errors(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    conf = tmp_path / "envmon.toml"
    conf.write_text("databse_url = 'postgresql://typo'\n")
    monkeypatch.setenv("ENVMON_CONFIG", str(conf))
    with pytest.raises(ValidationError, match="databse_url"):
        Settings()
    monkeypatch.setenv("ENVMON_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(FileNotFoundError):
        Settings()


def test_secrets_from_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "db").write_text("postgresql://envmon:s3cret@db/envmon\n")
    (tmp_path / "pw").write_text("mqtt-secret\n")
    monkeypatch.setenv("ENVMON_DATABASE_URL_FILE", str(tmp_path / "db"))
    s = Settings(mqtt_url="mqtts://envmon@broker", mqtt_password_file=tmp_path / "pw")
    assert s.database_url == "postgresql://envmon:s3cret@db/envmon"
    target = s.mqtt_target()
    assert target is not None and (target.username, target.password, target.tls) == (
        "envmon", "mqtt-secret", True)
