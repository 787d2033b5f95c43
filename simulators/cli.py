"""``envmon simulate …``: stations, faults, load and real-data replay."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Callable, Coroutine, Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TextIO, TypeVar

import click

from envmon.beijing_time import BEIJING
from envmon.clikit import load_settings, setup_logging
from envmon.settings import MqttTarget, Settings
from envmon.stations import Station, parse_station_file
from simulators.demo import pingliang_file
from simulators.document import Message
from simulators.encode import JsonEncoder
from simulators.faults import FaultRates
from simulators.load import load_stations, run_load
from simulators.play import MqttSink, PlayStats, Sink, play
from simulators.publish import Publisher
from simulators.replay import history, prsa_files
from simulators.station import Cadence
from simulators.stream import Run, Scenario, floor_hour
from simulators.tcp import Hj212TcpSink

T = TypeVar("T")
DEFAULT_PRSA = Path(__file__).resolve().parents[2] / "shared" / "data" / "beijing-prsa"


def _target(settings: Settings) -> MqttTarget:
    return settings.mqtt_target() or MqttTarget(host="127.0.0.1", port=1883, tls=False)


def _run_until_signal(coro_factory: Callable[[asyncio.Event], Coroutine[Any, Any, T]]) -> T:
    """Run ``coro_factory(stop)``; SIGINT/SIGTERM set ``stop`` so runs end cleanly."""

    async def main() -> T:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        return await coro_factory(stop)

    return asyncio.run(main())


def _parse_time(text: str) -> datetime:
    ts = datetime.fromisoformat(text)
    return ts if ts.tzinfo else ts.replace(tzinfo=BEIJING)


def _report(stats: PlayStats) -> None:
    click.echo(f"{stats.messages} messages in {stats.seconds:.1f} s ({stats.rate:,.0f}/s)")
    if stats.faults:
        click.echo("faults: " + ", ".join(f"{k}={v}" for k, v in sorted(stats.faults.items())))


def _write_jsonl(messages: Iterable[tuple[datetime, Message]], out: TextIO, prefix: str) -> int:
    n = 0
    for due, msg in messages:
        out.write(json.dumps({"due": due.isoformat(), "topic": msg.topic(prefix),
                              "payload": msg.payload.decode("utf-8", "replace"),
                              "faults": list(msg.faults)}, ensure_ascii=False) + "\n")
        n += 1
    return n


async def _send(messages: Iterable[tuple[datetime, Message]], settings: Settings, *,
                transport: str, gateway: str, speed: float | None, live: bool, window: int,
                stop: asyncio.Event) -> PlayStats:
    if transport == "tcp":
        host, _, port = gateway.rpartition(":")
        sink = Hj212TcpSink(host or "127.0.0.1", int(port))
        try:
            return await play(messages, sink, speed=speed, live=live, stop=stop)
        finally:
            await sink.close()
            click.echo(sink.summary())
    ca = str(settings.mqtt_ca_file) if settings.mqtt_ca_file else None
    async with Publisher(_target(settings), window=window, ca_file=ca) as publisher:
        mqtt: Sink = MqttSink(publisher, settings.topic_prefix)
        return await play(messages, mqtt, speed=speed, live=live, stop=stop)


def _stations(path: Path | None) -> list[Station]:
    return parse_station_file(path or pingliang_file())


@click.group("simulate")
def simulate() -> None:
    """Simulated stations: demo, fault injection, load, time compression, real-data replay.

    Publishes to ENVMON_MQTT_URL (default mqtt://127.0.0.1:1883) under ENVMON_TOPIC_PREFIX.
    The stations must be registered (`envmon stations import FILE`) or ingest rejects them.
    """


_stations_opt = click.option("--stations", "stations_file", type=click.Path(
    exists=True, dir_okay=False, path_type=Path), help="Stations file (default: Pingliang).")
_seed_opt = click.option("--seed", type=int, default=0, show_default=True)
_faults_opt = click.option("--faults", default="", metavar="SPEC",
                           help="e.g. duplicate=0.01,offline=0.002 ('demo' for a mild mix).")
_window_opt = click.option("--window", type=click.IntRange(1, 60_000), default=5000,
                           show_default=True, help="Max unacknowledged QoS 1 messages.")
_out_opt = click.option("--out", type=click.File("w"),
                        help="Write messages as JSON lines here instead of publishing.")


def _faults(spec: str) -> FaultRates:
    try:
        return FaultRates.demo() if spec == "demo" else FaultRates.parse(spec)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--faults") from exc


@simulate.command("run")
@_stations_opt
@_seed_opt
@_faults_opt
@_window_opt
@_out_opt
@click.option("--start", help="First hour (ISO 8601, Beijing if no offset). Default: HOURS ago.")
@click.option("--hours", type=click.IntRange(1), default=24, show_default=True)
@click.option("--realtime", "realtime_seconds", type=click.IntRange(30, 3600),
              help="Real-time documents every N seconds (30-3600).")
@click.option("--minute", "minute_interval", type=click.Choice(
    ["1", "2", "3", "4", "5", "6", "10", "12", "15", "20", "30"]), help="Minute documents.")
@click.option("--no-daily", is_flag=True, help="Leave out daily documents.")
@click.option("--encoding", type=click.Choice(["json", "hj212"]), default="json",
              show_default=True)
@click.option("--transport", type=click.Choice(["mqtt", "tcp"]), default="mqtt",
              show_default=True, help="tcp: HJ 212 to the gateway (implies --encoding hj212);"
              " unanswered packets are resent like a logger does (10 s, 3 retries).")
@click.option("--gateway", default="127.0.0.1:9212", show_default=True, help="HOST:PORT")
@click.option("--speed", type=float, help="Simulated seconds per wall second (default: "
              "as fast as possible).")
@click.option("--live", is_flag=True, help="Send each message when it is due on the wall clock.")
def run_cmd(stations_file: Path | None, seed: int, faults: str, window: int, out: TextIO | None,
            start: str | None, hours: int, realtime_seconds: int | None,
            minute_interval: str | None, no_daily: bool, encoding: str, transport: str,
            gateway: str, speed: float | None, live: bool) -> None:
    """Simulate stations over a span of time (past spans fill the database quickly)."""
    settings = load_settings()
    setup_logging(settings)
    first = _parse_time(start) if start else floor_hour(datetime.now(BEIJING)) - timedelta(
        hours=hours)
    scenario = Scenario(
        _stations(stations_file), first, hours, seed,
        Cadence(realtime_seconds, int(minute_interval) if minute_interval else None,
                daily=not no_daily),
        _faults(faults), "hj212" if transport == "tcp" or encoding == "hj212" else "json")
    messages = Run(scenario)
    if out is not None:
        click.echo(f"{_write_jsonl(messages, out, settings.topic_prefix)} messages written")
        return
    _report(_run_until_signal(lambda stop: _send(
        messages, settings, transport=transport, gateway=gateway, speed=speed, live=live,
        window=window, stop=stop)))


@simulate.command("year")
@_stations_opt
@_seed_opt
@_faults_opt
@_window_opt
@click.option("--days", type=click.IntRange(1, 3660), default=365, show_default=True)
def year_cmd(stations_file: Path | None, seed: int, faults: str, window: int, days: int) -> None:
    """Time compression: DAYS of hourly and daily data up to today, as fast as possible."""
    settings = load_settings()
    setup_logging(settings)
    today = datetime.now(BEIJING).replace(hour=0, minute=0, second=0, microsecond=0)
    scenario = Scenario(_stations(stations_file), today - timedelta(days=days), 24 * days, seed,
                        Cadence(), _faults(faults))
    _report(_run_until_signal(lambda stop: _send(
        Run(scenario), settings, transport="mqtt", gateway="", speed=None, live=False,
        window=window, stop=stop)))


@simulate.command("load")
@click.option("--stations", "n", type=click.IntRange(1, 1_000_000), default=10_000,
              show_default=True)
@click.option("--rate", type=click.FloatRange(min=1), help="Target messages/s (default: max).")
@click.option("--duration", type=click.FloatRange(min=0.1), default=30.0, show_default=True)
@click.option("--station-prefix", default="load", show_default=True)
@_seed_opt
@_window_opt
def load_cmd(n: int, rate: float | None, duration: float, station_prefix: str, seed: int,
             window: int) -> None:
    """Load mode: N stations at a target rate; prints the achieved rate."""
    settings = load_settings()
    setup_logging(settings)

    async def go(stop: asyncio.Event) -> None:
        async with Publisher(_target(settings), window=window) as publisher:
            result = await run_load(publisher, load_stations(n, station_prefix),
                                    settings.topic_prefix, duration=duration, rate=rate,
                                    seed=seed, stop=stop)
        click.echo(f"{result.messages} messages from {result.stations} stations in "
                   f"{result.seconds:.1f} s: {result.rate:,.0f} messages/s acknowledged")

    _run_until_signal(go)


@simulate.command("load-stations")
@click.argument("n", type=click.IntRange(1, 1_000_000))
@click.option("--station-prefix", default="load", show_default=True)
@click.option("-o", "--output", type=click.File("w"), default="-")
def load_stations_cmd(n: int, station_prefix: str, output: TextIO) -> None:
    """Write the stations file of load mode (import it before measuring ingest)."""
    for s in load_stations(n, station_prefix):
        output.write(f'[[station]]\nid = "{s.station_id}"\nkind = "air"\nname = "{s.name}"\n'
                     f'city = "{s.city}"\n\n')


@simulate.command("replay")
@click.option("--data", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=DEFAULT_PRSA, show_default=True, help="Folder of PRSA_Data_*.csv[.gz].")
@click.option("--from", "start", default="2016-01-01", show_default=True)
@click.option("--to", "end", default="2016-01-08", show_default=True)
@click.option("--speed", type=float, default=3600.0, show_default=True,
              help="Simulated seconds per wall second (3600: an hour of data per second).")
@click.option("--as-recent", is_flag=True,
              help="Shift timestamps so the replay ends at the current hour.")
@_window_opt
def replay_cmd(data: Path, start: str, end: str, speed: float, as_recent: bool,
               window: int) -> None:
    """Replay real history (Beijing 2013-2017) through MQTT as if the stations were live.

    Register the stations first: envmon stations import bench/beijing-stations.toml
    """
    settings = load_settings()
    setup_logging(settings)
    first, last = _parse_time(start), _parse_time(end)
    shift = floor_hour(datetime.now(BEIJING)) - last if as_recent else timedelta(0)
    encoder = JsonEncoder()
    messages = ((due, Message(doc.station_id, "data", encoder.one(doc)))
                for due, doc in history(prsa_files(data), first, last, shift))
    _report(_run_until_signal(lambda stop: _send(
        messages, settings, transport="mqtt", gateway="", speed=speed, live=False,
        window=window, stop=stop)))


@simulate.command("demo")
@_stations_opt
def demo_cmd(stations_file: Path | None) -> None:
    """The Pingliang demo, live, until Ctrl-C (what `envmon run --demo` runs)."""
    from simulators import demo

    settings = load_settings()
    setup_logging(settings)
    _run_until_signal(lambda stop: demo.run(settings, stop, stations_file))
