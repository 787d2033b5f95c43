"""Surface-water classes: GB 3838-2002 表1 and the 2011 evaluation method (water.md).

The class limits are transcribed here independently of water_tables.toml.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aggregator import standards as std

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
    assert std.parameter_class(parameter, limit, body=body) == best  # type: ignore[arg-type]
    above = limit * Decimal("1.001")
    worse_than = max(i for i, x in enumerate(limits, start=1) if x == limit)
    assert std.parameter_class(parameter, above, body=body) == worse_than + 1  # type: ignore[arg-type]
    if cls == best:
        below = limit * Decimal("0.999")
        assert std.parameter_class(parameter, below, body=body) <= best  # type: ignore[arg-type]


@pytest.mark.parametrize("cls", range(1, 6))
def test_do_boundaries(cls: int) -> None:
    """GB 3838 表1 item 3: DO >= limit (higher is better), below 2 mg/L is 劣Ⅴ."""
    limit = Decimal(DO[cls - 1])
    assert std.parameter_class("do", limit) == cls
    assert std.parameter_class("do", limit - Decimal("0.01")) == cls + 1


@pytest.mark.parametrize(
    ("ph", "cls"),
    [(Decimal("5.99"), 6), (6, 1), (7.5, 1), (9, 1), (Decimal("9.01"), 6)],
)
def test_ph_6_to_9(ph: object, cls: int) -> None:
    """GB 3838 表1 item 2: pH 6–9 for every class; outside is worse than Ⅴ."""
    assert std.parameter_class("ph", ph) == cls  # type: ignore[arg-type]


def test_float_boundaries_are_exact() -> None:
    """0.1 + 0.2 style float noise must not move a value over a limit."""
    assert std.parameter_class("tp", 0.1) == std.WaterClass.II
    assert std.parameter_class("nh3n", 0.15) == std.WaterClass.I


def test_evaluation_parameters_exclude_temp_tn_fcoli() -> None:
    """2011 method: the 21 items of 表1 minus water temperature, TN, fecal coliform."""
    assert len(std.EVALUATION_PARAMETERS) == 21
    assert not {"temp", "tn", "fcoli"} & set(std.EVALUATION_PARAMETERS)


def test_section_class_worst_parameter_and_main_pollutants() -> None:
    """Single-factor method (water.md §2.2) and exceedance vs class Ⅲ (§2.5: NH3-N 2.3 -> 1.3)."""
    g = std.section_grade(
        {"ph": 7.2, "do": 6.5, "codmn": 7, "nh3n": 2.3, "tp": 0.25, "tn": 5.0, "temp": 20}
    )
    assert g.water_class == std.WaterClass.WORSE_V and g.water_class.label == "劣Ⅴ"
    assert g.status == "重度污染"
    assert g.classes["nh3n"] == std.WaterClass.WORSE_V and "tn" not in g.classes
    assert g.not_graded == ("temp", "tn")
    names = [k for k, _ in g.main_pollutants]
    assert names == ["nh3n", "tp", "codmn"]
    assert g.main_pollutants[0][1] == pytest.approx(1.3)


def test_good_section_has_no_main_pollutants() -> None:
    g = std.section_grade({"ph": 7, "do": 8, "codmn": 3, "nh3n": 0.4, "tp": 0.05})
    assert (g.water_class, g.status, g.main_pollutants) == (std.WaterClass.II, "优", ())


def test_lake_tp_column() -> None:
    """GB 3838 表1 item 8: TP 0.05 is class Ⅱ in a river, Ⅲ in a lake."""
    assert std.section_grade({"tp": 0.05}).water_class == std.WaterClass.II
    assert std.section_grade({"tp": 0.05}, body="lake").water_class == std.WaterClass.III


def test_exceedance_not_for_ph_do() -> None:
    assert std.water_exceedance("do", 1) is None and std.water_exceedance("ph", 10) is None
    assert std.water_exceedance("cod", 20) is None
    assert std.water_exceedance("cod", 30, against=std.WaterClass.II) == pytest.approx(1.0)


def test_target_compliance() -> None:
    """GB 3838 clause 5: compare with the section's target class; multiples vs that class."""
    means = {"codmn": 5, "nh3n": 1.3, "tp": 0.1}
    assert std.target_compliance(means, std.WaterClass.IV).compliant
    miss = std.target_compliance(means, std.WaterClass.III)
    assert not miss.compliant
    assert miss.exceeding[0][0] == "nh3n" and miss.exceeding[0][1] == pytest.approx(0.3)


