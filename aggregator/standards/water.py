"""Surface-water class per GB 3838-2002 and the 2011 evaluation method (环办〔2011〕22号).

Single-factor evaluation: each parameter gets the best class whose limit it meets, the section
gets the worst parameter class (water.md §2.2). Limits are data (``water_tables.toml``).

The limits are decimals and a period mean often lands exactly on one (TP 0.26 and 0.34 -> 0.30,
the class Ⅳ limit), so means are exact rationals of the decimal inputs, never binary floats.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from fractions import Fraction
from functools import cache
from importlib import resources
from typing import Any, Literal

from aggregator.standards._numbers import Number, exact
from aggregator.standards.errors import StandardsError

WaterBody = Literal["river", "lake"]


class WaterClass(IntEnum):
    """GB 3838 classes Ⅰ … Ⅴ and 劣Ⅴ (worse than Ⅴ); larger is worse."""

    I = 1  # noqa: E741 - the standard's name
    II = 2
    III = 3
    IV = 4
    V = 5
    WORSE_V = 6

    @property
    def label(self) -> str:
        """The class as the bulletins write it."""
        return ("Ⅰ", "Ⅱ", "Ⅲ", "Ⅳ", "Ⅴ", "劣Ⅴ")[self - 1]


#: The 21 graded items: GB 3838 表1 without water temperature, TN and fecal coliform
#: (2011 method, water.md §2.1). TN and fecal coliform can still be classed one by one.
EVALUATION_PARAMETERS: tuple[str, ...] = (
    "ph", "do", "codmn", "cod", "bod5", "nh3n", "tp", "cu", "zn", "fluoride", "se", "as", "hg",
    "cd", "cr6", "pb", "cn", "phenol", "petroleum", "las", "sulfide",
)  # fmt: skip

#: Exceedance multiples are not computed for these (water.md §2.5).
NO_EXCEEDANCE: frozenset[str] = frozenset({"temp", "ph", "do"})

#: Heavy metals and cyanide that exceed class Ⅲ are named as main pollution indicators first
#: (2011 method as remembered — UNVERIFIED, water.md §2.5 item 4).
PRIORITY_POLLUTANTS: frozenset[str] = frozenset({"cn", "pb", "cr6", "hg", "cd", "as", "se"})

#: Last row of the section-proportion table (5+ sections): "重度污染" when the Ⅰ–Ⅲ share is
#: below this (%) and the 劣Ⅴ share >= 40 %. The official table may say 60 — UNVERIFIED.
BASIN_SEVERE_I_III_BELOW = 75

_STATUS = {1: "优", 2: "优", 3: "良好", 4: "轻度污染", 5: "中度污染", 6: "重度污染"}


@dataclass(frozen=True, slots=True)
class SectionGrade:
    """Single-factor grade of a section or lake point over an evaluation period."""

    water_class: WaterClass
    status: str
    classes: Mapping[str, WaterClass]
    main_pollutants: tuple[tuple[str, float], ...]
    not_graded: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PeriodGrade:
    """Exact period means of each parameter and the single-factor grade of those means.

    ``grade`` is ``None`` when no evaluation parameter has a value; ``counts`` is the number of
    values (samples, or points for a lake) behind each mean (water.md §4 item 5).
    """

    means: Mapping[str, Fraction]
    counts: Mapping[str, int]
    grade: SectionGrade | None


@dataclass(frozen=True, slots=True)
class RiverGrade:
    """A river or basin from its sections' period means (2011 method, water.md §2.3).

    ``method`` "mean" (< 5 sections): ``means`` and ``grade`` of the mean concentrations;
    "proportion" (>= 5): ``grade`` is ``None`` and ``means`` empty, the status comes from the
    section-class shares. ``shares`` (of the graded sections) are given for both methods.
    """

    n_sections: int
    method: Literal["mean", "proportion"]
    status: str
    grade: SectionGrade | None
    means: Mapping[str, Fraction]
    shares: ClassShares


@dataclass(frozen=True, slots=True)
class TargetCompliance:
    """Compliance with the section's target class (GB 3838 clause 5)."""

    compliant: bool
    exceeding: tuple[tuple[str, float | None], ...]


@dataclass(frozen=True, slots=True)
class ClassShares:
    """Shares (%) of sections in class Ⅰ–Ⅲ and 劣Ⅴ among graded sections (water.md §2.4)."""

    n: int
    share_i_iii: float | None
    share_worse_v: float | None


