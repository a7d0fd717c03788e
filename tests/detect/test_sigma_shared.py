"""The Sigma engine on the pinned SigmaHQ copy and its regression samples (../shared/data/sigma)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from aptwatch.detect.base import DetectSettings
from aptwatch.detect.runner import run_detectors
from aptwatch.detect.sigma.compiler import compile_rules
from aptwatch.detect.sigma.loader import load_rules
from aptwatch.ingest import ingest
from aptwatch.model.finding import Severity
from aptwatch.store import Store
from tests.conftest import shared_path

pytestmark = [pytest.mark.shared, pytest.mark.slow]


def _dirs() -> list[Path]:
    root = shared_path("sigma")
    return [root / "rules", root / "rules-threat-hunting", root / "rules-emerging-threats"]


def test_at_least_99_percent_of_sigmahq_windows_rules_compile() -> None:
    compiled = compile_rules(load_rules(_dirs()))
    windows_ok = sum(1 for r in compiled.rules if r.meta.logsource[1] == "windows")
    windows_bad = [p for p in compiled.problems if "product=windows" in p.reason or p.stage != "route"]
    assert windows_ok / (windows_ok + len(windows_bad)) >= 0.99, windows_bad[:10]
    assert all(p.reason for p in compiled.problems)  # nothing dropped without a reason


def test_regression_samples_trigger_their_rules(tmp_path: Path) -> None:
    """A sample of the regression set (every 4th rule folder, bounded time): each rule fires on its own file."""
    root = shared_path("sigma", "regression_data")
    infos = sorted(root.rglob("info.yml"))[::4]
    import yaml

    samples: list[tuple[str, Path]] = []
    for info in infos:
        meta = yaml.safe_load(info.read_text())
        for rm in meta.get("rule_metadata") or []:
            for t in meta.get("regression_tests_info") or []:
                p = shared_path("sigma") / t["path"]
                if t.get("type") == "evtx" and p.exists():
                    samples.append((str(rm["id"]), p))
    store = Store.open(tmp_path / "s", create=True)
    ingest(store, sorted({p for _, p in samples}))
    rep = run_detectors(store, DetectSettings(rule_paths=tuple(_dirs()), min_severity=Severity.INFORMATIONAL,
                                              options={"sigma_builtin": False}))
    assert not rep.failed
    with store.session(with_state=True) as s:
        stored = {r["sha256"]: r["path"] for r in s.sql("SELECT sha256, path FROM sources").to_pylist()}
        hits = {(r["rule_id"], r["source"]) for r in s.sql(
            "SELECT DISTINCT rule_id, source FROM state.sigma_matches").to_pylist()}
    missed = [(rid, p.name) for rid, p in samples
              if (rid, stored[hashlib.sha256(p.read_bytes()).hexdigest()]) not in hits]
    assert len(samples) >= 40
    assert not missed, missed
