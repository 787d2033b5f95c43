"""Receivers: where notifications go, configured as ``[receivers.NAME]`` in the rules file.

``parse_receiver`` validates one table (the rules loader calls it, so ``envmon alerts check``
reports receiver errors too); ``build`` turns a validated config into a sender, reading its
secrets from their files or environment variables.
"""

from __future__ import annotations

from alerts.receivers.alertmanager import AlertmanagerReceiver
from alerts.receivers.base import DeliveryError, Receiver
from alerts.receivers.config import (
    AlertmanagerConfig,
    DingTalkConfig,
    EmailConfig,
    ReceiverConfig,
    SecretError,
    WebhookConfig,
    WeComConfig,
    parse_receiver,
)
from alerts.receivers.dingtalk import DingTalkReceiver
from alerts.receivers.smtp import EmailReceiver
from alerts.receivers.webhook import WebhookReceiver
from alerts.receivers.wecom import WeComReceiver

__all__ = [
    "DeliveryError",
    "Receiver",
    "ReceiverConfig",
    "SecretError",
    "build",
    "parse_receiver",
]


def build(config: ReceiverConfig) -> Receiver:
    """The receiver for ``config``; raises SecretError when a secret cannot be read."""
    match config:
        case WebhookConfig():
            return WebhookReceiver(config)
        case EmailConfig():
            return EmailReceiver(config)
        case AlertmanagerConfig():
            return AlertmanagerReceiver(config)
        case DingTalkConfig():
            return DingTalkReceiver(config)
        case WeComConfig():
            return WeComReceiver(config)