@cache
def _tables() -> dict[str, Any]:
    text = resources.files("aggregator.standards").joinpath("water_tables.toml").read_text("utf-8")
    return tomllib.loads(text)


def _row(parameter: str) -> dict[str, Any]:
    row: dict[str, Any] | None = _tables().get(parameter)
    if row is None:
        raise StandardsError(f"GB 3838 表1 has no class limits for {parameter!r}")
    return row


def _limits(parameter: str, body: WaterBody) -> tuple[Fraction, ...]:
    if body not in ("river", "lake"):
        raise StandardsError(f"water body must be river or lake, not {body!r}")
    row = _row(parameter)
    values = row["lake_limits"] if body == "lake" and "lake_limits" in row else row["limits"]
    return tuple(exact(v) for v in values)


def parameter_class(parameter: str, value: Number, *, body: WaterBody = "river") -> WaterClass:
    """Best class whose GB 3838 表1 limit ``value`` meets (DO >=, pH within 6–9, others <=)."""
    c = exact(value)
    row = _row(parameter)
    direction = row.get("direction", "max")
    if direction == "range":
        return WaterClass.I if exact(row["low"]) <= c <= exact(row["high"]) else WaterClass.WORSE_V
    for i, limit in enumerate(_limits(parameter, body), start=1):
        if (c >= limit) if direction == "min" else (c <= limit):
            return WaterClass(i)
    return WaterClass.WORSE_V


def water_exceedance(
    parameter: str,
    value: Number,
    *,
    body: WaterBody = "river",
    against: WaterClass = WaterClass.III,
) -> float | None:
    """超标倍数 (C − S) / S against the class limit S (class Ⅲ by default; water.md §2.5).

    ``None`` when the value meets the limit, and always for temperature, pH and DO.
    """
    if parameter in NO_EXCEEDANCE:
        return None
    if not WaterClass.I <= against <= WaterClass.V:
        raise StandardsError("exceedance is measured against a class Ⅰ … Ⅴ limit")
    c, s = exact(value), _limits(parameter, body)[against - 1]
    return float((c - s) / s) if c > s else None


def _present(means: Mapping[str, Number | None]) -> dict[str, Number]:
    return {k: v for k, v in means.items() if v is not None}


def section_grade(means: Mapping[str, Number | None], *, body: WaterBody = "river") -> SectionGrade:
    """Section class = worst class of the evaluated parameters (2011 method, water.md §2.2).

    ``means`` are period means per parameter (grade mean concentrations, never mean classes).
    Keys outside EVALUATION_PARAMETERS (temp, tn, fcoli, cond …) are listed in ``not_graded``.
    Main pollution indicators: only when worse than Ⅲ; up to three parameters worse than Ⅲ,
    priority pollutants first, then worst class, then largest multiple (UNVERIFIED detail).
    """
    present = _present(means)
    graded = {k: v for k, v in present.items() if k in EVALUATION_PARAMETERS}
    if not graded:
        raise StandardsError("no evaluation parameter to grade")
    classes = {k: parameter_class(k, v, body=body) for k, v in graded.items()}
    worst = max(classes.values())
    main: list[tuple[str, float]] = []
    if worst > WaterClass.III:
        ranked = []
        for k, cls in classes.items():
            multiple = water_exceedance(k, graded[k], body=body)
            if cls > WaterClass.III and multiple is not None:
                ranked.append((k not in PRIORITY_POLLUTANTS, -cls, -multiple, k, multiple))
        main = [(k, m) for *_, k, m in sorted(ranked)[:3]]
    return SectionGrade(
        water_class=worst,
        status=_STATUS[worst],
        classes=classes,
        main_pollutants=tuple(main),
        not_graded=tuple(sorted(set(present) - set(graded))),
    )


def target_compliance(
    means: Mapping[str, Number | None], target: WaterClass, *, body: WaterBody = "river"
) -> TargetCompliance:
    """Does the section meet its target class (GB 3838 clause 5)? Exceedances vs that class."""
    if not WaterClass.I <= target <= WaterClass.V:
        raise StandardsError("a target class is Ⅰ … Ⅴ")
    graded = section_grade(means, body=body)
    exceeding = tuple(
        (k, water_exceedance(k, _present(means)[k], body=body, against=target))
        for k, cls in graded.classes.items()
        if cls > target
    )
    return TargetCompliance(not exceeding, exceeding)


