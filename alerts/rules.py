"""The alert rules file (TOML): rules, receivers and delivery settings, validated at start.

Every error names the line of the offending key (or of its table), so ``envmon alerts check``
reads like a compiler. The format is documented in docs/alerts.md; receivers and ``[delivery]``
are validated with the delivery engineer's models (alerts/receivers, alerts/delivery).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from aggregator.standards import water as water_standard
from alerts.delivery import DeliverySettings
from alerts.receivers import ReceiverConfig, parse_receiver
from envmon.parameters import STATION_KINDS, StationKind, catalogue

_DURATION = re.compile(r"^\s*(?:(\d+)d)?\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+)s)?\s*$")


def parse_duration(text: str) -> timedelta:
    """``"90s"``, ``"15m"``, ``"2h"``, ``"1d"``, ``"1h30m"`` (also used by the CLI)."""
    m = _DURATION.match(text)
    if not text.strip() or m is None or not any(m.groups()):
        raise ValueError(f"not a duration: {text!r} (e.g. 90s, 15m, 2h, 1d, 1h30m)")
    d, h, mi, s = (int(x or 0) for x in m.groups())
    return timedelta(days=d, hours=h, minutes=mi, seconds=s)


def _duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if not isinstance(value, str):
        raise ValueError("a duration is a string such as \"2h\" or \"30m\"")
    return parse_duration(value)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Scope(_Model):
    """Which subjects a rule watches; an empty list means any."""

    kinds: tuple[StationKind, ...] = ()
    stations: tuple[str, ...] = ()
    cities: tuple[str, ...] = ()
    counties: tuple[str, ...] = ()

    def matches(self, kind: str | None, station_id: str | None, city: str, county: str) -> bool:
        return ((not self.kinds or kind is None or kind in self.kinds)
                and (not self.stations or station_id in self.stations)
                and (not self.cities or city in self.cities)
                and (not self.counties or county in self.counties))


class Escalation(_Model):
    after: timedelta
    receivers: tuple[str, ...] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _durations(cls, data: Any) -> Any:
        if isinstance(data, dict) and "after" in data:
            data = {**data, "after": _duration(data["after"])}
        return data


class _RuleBase(_Model):
    name: str = Field(pattern=r"^[A-Za-z0-9_.:-]{1,80}$")
    description: str = ""
    scope: Scope = Scope()
    for_: timedelta = Field(timedelta(0), alias="for")
    severity: Literal["info", "warning", "critical"] = "warning"
    labels: dict[str, str] = {}
    receivers: tuple[str, ...] = ()
    repeat: timedelta | None = None
    escalate: Escalation | None = None
    #: an observation whose data end is older than now - max_age is late: it never opens an
    #: episode unless ``late = "open"`` (docs/alerts.md, Late data)
    max_age: timedelta | None = None
    late: Literal["ignore", "open"] = "ignore"

    @model_validator(mode="before")
    @classmethod
    def _durations(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = dict(data)
            for key in ("for", "repeat", "max_age", "min_silence"):
                if key in data:
                    data[key] = _duration(data[key])
        return data

    #: default max_age for the kind (its data's natural delay)
    default_max_age: ClassVar[timedelta] = timedelta(hours=3)

    @property
    def late_after(self) -> timedelta:
        return self.max_age if self.max_age is not None else self.default_max_age


class ThresholdRule(_RuleBase):
    """A parameter above/below a fixed value, or worse than the section's target-class limit."""

    kind: Literal["threshold"]
    parameter: str
    interval: Literal["rt", "min", "hour"] = "hour"
    above: float | None = None
    below: float | None = None
    limit: Literal["target_class"] | None = None
    #: hysteresis: resolve only once the value is back beyond ``clear`` (default: the limit)
    clear: float | None = None
    clear_margin: float = Field(0.0, ge=0)

    @model_validator(mode="after")
    def _one_limit(self) -> ThresholdRule:
        given = [x for x in (self.above, self.below, self.limit) if x is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of above, below or limit = \"target_class\"")
        if not any(self.parameter in catalogue()[k] for k in STATION_KINDS):
            raise ValueError(f"unknown parameter {self.parameter!r} (see README, Parameters)")
        if self.limit is not None:
            try:
                row = water_standard._row(self.parameter)
            except Exception as exc:
                raise ValueError(f"{self.parameter!r} has no GB 3838 class limits") from exc
            if row.get("direction") == "range":
                raise ValueError(f"{self.parameter!r} is graded as a range (GB 3838 表1): "
                                 "give above/below instead of a target-class limit")
        if self.clear is not None and self.clear_margin:
            raise ValueError("give clear or clear_margin, not both")
        if self.clear is not None and (
            (self.above is not None and self.clear > self.above)
            or (self.below is not None and self.clear < self.below)
        ):
            raise ValueError("clear must lie on the safe side of the limit (hysteresis)")
        return self


