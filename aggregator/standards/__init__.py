"""National-standard indicators (AQI, water class, noise compliance) as pure functions."""

from aggregator.standards.aqi import (
    ABOVE_TOP_IAQI,
    POLLUTANTS,
    AqiReport,
    Category,
    Period,
    Pollutant,
    category,
    daily_aqi,
    hourly_aqi,
    iaqi,
    round_concentration,
)
from aggregator.standards.errors import StandardsError
from aggregator.standards.rules import AIR_RULES_SWITCH, RuleSet, air_rules_for

__all__ = [
    "ABOVE_TOP_IAQI",
    "AIR_RULES_SWITCH",
    "POLLUTANTS",
    "AqiReport",
    "Category",
    "Period",
    "Pollutant",
    "RuleSet",
    "StandardsError",
    "air_rules_for",
    "category",
    "daily_aqi",
    "hourly_aqi",
    "iaqi",
    "round_concentration",
]
