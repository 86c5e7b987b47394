"""The harvest notebook's chart aggregations, computed without a kernel from the example logs."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptlab.harvest import HarvestReport, failure_rates_by_segment, failures_by_day, harvest, traffic_frame

PRODUCTION = Path(__file__).parents[2] / "examples" / "support-triage" / "production"


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> HarvestReport:
    out = tmp_path_factory.mktemp("harvest") / "cases"
    return harvest([PRODUCTION / "logs"], policy=PRODUCTION / "harvest-policy.yaml", out=out, dry_run=True)


def test_failures_per_day_add_up_to_every_failure_and_rates_stay_within_traffic(report: HarvestReport) -> None:
    failures = report.failures_frame()
    traffic = traffic_frame(report.timeline)
    per_day, rate = failures_by_day(failures, traffic)
    assert list(per_day.columns) == ["day", "detector", "failures"]
    assert per_day["failures"].sum() == len(failures)
    assert set(per_day["detector"]) == set(failures["detector"])
    assert set(rate.index) == set(traffic["day"]) | set(per_day["day"])
    assert ((rate > 0) & (rate <= 1)).any() and (rate >= 0).all()
    busiest = per_day.groupby("day")["failures"].sum().idxmax()
    assert rate[busiest] == pytest.approx(
        per_day.groupby("day")["failures"].sum()[busiest] / traffic.groupby("day")["records"].sum()[busiest]
    )


def test_failure_rates_by_intent_divide_failures_by_that_intents_traffic(report: HarvestReport) -> None:
    failures = report.failures_frame()
    traffic = traffic_frame(report.timeline)
    rates = failure_rates_by_segment(failures, traffic)
    assert not rates.empty
    assert (rates["failure_rate"] == rates["failures"] / rates["records"]).all()
    first = rates.iloc[0]
    volume = traffic[(traffic["intent"] == first["intent"]) & (traffic["version"] == first["version"])]
    assert first["records"] == volume["records"].sum()
    assert rates["failures"].sum() <= len(failures)
