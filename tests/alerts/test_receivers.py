"""Each receiver against a real peer on loopback: what arrives, signed and formatted as the
peer's protocol requires, and which failures are permanent."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import tomllib
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from alerts.receivers import DeliveryError, SecretError, build, parse_receiver
from alerts.receivers.dingtalk import sign
from alerts.templates import render
from tests.alerts.peers import (
    SMTP_PASSWORD,
    SMTP_USER,
    Alertmanager,
    DingTalkPeer,
    SmtpPeer,
    WebhookPeer,
    WeComPeer,
    sample_notification,
    start_alertmanager,
    start_smtp,
)
from tests.conftest import REPO

pytestmark = pytest.mark.integration


def secret_file(tmp_path: Path, name: str, value: str) -> str:
    path = tmp_path / name
    path.write_text(value + "\n")
    return str(path)


# --- configuration ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "error"),
    [
        ({"type": "webhook", "url": "http://h/x", "secret": "s"}, "must not be written inline"),
        ({"type": "webhook", "url": "http://h/x"}, "secret_file or secret_env is required"),
        ({"type": "webhook", "url": "http://h/x", "secret_file": "/a", "secret_env": "B"},
         "not both"),
        ({"type": "webhook", "url": "ftp://h/x", "secret_env": "B"}, "should match pattern"),
        ({"type": "email", "host": "h", "from": "a@b", "to": []}, "at least 1 item"),
        ({"type": "email", "host": "h", "from": "a@b", "to": ["x@y"], "password": "p"},
         "must not be written inline"),
        ({"type": "dingtalk"}, "access_token_file or access_token_env is required"),
        ({"type": "wecom", "key_env": "K", "language": "fr"}, "'zh' or 'en'"),
        ({"type": "pager", "url": "http://h"}, "does not match any of the expected tags"),
        ({"type": "alertmanager", "url": "http://am:9093", "firing_hold_s": 0},
         "greater than 0"),
    ],
)
def test_bad_receiver_config_is_named(table: dict[str, Any], error: str) -> None:
    with pytest.raises(ValidationError, match=error):
        parse_receiver(table)


def test_documented_example_config_is_valid() -> None:
    doc = (REPO / "docs/alerts-delivery.md").read_text()
    example = tomllib.loads(doc.split("```toml\n", 1)[1].split("```", 1)[0])
    parsed = {name: parse_receiver(t) for name, t in example["receivers"].items()}
    assert sorted(c.type for c in parsed.values()) == [
        "alertmanager", "dingtalk", "email", "webhook", "wecom"]
    assert [c.max_per_minute for c in parsed.values() if c.type in ("dingtalk", "wecom")] == [
        20, 20]


def test_missing_secret_is_reported_at_build(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ENVMON_TEST_NO_SUCH_SECRET", raising=False)
    config = parse_receiver({"type": "wecom", "key_env": "ENVMON_TEST_NO_SUCH_SECRET"})
    with pytest.raises(SecretError, match="ENVMON_TEST_NO_SUCH_SECRET is not set"):
        build(config)
    config = parse_receiver({"type": "webhook", "url": "http://h", "secret_file": "/nonexistent"})
    with pytest.raises(SecretError, match="No such file"):
        build(config)


# --- templates: every message names station, parameter, value, limit and clause ---------


@pytest.mark.parametrize(
    ("language", "event", "expected"),
    [
        ("zh", "firing", ["【告警·警告】", "平凉市监测站", "PM2.5", "131 µg/m³", "115 µg/m³",
                          "HJ 633-2012 表1", "2026-03-01 14:00 (北京时间)"]),
        ("zh", "resolved", ["【已恢复·警告】", "恢复时间", "2026-03-01 17:00"]),
        ("zh", "reminder", ["【告警提醒·警告】"]),
        ("zh", "escalation", ["【告警升级·警告】"]),
        ("en", "firing", ["[FIRING, warning]", "pl-air-01", "Limit: 115 µg/m³",
                          "Standard clause: HJ 633-2012", "(Beijing time)", "Summary: PM2.5"]),
        ("en", "resolved", ["[RESOLVED, warning]", "Resolved: 2026-03-01 17:00"]),
    ],
)
def test_message_names_what_the_bureau_needs(
    language: Any, event: str, expected: list[str]
) -> None:
    message = render(sample_notification(event=event), language)
    text = message.text()
    for part in expected:
        assert part in text
    assert message.title in message.markdown()


def test_parameter_without_display_name_keeps_its_code() -> None:
    n = sample_notification(parameter="chla", value=None, limit=None, clause=None)
    text = render(n, "en").text()
    assert "Parameter: chla" in text and "Limit" not in text and "clause" not in text


# --- generic webhook ------------------------------------------------------------------


@pytest.fixture
async def webhook_peer() -> AsyncIterator[WebhookPeer]:
    peer = WebhookPeer("hook-secret")
    await peer.start()
    yield peer
    await peer.stop()


async def test_webhook_is_signed_and_carries_the_key(
    webhook_peer: WebhookPeer, tmp_path: Path
) -> None:
    receiver = build(parse_receiver({
        "type": "webhook", "url": webhook_peer.base_url + "/envmon",
        "secret_file": secret_file(tmp_path, "hook", "hook-secret"), "language": "en",
    }))
    n = sample_notification()
    try:
        await receiver.send(n)
    finally:
        await receiver.close()
    assert webhook_peer.rejected == []
    [got] = webhook_peer.accepted
    assert got.headers["Idempotency-Key"] == n.idempotency_key
    body = got.json()
    assert body["notification"] == n.to_payload()
    assert body["message"]["language"] == "en"
    assert "Limit: 115 µg/m³" in body["message"]["text"]


def documented_verify() -> Callable[[bytes, dict[str, str], bytes], bool]:
    """The receiving side's ``verify`` exactly as docs/alerts-delivery.md prints it."""
    doc = (REPO / "docs/alerts-delivery.md").read_text()
    section = doc.split("**Verifying on the receiving side.**", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {}
    exec(code, namespace)
    verify: Callable[[bytes, dict[str, str], bytes], bool] = namespace["verify"]
    return verify


async def test_documented_verification_accepts_ours_and_refuses_tampering(
    webhook_peer: WebhookPeer, tmp_path: Path
) -> None:
    receiver = build(parse_receiver({
        "type": "webhook", "url": webhook_peer.base_url,
        "secret_file": secret_file(tmp_path, "hook", "hook-secret"),
    }))
    try:
        await receiver.send(sample_notification())
    finally:
        await receiver.close()
    [got] = webhook_peer.accepted
    verify = documented_verify()
    assert verify(b"hook-secret", got.headers, got.body)
    assert not verify(b"other-secret", got.headers, got.body)
    tampered = got.body.replace(b'"value":131.0', b'"value":13.0')
    assert tampered != got.body and not verify(b"hook-secret", got.headers, tampered)
    stale = str(int(got.headers["X-Envmon-Timestamp"]) - 301)
    resigned = "sha256=" + hmac.new(
        b"hook-secret", stale.encode() + b"." + got.body, hashlib.sha256).hexdigest()
    replay = {**got.headers, "X-Envmon-Timestamp": stale, "X-Envmon-Signature": resigned}
    assert not verify(b"hook-secret", replay, got.body), "outside the replay window"


async def test_webhook_with_wrong_secret_is_refused_permanently(
    webhook_peer: WebhookPeer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENVMON_TEST_HOOK_SECRET", "not-the-secret")
    receiver = build(parse_receiver({
        "type": "webhook", "url": webhook_peer.base_url, "secret_env": "ENVMON_TEST_HOOK_SECRET",
    }))
    try:
        with pytest.raises(DeliveryError, match="HTTP 401") as info:
            await receiver.send(sample_notification())
    finally:
        await receiver.close()
    assert info.value.permanent
    assert webhook_peer.accepted == [] and len(webhook_peer.rejected) == 1


async def test_server_errors_are_retryable(webhook_peer: WebhookPeer, tmp_path: Path) -> None:
    webhook_peer.fail_with = 503
    receiver = build(parse_receiver({
        "type": "webhook", "url": webhook_peer.base_url,
        "secret_file": secret_file(tmp_path, "hook", "hook-secret"),
    }))
    try:
        with pytest.raises(DeliveryError, match="HTTP 503") as info:
            await receiver.send(sample_notification())
        await webhook_peer.stop()
        with pytest.raises(DeliveryError, match=r"Client\w*Error|Disconnected") as refused:
            await receiver.send(sample_notification())
    finally:
        await receiver.close()
    assert not info.value.permanent and not refused.value.permanent


# --- e-mail over STARTTLS ---------------------------------------------------------------


@pytest.fixture
def smtp_peer(tmp_path: Path) -> Iterator[SmtpPeer]:
    peer = start_smtp(tmp_path)
    yield peer
    peer.controller.stop()


def email_table(peer: SmtpPeer, tmp_path: Path, password: str, **kw: Any) -> dict[str, Any]:
    return {
        "type": "email", "host": peer.host, "port": peer.port, "username": SMTP_USER,
        "password_file": secret_file(tmp_path, "smtp", password), "from": "envmon@pl.example",
        "to": ["duty@pl.example", "chief@pl.example"], "ca_file": str(peer.cert), **kw,
    }


async def test_email_arrives_over_starttls_with_auth(smtp_peer: SmtpPeer, tmp_path: Path) -> None:
    receiver = build(parse_receiver(email_table(smtp_peer, tmp_path, SMTP_PASSWORD)))
    n = sample_notification()
    await receiver.send(n)
    [mail] = smtp_peer.received
    assert mail.tls and mail.login == SMTP_USER
    assert mail.rcpt_tos == ["duty@pl.example", "chief@pl.example"]
    assert mail.message["Subject"] == "【告警·警告】平凉市监测站 PM2.5"
    assert mail.message["X-Envmon-Idempotency-Key"] == n.idempotency_key
    body = mail.message.get_content()
    for part in ("平凉市监测站 (pl-air-01)", "131 µg/m³", "115 µg/m³", "HJ 633-2012 表1"):
        assert part in body
    await receiver.send(n)
    assert smtp_peer.received[1].message["Message-ID"] == mail.message["Message-ID"], (
        "a retry carries the same Message-ID"
    )


async def test_email_with_wrong_password_is_permanent(
    smtp_peer: SmtpPeer, tmp_path: Path
) -> None:
    receiver = build(parse_receiver(email_table(smtp_peer, tmp_path, "wrong")))
    with pytest.raises(DeliveryError, match="SMTP 535") as info:
        await receiver.send(sample_notification())
    assert info.value.permanent and smtp_peer.received == []


async def test_email_to_unknown_recipients_is_permanent(
    smtp_peer: SmtpPeer, tmp_path: Path
) -> None:
    table = email_table(smtp_peer, tmp_path, SMTP_PASSWORD, to=["ghost@nowhere.example"])
    receiver = build(parse_receiver(table))
    refused = re.escape("refused every recipient: ghost@nowhere.example 550")
    with pytest.raises(DeliveryError, match=refused) as info:
        await receiver.send(sample_notification())
    assert info.value.permanent and smtp_peer.received == []


async def test_email_refuses_a_server_it_cannot_verify(
    smtp_peer: SmtpPeer, tmp_path: Path
) -> None:
    table = email_table(smtp_peer, tmp_path, SMTP_PASSWORD)
    del table["ca_file"]
    receiver = build(parse_receiver(table))
    with pytest.raises(DeliveryError, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify"):
        await receiver.send(sample_notification())
    assert smtp_peer.received == []


# --- Prometheus Alertmanager ------------------------------------------------------------


@pytest.fixture(scope="module")
def alertmanager() -> Iterator[Alertmanager]:
    am = start_alertmanager()
    yield am
    am.stop()


async def test_alertmanager_shows_then_resolves(alertmanager: Alertmanager) -> None:
    receiver = build(parse_receiver({"type": "alertmanager", "url": alertmanager.url}))
    now = datetime.now(UTC).replace(microsecond=0)
    firing = sample_notification(episode_id=41, started_at=now - timedelta(hours=2),
                                 observed_at=now, labels={"team": "air", "bad-key": "x"})
    try:
        await receiver.send(firing)
        [alert] = [a for a in alertmanager.alerts() if a["labels"].get("rule")]
        assert alert["status"]["state"] == "active"
        labels = alert["labels"]
        assert labels["alertname"] == labels["rule"] == "pm25_hourly_high"
        assert (labels["station"], labels["severity"], labels["team"]) == (
            "pl-air-01", "warning", "air")
        assert labels["bad_key"] == "x", "label names are made valid for Alertmanager"
        assert alert["annotations"]["idempotency_key"] == firing.idempotency_key
        assert "HJ 633-2012" in alert["annotations"]["description"]
        assert datetime.fromisoformat(alert["endsAt"]) > now + timedelta(hours=1)
        await receiver.send(sample_notification(
            episode_id=41, event="reminder", seq=1, started_at=firing.started_at,
            observed_at=now, labels=firing.labels))
        assert len([a for a in alertmanager.alerts() if a["labels"].get("rule")]) == 1, (
            "a reminder re-posts the same alert, it does not add one"
        )
        await receiver.send(sample_notification(
            episode_id=41, event="resolved", started_at=firing.started_at,
            ended_at=now - timedelta(seconds=1), observed_at=now, labels=firing.labels))
        assert [a for a in alertmanager.alerts() if a["labels"].get("rule")] == []
    finally:
        await receiver.close()


# --- DingTalk and WeCom robots --------------------------------------------------------------


def test_dingtalk_sign_matches_the_documented_example() -> None:
    """DingTalk's documented recipe, computed here independently of the receiver's code."""
    secret, ts = "SECtest", 1700000000000
    mac = hmac.new(secret.encode(), f"{ts}\n{secret}".encode(), hashlib.sha256).digest()
    assert sign(secret, ts) == base64.b64encode(mac).decode()


@pytest.mark.parametrize(("secret", "accepted"), [("SECgood", True), ("SECwrong", False)])
async def test_dingtalk_signed_url(
    secret: str, accepted: bool, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    peer = DingTalkPeer(access_token="tok-123", secret="SECgood")
    await peer.start()
    monkeypatch.setenv("ENVMON_TEST_DINGTALK_TOKEN", "tok-123")
    receiver = build(parse_receiver({
        "type": "dingtalk", "url": peer.base_url + "/robot/send",
        "access_token_env": "ENVMON_TEST_DINGTALK_TOKEN",
        "secret_file": secret_file(tmp_path, "ding", secret),
    }))
    try:
        if accepted:
            await receiver.send(sample_notification())
            [got] = peer.accepted
            markdown = got.json()["markdown"]
            assert markdown["title"].startswith("【告警")
            assert "HJ 633-2012 表1" in markdown["text"]
        else:
            with pytest.raises(DeliveryError, match="errcode 310000") as info:
                await receiver.send(sample_notification())
            assert info.value.permanent and peer.accepted == []
    finally:
        await receiver.close()
        await peer.stop()


async def test_wecom_markdown(monkeypatch: pytest.MonkeyPatch) -> None:
    peer = WeComPeer(key="693a91f6-7xxx")
    await peer.start()
    monkeypatch.setenv("ENVMON_TEST_WECOM_KEY", "693a91f6-7xxx")
    receiver = build(parse_receiver({
        "type": "wecom", "url": peer.base_url + "/cgi-bin/webhook/send",
        "key_env": "ENVMON_TEST_WECOM_KEY", "language": "en",
    }))
    try:
        await receiver.send(sample_notification(event="resolved"))
        [got] = peer.accepted
        content = got.json()["markdown"]["content"]
        assert content.startswith("### [RESOLVED, warning]")
        assert "**Standard clause**: HJ 633-2012 表1" in content
        monkeypatch.setenv("ENVMON_TEST_WECOM_KEY", "wrong")
        wrong = build(parse_receiver({
            "type": "wecom", "url": peer.base_url + "/cgi-bin/webhook/send",
            "key_env": "ENVMON_TEST_WECOM_KEY",
        }))
        with pytest.raises(DeliveryError, match="errcode 93000"):
            await wrong.send(sample_notification())
        await wrong.close()
    finally:
        await receiver.close()
        await peer.stop()
