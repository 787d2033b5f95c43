"""Surface-water classes: GB 3838-2002 表1 and the 2011 evaluation method (water.md).

The class limits are transcribed here independently of water_tables.toml.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aggregator.standards import (
    EVALUATION_PARAMETERS,
    StandardsError,
    WaterClass,
    basin_status,
    class_shares,
    parameter_class,
    period_mean,
    section_grade,
    target_compliance,
    water_exceedance,
)

# GB 3838-2002 表1, classes Ⅰ … Ⅴ ("<=" items; DO is ">=", class Ⅰ graded with 7.5 mg/L)
LIMITS: dict[tuple[str, str], tuple[str, ...]] = {
    ("codmn", "river"): ("2", "4", "6", "10", "15"),
    ("cod", "river"): ("15", "15", "20", "30", "40"),
    ("bod5", "river"): ("3", "3", "4", "6", "10"),
    ("nh3n", "river"): ("0.15", "0.5", "1.0", "1.5", "2.0"),
    ("tp", "river"): ("0.02", "0.1", "0.2", "0.3", "0.4"),
    ("tp", "lake"): ("0.01", "0.025", "0.05", "0.1", "0.2"),
    ("tn", "lake"): ("0.2", "0.5", "1.0", "1.5", "2.0"),
    ("cu", "river"): ("0.01", "1.0", "1.0", "1.0", "1.0"),
    ("zn", "river"): ("0.05", "1.0", "1.0", "2.0", "2.0"),
    ("fluoride", "river"): ("1.0", "1.0", "1.0", "1.5", "1.5"),
    ("se", "river"): ("0.01", "0.01", "0.01", "0.02", "0.02"),
    ("as", "river"): ("0.05", "0.05", "0.05", "0.1", "0.1"),
    ("hg", "river"): ("0.00005", "0.00005", "0.0001", "0.001", "0.001"),
    ("cd", "river"): ("0.001", "0.005", "0.005", "0.005", "0.01"),
    ("cr6", "river"): ("0.01", "0.05", "0.05", "0.05", "0.1"),
    ("pb", "river"): ("0.01", "0.01", "0.05", "0.05", "0.1"),
    ("cn", "river"): ("0.005", "0.05", "0.2", "0.2", "0.2"),
    ("phenol", "river"): ("0.002", "0.002", "0.005", "0.01", "0.1"),
    ("petroleum", "river"): ("0.05", "0.05", "0.05", "0.5", "1.0"),
    ("las", "river"): ("0.2", "0.2", "0.2", "0.3", "0.3"),
    ("sulfide", "river"): ("0.05", "0.1", "0.2", "0.5", "1.0"),
    ("fcoli", "river"): ("200", "2000", "10000", "20000", "40000"),
}
DO = ("7.5", "6", "5", "3", "2")


def boundary_rows() -> list[tuple[str, str, int, Decimal]]:
    return [
        (p, body, cls, Decimal(limit))
        for (p, body), limits in LIMITS.items()
        for cls, limit in enumerate(limits, start=1)
    ]


@pytest.mark.parametrize(("parameter", "body", "cls", "limit"), boundary_rows())
def test_every_class_boundary(parameter: str, body: str, cls: int, limit: Decimal) -> None:
    """GB 3838 表1: at the limit -> best class with that limit; just above -> next worse."""
    limits = [Decimal(x) for x in LIMITS[(parameter, body)]]
    best = 1 + limits.index(limit)  # equal limits in adjacent classes: best class wins
    assert parameter_class(parameter, limit, body=body) == best  # type: ignore[arg-type]
    above = limit * Decimal("1.001")
    worse_than = max(i for i, x in enumerate(limits, start=1) if x == limit)
    assert parameter_class(parameter, above, body=body) == worse_than + 1  # type: ignore[arg-type]
    if cls == best:
        below = limit * Decimal("0.999")
        assert parameter_class(parameter, below, body=body) <= best  # type: ignore[arg-type]


@pytest.mark.parametrize("cls", range(1, 6))
def test_do_boundaries(cls: int) -> None:
    """GB 3838 表1 item 3: DO >= limit (higher is better), below 2 mg/L is 劣Ⅴ."""
    limit = Decimal(DO[cls - 1])
    assert parameter_class("do", limit) == cls
    assert parameter_class("do", limit - Decimal("0.01")) == cls + 1


@pytest.mark.parametrize(
    ("ph", "cls"),
    [(Decimal("5.99"), 6), (6, 1), (7.5, 1), (9, 1), (Decimal("9.01"), 6)],
)
def test_ph_6_to_9(ph: object, cls: int) -> None:
    """GB 3838 表1 item 2: pH 6–9 for every class; outside is worse than Ⅴ."""
    assert parameter_class("ph", ph) == cls  # type: ignore[arg-type]


def test_float_boundaries_are_exact() -> None:
    """0.1 + 0.2 style float noise must not move a value over a limit."""
    assert parameter_class("tp", 0.1) == WaterClass.II
    assert parameter_class("nh3n", 0.15) == WaterClass.I


def test_evaluation_parameters_exclude_temp_tn_fcoli() -> None:
    """2011 method: the 21 items of 表1 minus water temperature, TN, fecal coliform."""
    assert len(EVALUATION_PARAMETERS) == 21
    assert not {"temp", "tn", "fcoli"} & set(EVALUATION_PARAMETERS)


def test_section_class_worst_parameter_and_main_pollutants() -> None:
    """Single-factor method (water.md §2.2) and exceedance vs class Ⅲ (§2.5: NH3-N 2.3 -> 1.3)."""
    g = section_grade(
        {"ph": 7.2, "do": 6.5, "codmn": 7, "nh3n": 2.3, "tp": 0.25, "tn": 5.0, "temp": 20}
    )
    assert g.water_class == WaterClass.WORSE_V and g.water_class.label == "劣Ⅴ"
    assert g.status == "重度污染"
    assert g.classes["nh3n"] == WaterClass.WORSE_V and "tn" not in g.classes
    assert g.not_graded == ("temp", "tn")
    names = [k for k, _ in g.main_pollutants]
    assert names == ["nh3n", "tp", "codmn"]
    assert g.main_pollutants[0][1] == pytest.approx(1.3)


def test_good_section_has_no_main_pollutants() -> None:
    g = section_grade({"ph": 7, "do": 8, "codmn": 3, "nh3n": 0.4, "tp": 0.05})
    assert (g.water_class, g.status, g.main_pollutants) == (WaterClass.II, "优", ())


def test_lake_tp_column() -> None:
    """GB 3838 表1 item 8: TP 0.05 is class Ⅱ in a river, Ⅲ in a lake."""
    assert section_grade({"tp": 0.05}).water_class == WaterClass.II
    assert section_grade({"tp": 0.05}, body="lake").water_class == WaterClass.III


def test_exceedance_not_for_ph_do() -> None:
    assert water_exceedance("do", 1) is None and water_exceedance("ph", 10) is None
    assert water_exceedance("cod", 20) is None
    assert water_exceedance("cod", 30, against=WaterClass.II) == pytest.approx(1.0)


def test_target_compliance() -> None:
    """GB 3838 clause 5: compare with the section's target class; multiples vs that class."""
    means = {"codmn": 5, "nh3n": 1.3, "tp": 0.1}
    assert target_compliance(means, WaterClass.IV).compliant
    miss = target_compliance(means, WaterClass.III)
    assert not miss.compliant
    assert miss.exceeding[0][0] == "nh3n" and miss.exceeding[0][1] == pytest.approx(0.3)


