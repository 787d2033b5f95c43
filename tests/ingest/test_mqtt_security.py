"""Broker credentials and TLS against a real Mosquitto that refuses anonymous clients."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import Broker, free_port, start_mosquitto, stop_mosquitto
from tests.ingest import support as kit

pytestmark = pytest.mark.integration
ids = kit.unique("sec")


@dataclass
class SecureBroker:
    broker: Broker
    tls_port: int
    ca: Path
    password_file: Path


def _run(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def secure_broker() -> Iterator[SecureBroker]:
    d = Path(tempfile.mkdtemp(prefix="envmon-mqtt-sec-"))  # readable by the broker's user
    d.chmod(0o755)
    _run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=envmon test CA", "-keyout", str(d / "ca.key"), "-out", str(d / "ca.crt"))
    _run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
         "-keyout", str(d / "server.key"), "-out", str(d / "server.csr"))
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _run("openssl", "x509", "-req", "-in", str(d / "server.csr"), "-CA", str(d / "ca.crt"),
         "-CAkey", str(d / "ca.key"), "-CAcreateserial", "-days", "1",
         "-extfile", str(d / "san.ext"), "-out", str(d / "server.crt"))
    passwd = d / "passwd"
    _run("mosquitto_passwd", "-b", "-c", str(passwd), "station-writer", "s3cret!")
    for f in d.iterdir():
        f.chmod(0o644)
    tls_port = free_port()
    broker = start_mosquitto(anonymous=False, extra_config=(
        f"password_file {passwd}\n"
        f"listener {tls_port} 127.0.0.1\n"
        f"cafile {d / 'ca.crt'}\ncertfile {d / 'server.crt'}\nkeyfile {d / 'server.key'}\n"))
    yield SecureBroker(broker, tls_port, d / "ca.crt", passwd)
    stop_mosquitto(broker)
    shutil.rmtree(d, ignore_errors=True)


def test_tls_with_password_from_file(database_url: str, secure_broker: SecureBroker,
                                     tmp_path: Path) -> None:
    sid = next(ids)
    kit.register_air(database_url, [sid])
    secret = tmp_path / "mqtt-password"
    secret.write_text("s3cret!\n")
    ingest = kit.IngestProcess(
        database_url, f"mqtts://station-writer@127.0.0.1:{secure_broker.tls_port}", next(ids),
        extra_env={"ENVMON_MQTT_PASSWORD_FILE": str(secret),
                   "ENVMON_MQTT_CA_FILE": str(secure_broker.ca)}).start()
    try:
        kit.publish_all(secure_broker.broker, kit.air_messages(sid, 20),
                        username="station-writer", password="s3cret!")
        w = kit.Waiter(database_url)
        assert w.until("SELECT count(*) FROM readings WHERE station_id = %s", 120, sid) == 120
    finally:
        assert ingest.stop() == 0


@pytest.mark.parametrize("how", ["wrong password", "untrusted certificate"])
def test_refused_connection_never_becomes_ready(database_url: str,
                                                secure_broker: SecureBroker, how: str) -> None:
    env = {"ENVMON_MQTT_CA_FILE": str(secure_broker.ca)}
    url = f"mqtts://station-writer:nope@127.0.0.1:{secure_broker.tls_port}"
    if how == "untrusted certificate":
        env = {}  # the system trust store does not know our test CA
        url = f"mqtts://station-writer:s3cret!@127.0.0.1:{secure_broker.tls_port}"
    ingest = kit.IngestProcess(database_url, url, next(ids), extra_env=env)
    with pytest.raises(RuntimeError, match="not ready"):
        ingest.start(timeout=6)
    assert ingest.log_path is not None
    log = ingest.log_path.read_text()
    assert ("refused the connection" in log) if how == "wrong password" else (
        "CERTIFICATE_VERIFY_FAILED" in log)
