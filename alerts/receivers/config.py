"""Receiver configuration: the ``[receivers.NAME]`` tables of the rules file.

Secrets never sit in the rules file: each secret ``X`` is given as ``X_file`` (a path whose
content, stripped, is the secret) or ``X_env`` (the name of an environment variable). They are
read when a receiver is built, so ``envmon alerts check`` can validate a file on a machine that
does not hold the secrets.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

HttpUrl = Annotated[str, Field(pattern=r"^https?://[^\s/]+(/\S*)?$")]


class SecretError(ValueError):
    """A secret named by ``*_file`` / ``*_env`` could not be read."""


class _ReceiverBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    # (secret name, required): each becomes the pair of keys NAME_file / NAME_env.
    secrets: ClassVar[tuple[tuple[str, bool], ...]] = ()

    language: Literal["zh", "en"] = "zh"
    # Sends per sliding minute from one sender; more wait in the outbox (not counted as attempts).
    max_per_minute: int | None = Field(None, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _secrets_by_reference(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        for name, required in cls.secrets:
            if name in data:
                raise ValueError(
                    f"{name!r} must not be written inline: use {name}_file or {name}_env"
                )
            given = [k for k in (f"{name}_file", f"{name}_env") if data.get(k) is not None]
            if len(given) > 1:
                raise ValueError(f"give either {name}_file or {name}_env, not both")
            if required and not given:
                raise ValueError(f"{name}_file or {name}_env is required")
        return data

    def secret(self, name: str) -> str | None:
        """The secret ``name`` read from its file or environment variable (None if not set)."""
        path: Path | None = getattr(self, f"{name}_file")
        env: str | None = getattr(self, f"{name}_env")
        if path is not None:
            try:
                value = path.read_text("utf-8").strip()
            except OSError as exc:
                raise SecretError(f"{name}_file {path}: {exc.strerror}") from exc
        elif env is not None:
            value = os.environ.get(env, "").strip()
            if not value:
                raise SecretError(f"{name}_env: environment variable {env} is not set")
        else:
            return None
        if not value:
            raise SecretError(f"{name}: the secret is empty")
        return value

    def required_secret(self, name: str) -> str:
        value = self.secret(name)
        if value is None:
            raise SecretError(f"{name}_file or {name}_env is required")
        return value


class WebhookConfig(_ReceiverBase):
    """Generic JSON webhook, signed with HMAC-SHA256 (docs/alerts-delivery.md)."""

    secrets = (("secret", True),)
    type: Literal["webhook"]
    url: HttpUrl
    secret_file: Path | None = None
    secret_env: str | None = None


class EmailConfig(_ReceiverBase):
    """SMTP submission with STARTTLS (always; a server without STARTTLS is an error)."""

    secrets = (("password", False),)
    type: Literal["email"]
    host: str = Field(min_length=1)
    port: int = Field(587, ge=1, le=65535)
    username: str | None = None
    password_file: Path | None = None
    password_env: str | None = None
    sender: str = Field(alias="from", pattern=r"^[^@\s]+@[^@\s]+$")
    to: list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")]] = Field(min_length=1)
    ca_file: Path | None = Field(None, description="CA bundle for a server with a private CA")


class AlertmanagerConfig(_ReceiverBase):
    """Prometheus Alertmanager, API v2 (``url`` is its base, e.g. http://am:9093)."""

    secrets = (("bearer_token", False),)
    type: Literal["alertmanager"]
    url: HttpUrl
    bearer_token_file: Path | None = None
    bearer_token_env: str | None = None
    # An alert posted without endsAt resolves itself after Alertmanager's resolve_timeout; each
    # firing/reminder post sets endsAt = now + hold instead. It must exceed the `repeat` of the
    # rules routed here (reminders refresh it); the resolve is durable in the outbox, so a long
    # hold only matters if envmon goes away for good.
    firing_hold_s: float = Field(86400.0, gt=0)
    generator_url: HttpUrl | None = None


class DingTalkConfig(_ReceiverBase):
    """DingTalk group robot; with ``secret_*`` set, requests use the signed-URL scheme."""

    secrets = (("access_token", True), ("secret", False))
    type: Literal["dingtalk"]
    max_per_minute: int | None = Field(20, ge=1)  # DingTalk's limit per robot
    url: HttpUrl = "https://oapi.dingtalk.com/robot/send"
    access_token_file: Path | None = None
    access_token_env: str | None = None
    secret_file: Path | None = None
    secret_env: str | None = None


class WeComConfig(_ReceiverBase):
    """WeCom (企业微信) group robot."""

    secrets = (("key", True),)
    type: Literal["wecom"]
    max_per_minute: int | None = Field(20, ge=1)  # WeCom's limit per robot
    url: HttpUrl = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"
    key_file: Path | None = None
    key_env: str | None = None


ReceiverConfig = Annotated[
    WebhookConfig | EmailConfig | AlertmanagerConfig | DingTalkConfig | WeComConfig,
    Field(discriminator="type"),
]
RECEIVER_CONFIG: TypeAdapter[ReceiverConfig] = TypeAdapter(ReceiverConfig)


def parse_receiver(table: Any) -> ReceiverConfig:
    """Validate one ``[receivers.NAME]`` table (raises pydantic.ValidationError)."""
    return RECEIVER_CONFIG.validate_python(table)
