"""Load mode against a local Mosquitto: QoS 1 messages per second from one process.

    python bench/sim_load.py [--host 127.0.0.1] [--port 1883] [--stations 10000]
                             [--rate 20000] [--duration 20] [--window 5000]

Publishes to ``simbench/v1/<station>/data`` (no ingest needed; start `envmon ingest` with
ENVMON_TOPIC_PREFIX=simbench and the stations of `envmon simulate load-stations` imported to
measure ingest too). Prints the achieved rate counted on PUBACKs, for a rate-limited run and
for an unlimited one. Run on demand; it loads the broker for the whole duration.
"""

from __future__ import annotations

import argparse
import asyncio

from envmon.settings import MqttTarget
from simulators.load import load_stations, run_load
from simulators.publish import Publisher


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=1883)
    ap.add_argument("--stations", type=int, default=10_000)
    ap.add_argument("--rate", type=float, default=20_000)
    ap.add_argument("--duration", type=float, default=20.0)
    ap.add_argument("--window", type=int, default=5000)
    ap.add_argument("--prefix", default="simbench")
    args = ap.parse_args()
    target = MqttTarget(host=args.host, port=args.port, tls=False)
    stations = load_stations(args.stations)
    for rate in (args.rate, None):
        async with Publisher(target, window=args.window) as publisher:
            r = await run_load(publisher, stations, args.prefix, duration=args.duration,
                               rate=rate)
        label = f"target {rate:,.0f}/s" if rate else "unlimited"
        print(f"{label:>18}: {r.messages:,} messages from {r.stations:,} stations in "
              f"{r.seconds:.1f} s = {r.rate:,.0f} messages/s acknowledged (QoS 1, "
              f"window {args.window})")


if __name__ == "__main__":
    asyncio.run(main())
