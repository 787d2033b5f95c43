"""The rules file: valid documents load; every error names its line."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from alerts import rules as r
from alerts.service import demo_rules_file

RECEIVER = """
[receivers.ops]
type = "webhook"
url = "http://127.0.0.1:9/hook"
secret_env = "HOOK_SECRET"
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("15m", timedelta(minutes=15)),
        ("2h", timedelta(hours=2)),
        ("1d", timedelta(days=1)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1d2h3m4s", timedelta(days=1, hours=2, minutes=3, seconds=4)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert r.parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "2", "2 hours", "h", "-1h", "1.5h"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        r.parse_duration(text)


def test_the_pingliang_starter_file_is_valid_and_covers_every_kind() -> None:
    ruleset = r.load_rules(demo_rules_file())
    assert {rule.kind for rule in ruleset.rules} == set(r.KINDS)


def test_a_full_rule_loads_with_its_defaults_and_options() -> None:
    ruleset = r.parse_rules(RECEIVER + """
[[rules]]
name = "nh3n"
kind = "threshold"
parameter = "nh3n"
limit = "target_class"
for = "2h"
severity = "critical"
labels = { team = "water" }
receivers = ["ops"]
repeat = "4h"
escalate = { after = "30m", receivers = ["ops"] }

[rules.scope]
kinds = ["water"]
counties = ["Kongtong"]
""")
    (rule,) = ruleset.rules
    assert rule.for_ == timedelta(hours=2)
    assert rule.interval == "hour"
    assert rule.scope.counties == ("Kongtong",)
    assert rule.escalate.after == timedelta(minutes=30)
    assert rule.late_after == timedelta(hours=3)
    assert set(ruleset.receivers) == {"ops"}


def _errors(text: str) -> list[str]:
    with pytest.raises(r.RulesError) as info:
        r.parse_rules(text, "rules.toml")
    return info.value.errors


@pytest.mark.parametrize(
    ("body", "line", "needle"),
    [
        # line numbers count from the first line of ``body`` (RECEIVER is 5 lines)
        ('[[rules]]\nname = "a"\nkind = "threshold"\nparameter = "pm25"\nabove = "ten"\n',
         10, "rules.0.above"),
        ('[[rules]]\nname = "a"\nkind = "threshold"\nparameter = "nope"\nabove = 1\n',
         6, "unknown parameter"),
        ('[[rules]]\nname = "a"\nkind = "threshold"\nparameter = "pm25"\n', 6, "exactly one"),
        ('[[rules]]\nname = "a"\nkind = "silent"\nfactor = 0.5\n', 9, "rules.0.factor"),
        ('[[rules]]\nname = "a"\nkind = "sirens"\n', 8, "kind"),
        ('[[rules]]\nname = "a"\nkind = "aqi_daily"\n[rules.scope]\nkinds = ["fire"]\n',
         10, "rules.0.scope.kinds.0"),
        ('[[rules]]\nname = "a"\nkind = "aqi_daily"\nreceivers = ["nobody"]\n', 7,
         "receiver 'nobody'"),
        ('[[rules]]\nname = "a"\nkind = "aqi_daily"\n[[rules]]\nname = "a"\nkind = "silent"\n',
         10, "already used on line 7"),
        ('[[rules]]\nname = "a"\nkind = "threshold"\nparameter = "pm25"\nabove = 100\n'
         'clear = 120\n', 6, "safe side"),
        ('[[rules]]\nname = "a"\nkind = "threshold"\nparameter = "ph"\nlimit = "target_class"\n',
         6, "graded as a range"),
        ('[[rules]]\nname = "a"\nkind = "aqi_hourly"\nabove = 150\nclear = 160\n', 6,
         "hysteresis"),
        ('[[rules]]\nname = "a"\nkind = "plan_target"\naffordable_below = 10\nclear = 5\n', 6,
         "hysteresis"),
        ('[receivers.bad]\ntype = "webhook"\nurl = "http://x/"\nsecret = "inline"\n', 6,
         "must not be written inline"),
        ('[[rules]]\nname = "a"\nkind = "aqi_daily"\nfor = "2 hours"\n', 6, "not a duration"),
        ('[[rules]\nname = "a"\n', 6, "TOML syntax"),
        ("[alerting]\nx = 1\n", 6, "unknown table 'alerting'"),
    ],
)
def test_errors_name_the_line(body: str, line: int, needle: str) -> None:
    errors = _errors(RECEIVER + body)
    assert any(e.startswith(f"rules.toml:{line}:") and needle in e for e in errors), errors


def test_all_errors_are_reported_at_once() -> None:
    errors = _errors(RECEIVER + '[[rules]]\nname = "a"\nkind = "silent"\nfactor = 0\n'
                     '[[rules]]\nname = "b"\nkind = "aqi_daily"\nabove = 900\n')
    assert [e.split(":")[1] for e in errors] == ["9", "13"]


def test_key_lines_of_tables_arrays_and_dotted_keys() -> None:
    lines = r.key_lines('a = 1\n[[rules]]\nname = "x"\nscope.kinds = [\n "air",\n]\n'
                        '[[rules]]\nname = "y"\n[rules.scope]\ncities = ["P"]\n')
    assert lines[("a",)] == 1
    assert lines[("rules", 0, "name")] == 3
    assert lines[("rules", 0, "scope", "kinds")] == 4
    assert lines[("rules", 1, "name")] == 8
    assert lines[("rules", 1, "scope", "cities")] == 10


def test_an_unreadable_file_is_a_rules_error(tmp_path: Path) -> None:
    with pytest.raises(r.RulesError, match="cannot read"):
        r.load_rules(tmp_path / "missing.toml")
