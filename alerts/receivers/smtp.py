"""E-mail over SMTP submission with STARTTLS (aiosmtplib); type ``email`` in the rules file.

The Message-ID is derived from the idempotency key, so a retry after a lost reply carries the
same Message-ID and mail systems that de-duplicate by it show one message.
"""

from __future__ import annotations

import hashlib
import ssl
from email.message import EmailMessage
from email.utils import formatdate

import aiosmtplib

from alerts.notification import Notification
from alerts.receivers.base import DeliveryError
from alerts.receivers.config import EmailConfig
from alerts.templates import render


def message_id(n: Notification, sender: str) -> str:
    digest = hashlib.sha256(n.idempotency_key.encode()).hexdigest()[:32]
    return f"<envmon.{digest}@{sender.rsplit('@', 1)[1]}>"


class EmailReceiver:
    def __init__(self, config: EmailConfig) -> None:
        self._config = config
        self.max_per_minute = config.max_per_minute
        self._password = config.secret("password")
        self._tls = ssl.create_default_context(
            cafile=str(config.ca_file) if config.ca_file else None
        )

    def message(self, n: Notification) -> EmailMessage:
        rendered = render(n, self._config.language)
        msg = EmailMessage()
        msg["Subject"] = rendered.title
        msg["From"] = self._config.sender
        msg["To"] = ", ".join(self._config.to)
        msg["Date"] = formatdate(usegmt=True)
        msg["Message-ID"] = message_id(n, self._config.sender)
        msg["X-Envmon-Idempotency-Key"] = n.idempotency_key
        msg.set_content(rendered.text())
        return msg

    async def send(self, n: Notification) -> None:
        try:
            await aiosmtplib.send(
                self.message(n),
                hostname=self._config.host,
                port=self._config.port,
                start_tls=True,
                tls_context=self._tls,
                username=self._config.username,
                password=self._password,
                timeout=None,  # the sender bounds the whole send (DeliverySettings.timeout_s)
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refused = ", ".join(f"{r.recipient} {r.code}" for r in exc.recipients)
            raise DeliveryError(
                f"SMTP refused every recipient: {refused}",
                permanent=all(r.code >= 500 for r in exc.recipients),
            ) from exc
        except aiosmtplib.SMTPResponseException as exc:
            # 5yz replies are permanent by RFC 5321 (bad recipient, auth refused); 4yz are not.
            permanent = exc.code >= 500
            raise DeliveryError(f"SMTP {exc.code}: {exc.message}", permanent=permanent) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc

    async def close(self) -> None:
        """Nothing to release: each send opens and closes its own SMTP session."""
