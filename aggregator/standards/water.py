"""Surface-water class per GB 3838-2002 and the 2011 evaluation method (环办〔2011〕22号).

Single-factor evaluation: each parameter gets the best class whose limit it meets, the section
gets the worst parameter class (water.md §2.2). Limits are data (``water_tables.toml``).
"""

from __future__ import annotations

import math
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


def period_mean(values: Iterable[Number | None]) -> float | None:
    """Arithmetic mean of a parameter over a period (water.md §2.7); ``None`` without data."""
    xs = [float(exact(v)) for v in values if v is not None]
    return math.fsum(xs) / len(xs) if xs else None
