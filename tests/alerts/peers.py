"""Real peers on loopback for the delivery tests, and the sample data they receive.

Each peer is the real thing or speaks the real request format: Debian's prometheus-alertmanager
process, an aiosmtpd SMTP server with STARTTLS, and aiohttp servers for the generic webhook and
the DingTalk / WeCom group robots.
"""

from __future__ import annotations

import asyncio
import base64
import email.policy
import hashlib
import hmac
import json
import shutil
import ssl
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from alerts.notification import Notification
from envmon import db
from envmon.settings import StorageSettings
from tests.conftest import create_database, drop_database, free_port, stop_process

T0 = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)


def sample_notification(
    receiver: str = "ops", episode_id: int = 1, event: str = "firing", seq: int = 0, **kw: Any
) -> Notification:
    """An hourly PM2.5 breach at a Pingliang station (115 µg/m³: IAQI 150, HJ 633-2012 Table 1)."""
    fields: dict[str, Any] = {
        "idempotency_key": f"{episode_id}:{event}:{seq}:{receiver}",
        "receiver": receiver,
        "episode_id": episode_id,
        "event": event,
        "rule": "pm25_hourly_high",
        "severity": "warning",
        "labels": {"team": "air"},
        "subject_kind": "station",
        "subject_id": "pl-air-01",
        "subject_name": "平凉市监测站",
        "city": "平凉市",
        "county": "崆峒区",
        "parameter": "pm25",
        "value": 131.0,
        "limit": 115.0,
        "unit": "µg/m³",
        "clause": "HJ 633-2012 表1",
        "summary": "PM2.5 hourly 131 > 115 µg/m³ for 2h at pl-air-01",
        "started_at": T0,
        "ended_at": T0.replace(hour=9) if event == "resolved" else None,
        "observed_at": T0.replace(hour=9) if event == "resolved" else T0,
    }
    fields.update(kw)
    return Notification(**fields)


@asynccontextmanager
async def migrated_database() -> AsyncIterator[str]:
    """A database of its own (the outbox tests count every row in alert_outbox)."""
    url = await asyncio.to_thread(create_database, "envmon_alerts_delivery")
    try:
        async with await db.connect(url) as conn:
            await db.migrate(conn, StorageSettings(backend="plain"))
        yield url
    finally:
        await asyncio.to_thread(drop_database, url)


# --- Prometheus Alertmanager (Debian's prometheus-alertmanager) ---------------------------

AM_CONFIG = """\
route:
  receiver: blackhole
  group_wait: 1h
receivers:
  - name: blackhole
"""


@dataclass
class Alertmanager:
    url: str
    process: subprocess.Popen[bytes]
    workdir: Path

    def alerts(self) -> list[dict[str, Any]]:
        """GET /api/v2/alerts: the alerts it holds as active (resolved ones are left out)."""
        with urllib.request.urlopen(self.url + "/api/v2/alerts", timeout=5) as resp:
            result: list[dict[str, Any]] = json.load(resp)
            return result

    def stop(self) -> None:
        stop_process(self.process)
        shutil.rmtree(self.workdir, ignore_errors=True)


def start_alertmanager() -> Alertmanager:
    """The real Alertmanager on a free loopback port, no clustering, temporary storage."""
    exe = shutil.which("prometheus-alertmanager")
    if exe is None:
        pytest.exit("prometheus-alertmanager is not installed (apt-get install "
                    "prometheus-alertmanager)", returncode=3)
    workdir = Path(tempfile.mkdtemp(prefix="envmon-am-"))
    (workdir / "alertmanager.yml").write_text(AM_CONFIG)
    port = free_port()
    with (workdir / "alertmanager.log").open("wb") as log:
        proc = subprocess.Popen(
            [exe, f"--config.file={workdir / 'alertmanager.yml'}",
             f"--storage.path={workdir / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
             "--cluster.listen-address="],
            stdout=log, stderr=subprocess.STDOUT,
        )
    am = Alertmanager(f"http://127.0.0.1:{port}", proc, workdir)
    deadline = time.monotonic() + 60  # generous: the test machine is shared and busy
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.exit(f"alertmanager exited {proc.returncode}: "
                        f"{(workdir / 'alertmanager.log').read_text()}", returncode=3)
        try:
            with urllib.request.urlopen(am.url + "/-/ready", timeout=1):
                return am
        except OSError:
            time.sleep(0.1)
    am.stop()
    pytest.exit("alertmanager did not become ready within 60 s", returncode=3)


# --- SMTP with STARTTLS (aiosmtpd) --------------------------------------------------------


