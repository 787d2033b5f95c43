"""One typed settings object, validated before anything connects.

Sources, highest priority first: keyword arguments, environment variables (``ENVMON_*``,
nested with ``__``), the TOML file named by ``ENVMON_CONFIG``, defaults. Secrets may be
given as files (``ENVMON_DATABASE_URL_FILE``, ``ENVMON_MQTT_PASSWORD_FILE``) so they never
need to sit in a config file or the repository.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from aggregator.settings import AggregatorSettings
from alerts.settings import AlertsSettings
from ingest.hj212.options import GatewaySettings
from web.settings import ApiSettings


class MqttTarget(BaseModel):
    """A parsed ``mqtt://[user:pass@]host[:port]`` (``mqtts://`` for TLS) URL."""

    host: str
    port: int
    tls: bool
    username: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, url: str, password_override: str | None = None) -> MqttTarget:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts"):
            raise ValueError(f"MQTT URL must start with mqtt:// or mqtts://, got {url!r}")
        if not parts.hostname:
            raise ValueError(f"MQTT URL has no host: {url!r}")
        tls = parts.scheme == "mqtts"
        return cls(
            host=parts.hostname,
            port=parts.port or (8883 if tls else 1883),
            tls=tls,
            username=unquote(parts.username) if parts.username else None,
            password=password_override
            if password_override is not None
            else (unquote(parts.password) if parts.password else None),
        )


class IngestSettings(BaseModel):
    """Batching and flow control of the ingest consumers."""

    batch_max_messages: int = Field(2000, ge=1, le=100_000)
    batch_max_seconds: float = Field(0.05, gt=0, le=60)
    max_inflight_messages: int = Field(20_000, ge=1, le=65_000)
    max_payload_bytes: int = Field(1_048_576, ge=256)
    client_id: str = Field("envmon-ingest", pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    shared_group: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{1,32}$")
    session_expiry_seconds: int = Field(7 * 24 * 3600, ge=0)
    # Bounds on what ingest holds itself, whatever the broker sends (docs/ingest.md).
    max_held_messages: int = Field(20_000, ge=1)
    max_held_bytes: int = Field(64 * 1024 * 1024, ge=1024 * 1024)
    batch_max_bytes: int = Field(8 * 1024 * 1024, ge=64 * 1024)
    oversize_keep_bytes: int = Field(65_536, ge=256)
    max_db_retries: int = Field(5, ge=1, le=100)
    station_metrics: bool = True  # per-station last-reading series on /metrics (ingest/metrics.py)


class StorageSettings(BaseModel):
    """How the readings table is laid out (Timescale when available, else plain partitions)."""

    backend: Literal["auto", "timescale", "plain"] = "auto"
    chunk_interval: str = "7 days"
    compress_after: str | None = "30 days"
    retention: str | None = None
    partitions_ahead_months: int = Field(3, ge=1, le=36)


class Settings(BaseSettings):
    """Everything envmon reads from its environment."""

    model_config = SettingsConfigDict(
        env_prefix="ENVMON_", env_nested_delimiter="__", extra="forbid"
    )

    database_url: str | None = None
    mqtt_url: str | None = None
    mqtt_password_file: Path | None = None
    mqtt_ca_file: Path | None = None
    mqtt_cert_file: Path | None = None
    mqtt_key_file: Path | None = None
    mqtt_protocol: Literal["5", "3.1.1"] = "5"
    topic_prefix: str = Field("envmon", pattern=r"^[A-Za-z0-9_-]{1,32}(/[A-Za-z0-9_-]{1,32})*$")
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(9108, ge=0, le=65535)
    log_json: bool = False
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    ingest: IngestSettings = IngestSettings()
    storage: StorageSettings = StorageSettings()
    hj212: GatewaySettings = GatewaySettings()
    aggregator: AggregatorSettings = AggregatorSettings()
    api: ApiSettings = ApiSettings()
    alerts: AlertsSettings = AlertsSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get("ENVMON_CONFIG")
        if config_file:
            path = Path(config_file)
            if not path.is_file():
                raise FileNotFoundError(f"ENVMON_CONFIG points to {path}, which is not a file")
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("ENVMON_DATABASE_URL must be a postgresql:// URL")
        return value

    @model_validator(mode="before")
    @classmethod
    def _secrets_from_files(cls, data: object) -> object:
        """Allow ``ENVMON_DATABASE_URL_FILE`` for the one secret that is a whole URL."""
        path = os.environ.get("ENVMON_DATABASE_URL_FILE")
        if path and isinstance(data, dict) and not data.get("database_url"):
            data["database_url"] = Path(path).read_text().strip()
        return data

    def mqtt_target(self) -> MqttTarget | None:
        """The configured broker, or ``None`` when the embedded broker should be used."""
        if self.mqtt_url is None:
            return None
        password = None
        if self.mqtt_password_file is not None:
            password = self.mqtt_password_file.read_text().strip()
        return MqttTarget.parse(self.mqtt_url, password)

    @model_validator(mode="after")
    def _mqtt_url_parses(self) -> Settings:
        if self.mqtt_url is not None:
            MqttTarget.parse(self.mqtt_url)
        return self
