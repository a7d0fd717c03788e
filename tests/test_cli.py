"""CLI contract: every command documented, one-line errors with documented exit codes, JSON contracts."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from aptwatch.cli.main import app
from tests.fixtures import make_jsonl

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()


def command_names() -> list[str]:
    # command groups (`aptwatch rules ...`) count as commands: one "## aptwatch rules" section each
    return sorted([c.name or "" for c in app.registered_commands] + [g.name or "" for g in app.registered_groups])


def test_every_command_is_documented() -> None:
    doc = (REPO / "docs" / "cli.md").read_text()
    documented = set(re.findall(r"^## aptwatch (\S+)", doc, flags=re.M))
    missing = set(command_names()) - documented
    assert not missing, f"commands missing from docs/cli.md: {sorted(missing)}"
    stale = documented - set(command_names())
    assert not stale, f"docs/cli.md documents commands that do not exist: {sorted(stale)}"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "aptwatch.cli.main", *args], capture_output=True, text=True)


@pytest.mark.parametrize(("args", "code", "message"), [
    (["ingest", "--store", "{tmp}/s", "{tmp}/missing.log"], 3, "no such file or directory"),
    (["ingest", "--store", "{tmp}/s", "{tmp}/unknown.bin"], 3, "unknown log format"),
    (["findings", "--store", "{tmp}/nostore"], 4, "no store here yet"),
    (["findings", "--store", "{tmp}/notastore"], 4, "not a store"),
    (["query", "--store", "{tmp}/good", "DROP VIEW events"], 6, "only read-only SQL"),
    (["query", "--store", "{tmp}/good", "SELEC nonsense"], 6, "Parser Error"),
    (["detect", "--store", "{tmp}/good", "--since", "yesterday-ish"], 3, "cannot read time"),
])
def test_errors_are_one_line_with_exit_code(tmp_path: Path, args: list[str], code: int, message: str) -> None:
    (tmp_path / "unknown.bin").write_bytes(b"\x00\x01\x02 not a log")
    (tmp_path / "notastore").mkdir()
    (tmp_path / "notastore" / "x").write_text("x")
    assert run("ingest", "--store", str(tmp_path / "good"), str(make_jsonl(tmp_path / "a.jsonl", 5))).returncode == 0
    result = run(*[a.format(tmp=tmp_path) for a in args])
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("aptwatch: error:") and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_usage_error_exit_code() -> None:
    result = runner.invoke(app, ["no-such-command"])
    assert result.exit_code == 2


def test_machine_output_on_stdout_progress_on_stderr(tmp_path: Path) -> None:
    store = str(tmp_path / "s")
    r = run("ingest", "--store", store, str(make_jsonl(tmp_path / "a.jsonl", 20)))
    assert r.returncode == 0 and r.stdout == "" and "ingested 1 source(s), 20 events" in r.stderr
    q = run("query", "--store", store, "SELECT count(*) AS n FROM events", "--format", "jsonl")
    assert q.returncode == 0 and orjson.loads(q.stdout) == {"n": 20}
    c = run("query", "--store", store, "SELECT record FROM generic ORDER BY record LIMIT 2", "--format", "csv")
    assert c.stdout.splitlines() == ["record", "1", "2"]
    f = run("findings", "--store", store, "--format", "jsonl")
    assert f.returncode == 0 and f.stdout == ""
    k = run("campaigns", "--store", store, "--format", "json")
    assert k.returncode == 0 and orjson.loads(k.stdout) == []


def test_findings_and_campaigns_json_contract(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from aptwatch.model.campaign import Attribution, Campaign
    from aptwatch.model.finding import Evidence, Finding
    from aptwatch.store import Store

    store = Store.open(tmp_path / "s", create=True)
    t = datetime(2024, 3, 1, 10, tzinfo=UTC)
    f = Finding.build(detector="sigma", rule_id="r1", title="PsExec service", severity="high", time=t,
                      tactics=["TA0008", "TA0002"], techniques=["T1021.002"],
                      entities={"host": "ws01", "user": ["alice", "bob"]},
                      evidence=[Evidence("logs/a.evtx", 42, "persistence", t, "abcd-42")])
    with store.writer("test") as w:
        w.write_findings([f], "run1")
        w.write_findings([f], "run2")  # same finding again: upsert, not a duplicate
        w.write_campaigns([Campaign("c-1", 0.9, ("establish_foothold", "lateral_movement"), t, t, t,
                                    ("ws01",), ("alice",), (f.id,), (Attribution("G0016", "APT29", 0.4, "x"),))])
    out = runner.invoke(app, ["findings", "--store", str(tmp_path / "s"), "--format", "jsonl"])
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 1
    j = orjson.loads(lines[0])
    assert list(j)[:12] == ["id", "time", "time_last", "detector", "rule_id", "title", "severity", "attack", "stage",
                            "entities", "evidence", "campaign"]
    assert j["attack"] == {"tactics": ["TA0008", "TA0002"], "techniques": ["T1021.002"]}
    assert j["stage"] == "lateral_movement" and j["campaign"] == "c-1" and j["time"] == "2024-03-01T10:00:00Z"
    assert j["entities"] == {"host": "ws01", "user": ["alice", "bob"]}
    assert j["evidence"] == [{"source": "logs/a.evtx", "record": 42, "table": "persistence",
                              "time": "2024-03-01T10:00:00Z", "event_id": "abcd-42"}]
    camp = orjson.loads(runner.invoke(app, ["campaigns", "--store", str(tmp_path / "s"), "--format", "json"]).stdout)
    assert camp[0]["id"] == "c-1" and camp[0]["dwell_seconds"] == 0.0 and camp[0]["findings"] == [f.id]
    assert camp[0]["attribution"] == [{"group_id": "G0016", "name": "APT29", "score": 0.4, "why": "x"}]
    for key in ("id", "score", "stages", "first_seen", "detected_at", "last_seen", "dwell_seconds", "hosts", "users",
                "findings", "attribution"):
        assert key in camp[0]