def self_signed_cert(workdir: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (openssl CLI); the client trusts it as its CA file."""
    cert, key = workdir / "cert.pem", workdir / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return cert, key


@dataclass
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    tls: bool
    login: str | None


class _MailHandler:
    def __init__(self) -> None:
        self.received: list[ReceivedMail] = []

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address.endswith("@nowhere.example"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = BytesParser(policy=email.policy.default).parsebytes(envelope.content)
        assert isinstance(parsed, EmailMessage)
        login = session.auth_data if session.authenticated else None
        self.received.append(ReceivedMail(
            envelope.mail_from, list(envelope.rcpt_tos), parsed, session.ssl is not None, login
        ))
        return "250 OK"


@dataclass
class SmtpPeer:
    host: str
    port: int
    cert: Path
    handler: _MailHandler
    controller: Controller

    @property
    def received(self) -> list[ReceivedMail]:
        return self.handler.received


SMTP_USER, SMTP_PASSWORD = "envmon", "s3cret-smtp"


def start_smtp(workdir: Path) -> SmtpPeer:
    """aiosmtpd requiring STARTTLS and then AUTH (user envmon, password SMTP_PASSWORD)."""
    cert, key = self_signed_cert(workdir)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str,
                      auth_data: Any) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (
            auth_data.login.decode(), auth_data.password.decode()
        ) == (SMTP_USER, SMTP_PASSWORD)
        return AuthResult(success=ok, handled=False, auth_data=SMTP_USER if ok else None)

    handler = _MailHandler()
    port = free_port()
    controller = Controller(
        handler, hostname="127.0.0.1", port=port, tls_context=ctx, require_starttls=True,
        auth_required=True, authenticator=authenticator, ready_timeout=30,
    )
    controller.start()
    return SmtpPeer("127.0.0.1", port, cert, handler, controller)


# --- HTTP peers: signed webhook, DingTalk and WeCom robots --------------------------------


@dataclass
class Received:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class HttpPeer:
    """An aiohttp server on loopback that records accepted requests.

    ``fail_with`` makes it answer every request with that status (and ``fail_headers``);
    ``stop``/``start`` take it
    off the network and back on the same port (connection refused meanwhile); ``delay_s``
    holds each answer (to widen races between two senders).
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.arrived = 0
        self.accepted: list[Received] = []
        self._accepted_more = asyncio.Event()
        self.rejected: list[tuple[Received, str]] = []
        self.fail_with: int | None = None
        self.fail_headers: dict[str, str] = {}
        self.delay_s = 0.0
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def check(self, request: Received) -> tuple[int, Any]:
        """(status, JSON reply) for a request; subclasses speak their peer's protocol."""
        return 200, {"ok": True}

    async def _handle(self, request: web.Request) -> web.Response:
        got = Received(request.path, dict(request.query), dict(request.headers),
                       await request.read())
        self.arrived += 1
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.fail_with is not None:
            self.rejected.append((got, f"HTTP {self.fail_with}"))
            return web.Response(status=self.fail_with, text="unavailable",
                                headers=self.fail_headers)
        status, reply = self.check(got)
        if status == 200 and reply.get("errcode", 0) == 0:
            self.accepted.append(got)
            self._accepted_more.set()
        else:
            self.rejected.append((got, json.dumps(reply)))
        return web.json_response(reply, status=status)

    async def wait_accepted(self, n: int) -> None:
        """Return once ``n`` requests in all have been accepted."""
        while len(self.accepted) < n:
            self._accepted_more.clear()
            await self._accepted_more.wait()

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        # A client that went away (a killed sender) cancels its handler; shutdown never waits
        # on a held answer.
        self._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


REPLAY_WINDOW_S = 300


class WebhookPeer(HttpPeer):
    """The receiving side of the generic webhook, verifying as docs/alerts-delivery.md says."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret.encode()

    def check(self, request: Received) -> tuple[int, Any]:
        timestamp = request.headers.get("X-Envmon-Timestamp", "")
        signature = request.headers.get("X-Envmon-Signature", "")
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > REPLAY_WINDOW_S:
            return 401, {"error": "stale or missing timestamp"}
        expected = "sha256=" + hmac.new(
            self.secret, timestamp.encode() + b"." + request.body, hashlib.sha256
        ).hexdigest()
        if not hmac.compare_digest(expected, signature):
            return 401, {"error": "bad signature"}
        return 200, {"ok": True}


class DingTalkPeer(HttpPeer):
    """Speaks DingTalk's custom-robot API: /robot/send?access_token=&timestamp=&sign=."""

    def __init__(self, access_token: str, secret: str) -> None:
        super().__init__()
        self.access_token, self.secret = access_token, secret

    def check(self, request: Received) -> tuple[int, Any]:
        q = request.query  # aiohttp has already URL-decoded the sign parameter
        if request.path != "/robot/send" or q.get("access_token") != self.access_token:
            return 200, {"errcode": 300001, "errmsg": "token is not exist"}
        ts = q.get("timestamp", "")
        string_to_sign = f"{ts}\n{self.secret}".encode()
        expected = base64.b64encode(
            hmac.new(self.secret.encode(), string_to_sign, hashlib.sha256).digest()
        ).decode()
        if not ts.isdigit() or abs(time.time() * 1000 - int(ts)) > 3600_000:
            return 200, {"errcode": 310000, "errmsg": "invalid timestamp"}
        if q.get("sign") != expected:
            return 200, {"errcode": 310000, "errmsg": "sign not match"}
        body = request.json()
        md = body.get("markdown", {})
        if body.get("msgtype") != "markdown" or not md.get("title") or not md.get("text"):
            return 200, {"errcode": 40035, "errmsg": "missing parameter"}
        return 200, {"errcode": 0, "errmsg": "ok"}


class WeComPeer(HttpPeer):
    """Speaks WeCom's group-robot API: /cgi-bin/webhook/send?key=, markdown ≤ 4096 bytes,
    at most ``per_minute`` messages a minute (WeCom: 20)."""

    def __init__(self, key: str, per_minute: int = 20) -> None:
        super().__init__()
        self.key = key
        self.per_minute = per_minute

    def check(self, request: Received) -> tuple[int, Any]:
        if request.path != "/cgi-bin/webhook/send" or request.query.get("key") != self.key:
            return 200, {"errcode": 93000, "errmsg": "invalid webhook url"}
        body = request.json()
        content = body.get("markdown", {}).get("content", "")
        if body.get("msgtype") != "markdown" or not content:
            return 200, {"errcode": 40008, "errmsg": "invalid message type"}
        if len(content.encode()) > 4096:
            return 200, {"errcode": 40058, "errmsg": "markdown.content exceed max length 4096"}
        if len(self.accepted) >= self.per_minute:  # tests last well under a minute
            return 200, {"errcode": 45009, "errmsg": "api freq out of limit"}
        return 200, {"errcode": 0, "errmsg": "ok"}
