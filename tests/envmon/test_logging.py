"""JSON logs (ENVMON_LOG_JSON=true) keep ``extra=`` fields and sub-second UTC timestamps."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime, timedelta

from envmon.clikit import json_formatter


def record(msg: str, *args: object, extra: dict[str, object] | None = None,
           exc: bool = False) -> logging.LogRecord:
    logger = logging.getLogger("envmon.test")
    exc_info = None
    if exc:
        try:
            raise ValueError("boom")
        except ValueError:
            exc_info = sys.exc_info()
    return logger.makeRecord("envmon.test", logging.WARNING, __file__, 1, msg, args, exc_info,
                             extra=extra)


def test_extra_fields_and_the_usual_ones_are_kept() -> None:
    line = json_formatter().format(record("batch of %d from %s", 3, "站点A",
                                          extra={"station": "PL001", "messages": 3}))
    doc = json.loads(line)
    assert doc["msg"] == "batch of 3 from 站点A"
    assert (doc["level"], doc["logger"]) == ("WARNING", "envmon.test")
    assert (doc["station"], doc["messages"]) == ("PL001", 3)
    assert "站点A" in line  # readable, not \\u-escaped


def test_timestamp_is_utc_with_sub_second_precision() -> None:
    rec = record("tick")
    rec.created = datetime(2026, 3, 1, 8, 0, 1, 234_000, tzinfo=UTC).timestamp()
    ts = datetime.fromisoformat(json.loads(json_formatter().format(rec))["ts"])
    assert ts.utcoffset() == timedelta(0)
    assert ts == datetime(2026, 3, 1, 8, 0, 1, 234_000, tzinfo=UTC)


def test_exception_is_one_field() -> None:
    doc = json.loads(json_formatter().format(record("failed", exc=True)))
    assert "ValueError: boom" in doc["exc"]
