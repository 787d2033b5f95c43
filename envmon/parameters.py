"""The parameter catalogue: which parameters each station kind may report, with units.

The catalogue is data (``parameters.toml``); this module only loads and queries it.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal, get_args

StationKind = Literal["air", "water", "noise"]
STATION_KINDS: tuple[StationKind, ...] = get_args(StationKind)


@dataclass(frozen=True, slots=True)
class Parameter:
    kind: StationKind
    name: str
    unit: str
    description: str
    min: float
    max: float


@cache
def catalogue() -> dict[StationKind, dict[str, Parameter]]:
    """All parameters, by station kind and name."""
    raw = tomllib.loads(resources.files("envmon").joinpath("parameters.toml").read_text("utf-8"))
    out: dict[StationKind, dict[str, Parameter]] = {}
    for kind in STATION_KINDS:
        out[kind] = {
            name: Parameter(
                kind, name, p["unit"], p["description"], float(p["min"]), float(p["max"])
            )
            for name, p in raw.get(kind, {}).items()
        }
    return out


def parameter(kind: StationKind, name: str) -> Parameter | None:
    """The parameter ``name`` of station kind ``kind``, or ``None`` if it does not belong there."""
    return catalogue()[kind].get(name)