def class_shares(classes: Iterable[WaterClass]) -> ClassShares:
    """Ⅰ–Ⅲ share and 劣Ⅴ share (%) of graded sections (water.md §2.4)."""
    cs = list(classes)
    if not cs:
        return ClassShares(0, None, None)
    good = sum(c <= WaterClass.III for c in cs)
    worse = sum(c == WaterClass.WORSE_V for c in cs)
    return ClassShares(len(cs), 100 * good / len(cs), 100 * worse / len(cs))


def basin_status(classes: Sequence[WaterClass]) -> str:
    """River/basin status from 5+ sections by the section-proportion method (water.md §2.3)."""
    if len(classes) < 5:
        raise StandardsError("the proportion method needs >= 5 sections; grade mean values")
    shares = class_shares(classes)
    good, worse = shares.share_i_iii or 0.0, shares.share_worse_v or 0.0
    if good >= 90:
        return "优"
    if good >= 75:
        return "良好"
    if worse < 20:
        return "轻度污染"
    if worse < 40 or good >= BASIN_SEVERE_I_III_BELOW:
        return "中度污染"
    return "重度污染"


def period_mean(values: Iterable[Number | None]) -> Fraction | None:
    """Exact arithmetic mean of a parameter over a period (2011 method 一(二): several results
    are averaged; water.md §2.7); ``None`` without data. Floats count as their decimal repr."""
    xs = [exact(v) for v in values if v is not None]
    return sum(xs, Fraction(0)) / len(xs) if xs else None


def _means(
    samples: Iterable[Mapping[str, Number | None]],
) -> tuple[dict[str, Fraction], dict[str, int]]:
    """Exact mean and count of each parameter's values over ``samples``."""
    values: dict[str, list[Number]] = {}
    for sample in samples:
        for k, v in sample.items():
            if v is not None:
                values.setdefault(k, []).append(v)
    means = {k: m for k, vs in values.items() if (m := period_mean(vs)) is not None}
    return means, {k: len(vs) for k, vs in values.items()}


def _graded(
    means: dict[str, Fraction], counts: dict[str, int], body: WaterBody
) -> PeriodGrade:
    gradable = any(k in EVALUATION_PARAMETERS for k in means)
    return PeriodGrade(means, counts, section_grade(means, body=body) if gradable else None)


def section_period_grade(
    samples: Iterable[Mapping[str, Number | None]], *, body: WaterBody = "river"
) -> PeriodGrade:
    """A section's (or one lake point's) class over a period — week, month, quarter, year —
    from its results: the exact arithmetic mean of each parameter, then the single-factor grade
    of the means (2011 method 一(二) and 二(一); water.md §2.2, §2.7). Grade mean
    concentrations, never mean classes. Each sample maps parameter -> value (``None`` = no
    value); an automatic station's month is graded from its daily means (water.md §3.2)."""
    means, counts = _means(samples)
    return _graded(means, counts, body)


def river_grade(
    sections: Sequence[Mapping[str, Number | None]], *, body: WaterBody = "river"
) -> RiverGrade:
    """A river, basin or water system from its sections' period means (2011 method 二(二),
    water.md §2.3): fewer than 5 graded sections -> the exact mean of each parameter over the
    sections (those with a value), graded single-factor; 5 or more -> the section-proportion
    method (``basin_status``), no mean class."""
    if not sections:
        raise StandardsError("a river needs at least one section")
    classes = [
        section_grade(s, body=body).water_class
        for s in sections
        if any(v is not None and k in EVALUATION_PARAMETERS for k, v in s.items())
    ]
    shares = class_shares(classes)
    if len(classes) >= 5:
        return RiverGrade(len(sections), "proportion", basin_status(classes), None, {}, shares)
    graded = section_period_grade(sections, body=body)
    if graded.grade is None:
        raise StandardsError("no evaluation parameter to grade")
    return RiverGrade(
        len(sections), "mean", graded.grade.status, graded.grade, graded.means, shares
    )


def lake_grade(points: Sequence[Iterable[Mapping[str, Number | None]]]) -> PeriodGrade:
    """A lake or reservoir from its points (2011 method 三, water.md §2.6): each point's
    period mean per parameter, then the exact mean over the points, graded single-factor with
    the lake columns. One point is graded like a river section. The time-then-points order is
    UNVERIFIED (water.md §2.6); it weights every point equally whatever its sample count."""
    if not points:
        raise StandardsError("a lake needs at least one point")
    per_point = [_means(samples)[0] for samples in points]
    means, counts = _means(per_point)
    return _graded(means, counts, "lake")
