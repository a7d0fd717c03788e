"""Ground truth agrees with the emitted events, and campaigns cover the whole lifecycle."""

from __future__ import annotations

import itertools
import json
from datetime import datetime
from pathlib import Path

import pytest

from aptwatch.model.killchain import STAGE_ORDER
from aptwatch.simulate.engine import SimulationReport
from tests.simulate.conftest import run_small

ALL_STAGES = {s.value for s in STAGE_ORDER}


def _truth(report: SimulationReport) -> list[dict[str, object]]:
    with open(report.out / "truth" / "ground_truth.jsonl", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def _line(report: SimulationReport, rel: str, n: int, cache: dict[str, list[str]]) -> str:
    if rel not in cache:
        cache[rel] = (report.out / rel).read_text(encoding="utf-8").splitlines()
    return cache[rel][n - 1]


def _ts(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


@pytest.mark.parametrize("fixture", ["wlb", "otrf"])
def test_every_truth_entry_points_at_its_event(fixture: str, request: pytest.FixtureRequest) -> None:
    report: SimulationReport = request.getfixturevalue(fixture)
    truth = _truth(report)
    assert len(truth) == report.malicious > 50
    cache: dict[str, list[str]] = {}
    hosts = {h["key"]: h for h in json.loads((report.out / "truth" / "org.json").read_text())["hosts"]}
    for t in truth:
        line = _line(report, str(t["file"]), int(t["line"]), cache)  # type: ignore[call-overload]
        assert t["host"] in hosts
        if t["stream"] == "windows":
            d = json.loads(line)
            if "winlog" in d:
                assert d["winlog"]["computer_name"].split(".")[0].lower() == t["host"]
                assert int(d["winlog"]["record_id"]) == t["record"]
                assert d["@timestamp"] == t["time"]
            else:
                assert d["Hostname"].split(".")[0].lower() == t["host"]
                assert d["RecordNumber"] == t["record"]
        elif str(t["stream"]).startswith("zeek:"):
            cols = line.split("\t")
            assert abs(float(cols[0]) - _ts(str(t["time"]))) < 0.002
            uid = cols[2] if t["log"] == "files" else cols[1]
            assert uid == t["uid"]
            ip = hosts[str(t["host"])]["ip"]
            assert ip in cols, (t, line)  # the record involves the labelled host
        else:
            assert f" {t['host']} " in line


@pytest.mark.parametrize("fixture", ["wlb", "otrf"])
def test_campaign_covers_all_eight_stages(fixture: str, request: pytest.FixtureRequest) -> None:
    report: SimulationReport = request.getfixturevalue(fixture)
    truth = _truth(report)
    assert {str(t["stage"]) for t in truth} == ALL_STAGES
    manifest = json.loads((report.out / "truth" / "campaigns.json").read_text())
    assert len(manifest) == 1
    c = manifest[0]
    assert set(c["stages"]) == ALL_STAGES
    assert all(s["done"] for s in c["steps"])
    assert c["group_id"] in ("G0016", "G0007")
    assert len(c["hosts"]) >= 2  # moved laterally


def test_truth_is_time_ordered_and_low_and_slow(wlb: SimulationReport) -> None:
    truth = _truth(wlb)
    times = [_ts(str(t["time"])) for t in truth]
    assert times == sorted(times)
    assert wlb.extra["clamped"] == 0  # no activity reached back further than the engine's look-back
    assert wlb.malicious / wlb.events < 0.05  # the campaign is a needle in the haystack
    firsts = {}
    for t in truth:
        firsts.setdefault(t["stage"], _ts(str(t["time"])))
    order = [firsts[s.value] for s in STAGE_ORDER if s.value in firsts and s.value != "maintain_presence"]
    assert order == sorted(order)  # stages begin in lifecycle order


def test_long_window_spreads_stages_over_weeks(tmp_path: Path) -> None:
    report = run_small(tmp_path / "long", hosts=8, days=60, seed=3, profiles=("apt29",), noise=0.05,
                       campaign_start_days=(1,))
    c = json.loads((report.out / "truth" / "campaigns.json").read_text())[0]
    st = c["stages"]
    span = _ts(st["data_exfiltration"]["last"]) - _ts(st["initial_compromise"]["first"])
    assert span > 14 * 86400  # low and slow: weeks from the foothold to the last exfiltrated chunk
    exfil = _ts(st["data_exfiltration"]["last"]) - _ts(st["data_exfiltration"]["first"])
    assert exfil > 3 * 86400 and st["data_exfiltration"]["events"] > 10  # a drip, not a dump
    gaps = [_ts(st[b.value]["first"]) - _ts(st[a.value]["first"]) for a, b in itertools.pairwise(STAGE_ORDER[:-1])]
    assert sum(g > 86400 for g in gaps) >= 4  # days between most stages