class _AqiRule(_RuleBase):
    above: int = Field(200, ge=0, le=500)
    clear: int | None = None
    subject: Literal["station", "region"] = "station"

    @model_validator(mode="after")
    def _clear_below(self) -> _AqiRule:
        if self.clear is not None and self.clear > self.above:
            raise ValueError("clear must not exceed above (hysteresis)")
        return self


class AqiHourlyRule(_AqiRule):
    """Hourly AQI (HJ 633) above a level, of a station or a region."""

    kind: Literal["aqi_hourly"]
    above: int = Field(ge=0, le=500)


class AqiDailyRule(_AqiRule):
    """Daily AQI above a level (default 200: heavy pollution, HJ 633 表2 level 5)."""

    kind: Literal["aqi_daily"]
    default_max_age: ClassVar[timedelta] = timedelta(days=2)


class WaterClassRule(_RuleBase):
    """The section's daily class worse than its target class (GB 3838 clause 5)."""

    kind: Literal["water_class"]
    default_max_age: ClassVar[timedelta] = timedelta(days=2)


class NoiseNightLeqRule(_RuleBase):
    """Night-time hourly Leq over the zone's night limit (GB 3096 表1), plus ``margin`` dB."""

    kind: Literal["noise_night_leq"]
    margin: float = 0.0
    clear_margin: float = Field(0.0, ge=0)


class NoiseNightLmaxRule(_RuleBase):
    """Night-time Lmax over the zone's night limit + 15 dB (GB 3096 clause 5.4)."""

    kind: Literal["noise_night_lmax"]
    clear_margin: float = Field(0.0, ge=0)


class SilentRule(_RuleBase):
    """A station that stopped reporting: nothing for ``factor`` x its learned cadence."""

    kind: Literal["silent"]
    factor: float = Field(3.0, ge=1)
    min_silence: timedelta = timedelta(minutes=5)
    min_samples: int = Field(3, ge=1)


class FlaggedRule(_RuleBase):
    """Data flagged instrument fault (D) or maintenance (M) for longer than ``for``."""

    kind: Literal["flagged"]
    flags: tuple[Literal["D", "M", "F", "C", "B", "S", "T"], ...] = ("D", "M")
    parameters: tuple[str, ...] = ()
    default_max_age: ClassVar[timedelta] = timedelta(hours=6)


class PlanTargetRule(_RuleBase):
    """The year's good-day ratio target at risk: fewer than ``affordable_below`` non-good days
    left to spend (0 = the target can no longer be reached), per the aggregator's target logic."""

    kind: Literal["plan_target"]
    affordable_below: int = Field(0, ge=-366, le=366)
    clear: int | None = None

    @model_validator(mode="after")
    def _clear_above(self) -> PlanTargetRule:
        if self.clear is not None and self.clear < self.affordable_below:
            raise ValueError("clear must not be below affordable_below (hysteresis)")
        return self


Rule = Annotated[
    ThresholdRule | AqiHourlyRule | AqiDailyRule | WaterClassRule | NoiseNightLeqRule
    | NoiseNightLmaxRule | SilentRule | FlaggedRule | PlanTargetRule,
    Field(discriminator="kind"),
]
KINDS = ("threshold", "aqi_hourly", "aqi_daily", "water_class", "noise_night_leq",
         "noise_night_lmax", "silent", "flagged", "plan_target")
_RULE = TypeAdapter(Rule)


@dataclass
class RuleSet:
    """A validated rules file: the rules, receiver configs (delivery models) and settings."""

    rules: list[Any]
    receivers: dict[str, ReceiverConfig] = field(default_factory=dict)
    delivery: DeliverySettings = field(default_factory=DeliverySettings)
    path: Path | None = None

    def rule(self, name: str) -> Any | None:
        return next((r for r in self.rules if r.name == name), None)