def test_shares_and_basin_status() -> None:
    """water.md §2.3/§2.4: Ⅰ–Ⅲ share and 劣Ⅴ share; proportion method for >= 5 sections."""
    w = std.WaterClass
    c = [w.I, w.III, w.IV, w.WORSE_V, w.II]
    s = std.class_shares(c)
    assert (s.n, s.share_i_iii, s.share_worse_v) == (5, 60.0, 20.0)
    assert std.basin_status(c) == "中度污染"
    assert std.basin_status([std.WaterClass.II] * 9 + [std.WaterClass.IV]) == "优"
    assert std.basin_status([std.WaterClass.II] * 8 + [std.WaterClass.IV] * 2) == "良好"
    assert std.basin_status([std.WaterClass.II] * 7 + [std.WaterClass.IV] * 3) == "轻度污染"
    assert std.basin_status([std.WaterClass.II] * 5 + [std.WaterClass.WORSE_V] * 5) == "重度污染"
    with pytest.raises(std.StandardsError):
        std.basin_status(c[:4])


def test_period_mean_grades_means() -> None:
    assert std.period_mean([1.0, None, 2.0]) == 1.5
    assert std.period_mean([]) is None


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
    before = std.section_grade(means).water_class
    current = means.get(parameter, Decimal(0) if parameter != "do" else Decimal(50))
    worse = current - delta if parameter == "do" else current + delta
    after = std.section_grade({**means, parameter: max(worse, Decimal(0))}).water_class
    assert after >= before


# ---- period means are exact (issue 11) ------------------------------------------------------


@pytest.mark.parametrize(
    ("parameter", "samples", "cls"),
    [
        ("tp", (0.26, 0.34), std.WaterClass.IV),  # mean 0.30 = Ⅳ limit (float 0.30000000000000004)
        ("nh3n", (0.14, 0.16), std.WaterClass.I),  # mean 0.15 = class Ⅰ limit
        ("tp", (0.1, 0.2, 0.3), std.WaterClass.III),  # mean 0.2 = class Ⅲ limit
    ],
)
def test_issue_examples_mean_on_a_limit(
    parameter: str, samples: tuple[float, ...], cls: std.WaterClass
) -> None:
    """GB 3838 表1 "≤" + 2011 method 一(二): grade the arithmetic mean; a mean equal to a
    limit meets it."""
    mean = std.period_mean(samples)
    assert mean is not None and std.parameter_class(parameter, mean) == cls


def _around(limit: Decimal) -> list[tuple[float, ...]]:
    """Float samples whose exact decimal mean is ``limit`` (2, 3 and 6 samples)."""
    return [
        (float(limit * Decimal("0.87")), float(limit * Decimal("1.13"))),
        tuple(float(limit * Decimal(f)) for f in ("0.7", "1.1", "1.2")),
        tuple(float(limit * Decimal(f)) for f in ("0.91", "1.07", "0.99", "1.03", "0.96", "1.04")),
    ]


@pytest.mark.parametrize(("parameter", "body", "cls", "limit"), boundary_rows())
def test_period_mean_on_every_boundary_grades_as_the_limit(
    parameter: str, body: str, cls: int, limit: Decimal
) -> None:
    """Every 表1 limit: a single float value on it and a period mean landing exactly on it get
    the limit's (best) class, for ``period_mean`` + ``parameter_class`` and for
    ``section_period_grade`` alike."""
    best = std.parameter_class(parameter, limit, body=body)  # type: ignore[arg-type]
    assert std.parameter_class(parameter, float(limit), body=body) == best  # type: ignore[arg-type]
    for samples in _around(limit):
        mean = std.period_mean(samples)
        assert mean == limit
        assert std.parameter_class(parameter, mean, body=body) == best  # type: ignore[arg-type]
        if parameter in std.EVALUATION_PARAMETERS:
            graded = std.section_period_grade(
                [{parameter: s} for s in samples], body=body  # type: ignore[arg-type]
            )
            assert graded.grade is not None and graded.grade.classes[parameter] == best


@pytest.mark.parametrize("cls", range(1, 6))
def test_do_period_mean_on_every_boundary(cls: int) -> None:
    """DO (≥): a mean exactly on the limit meets it."""
    limit = Decimal(DO[cls - 1])
    for samples in _around(limit):
        assert std.parameter_class("do", std.period_mean(samples)) == cls  # type: ignore[arg-type]


