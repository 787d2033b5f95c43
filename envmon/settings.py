"""One typed settings object, validated before anything connects, and every component's
section of it (the ground floor: components import their section from here).

Sources, highest priority first: keyword arguments, environment variables (``ENVMON_*``,
nested with ``__``), the TOML file named by ``ENVMON_CONFIG``, defaults. Secrets may be
given as files (``ENVMON_DATABASE_URL_FILE``, ``ENVMON_MQTT_PASSWORD_FILE``) so they never
need to sit in a config file or the repository.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

#: shorthands for the bounds most settings share
Positive = Annotated[float, Field(gt=0)]
AtLeastOne = Annotated[int, Field(ge=1)]
Port = Annotated[int, Field(ge=0, le=65535)]


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


class GatewaySettings(BaseModel):
    """``envmon hj212-gateway`` options (and the ``hj212`` section for ``envmon run``).

    What happens at each limit is in docs/hj212.md ("Gateway limits").
    """

    enabled: bool = False
    host: str = "0.0.0.0"  # loggers connect from the field; the gateway is off by default
    port: Port = 9212
    max_packet_bytes: int = Field(4096, ge=1036)  # 表2: 2+4+1024+4+2 = 1036 for a full packet
    # connections: lowered at start to stay below the descriptor limit (RLIMIT_NOFILE)
    max_connections: AtLeastOne = 5000
    # time limits: before the first good packet, inside one packet, between good packets
    first_packet_timeout_seconds: Positive = 30.0
    packet_timeout_seconds: Positive = 10.0  # 表1: a logger's answer timeout is 10 s
    idle_timeout_seconds: Positive = 900.0
    # per connection: packets and bytes (token buckets: beyond them the gateway reads slower)
    max_packets_per_second: Positive = 20.0
    burst_packets: AtLeastOne = 200
    max_bytes_per_second: Positive = 16_384.0
    burst_bytes: int = Field(65_536, ge=4096)
    # bytes read since the last good packet before the connection is closed
    max_garbage_bytes: int = Field(65_536, ge=4096)
    # the whole gateway
    total_packets_per_second: Positive = 2_000.0
    total_bytes_per_second: Positive = 4_194_304.0
    # dead-letter rows for anonymous garbage (bad framing/CRC, unknown MN, wrong PW)
    dead_letters_per_second: Positive = 10.0
    dead_letter_burst: AtLeastOne = 100
    flood_summary_seconds: Positive = 60.0
    reassembly_timeout_seconds: Positive = 300.0


class AggregatorSettings(BaseModel):
    """Batch size, wake-up and retry intervals, and the queue lease time."""

    #: station-days per transaction: live data makes small batches anyway; a backlog (history
    #: import, late uploads) drains fastest in big ones (docs/aggregator.md, Measured)
    batch_size: int = Field(10_000, ge=1, le=100_000)
    poll_seconds: float = Field(5.0, gt=0, le=3600)
    retry_seconds: float = Field(2.0, gt=0, le=600)
    #: a claim not finished after this long (its worker died) is taken by another worker
    lease_seconds: float = Field(300.0, ge=1, le=86_400)


class ApiSettings(BaseModel):
    """``ENVMON_API__*``: listener, token (inline or ``token_file``) and pool size."""

    host: str = "127.0.0.1"
    port: Port = 8090
    token: SecretStr | None = None
    token_file: Path | None = None
    pool_size: int = Field(4, ge=1, le=64)
    public_url: str | None = None  # what to print when behind a reverse proxy

    def bearer_token(self) -> str | None:
        """The token, from ``token_file`` when given (so it need not sit in the environment)."""
        if self.token_file is not None:
            text = self.token_file.read_text().strip()
            if not text:
                raise ValueError(f"ENVMON_API__TOKEN_FILE {self.token_file} is empty")
            return text
        return self.token.get_secret_value() if self.token else None

    def checked_token(self) -> str | None:
        """The token to require, or None on loopback without one; refuses an open
        non-loopback bind."""
        token = self.bearer_token()
        if token is None and not is_loopback(self.host):
            raise InsecureBinding(
                f"ENVMON_API__HOST={self.host} is not a loopback address: set ENVMON_API__TOKEN "
                "or ENVMON_API__TOKEN_FILE (clients send 'Authorization: Bearer <token>'), or "
                "put the API behind a reverse proxy on 127.0.0.1 (docs/web.md)")
        return token


class InsecureBinding(ValueError):
    """Listening beyond loopback without a token would publish the data to the network."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class AlertsSettings(BaseModel):
    """Where the rules are and how often the wall-clock duties run."""

    #: the rules file (docs/alerts.md); unset: ``envmon run`` starts no alerts (the demo
    #: uses alerts/pingliang-rules.toml, linked as deploy/alerts/pingliang.toml)
    rules_file: Path | None = None
    #: wall-clock duties (silent stations, reminders, escalation) at least this often; data
    #: are evaluated as soon as a batch's NOTIFY arrives
    tick_seconds: float = Field(5.0, gt=0, le=600)
    #: feed rows (committed batches) per evaluation transaction
    batch_limit: int = Field(500, ge=1, le=100_000)
    retry_seconds: float = Field(2.0, gt=0, le=600)


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
