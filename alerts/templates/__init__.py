"""Human messages for a notification, in Chinese or English (``language`` per receiver).

The wording lives in zh.toml / en.toml beside this file; receivers choose the layout (plain
text for e-mail, Markdown for the group robots) from the same ``Message``.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any, Literal

from aggregator.compute.beijing_time import BEIJING
from alerts.notification import Notification

Language = Literal["zh", "en"]


@dataclass(frozen=True)
class Message:
    title: str
    lines: tuple[tuple[str, str], ...]  # (label, value), in display order

    def text(self) -> str:
        return self.title + "\n\n" + "\n".join(f"{k}: {v}" for k, v in self.lines) + "\n"

    def markdown(self) -> str:
        body = "\n".join(f"- **{k}**: {v}" for k, v in self.lines)
        return f"### {self.title}\n\n{body}\n"


@cache
def _template(language: Language) -> dict[str, Any]:
    text = resources.files("alerts.templates").joinpath(f"{language}.toml").read_text("utf-8")
    return tomllib.loads(text)


def _number(value: float, unit: str | None) -> str:
    return f"{value:g} {unit}" if unit else f"{value:g}"


def render(n: Notification, language: Language) -> Message:
    """The title and labelled lines naming station, parameter, value, limit and clause."""
    t = _template(language)
    field = t["field"]

    def when(ts: datetime) -> str:
        return ts.astimezone(BEIJING).strftime(t["time_format"])

    parameter = t["parameter"].get(n.parameter, n.parameter) if n.parameter else ""
    subject = f"{n.subject_name} ({n.subject_id})"
    lines: list[tuple[str, str]] = [(field[n.subject_kind], subject)]
    area = " ".join(p for p in (n.city, n.county) if p)
    if area:
        lines.append((field["area"], area))
    lines.append((field["rule"], n.rule))
    if parameter:
        lines.append((field["parameter"], parameter))
    if n.value is not None:
        lines.append((field["value"], _number(n.value, n.unit)))
    if n.limit is not None:
        lines.append((field["limit"], _number(n.limit, n.unit)))
    if n.clause:
        lines.append((field["clause"], n.clause))
    lines.append((field["started"], when(n.started_at)))
    if n.ended_at is not None:
        lines.append((field["ended"], when(n.ended_at)))
    lines.append((field["observed"], when(n.observed_at)))
    if language == "en":
        lines.append((field["summary"], n.summary))
    lines.append((field["key"], n.idempotency_key))
    title = t["title"].format(
        event=t["event"][n.event],
        severity=t["severity"][n.severity],
        subject=n.subject_name,
        parameter=parameter,
    ).strip()
    return Message(title, tuple(lines))
