"""Water indicators of a section from its hourly values (pure; GB 3838-2002 single-factor
evaluation and the 2011 method via ``aggregator.standards``).

Hourly class: the values of that hour. Daily/monthly class: the period means of the valid
values (evaluation method 2011 §2: grade the period mean of each indicator), with the
failing parameters and their exceedance multiples against the section's target class.
Means are exact rationals of the decimal values (GB 3838 limits are decimals and a mean often
lands on one); the stored ``means`` are their nearest floats.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from fractions import Fraction
from typing import Any, Protocol

from aggregator import standards
from aggregator.compute.hourly_values import HourlyValue

#: parameter -> value; exact (``Fraction``) for means, floats as read from the database.
Means = Mapping[str, standards.Number | None]


class Section(Protocol):
    @property
    def water_target_class(self) -> int | None: ...
    @property
    def water_body(self) -> str | None: ...


def hourly_means(hours: Iterable[HourlyValue]) -> dict[datetime, dict[str, float]]:
    out: dict[datetime, dict[str, float]] = defaultdict(dict)
    for h in hours:
        if h.valid and h.value is not None:
            out[h.ts][h.parameter] = h.value
    return out


def daily_means(hours: Iterable[HourlyValue]) -> dict[date, dict[str, Fraction | None]]:
    """Per Beijing day, the exact mean of each parameter's valid hourly values."""
    values: dict[date, dict[str, list[float | None]]] = defaultdict(lambda: defaultdict(list))
    for h in hours:
        if h.valid:
            values[standards.beijing_day(h.ts)][h.parameter].append(h.value)
    return {
        day: {p: standards.period_mean(vs) for p, vs in by_p.items()}
        for day, by_p in values.items()
    }


def period_means(days: Iterable[Means]) -> dict[str, Fraction | None]:
    """Period (e.g. month) exact mean of each parameter over daily means."""
    values: dict[str, list[standards.Number | None]] = defaultdict(list)
    for means in days:
        for p, v in means.items():
            values[p].append(v)
    return {p: standards.period_mean(vs) for p, vs in values.items()}


def _body(section: Section) -> standards.WaterBody:
    return "lake" if section.water_body == "lake" else "river"


def _row(
    section: Section, means: Means, result: standards.SectionGrade | None
) -> dict[str, Any]:
    """The class columns of a water indicator row; ``means`` stored as floats (JSON)."""
    row: dict[str, Any] = {
        "water_class": None, "class_label": None, "compliant": None, "exceeding": {},
        "means": {p: None if v is None else float(v) for p, v in means.items()},
    }
    if result is None:
        return row
    row["water_class"] = int(result.water_class)
    row["class_label"] = result.water_class.label
    if section.water_target_class is not None:
        target = standards.WaterClass(section.water_target_class)
        gradable = {p: v for p, v in means.items() if v is not None}
        compliance = standards.target_compliance(gradable, target, body=_body(section))
        row["compliant"] = compliance.compliant
        row["exceeding"] = dict(compliance.exceeding)
    return row


def grade(section: Section, means: Means) -> dict[str, Any]:
    """The class columns of a water indicator row from (exact) means (class NULL if nothing
    gradable)."""
    gradable = {
        p: v for p, v in means.items() if v is not None and p in standards.EVALUATION_PARAMETERS
    }
    result = standards.section_grade(gradable, body=_body(section)) if gradable else None
    return _row(section, means, result)


def period_grade(section: Section, samples: Iterable[Means]) -> dict[str, Any]:
    """The row of a period (month, year …) from its samples — here the daily means — averaged
    exactly per parameter and then graded (``standards.section_period_grade``)."""
    graded = standards.section_period_grade(samples, body=_body(section))
    return _row(section, graded.means, graded.grade)
