"""`aptwatch detect --set NAME=VALUE` reaches the analytics; a malformed --set is a usage/input error."""

from __future__ import annotations

from pathlib import Path

import orjson
from typer.testing import CliRunner

from aptwatch.cli.main import app
from aptwatch.store import Store
from tests.analytics.lake import write
from tests.analytics.test_beacon import conns, periodic

runner = CliRunner()


def test_set_option_changes_an_analytic_threshold(store_dir: Path) -> None:
    store = Store.open(store_dir, create=True)
    write(store, {"network": conns("10.0.0.5", "203.0.113.10", periodic(60, 600))})
    strict = runner.invoke(app, ["detect", "--store", str(store_dir), "--set", "beacon.min_score=1.01"])
    assert strict.exit_code == 0, strict.output
    out = runner.invoke(app, ["findings", "--store", str(store_dir), "--format", "jsonl"])
    assert out.stdout.strip() == ""
    # the rebuild option re-learns from every stored event with the default threshold
    again = runner.invoke(app, ["detect", "--store", str(store_dir), "--set", "analytics.rebuild=true"])
    assert again.exit_code == 0, again.output
    out = runner.invoke(app, ["findings", "--store", str(store_dir), "--format", "jsonl"])
    found = [orjson.loads(line) for line in out.stdout.splitlines() if line.strip()]
    assert [f["rule_id"] for f in found] == ["beacon.periodic"]


def test_malformed_set_is_an_input_error(store_dir: Path) -> None:
    Store.open(store_dir, create=True)
    r = runner.invoke(app, ["detect", "--store", str(store_dir), "--set", "no-equals-sign"])
    assert r.exit_code == 3


def test_detect_prints_a_note_when_a_short_recording_has_no_baseline(store_dir: Path) -> None:
    from tests.analytics.test_lateral import T0, logon

    store = Store.open(store_dir, create=True)
    write(store, {"auth": [logon(T0, "ws6", "pgustavo", "172.18.39.5", "0x1"),
                           logon(T0 + 600, "dc1", "pgustavo", "172.18.39.5", "0x2")]})
    r = runner.invoke(app, ["detect", "--store", str(store_dir)])
    assert r.exit_code == 0, r.output
    assert "note: lateral: baseline learning for" in r.output and "learn_days=0" in r.output
    hunt = runner.invoke(app, ["detect", "--store", str(store_dir), "--set", "analytics.rebuild=true",
                               "--set", "analytics.learn_days=0"])
    assert hunt.exit_code == 0, hunt.output
    assert "note: lateral" not in hunt.output
    out = runner.invoke(app, ["findings", "--store", str(store_dir), "--format", "jsonl"])
    edges = {orjson.loads(line)["title"] for line in out.stdout.splitlines() if line.strip()}
    assert "First-seen logon to dc1 from 172.18.39.5" in edges
