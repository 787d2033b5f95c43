"""Replay of the Beijing Multi-Site data: rows become wire-contract documents with the units the
dataset README documents (CO µg/m³ → mg/m³, compass wind directions, NA = missing)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from envmon.beijing_time import BEIJING
from envmon.stations import Station, StationRegistry
from ingest.router import Router
from simulators.document import Message
from simulators.encode import JsonEncoder
from simulators.replay import history, prsa_files, row_document

DATA = Path(__file__).resolve().parents[1] / "data" / "beijing-prsa"  # 2013-03-02 of each site
ROW = {"No": "1", "year": "2013", "month": "3", "day": "1", "hour": "0", "PM2.5": "4",
       "PM10": "4", "SO2": "4", "NO2": "7", "CO": "300", "O3": "77", "TEMP": "-0.7",
       "PRES": "1023", "DEWP": "-18.8", "RAIN": "0", "wd": "NNW", "WSPM": "4.4",
       "station": "Aotizhongxin"}


@pytest.mark.parametrize(("column", "raw", "parameter", "value"), [
    ("CO", "300", "co", 0.3),  # µg/m³ in the dataset, mg/m³ on the wire
    ("CO", "10000", "co", 10.0),
    ("wd", "N", "wd", 0.0),
    ("wd", "E", "wd", 90.0),
    ("wd", "NNW", "wd", 337.5),
    ("PM2.5", "999", "pm25", 999.0),
    ("WSPM", "4.4", "ws", 4.4),
])
def test_columns_map_to_canonical_parameters(column: str, raw: str, parameter: str,
                                             value: float) -> None:
    doc = row_document({**ROW, column: raw})
    assert doc is not None
    assert doc.values[parameter] == pytest.approx(value, abs=0.5)


def test_missing_values_are_left_out_and_the_hour_is_beijing_time() -> None:
    doc = row_document({**ROW, "PM2.5": "NA", "wd": "NA", "DEWP": "NA"})
    assert doc is not None
    assert {"pm25", "wd", "dewp", "rh"}.isdisjoint(doc.values)
    assert doc.ts == datetime(2013, 3, 1, 0, tzinfo=BEIJING)
    assert (doc.station_id, doc.interval) == ("Aotizhongxin", "hour")
    full = row_document(ROW)
    assert full is not None and full.values["rh"] == pytest.approx(24.0, abs=1)  # Magnus


def test_a_replayed_day_is_time_ordered_shifted_and_accepted_by_ingest() -> None:
    files = prsa_files(DATA)
    assert len(files) == 12
    start = datetime(2013, 3, 2, tzinfo=BEIJING)
    shift = timedelta(days=4000)
    out = list(history(files, start, start + timedelta(days=1), shift))
    assert len(out) == 12 * 24
    dues = [due for due, _ in out]
    assert dues == sorted(dues)
    assert out[0][1].ts == start + shift and out[0][0] == start + shift + timedelta(hours=1)
    stations = [Station(sid, "air", sid) for sid in {d.station_id for _, d in out}]
    router = Router("envmon", StationRegistry(stations), 1_048_576)
    encoder = JsonEncoder()
    readings = [r for _, d in out for r in router.decode(
        Message(d.station_id, "data", b"").topic("envmon"), encoder.one(d))]
    assert len(readings) > 12 * 24 * 10