def test_shares_and_basin_status() -> None:
    """water.md §2.3/§2.4: Ⅰ–Ⅲ share and 劣Ⅴ share; proportion method for >= 5 sections."""
    c = [WaterClass.I, WaterClass.III, WaterClass.IV, WaterClass.WORSE_V, WaterClass.II]
    s = class_shares(c)
    assert (s.n, s.share_i_iii, s.share_worse_v) == (5, 60.0, 20.0)
    assert basin_status(c) == "中度污染"
    assert basin_status([WaterClass.II] * 9 + [WaterClass.IV]) == "优"
    assert basin_status([WaterClass.II] * 8 + [WaterClass.IV] * 2) == "良好"
    assert basin_status([WaterClass.II] * 7 + [WaterClass.IV] * 3) == "轻度污染"
    assert basin_status([WaterClass.II] * 5 + [WaterClass.WORSE_V] * 5) == "重度污染"
    with pytest.raises(StandardsError):
        basin_status(c[:4])


def test_period_mean_grades_means() -> None:
    assert period_mean([1.0, None, 2.0]) == 1.5
    assert period_mean([]) is None


values = st.decimals(min_value=0, max_value=50, places=3)


@given(
    st.dictionaries(
        st.sampled_from(["codmn", "cod", "nh3n", "tp", "cd", "do"]), values, min_size=1
    ),
    st.sampled_from(["codmn", "cod", "nh3n", "tp", "cd", "do"]),
    st.decimals(min_value=0, max_value=10, places=3),
)
def test_worse_parameter_never_improves_section(
    means: dict[str, Decimal], parameter: str, delta: Decimal
) -> None:
    """Section class never improves when one parameter worsens (DO worsens downwards)."""
    before = section_grade(means).water_class
    current = means.get(parameter, Decimal(0) if parameter != "do" else Decimal(50))
    worse = current - delta if parameter == "do" else current + delta
    after = section_grade({**means, parameter: max(worse, Decimal(0))}).water_class
    assert after >= before
