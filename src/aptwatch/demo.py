"""`aptwatch demo`: simulate an organisation with a planted campaign, hunt it end to end on the
embedded store, and score the hunt against the ground truth.

Phases: simulate (simulate/) -> ingest (ingest.py) -> detect (every registered detector, with
the rules shipped in the package) -> correlate (when a correlation engine is registered) ->
evaluate against the ground truth -> HTML report (report/html.py). Progress goes through
callbacks; nothing here prints.
"""

from __future__ import annotations

import importlib
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from aptwatch.detect.base import DetectSettings
from aptwatch.detect.runner import DetectReport, run_detectors
from aptwatch.ingest import IngestReport, ingest
from aptwatch.ingest import Progress as IngestProgress
from aptwatch.model.campaign import Campaign
from aptwatch.model.finding import Finding, iso
from aptwatch.model.killchain import STAGE_ORDER
from aptwatch.report import EXPORTERS
from aptwatch.report.base import ReportContext, Section
from aptwatch.simulate.config import SimulationConfig
from aptwatch.simulate.engine import SimProgress, SimulationReport, simulate
from aptwatch.simulate.evaluate import Evaluation, evaluate, label_events, load_truth
from aptwatch.store import Store
from aptwatch.store.read import load_campaigns, load_findings

#: the demo environment: ~50 hosts, 30 days, one campaign
DEMO_HOSTS = 50
DEMO_DAYS = 30
DEMO_SEED = 7
DEMO_PROFILE = "apt29"


class DemoProgress(Protocol):
    def phase(self, name: str) -> None: ...

    def sim(self) -> SimProgress | None: ...

    def ingest(self) -> IngestProgress | None: ...


@dataclass
class DemoResult:
    sim: SimulationReport
    ingest: IngestReport
    detect: DetectReport
    correlation: str
    findings: list[Finding]
    campaigns: list[Campaign]
    evaluation: Evaluation
    planted: dict[str, Any]
    report: Path
    seconds: dict[str, float] = field(default_factory=dict)


def correlate(store: Store) -> str:
    """Run the registered correlation engine, if this build has one. Returns what happened."""
    try:
        mod = importlib.import_module("aptwatch.correlate")
    except ModuleNotFoundError:
        return "no correlation engine in this build"
    fn: Callable[[Store], Any] | None = getattr(mod, "correlate_store", None)
    if fn is None:
        return "no correlation entry point (aptwatch.correlate.correlate_store)"
    fn(store)
    return "correlated"


def run_demo(config: SimulationConfig, workdir: Path, store: Store, report_path: Path,
             progress: DemoProgress | None = None) -> DemoResult:
    """Simulate, hunt, score and report (see module doc)."""
    seconds: dict[str, float] = {}

    def phase(name: str) -> float:
        if progress is not None:
            progress.phase(name)
        return time.monotonic()

    t = phase("simulate")
    sim_dir = workdir / "simulation"
    sim = simulate(config, sim_dir, progress.sim() if progress else None)
    seconds["simulate"] = time.monotonic() - t

    t = phase("ingest")
    ing = ingest(store, [sim_dir / "logs"], progress=progress.ingest() if progress else None, command="demo")
    seconds["ingest"] = time.monotonic() - t

    t = phase("detect")
    det = run_detectors(store, DetectSettings())
    seconds["detect"] = time.monotonic() - t

    t = phase("correlate")
    how = correlate(store)
    seconds["correlate"] = time.monotonic() - t

    t = phase("evaluate")
    truth = load_truth(sim_dir)
    with store.session(with_state=True) as s:
        labels = label_events(s, truth)
        findings = load_findings(s)
        campaigns = load_campaigns(s)
    ev = evaluate(truth, labels, findings, campaigns)
    seconds["evaluate"] = time.monotonic() - t

    t = phase("report")
    planted = truth.campaigns[0] if truth.campaigns else {}
    write_report(report_path, sim, planted, findings, campaigns, ev)
    seconds["report"] = time.monotonic() - t
    return DemoResult(sim, ing, det, how, findings, campaigns, ev, planted, report_path, seconds)


def best_campaign(result_campaigns: list[Campaign], ev: Evaluation) -> Campaign | None:
    """The detected campaign that matches a planted one (else the top-scored one)."""
    for c in result_campaigns:
        if ev.campaign_match.get(c.id):
            return c
    return result_campaigns[0] if result_campaigns else None


def planted_rows(planted: dict[str, Any], ev: Evaluation) -> list[dict[str, Any]]:
    stages = planted.get("stages", {})
    found = set(ev.stages_detected.get(planted.get("id", ""), []))
    rows = []
    for st in STAGE_ORDER:
        m = stages.get(st.value)
        if m is None:
            continue
        rows.append({"stage": st.value, "first": m["first"], "last": m["last"], "steps": m["steps"],
                     "found by aptwatch": "yes" if st.value in found else "no"})
    return rows


def write_report(path: Path, sim: SimulationReport, planted: dict[str, Any], findings: list[Finding],
                 campaigns: list[Campaign], ev: Evaluation) -> None:
    camp = best_campaign(campaigns, ev)
    by_detector = Counter(f.detector for f in findings)
    summary = {
        "Simulation": f"{sim.hosts} hosts, {sim.days} days, {sim.events:,} events "
                      "(simulated telemetry: a test bench, not evidence of detection quality on real data)",
        "Planted campaign": f"{planted.get('name', '-')} ({planted.get('group_id') or '-'}) {planted.get('id', '')}",
        "Findings": f"{len(findings):,} ({', '.join(f'{k} {v:,}' for k, v in by_detector.most_common()) or 'none'})",
        "Findings on planted events": f"{ev.true_findings:,}",
        "Campaigns detected": f"{ev.detected_campaigns} ({ev.true_campaigns} match the planted campaign)",
    }
    sections = [Section("Planted campaign (ground truth)", ["stage", "first", "last", "steps", "found by aptwatch"],
                        planted_rows(planted, ev),
                        f"Hosts: {' -> '.join(planted.get('hosts', []))}. Techniques: "
                        f"{', '.join(planted.get('techniques', []))}.")]
    ctx = ReportContext(title="aptwatch demo: hunting a planted campaign", generated_at=datetime.now(UTC),
                        summary=summary, sections=sections, campaigns=campaigns)
    exporter = EXPORTERS["html"]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        exporter.export(camp, findings, f, ctx)


def demo_config(hosts: int = DEMO_HOSTS, days: int = DEMO_DAYS, seed: int = DEMO_SEED, profile: str = DEMO_PROFILE,
                noise: float = 1.0, windows_format: str = "winlogbeat") -> SimulationConfig:
    # the campaign starts early enough for every stage to fit in the window
    return SimulationConfig(hosts=hosts, days=days, seed=seed, profiles=(profile,),
                            campaign_start_days=(min(2, days - 1),), noise=noise,
                            windows_format=windows_format)  # type: ignore[arg-type]


__all__ = ["DemoResult", "best_campaign", "demo_config", "iso", "planted_rows", "run_demo"]
