"""``envmon import``: CSV history into readings (mapping, units, time zone, missing values),
idempotent on re-run, through the ingest writer (so days are marked for the aggregator)."""

from __future__ import annotations

import gzip
import io
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from app.cli import main
from ingest.csv_import import CsvMapping, ParseStats, load_mapping, parse
from tests.layouts import compress_database

pytestmark = [pytest.mark.integration, pytest.mark.layouts]  # layouts: tests/layouts.py
REPO = Path(__file__).resolve().parents[2]
BEIJING = REPO / "tests/data/beijing-prsa"  # the slice kept in the repository (README)

CSV = (
    '"No","year","month","day","hour","PM2.5","CO","O3","station"\r\n'
    '1,2015,1,1,0,80,1200,NA,"agg-i1"\r\n'
    '2,2015,1,1,1,NA,NA,30,"agg-i1"\r\n'
    '3,2015,1,1,2,x,900,31,"agg-i1"\r\n'
)


def mapping(**overrides: object) -> CsvMapping:
    spec: dict[str, object] = {
        "kind": "air", "columns": {"PM2.5": "pm25", "CO": "co", "O3": "o3"},
        "scale": {"co": 0.001}, "station_column": "station", "missing": frozenset({"NA"}),
    }
    return CsvMapping(**{**spec, **overrides})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("label", "first_utc"),
    [("start", datetime(2014, 12, 31, 16, tzinfo=UTC)),   # 00:00 Beijing = 16:00 UTC before
     ("end", datetime(2014, 12, 31, 15, tzinfo=UTC))],    # hour ending 00:00 starts 23:00
)
def test_parse_times_units_missing(label: str, first_utc: datetime) -> None:
    stats = ParseStats()
    [batch] = list(parse(io.StringIO(CSV), mapping(hour_label=label), stats))
    assert batch[0].ts == first_utc and batch[0].interval == "hour"
    first = {r.parameter: r.value for r in batch if r.ts == first_utc}
    assert first == {"pm25": 80.0, "co": pytest.approx(1.2)}  # CO µg/m³ -> mg/m³
    assert (stats.rows, stats.values, stats.missing, stats.rejected) == (
        3, 5, 3, {"bad_number": 1})


def test_mapping_rejects_unknown_parameters() -> None:
    with pytest.raises(ValueError, match="pm1"):
        mapping(columns={"PM1": "pm1"})


def test_beijing_mapping_file_matches_the_dataset_header() -> None:
    m = load_mapping(REPO / "bench/beijing-prsa.toml")
    with gzip.open(next(BEIJING.glob("*.csv.gz")), "rt") as fh:
        header = fh.readline()
    assert all(f'"{c}"' in header for c in m.columns)
    assert m.scale == {"co": 0.001}


def test_import_command_is_idempotent(tmp_path: Path, database_url: str,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    with psycopg.connect(database_url) as conn:
        conn.execute("INSERT INTO stations (station_id, kind, name) VALUES ('agg-i1', 'air',"
                     " 'I1') ON CONFLICT DO NOTHING")
    path = tmp_path / "history.csv.gz"
    path.write_bytes(gzip.compress(CSV.encode()))
    monkeypatch.setenv("ENVMON_DATABASE_URL", database_url)
    args = ["import", "--quiet", "--kind", "air", "--station-column", "station",
            "--column", "PM2.5=pm25", "--column", "CO=co", "--column", "O3=o3",
            "--scale", "co=0.001", "--missing", "NA", str(path)]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    assert "inserted 5, duplicates 0" in first.output
    compress_database(database_url)  # TimescaleDB: the re-runs go into a compressed chunk
    again = CliRunner().invoke(main, args)
    assert "inserted 0, duplicates 5, revised 0" in again.output
    path.write_bytes(gzip.compress(CSV.replace("1,2015,1,1,0,80,", "1,2015,1,1,0,81,").encode()))
    corrected = CliRunner().invoke(main, args)
    assert "inserted 0, duplicates 4, revised 1" in corrected.output, corrected.output
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT count(*), min(source) FROM readings"
                            " WHERE station_id = 'agg-i1'").fetchone()
        dirty = conn.execute("SELECT day FROM dirty_days WHERE station_id = 'agg-i1'"
                             ).fetchall()
    assert rows == (5, "import")
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT value FROM readings WHERE station_id = 'agg-i1'"
                            " AND parameter = 'pm25'").fetchall() == [(81.0,)]
    assert dirty == [(datetime(2015, 1, 1).date(),)]


def test_unknown_station_stops_the_import(tmp_path: Path, database_url: str,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "history.csv"
    path.write_text(CSV.replace("agg-i1", "agg-nobody"))
    monkeypatch.setenv("ENVMON_DATABASE_URL", database_url)
    result = CliRunner().invoke(main, ["import", "--quiet", "--kind", "air", "--station-column",
                                       "station", "--column", "O3=o3", str(path)])
    assert result.exit_code != 0 and "unknown station(s) agg-nobody" in result.output


def test_missing_column_is_a_clear_error(tmp_path: Path, database_url: str,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "history.csv"
    path.write_text(CSV)
    monkeypatch.setenv("ENVMON_DATABASE_URL", database_url)
    result = CliRunner().invoke(main, ["import", "--quiet", "--kind", "air", "--station-column",
                                       "station", "--column", "NOX=no2", str(path)])
    assert result.exit_code == 1 and "columns not in the file: NOX" in result.output
