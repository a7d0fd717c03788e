"""`aptwatch correlate`, `campaigns`, `replay`, `suppress`, `suppressions`, `unsuppress`, and `hunt` wiring."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from aptwatch.cli.main import app
from aptwatch.correlate.replay import parse_slice, replay
from aptwatch.detect.base import DetectContext, Detector, DetectorResult, DetectSettings
from aptwatch.errors import InputError
from aptwatch.model.finding import Evidence, Finding
from aptwatch.store import Store
from tests.correlate.helpers import T0
from tests.correlate.test_engine import apt, store_with

runner = CliRunner()


def invoke(*args: str) -> str:
    r = runner.invoke(app, list(args))
    assert r.exit_code == 0, (r.stdout, r.stderr)
    return r.stdout


def test_correlate_then_campaigns_table_detail_and_json(tmp_path: Path) -> None:
    st = store_with(tmp_path, apt())
    store = str(st.root)
    r = runner.invoke(app, ["correlate", "--store", store])
    assert r.exit_code == 0 and "7 new finding(s): 7 in campaigns" in r.stderr and "newly detected" in r.stderr
    table = invoke("campaigns", "--store", store)
    assert "1 detected campaign(s)" in table and "lateral_movement" in table
    j = orjson.loads(invoke("campaigns", "--store", store, "--format", "json"))
    assert len(j) == 1
    c = j[0]
    for key in ("id", "score", "stages", "first_seen", "detected_at", "last_seen", "dwell_seconds", "hosts", "users",
                "findings", "attribution", "explanation", "status", "stage_details"):
        assert key in c
    assert c["dwell_seconds"] == 15 * 60 and c["detected_at"] == "2024-03-01T09:15:00Z"
    assert [s["stage"] for s in c["stage_details"]][-1] == "data_exfiltration"
    exfil = c["stage_details"][-1]
    assert exfil["after_first_seconds"] == 70 * 86400 and len(exfil["findings"]) == 1
    why = c["explanation"]["findings"]
    assert set(why) == set(c["findings"])
    assert {w["link"] for w in why.values()} >= {"seed", "host_time", "credential_use", "entity"}
    assert c["explanation"]["score"]["threshold"] == 1.5
    detail = invoke("campaigns", c["id"], "--store", store)
    assert "kill chain (dwell per stage)" in detail and "credential_use" in detail and "user:alice" in detail
    r = runner.invoke(app, ["campaigns", "c-nope", "--store", store])
    assert r.exit_code == 3 and "no campaign" in r.stderr
    assert "0 campaign(s)" not in invoke("campaigns", "--store", store, "--all")


def test_suppress_commands(tmp_path: Path) -> None:
    st = store_with(tmp_path, apt())
    store = str(st.root)
    invoke("correlate", "--store", store)
    cid = orjson.loads(invoke("campaigns", "--store", store, "--format", "json"))[0]["id"]
    r = runner.invoke(app, ["suppress", cid, "--store", store])
    assert r.exit_code == 3 and "reason is required" in r.stderr
    sid = invoke("suppress", cid, "--reason", "pentest", "--author", "me", "--store", store).strip()
    assert sid.startswith("s-")
    assert orjson.loads(invoke("campaigns", "--store", store, "--format", "json")) == []
    listed = orjson.loads(invoke("suppressions", "--store", store, "--format", "json"))
    assert listed[0]["id"] == sid and listed[0]["scope"] == "campaign" and len(listed[0]["conditions"]["findings"]) == 7
    assert "pentest" in invoke("suppressions", "--store", store)
    benign = orjson.loads(invoke("campaigns", "--store", store, "--format", "json", "--all"))
    assert benign[0]["status"] == "benign"
    invoke("unsuppress", sid, "--store", store)
    assert len(orjson.loads(invoke("campaigns", "--store", store, "--format", "json"))) == 1
    rule_sid = invoke("suppress", "--rule", "sigma:whoami", "--host", "ws01", "--reason", "admin", "--store", store)
    assert rule_sid.strip() in invoke("suppressions", "--store", store)


class LineRules(Detector):
    """Test detector: every generic event with a `rule` key is a finding (honours since / until)."""

    name = "line_rules"
    description = "test"

    def run(self, ctx: DetectContext) -> DetectorResult:
        s = ctx.settings
        rows = ctx.session.sql(
            "SELECT event_id, time, host, source, record, json_extract_string(raw, '$.rule') AS rule, "
            "json_extract_string(raw, '$.tactic') AS tactic, json_extract_string(raw, '$.user') AS user "
            "FROM generic WHERE json_extract_string(raw, '$.rule') IS NOT NULL AND time >= ? AND time <= ?",
            [s.since or datetime.min.replace(tzinfo=UTC), s.until or datetime.max.replace(tzinfo=UTC)]).to_pylist()
        return DetectorResult([Finding.build(
            detector="line", rule_id=r["rule"], title=r["rule"], severity="high", time=r["time"],
            tactics=[r["tactic"]], entities={"host": r["host"], "user": r["user"]},
            evidence=[Evidence(r["source"], r["record"], "generic", r["time"], r["event_id"])]) for r in rows])


def write_log(path: Path) -> Path:
    lines = []
    steps = [(0, "ws01", "macro", "TA0001"), (600, "ws01", "run_key", "TA0003"), (1200, "ws01", "mimikatz", "TA0006"),
             (86400 + 3600, "srv02", "wmi_exec", "TA0008"), (86400 * 2 + 60, "srv02", "rar_upload", "TA0010")]
    for i in range(60):
        lines.append({"@timestamp": (T0 + timedelta(hours=i)).isoformat(), "host": f"pc{i % 7}", "msg": "noise"})
    for dt, host, rule, tactic in steps:
        lines.append({"@timestamp": (T0 + timedelta(seconds=dt)).isoformat(), "host": host, "rule": rule,
                      "tactic": tactic, "user": "carol"})
    lines.sort(key=lambda x: x["@timestamp"])
    path.write_bytes(b"\n".join(orjson.dumps(x) for x in lines) + b"\n")
    return path


def test_replay_reports_when_each_campaign_would_have_been_detected(tmp_path: Path) -> None:
    log = write_log(tmp_path / "day.jsonl")
    rep = replay(tmp_path / "replay", [log], DetectSettings(), slice_len=timedelta(days=1), detectors=[LineRules()])
    assert len(rep.slices) == 3 and rep.slices[0].findings == 3
    detected = [rc for rc in rep.campaigns if rc.campaign.detected_at]
    assert len(detected) == 1
    rc = detected[0]
    assert rc.campaign.detected_at == T0 + timedelta(seconds=600)  # the run key: a second high-severity stage
    assert rc.reported_at == datetime(2024, 3, 2, tzinfo=UTC)  # the end of the first daily slice
    assert rc.time_to_detect == 600
    assert set(rc.campaign.hosts) == {"ws01", "srv02"}
    j = rep.to_json()
    assert j["campaigns"][0]["time_to_report_seconds"] == (datetime(2024, 3, 2, tzinfo=UTC) - T0).total_seconds()
    with pytest.raises(InputError):
        replay(tmp_path / "replay", [log], DetectSettings(), slice_len=timedelta(days=1), detectors=[LineRules()])


def test_replay_cli_and_slice_parsing(tmp_path: Path) -> None:
    assert parse_slice("6h") == timedelta(hours=6) and parse_slice("1w") == timedelta(days=7)
    with pytest.raises(InputError):
        parse_slice("soon")
    log = write_log(tmp_path / "day.jsonl")
    out = runner.invoke(app, ["replay", str(log), "--slice", "1d", "--format", "json"])
    assert out.exit_code == 0, out.stderr
    j = orjson.loads(out.stdout)
    assert j["slice_seconds"] == 86400 and j["store"] == "(temporary)" and "slice 1/" in out.stderr


def test_hunt_correlates(tmp_path: Path) -> None:
    log = write_log(tmp_path / "day.jsonl")
    r = runner.invoke(app, ["hunt", str(log), "--store", str(tmp_path / "s")])
    assert r.exit_code == 0 and "correlate:" in r.stderr
    assert Store.open(tmp_path / "s").root.exists()