class RulesError(Exception):
    """The rules file is not valid; ``errors`` are ``FILE:LINE: message`` strings."""

    def __init__(self, errors: Sequence[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = list(errors)


# ---- line numbers ------------------------------------------------------------------------

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-\"'. ]+?)\s*=")


def _split_key(text: str) -> tuple[str, ...]:
    return tuple(p.strip().strip("\"'") for p in text.split("."))


def key_lines(text: str) -> dict[tuple[str | int, ...], int]:
    """Line (1-based) of each table header and key path, e.g. ``("rules", 2, "above")``.

    A light scanner, not a parser: it understands headers, arrays of tables and (dotted)
    keys, which is what the rules format uses; values spanning lines are skipped over.
    """
    out: dict[tuple[str | int, ...], int] = {}
    counts: dict[tuple[str | int, ...], int] = {}
    table: tuple[str | int, ...] = ()
    depth = 0  # open brackets of a multi-line value
    for n, line in enumerate(text.splitlines(), start=1):
        if depth > 0:
            depth += line.count("[") + line.count("{") - line.count("]") - line.count("}")
            continue
        m = _HEADER.match(line)
        if m:
            parts = _split_key(m.group(2))
            if m.group(1) == "[[":
                i = counts.get(parts, 0)
                counts[parts] = i + 1
                table = (*_resolve(parts[:-1], counts), parts[-1], i)
            else:
                table = _resolve(parts, counts)
            out.setdefault(table, n)
            continue
        m = _KEY.match(line)
        if m:
            path = (*table, *_split_key(m.group(1)))
            out.setdefault(path, n)
            value = line[m.end():].split("#", 1)[0]
            depth = value.count("[") + value.count("{") - value.count("]") - value.count("}")
    return out


def _resolve(parts: tuple[str, ...], counts: Mapping[tuple[str | int, ...], int]
             ) -> tuple[str | int, ...]:
    """A sub-table of an array of tables belongs to its last element (``[rules.scope]``)."""
    out: list[str | int] = []
    for i, p in enumerate(parts):
        out.append(p)
        n = counts.get(tuple(parts[: i + 1]))
        if n:
            out.append(n - 1)
    return tuple(out)


def _line_of(lines: Mapping[tuple[str | int, ...], int], loc: Sequence[str | int]) -> int:
    """Line of the longest part of a pydantic location found in the file; elements that are
    not keys (a union's tag, say) are skipped over."""
    paths: set[tuple[str | int, ...]] = {()}
    best, best_len = 1, -1
    for el in loc:
        key = "for" if el == "for_" else el
        paths |= {(*p, key) for p in paths}
        for p in paths:
            if p in lines and len(p) > best_len:
                best, best_len = lines[p], len(p)
    return best


def _messages(exc: ValidationError, lines: Mapping[tuple[str | int, ...], int],
              prefix: tuple[str | int, ...], where: str) -> list[str]:
    out = []
    for err in exc.errors():
        loc = (*prefix, *err["loc"])
        if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            loc = (*loc, "kind" if prefix[:1] == ("rules",) else "type")
        shown = ".".join(str(x) for x in loc if not (isinstance(x, str) and x in KINDS))
        msg = err["msg"].removeprefix("Value error, ")
        out.append(f"{where}:{_line_of(lines, loc)}: {shown}: {msg}")
    return out


# ---- loading -----------------------------------------------------------------------------

def parse_rules(text: str, where: str = "<rules>") -> RuleSet:
    """Validate a rules document; raises RulesError listing every problem with its line."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        line = m.group(1) if m else "1"
        raise RulesError([f"{where}:{line}: TOML syntax: {exc}"]) from exc
    lines = key_lines(text)
    errors: list[str] = []
    unknown = set(doc) - {"rules", "receivers", "delivery"}
    for key in sorted(unknown):
        errors.append(f"{where}:{lines.get((key,), 1)}: unknown table {key!r} "
                      "(expected rules, receivers, delivery)")
    receivers: dict[str, ReceiverConfig] = {}
    raw_receivers = doc.get("receivers", {})
    if not isinstance(raw_receivers, dict):
        errors.append(f"{where}:{lines.get(('receivers',), 1)}: receivers must be tables")
        raw_receivers = {}
    for name, cfg in raw_receivers.items():
        try:
            receivers[name] = parse_receiver(cfg)
        except ValidationError as exc:
            errors.extend(_messages(exc, lines, ("receivers", name), where))
    delivery = DeliverySettings()
    try:
        delivery = DeliverySettings.model_validate(doc.get("delivery", {}))
    except ValidationError as exc:
        errors.extend(_messages(exc, lines, ("delivery",), where))
    rules: list[Any] = []
    raw_rules = doc.get("rules", [])
    if not isinstance(raw_rules, list):
        errors.append(f"{where}:{lines.get(('rules',), 1)}: write rules as [[rules]] tables")
        raw_rules = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(raw_rules):
        try:
            rule = _RULE.validate_python(raw)
        except ValidationError as exc:
            errors.extend(_messages(exc, lines, ("rules", i), where))
            continue
        line = lines.get(("rules", i, "name"), lines.get(("rules", i), 1))
        if rule.name in seen:
            errors.append(f"{where}:{line}: rule name {rule.name!r} already used "
                          f"on line {seen[rule.name]}")
        seen.setdefault(rule.name, line)
        named = [*rule.receivers, *(rule.escalate.receivers if rule.escalate else ())]
        for r in named:
            if r not in raw_receivers:
                errors.append(f"{where}:{line}: rule {rule.name!r} names receiver {r!r}, "
                              "which no [receivers.*] table defines")
        if rule.escalate is not None and rule.escalate.after <= timedelta(0):
            errors.append(f"{where}:{line}: escalate.after must be positive")
        if rule.repeat is not None and rule.repeat < timedelta(minutes=1):
            errors.append(f"{where}:{line}: repeat must be at least 1m")
        rules.append(rule)
    if errors:
        raise RulesError(errors)
    return RuleSet(rules, receivers, delivery)


def load_rules(path: Path) -> RuleSet:
    """Read and validate a rules file."""
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise RulesError([f"{path}: cannot read: {exc.strerror or exc}"]) from exc
    ruleset = parse_rules(text, str(path))
    ruleset.path = path
    return ruleset
