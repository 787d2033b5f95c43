"""``envmon aqi``: the CLI calculator over the daily-report rules (HJ 633-2012/-2026)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from aggregator.aqi_cli import aqi

CASE = ["--pm25", "80", "--pm10", "130", "--so2", "5", "--no2", "30", "--co", "0.5"]


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(aqi, list(args))
    return result.exit_code, result.output


def test_json_by_date() -> None:
    """air.md §5.1 worked example: PM2.5 80 -> 119 (2026) and 107 (2012)."""
    code, out = run("--date", "2026-03-01", *CASE, "--o3-8h", "90", "--format", "json")
    doc = json.loads(out)
    assert code == 0
    assert (doc["aqi"], doc["category"], doc["primary"], doc["rules"]) == (
        119,
        "轻度污染",
        ["pm25"],
        "2026",
    )
    assert doc["iaqi"]["pm10"] == 104
    code, out = run(
        "--date", "2026-02-28", *CASE, "--o3-8h", "90", "--o3-1h", "100", "--format", "json"
    )
    assert json.loads(out)["aqi"] == 107


def test_rules_override_and_text() -> None:
    code, out = run(
        "--date", "2026-03-01", "--rules", "2012", *CASE, "--o3-8h", "90", "--o3-1h", "100"
    )
    assert code == 0 and "AQI 107" in out and "HJ 633-2012" in out and "primary pm25" in out


def test_bad_input_is_a_usage_error() -> None:
    code, out = run("--date", "2026-03-01", "--pm25", "abc")
    assert code == 2 and "pm25" in out
    code, _ = run("--pm25", "10")  # neither date nor rules
    assert code == 2


def test_csv_many_cases(tmp_path: Path) -> None:
    """--input: one case per row, columns named like the flags, one JSON object per line."""
    f = tmp_path / "cases.csv"
    f.write_text(
        "date,pm25,pm10,so2,no2,co,o3-8h,o3-1h\n"
        "2025-06-01,80,130,5,30,0.5,90,100\n"
        "2026-06-01,80,130,5,30,0.5,90,\n"
        "2026-06-01,20,20,,30,0.5,90,\n"
        "2026-06-01,x,20,5,30,0.5,90,\n",
        encoding="utf-8",
    )
    code, out = run("--input", str(f))
    docs = [json.loads(line) for line in out.splitlines()]
    assert code == 1  # one bad row
    assert [d.get("aqi") for d in docs[:3]] == [107, 119, None]
    assert docs[2]["missing"] == ["so2"]
    assert docs[3]["line"] == 5 and "pm25" in docs[3]["error"]


def test_2012_day_without_o3_1h_has_an_aqi_and_says_what_it_used() -> None:
    """Issue 11: HJ 633-2012 has no rule voiding the AQI without the O3 1-h max; the output
    names the indicators the AQI was computed from (PM2.5 50 -> 68.75 -> 69)."""
    args = ["--date", "2025-05-01", "--pm25", "50", "--pm10", "60", "--so2", "10", "--no2",
            "30", "--co", "0.8", "--o3-8h", "100"]
    code, out = run(*args, "--format", "json")
    doc = json.loads(out)
    assert code == 0 and (doc["aqi"], doc["rules"], doc["missing"]) == (69, "2012", ["o3_1h"])
    assert doc["used"] == ["so2", "no2", "co", "pm10", "pm25", "o3_8h"]
    code, out = run(*args)
    assert code == 0 and "AQI 69" in out and "AQI from so2, no2, co, pm10, pm25, o3_8h" in out
    code, out = run(*args[:-2], "--format", "json")  # no O3 at all: NA (HJ 633-2026 5.3.1)
    doc = json.loads(out)
    assert doc["aqi"] is None and doc["used"] == [] and doc["missing"] == ["o3_8h", "o3_1h"]
