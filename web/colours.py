"""The HJ 633 表2 bands with their Annex A colours, read from the standards library."""

from __future__ import annotations

from functools import cache
from typing import Any

from aggregator import standards


@cache
def aqi_bands() -> list[dict[str, Any]]:
    """Each band once, with its AQI range, names and colour (the page draws with these)."""
    bands: dict[int, dict[str, Any]] = {}
    for value in range(standards.ABOVE_TOP_IAQI + 1):
        c = standards.category(value)
        band = bands.setdefault(c.level, {
            "level": c.level, "lower": value, "upper": value, "name": c.name,
            "name_en": c.name_en, "colour": c.colour, "colour_en": c.colour_en, "hex": c.hex})
        band["upper"] = value
    out = sorted(bands.values(), key=lambda b: b["level"])
    out[-1]["upper"] = None  # the last band is open (HJ 633 表2: > 300)
    return out


def aqi_colour(aqi: int | None) -> str | None:
    """Hex colour of an AQI value, None for NA."""
    return None if aqi is None else standards.category(aqi).hex
