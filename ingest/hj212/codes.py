"""HJ 212 factor codes mapped to canonical parameters and units (data in ``codes.toml``).

Codes are per station kind: the same wire name means different things in air, water and noise
packets (HJ 212-2017 附录B 表B.1-B.3; reference/hj212.md §7).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any

from envmon.parameters import STATION_KINDS, StationKind, parameter


@dataclass(frozen=True, slots=True)
class Code:
    """One factor code (or alias) of one station kind."""

    kind: StationKind
    code: str
    parameter: str
    unit: str
    only: frozenset[str] | None = None
    day: str | None = None
    night: str | None = None


@dataclass(frozen=True, slots=True)
class CodeTable:
    by_name: dict[StationKind, dict[str, Code]]
    conversions: dict[tuple[str, str], Decimal]

    def lookup(self, kind: StationKind, name: str) -> Code | None:
        """The code sent as ``name`` (a 2017 code, an old 2005 code or a known alias)."""
        return self.by_name[kind].get(name)

    def primary(self, kind: StationKind, param: str) -> Code | None:
        """The 2017 code the encoder writes for a canonical parameter."""
        for name, code in self.by_name[kind].items():
            if name == code.code and code.parameter == param and code.only is None:
                return code
        return None

    def factor(self, kind: StationKind, param: str, unit: str) -> Decimal:
        """Multiplier from ``unit`` to the canonical unit of ``param``; KeyError if unknown."""
        target = _canonical_unit(kind, param)
        if unit == target:
            return Decimal(1)
        return self.conversions[(unit, target)]


def _canonical_unit(kind: StationKind, param: str) -> str:
    found = parameter(kind, param)
    if found is None:
        raise KeyError(f"{kind}.{param} is not a canonical parameter")
    return found.unit


def _load(raw: dict[str, Any]) -> CodeTable:
    conversions = {(c["from"], c["to"]): Decimal(c["factor"]) for c in raw["conversions"]}
    by_name: dict[StationKind, dict[str, Code]] = {}
    for kind in STATION_KINDS:
        table: dict[str, Code] = {}
        for name, spec in raw.get(kind, {}).items():
            only = spec.get("only")
            code = Code(kind, name, spec["parameter"], spec["unit"],
                        frozenset(only) if only is not None else None,
                        spec.get("day"), spec.get("night"))
            for wire in (name, *spec.get("aliases", [])):
                if wire in table:
                    raise ValueError(f"codes.toml: {kind} name {wire!r} defined twice")
                table[wire] = code
        by_name[kind] = table
    result = CodeTable(by_name, conversions)
    for kind, table in by_name.items():
        for code in table.values():
            for param in filter(None, (code.parameter, code.day, code.night)):
                result.factor(kind, param, code.unit)  # every default unit must convert
    return result


@cache
def code_table() -> CodeTable:
    """The table shipped in ``codes.toml``, validated against the parameter catalogue."""
    text = resources.files("ingest.hj212").joinpath("codes.toml").read_text("utf-8")
    return _load(tomllib.loads(text))
