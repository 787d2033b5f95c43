"""Which air rule set applies: chosen by the date of the data, never by today's date."""

from __future__ import annotations

from datetime import date
from typing import Literal

from aggregator.standards.errors import StandardsError

RuleSet = Literal["2012", "2026"]

#: GB 3095-2026, HJ 633-2026 and HJ 663-2026 take effect (air.md, "Read this first").
AIR_RULES_SWITCH = date(2026, 3, 1)


def air_rules_for(day: date, override: RuleSet | None = None) -> RuleSet:
    """The AQI/assessment rule set for data of ``day``; ``override`` wins when given."""
    if override is not None:
        if override not in ("2012", "2026"):
            raise StandardsError(f"unknown rule set {override!r}")
        return override
    return "2012" if day < AIR_RULES_SWITCH else "2026"
