"""Tuning of the aggregator worker: a dependency-free model, so that ``envmon.settings``
can embed it as the ``[aggregator]`` section without importing the aggregator."""

from __future__ import annotations

from pydantic import BaseModel, Field


class AggregatorSettings(BaseModel):
    """Batch size, wake-up and retry intervals, and the queue lease time."""

    #: station-days per transaction: live data makes small batches anyway; a backlog (history
    #: import, late uploads) drains fastest in big ones (docs/aggregator.md, Measured)
    batch_size: int = Field(10_000, ge=1, le=100_000)
    poll_seconds: float = Field(5.0, gt=0, le=3600)
    retry_seconds: float = Field(2.0, gt=0, le=600)
    #: a claim not finished after this long (its worker died) is taken by another worker
    lease_seconds: float = Field(300.0, ge=1, le=86_400)
