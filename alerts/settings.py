"""The ``[alerts]`` settings section: a dependency-free model, so ``envmon.settings`` can
embed it without importing the engine."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field


class AlertsSettings(BaseModel):
    """Where the rules are and how often the wall-clock duties run."""

    #: the rules file (docs/alerts.md); unset: ``envmon run`` starts no alerts (the demo
    #: uses alerts/pingliang-rules.toml, linked as deploy/alerts/pingliang.toml)
    rules_file: Path | None = None
    #: wall-clock duties (silent stations, reminders, escalation) at least this often; data
    #: are evaluated as soon as a batch's NOTIFY arrives
    tick_seconds: float = Field(5.0, gt=0, le=600)
    #: feed rows (committed batches) per evaluation transaction
    batch_limit: int = Field(500, ge=1, le=100_000)
    retry_seconds: float = Field(2.0, gt=0, le=600)
