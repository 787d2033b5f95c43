"""Station registry: files (TOML/CSV) validated as a whole, import and list via the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from envmon.stations import StationFileError, StationRegistry, parse_station_file

GOOD_TOML = """
[[station]]
id = "PL-AIR-01"
kind = "air"
name = "Kongtong 1"
city = "Pingliang"
county = "Kongtong"
lat = 35.54
lon = 106.68

[[station]]
id = "PL-WAT-01"
kind = "water"
name = "Jing River"
water_target_class = "III"
water_body = "river"
mn = "010000A8900016F000169DC2"

[[station]]
id = "PL-NOI-4a"
kind = "noise"
name = "Road"
noise_zone = "4a"
"""


def test_toml_and_csv(tmp_path: Path) -> None:
    f = tmp_path / "s.toml"
    f.write_text(GOOD_TOML)
    stations = parse_station_file(f)
    assert [(s.station_id, s.kind) for s in stations] == [
        ("PL-AIR-01", "air"), ("PL-WAT-01", "water"), ("PL-NOI-4a", "noise")]
    assert stations[1].water_target_class == 3
    reg = StationRegistry(stations)
    assert reg.by_mn("010000A8900016F000169DC2") is stations[1]
    assert reg.by_mn("PL-AIR-01") is stations[0]  # no MN: the id is the MN
    c = tmp_path / "s.csv"
    c.write_text("id,kind,name,city,water_target_class,water_body,noise_zone,lat\n"
                 "W1,water,Hulu,Pingliang,2,lake,,\nA1,air,Air,Pingliang,,,,35.5\n")
    assert [s.water_body for s in parse_station_file(c)] == ["lake", None]


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ('id = "bad id!"\nkind = "air"\nname = "x"', "id"),
        ('id = "a"\nkind = "soil"\nname = "x"', "kind"),
        ('id = "a"\nkind = "water"\nname = "x"', "water_target_class"),
        ('id = "a"\nkind = "air"\nname = "x"\nnoise_zone = "2"', "only for noise"),
        ('id = "a"\nkind = "noise"\nname = "x"\nnoise_zone = "5"', "noise_zone"),
        ('id = "a"\nkind = "air"\nname = "x"\nlat = 91', "lat"),
        ('id = "a"\nkind = "air"\nname = "x"\ncolour = "red"', "colour"),
    ],
)
def test_invalid_rows_are_reported(tmp_path: Path, row: str, problem: str) -> None:
    f = tmp_path / "s.toml"
    f.write_text(f"[[station]]\n{row}\n")
    with pytest.raises(StationFileError, match=problem):
        parse_station_file(f)


def test_duplicate_ids(tmp_path: Path) -> None:
    f = tmp_path / "s.toml"
    f.write_text('[[station]]\nid="a"\nkind="air"\nname="x"\n' * 2)
    with pytest.raises(StationFileError, match="duplicate id a"):
        parse_station_file(f)


@pytest.mark.integration
def test_cli_import_and_list(database_url: str, tmp_path: Path) -> None:
    f = tmp_path / "s.toml"
    f.write_text(GOOD_TOML)
    env = {**os.environ, "ENVMON_DATABASE_URL": database_url}
    env.pop("ENVMON_CONFIG", None)

    def envmon(*args: str) -> str:
        return subprocess.run([sys.executable, "-m", "app", *args], env=env, check=True,
                              capture_output=True, text=True).stdout

    assert "imported 3 stations" in envmon("stations", "import", str(f))
    assert "imported 3 stations" in envmon("stations", "import", str(f))  # idempotent
    listed = {s["station_id"]: s for s in json.loads(envmon("stations", "list", "--format",
                                                            "json"))}
    assert listed["PL-WAT-01"]["water_target_class"] == 3
    assert listed["PL-NOI-4a"]["noise_zone"] == "4a"
    assert "PL-AIR-01" in envmon("stations", "list")
    bad = tmp_path / "bad.toml"
    bad.write_text('[[station]]\nid="x y"\nkind="air"\nname="x"\n')
    r = subprocess.run([sys.executable, "-m", "app", "stations", "import", str(bad)],
                       env=env, capture_output=True, text=True)
    assert r.returncode == 1 and "station #1" in r.stderr


@pytest.mark.integration
async def test_migrate_is_idempotent(database_url: str) -> None:
    from envmon import db
    from envmon.settings import StorageSettings

    async with await db.connect(database_url) as conn:
        assert await db.migrate(conn, StorageSettings(backend="plain")) == []
