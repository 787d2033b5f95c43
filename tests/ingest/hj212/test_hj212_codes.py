"""The code table (HJ 212-2017 附录B 表B.1-B.3; reference/hj212.md §7, §8)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from envmon.parameters import StationKind, parameter
from ingest.hj212 import code_table


def test_every_code_maps_to_a_catalogue_parameter() -> None:
    table = code_table()
    for kind, codes in table.by_name.items():
        for code in codes.values():
            for param in filter(None, (code.parameter, code.day, code.night)):
                assert parameter(kind, param) is not None, (kind, code.code, param)


@pytest.mark.parametrize(
    ("kind", "old", "new"),
    [  # "old code" (原编码) column of 表B.1/表B.2, reference §7.1, §7.2, §8
        ("air", "02", "a21026"),
        ("air", "04", "a21005"),
        ("water", "001", "w01001"),
        ("water", "011", "w01018"),
        ("water", "010", "w01017"),
        ("water", "060", "w21003"),
        ("water", "101", "w21011"),
        ("water", "065", "w21001"),
    ],
)
def test_old_2005_codes_map_like_the_2017_codes(kind: StationKind, old: str, new: str) -> None:
    table = code_table()
    assert table.lookup(kind, old) == table.lookup(kind, new) is not None


@pytest.mark.parametrize(
    ("kind", "param", "unit", "factor"),
    [
        ("air", "pm25", "ng/m3", Decimal("0.001")),  # 表B.2 printed PM unit
        ("air", "so2", "mg/m3", Decimal(1000)),  # 表B.2 printed gas unit
        ("air", "co", "mg/m3", Decimal(1)),
        ("air", "pres", "kPa", Decimal(10)),  # 表B.2 a01006 kPa; canonical hPa
        ("water", "cond", "mS/m", Decimal(10)),
    ],
)
def test_unit_factors(kind: StationKind, param: str, unit: str, factor: Decimal) -> None:
    assert code_table().factor(kind, param, unit) == factor


def test_codes_are_per_kind() -> None:
    """The same name can only be read in the context of the station kind."""
    table = code_table()
    assert table.lookup("air", "w01001") is None
    assert table.lookup("water", "a34004") is None
    air_temp, water_temp = table.lookup("air", "a01001"), table.lookup("water", "w01010")
    assert air_temp is not None and water_temp is not None
    assert air_temp.parameter == water_temp.parameter == "temp"
