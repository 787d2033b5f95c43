"""Where the API and status page listen, and the bearer token that guards them off loopback."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr

DEFAULT_PORT = 8090


class ApiSettings(BaseModel):
    """``ENVMON_API__*``: listener, token (inline or ``token_file``) and pool size."""

    host: str = "127.0.0.1"
    port: int = Field(DEFAULT_PORT, ge=0, le=65535)
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


class InsecureBinding(ValueError):
    """Listening beyond loopback without a token would publish the data to the network."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def checked_token(settings: ApiSettings) -> str | None:
    """The token to require, or None on loopback without one; refuses an open non-loopback bind."""
    token = settings.bearer_token()
    if token is None and not is_loopback(settings.host):
        raise InsecureBinding(
            f"ENVMON_API__HOST={settings.host} is not a loopback address: set ENVMON_API__TOKEN "
            "or ENVMON_API__TOKEN_FILE (clients send 'Authorization: Bearer <token>'), or put "
            "the API behind a reverse proxy on 127.0.0.1 (docs/web.md)")
    return token