def test_period_mean_is_exact_and_skips_missing() -> None:
    assert std.period_mean([0.1, None, 0.2]) == Fraction(3, 20)
    assert std.period_mean([None]) is None and std.period_mean([]) is None


# ---- section_period_grade, river_grade, lake_grade ------------------------------------------


def test_section_period_grade_averages_each_parameter_then_grades() -> None:
    """2011 method 一(二)1-3: with several results per period, grade their arithmetic mean
    per parameter; the section takes the worst parameter (二(一))."""
    samples: list[dict[str, float | None]] = [
        {"tp": 0.26, "nh3n": 0.14, "do": 8, "temp": 20},
        {"tp": 0.34, "nh3n": 0.16, "do": None, "temp": 22},
        {"tp": None, "nh3n": None, "do": 6},
    ]
    g = std.section_period_grade(samples)
    assert g.means == {"tp": Fraction(3, 10), "nh3n": Fraction(3, 20), "do": 7, "temp": 21}
    assert g.counts == {"tp": 2, "nh3n": 2, "do": 2, "temp": 2}
    assert g.grade is not None
    assert g.grade.water_class == std.WaterClass.IV and g.grade.classes["nh3n"] == std.WaterClass.I
    assert g.grade.not_graded == ("temp",)
    assert std.section_period_grade([{"temp": 20}]).grade is None


@pytest.mark.parametrize(
    ("sections", "method", "water_class", "status"),
    [
        # < 5 sections: mean of each parameter over the sections, then single-factor.
        ([{"tp": 0.26}, {"tp": 0.34}], "mean", std.WaterClass.IV, "轻度污染"),
        ([{"tp": 0.05, "nh3n": 2.5}, {"tp": 0.05, "nh3n": 0.5}, {"tp": 0.05, "nh3n": 0.5}],
         "mean", std.WaterClass.IV, "轻度污染"),  # NH3-N mean 7/6 -> Ⅳ though 2 of 3 are Ⅱ
        ([{"tp": 0.01}] * 4, "mean", std.WaterClass.I, "优"),
        # >= 5 sections: proportion method; no mean class.
        ([{"tp": 0.05}] * 9 + [{"tp": 0.5}], "proportion", None, "优"),  # Ⅰ–Ⅲ 90 %
        ([{"tp": 0.05}] * 4 + [{"tp": 0.5}], "proportion", None, "良好"),  # 80 %
        ([{"tp": 0.05}] * 3 + [{"tp": 0.35}] * 2, "proportion", None, "轻度污染"),
        ([{"tp": 0.05}] * 3 + [{"tp": 0.5}] * 2, "proportion", None, "重度污染"),  # 劣Ⅴ 40 %
    ],
)
def test_river_grade(
    sections: list[dict[str, float]], method: str, water_class: std.WaterClass | None, status: str
) -> None:
    """2011 method 二(二): rivers with < 5 sections grade the section mean concentrations;
    with >= 5 sections the section-class proportion table (water.md §2.3)."""
    r = std.river_grade(sections)
    assert (r.n_sections, r.method, r.status) == (len(sections), method, status)
    assert (r.grade.water_class if r.grade else None) == water_class
    assert r.shares.n == len(sections)


def test_river_grade_mean_is_exact_and_needs_a_section() -> None:
    r = std.river_grade([{"tp": 0.26, "nh3n": 0.14}, {"tp": 0.34, "nh3n": 0.16}])
    assert r.means == {"tp": Fraction(3, 10), "nh3n": Fraction(3, 20)}
    with pytest.raises(std.StandardsError):
        std.river_grade([])


def test_lake_grade_time_then_points() -> None:
    """2011 method 三: a lake/reservoir with several points grades the mean over the points of
    each point's period mean (lake TP column)."""
    point_a = [{"tp": 0.04}, {"tp": 0.06}, {"tp": 0.05}]  # mean 0.05
    point_b = [{"tp": 0.15}]  # 0.15
    g = std.lake_grade([point_a, point_b])
    assert g.means == {"tp": Fraction(1, 10)}  # (0.05 + 0.15) / 2, not (0.30 / 4)
    assert g.counts == {"tp": 2}
    assert g.grade is not None and g.grade.water_class == std.WaterClass.IV  # lake TP Ⅳ = 0.1
    single = std.lake_grade([point_a])
    assert single.grade is not None and single.grade.water_class == std.WaterClass.III
    with pytest.raises(std.StandardsError):
        std.lake_grade([])
