"""Sigma filters (meta filters of the Sigma 2 specification): applied to the rules they name, by log source."""

from __future__ import annotations

import textwrap
from pathlib import Path

from aptwatch.detect.base import DetectSettings
from aptwatch.detect.runner import run_detectors
from aptwatch.store.read import load_findings
from tests.detect.sigma_store import make_store

RULE = """
    title: {title}
    id: {id}
    logsource: {{category: process_creation, product: windows}}
    detection:
      sel:
        Image|endswith: '\\{image}'
      condition: sel
    level: medium
"""
FILTER = """
    title: Service accounts run these tools by design
    description: Scheduled inventory jobs run whoami and hostname as svc_ accounts.
    logsource: {{category: process_creation, product: windows}}
    filter:
      rules: {rules}
      selection:
        User|startswith: 'CORP\\svc_'
      condition: not selection
"""
WHOAMI, HOSTNAME = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"


def _run(tmp_path: Path, rules: str, filter_logsource: str = "") -> set[tuple[str, str]]:
    d = tmp_path / "rules"
    d.mkdir()
    (d / "whoami.yml").write_text(textwrap.dedent(RULE.format(title="whoami", id=WHOAMI, image="whoami.exe")))
    (d / "hostname.yml").write_text(textwrap.dedent(RULE.format(title="hostname", id=HOSTNAME, image="hostname.exe")))
    flt = textwrap.dedent(FILTER.format(rules=rules))
    if filter_logsource:
        flt = flt.replace("{category: process_creation, product: windows}", filter_logsource)
    (d / "filter.yml").write_text(flt)
    rows = [{"action": "start", "process_path": f"C:\\Windows\\System32\\{img}", "user": user, "host": host}
            for img in ("whoami.exe", "hostname.exe")
            for user, host in (("CORP\\svc_inventory", "srv1"), ("CORP\\alice", "ws1"))]
    store = make_store(tmp_path / "s", {"process": rows})
    rep = run_detectors(store, DetectSettings(rule_paths=(d,), only=("sigma",), options={"sigma_builtin": False}))
    assert not rep.errors
    with store.session(with_state=True) as s:
        return {(f.title, f.entities["host"][0]) for f in load_findings(s)}


def test_filter_applies_to_the_rules_it_names(tmp_path: Path) -> None:
    got = _run(tmp_path, f"[{WHOAMI}]")
    assert got == {("whoami", "ws1"), ("hostname", "ws1"), ("hostname", "srv1")}


def test_filter_for_any_rule_of_its_log_source(tmp_path: Path) -> None:
    assert _run(tmp_path, "any") == {("whoami", "ws1"), ("hostname", "ws1")}


def test_filter_of_another_log_source_does_not_apply(tmp_path: Path) -> None:
    got = _run(tmp_path, "any", "{category: network_connection, product: windows}")
    assert got == {("whoami", "ws1"), ("whoami", "srv1"), ("hostname", "ws1"), ("hostname", "srv1")}


def test_cli_retro_hunt_since_180d_then_incremental(tmp_path: Path) -> None:
    """`aptwatch detect --rules DIR --since 180d`, then a new rule (only it runs over the stored events)
    and new events (every rule runs over them only)."""
    from datetime import UTC, datetime, timedelta

    from typer.testing import CliRunner

    from aptwatch.cli.main import app
    from tests.detect.sigma_store import add_source, batch

    d = tmp_path / "rules"
    d.mkdir()
    (d / "whoami.yml").write_text(textwrap.dedent(RULE.format(title="whoami", id=WHOAMI, image="whoami.exe")))
    now = datetime.now(UTC)

    def proc(image: str, host: str, days_ago: int) -> dict[str, object]:
        return {"action": "start", "process_path": f"C:\\Windows\\System32\\{image}", "host": host,
                "time": now - timedelta(days=days_ago)}

    store = make_store(tmp_path / "s", {"process": [
        proc("whoami.exe", "old", 400), proc("whoami.exe", "new", 10), proc("hostname.exe", "new", 9)]})
    args = ["detect", "--store", str(store.root), "--rules", str(d), "--only", "sigma", "--set", "sigma_builtin=false"]

    def findings() -> set[tuple[str, str]]:
        with store.session(with_state=True) as s:
            return {(f.title, f.entities["host"][0]) for f in load_findings(s)}

    def ledger() -> dict[str, int]:
        with store.session(with_state=True) as s:
            rows = s.sql("SELECT rule_id, count(*) AS n FROM state.sigma_evaluated GROUP BY ALL").to_pylist()
        return {r["rule_id"]: int(r["n"]) for r in rows}

    res = CliRunner().invoke(app, [*args, "--since", "180d"])
    assert res.exit_code == 0, res.output
    assert findings() == {("whoami", "new")}
    before = ledger()
    # a new rule: evaluated over the stored events; the whoami rule is not evaluated again
    (d / "hostname.yml").write_text(textwrap.dedent(RULE.format(title="hostname", id=HOSTNAME, image="hostname.exe")))
    with store.session(with_state=True) as s:
        stamp = s.sql(f"SELECT evaluated_at FROM state.sigma_evaluated WHERE rule_id = '{WHOAMI}'").to_pylist()
    assert CliRunner().invoke(app, [*args, "--since", "180d"]).exit_code == 0
    assert findings() == {("whoami", "new"), ("hostname", "new")}
    with store.session(with_state=True) as s:
        assert s.sql(f"SELECT evaluated_at FROM state.sigma_evaluated WHERE rule_id = '{WHOAMI}'").to_pylist() == stamp
    assert ledger() == {**before, HOSTNAME: 1}
    # new events: both rules run over the new ingest run only (one more ledger row each)
    add_source(store, "more.evtx", [batch("process", [proc("whoami.exe", "late", 1)])])
    assert CliRunner().invoke(app, [*args, "--since", "180d"]).exit_code == 0
    assert ledger() == {WHOAMI: before[WHOAMI] + 1, HOSTNAME: 2}
    assert findings() == {("whoami", "new"), ("hostname", "new"), ("whoami", "late")}
