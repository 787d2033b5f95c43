"""`envmon stations acl` against a real Mosquitto with password authentication: station A can
publish its own topic, and A's message to station B's topic never reaches the ingest
subscriber (MQTT 5 even answers it with "not authorized")."""

from __future__ import annotations

import queue
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
import pytest
from click.testing import CliRunner
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode

from app.cli import main
from envmon.mosquitto_acl import FORMATS
from envmon.stations import StationRegistry
from ingest.router import station_decoders
from tests.conftest import start_mosquitto, stop_mosquitto

pytestmark = pytest.mark.integration
A, B = "acl-A", "acl-B"


def test_acl_formats_are_the_router_formats() -> None:
    decoders, _ = station_decoders(StationRegistry())
    assert set(FORMATS) == set(decoders)


def client(port: int, user: str, password: str) -> mqtt.Client:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-{user}",
                   protocol=MQTTProtocolVersion.MQTTv5)
    c.username_pw_set(user, password)
    connected: queue.Queue[Any] = queue.Queue()
    c.on_connect = lambda _c, _u, _f, rc, _p: connected.put(rc)
    c.connect("127.0.0.1", port)
    c.loop_start()
    assert not connected.get(timeout=10).is_failure
    return c


@pytest.fixture
def broker_dir() -> Iterator[Path]:
    """A directory the broker can read after dropping root (pytest's tmp_path is 0700)."""
    path = Path(tempfile.mkdtemp(prefix="envmon-acl-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


def test_station_publishes_only_its_own_topics(database_url: str, broker_dir: Path) -> None:
    with psycopg.connect(database_url) as conn:
        for sid in (A, B):
            conn.execute("INSERT INTO stations (station_id, kind, name) VALUES (%s, 'air', %s)"
                         " ON CONFLICT DO NOTHING", (sid, sid))
    acl = broker_dir / "envmon.acl"
    run = CliRunner().invoke(main, ["stations", "acl", "-o", str(acl)],
                             env={"ENVMON_DATABASE_URL": database_url})
    assert run.exit_code == 0, run.output
    assert "mosquitto_passwd" in run.output  # the password-file step is spelled out
    text = acl.read_text()
    assert f"user {A}\ntopic write envmon/v1/{A}/data\n" in text

    passwd = broker_dir / "passwd"
    passwd.touch()
    for user in ("envmon-ingest", A, B):
        subprocess.run(["mosquitto_passwd", "-b", str(passwd), user, f"pw-{user}"], check=True)
    passwd.chmod(0o644)  # the broker drops privileges to the mosquitto user
    broker = start_mosquitto(f"password_file {passwd}\nacl_file {acl}\n", anonymous=False)
    try:
        received: queue.Queue[tuple[str, bytes]] = queue.Queue()
        sub = client(broker.port, "envmon-ingest", "pw-envmon-ingest")
        subscribed: queue.Queue[Any] = queue.Queue()
        sub.on_subscribe = lambda _c, _u, _m, codes, _p: subscribed.put(codes)
        sub.on_message = lambda _c, _u, msg: received.put((msg.topic, bytes(msg.payload)))
        sub.subscribe("$share/ingest/envmon/v1/+/data", qos=1)
        assert not subscribed.get(timeout=10)[0].is_failure

        acks: queue.Queue[tuple[int, ReasonCode]] = queue.Queue()
        pub = client(broker.port, A, f"pw-{A}")
        pub.on_publish = lambda _c, _u, mid, rc, _p: acks.put((mid, rc))
        forged = pub.publish(f"envmon/v1/{B}/data", b"forged by A", qos=1)
        own = pub.publish(f"envmon/v1/{A}/data", b"from A", qos=1)
        codes = dict(acks.get(timeout=10) for _ in range(2))
        assert codes[forged.mid].value == 0x87  # MQTT 5: not authorized
        assert not codes[own.mid].is_failure
        # One publisher's QoS 1 messages are delivered in order: A's own message arrives and
        # nothing came before it, so the forged one was dropped, not merely late.
        assert received.get(timeout=10) == (f"envmon/v1/{A}/data", b"from A")
        assert received.empty()
        for c in (pub, sub):
            c.loop_stop()
            c.disconnect()
    finally:
        stop_mosquitto(broker)
