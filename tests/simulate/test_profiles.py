"""Profiles: built-in groups cover the lifecycle with real technique ids; CTID plans load."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from aptwatch.errors import InputError
from aptwatch.model.killchain import STAGE_ORDER
from aptwatch.simulate import techniques
from aptwatch.simulate.ctid import find_plans, load_plan, resolve_profile
from aptwatch.simulate.profiles import BUILT_IN
from tests.simulate.conftest import run_small

ALL_STAGES = [s.value for s in STAGE_ORDER]
TECH = re.compile(r"^T[0-9]{4}(\.[0-9]{3})?$")


@pytest.mark.parametrize("key", sorted(BUILT_IN))
def test_built_in_profile_covers_lifecycle(key: str) -> None:
    p = BUILT_IN[key]
    assert p.stages() == ALL_STAGES
    assert p.group_id and re.match(r"^G[0-9]{4}$", p.group_id)
    for s in p.steps:
        assert TECH.match(s.technique) and re.match(r"^TA[0-9]{4}$", s.tactic), s
        assert s.technique in techniques.EMITTERS or s.technique.split(".")[0] in techniques.EMITTERS, s
    tool = p.tooling
    assert tool.beacon_jitter > 0 and tool.beacon_interval >= 300  # jittered, not chatty
    assert tool.exfil_days[0] >= 3  # drip, not dump


@pytest.mark.shared
def test_built_in_techniques_are_used_by_the_group(shared: object) -> None:
    """Most techniques of each profile are attributed to the group by ATT&CK (directly or via its
    software); the rest are documented procedures of the group's tooling."""
    import csv
    import gzip

    root = shared("mitre-attack")  # type: ignore[operator]
    with gzip.open(root / "group_techniques.csv.gz", "rt", encoding="utf-8") as f:
        direct: dict[str, set[str]] = {}
        for row in csv.DictReader(f):
            direct.setdefault(row["group_id"], set()).add(row["technique_id"])
    with gzip.open(root / "software_techniques.csv.gz", "rt", encoding="utf-8") as f:
        by_software: dict[str, set[str]] = {}
        for row in csv.DictReader(f):
            by_software.setdefault(row["software_id"], set()).add(row["technique_id"])
    with open(root / "group_software.csv", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            direct.setdefault(row["group_id"] + "+sw", set()).update(by_software.get(row["software_id"], set()))
    for p in BUILT_IN.values():
        assert p.group_id is not None
        known = direct[p.group_id] | direct.get(p.group_id + "+sw", set())
        techs = {s.technique for s in p.steps}
        hits = {t for t in techs if t in known or t.split(".")[0] in {k.split(".")[0] for k in known}}
        assert len(hits) / len(techs) >= 0.8, (p.key, sorted(techs - hits))


@pytest.mark.shared
def test_ctid_plans_load(shared: object) -> None:
    plans = find_plans(shared("ctid-emulation-plans"))  # type: ignore[operator]
    assert len(plans) >= 9
    for key, path in plans.items():
        profile, report = load_plan(path)
        assert profile.key == key and profile.stages() == ALL_STAGES, key
        own = [s for s in profile.steps if not s.filled]
        assert len(own) == report.used > 5
        # the plan's own order is kept within each stage
        names = [s.name for s in own]
        positions = {n: i for i, n in enumerate(names)}
        for stage in ALL_STAGES:
            in_stage = [positions[s.name] for s in own if s.stage == stage]
            assert in_stage == sorted(in_stage), (key, stage)
        assert all(s.filled for s in profile.steps if s.stage in report.filled)
        assert any(s.command for s in own), key  # the plan's commands are kept


@pytest.mark.shared
def test_ctid_apt29_profile_and_commands(shared: object) -> None:
    path = shared("ctid-emulation-plans", "apt29", "Emulation_Plan", "yaml", "APT29.yaml")  # type: ignore[operator]
    profile, report = load_plan(path)
    assert profile.group_id == "G0016" and profile.name == "APT29"
    first = profile.steps[[s.filled for s in profile.steps].index(False)]
    assert report.used >= 70 and "reconnaissance" in report.filled
    assert any(s.technique == "T1059.001" and s.executor in ("powershell", "cmd") for s in profile.steps)
    del first


@pytest.mark.shared
def test_ctid_campaign_runs(shared: object, tmp_path: Path) -> None:
    plans_dir = shared("ctid-emulation-plans")  # type: ignore[operator]
    report = run_small(tmp_path / "s", profiles=("ctid:oilrig",), plans_dir=str(plans_dir), days=5, hosts=10,
                       noise=0.3)
    c = json.loads((report.out / "truth" / "campaigns.json").read_text())[0]
    assert c["name"] == "OilRig" and c["group_id"] == "G0049"
    assert set(c["stages"]) == set(ALL_STAGES)
    truth = (report.out / "truth" / "ground_truth.jsonl").read_text()
    # a command line from the plan itself shows up in the telemetry
    plan_cmds = [s for s in load_plan(plans_dir / "oilrig" / "Emulation_Plan" / "yaml" / "oilrig.yaml")[0].steps
                 if s.command and s.executor == "cmd" and not s.filled and "#{" not in s.command.splitlines()[0]
                 and s.technique not in techniques.STRUCTURAL]
    assert plan_cmds
    logs = "".join(p.read_text() for p in (report.out / "logs" / "windows").glob("*"))
    first_line = plan_cmds[0].command.splitlines()[0].strip()
    assert json.dumps(first_line)[1:-1][:40] in logs
    assert "#{" not in logs  # placeholders are filled with the organisation's values
    assert truth


def test_unknown_profile_is_a_user_error() -> None:
    with pytest.raises(InputError, match="unknown profile"):
        resolve_profile("apt99", None)
    with pytest.raises(InputError, match="CTID"):
        resolve_profile("ctid:nothing", "/nonexistent")


def test_every_emitter_runs(tmp_path: Path) -> None:
    """A profile made of every registered technique runs without error (emitters are exercised)."""
    from dataclasses import replace

    from aptwatch.simulate.profiles import APT29, Step

    base = BUILT_IN["apt41"]
    extra = [Step(t, tac, f"exercise {t}") for t, tac in (
        ("T1003.006", "TA0006"), ("T1558.003", "TA0006"), ("T1110.003", "TA0006"), ("T1003.003", "TA0006"),
        ("T1003.001", "TA0006"), ("T1552.001", "TA0006"), ("T1068", "TA0004"), ("T1078.002", "TA0004"),
        ("T1546.003", "TA0003"), ("T1136.002", "TA0003"), ("T1098", "TA0003"), ("T1055", "TA0005"),
        ("T1562.001", "TA0005"), ("T1562.004", "TA0005"), ("T1562.002", "TA0005"), ("T1070.003", "TA0005"),
        ("T1140", "TA0005"), ("T1112", "TA0005"), ("T1564.001", "TA0005"), ("T1550.002", "TA0008"),
        ("T1047", "TA0008"), ("T1021.006", "TA0008"), ("T1021.004", "TA0008"), ("T1053.005", "TA0008"),
        ("T1039", "TA0009"), ("T1074.001", "TA0009"), ("T1048.003", "TA0010"), ("T1567.002", "TA0010"),
        ("T1048.002", "TA0010"), ("T1490", "TA0040"), ("T1489", "TA0040"), ("T1486", "TA0040"),
        ("T1591", "TA0043"), ("T1583", "TA0042"), ("T1082", "TA0007"), ("T1135", "TA0007"),
        ("T1046", "TA0007"), ("T1518.001", "TA0007"))]
    profile = replace(base, key="everything", steps=(*base.steps, *extra),
                      tooling=replace(APT29.tooling, lateral_targets=("file", "sql", "dc", "linux", "app")))
    BUILT_IN["everything"] = profile
    try:
        report = run_small(tmp_path / "s", profiles=("everything",), days=3, hosts=24)
    finally:
        del BUILT_IN["everything"]
    c = json.loads((report.out / "truth" / "campaigns.json").read_text())[0]
    assert all(s["done"] for s in c["steps"])
    techs = {json.loads(line)["technique"] for line in (report.out / "truth" / "ground_truth.jsonl").open()}
    assert {"T1003.006", "T1558.003", "T1110.003", "T1021.004", "T1048.003"} <= techs
