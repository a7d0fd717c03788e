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

    def ingested(self, days: int, events: int) -> None:
        """Days of simulated logs ingested so far (while the simulation goes on)."""


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
    fn: Callable[[Store], Any] | None = getattr(mod, "correlate", None)
    if fn is None:
        return "no correlation entry point (aptwatch.correlate.correlate)"
    report = fn(store)
    n = getattr(report, "campaigns", None)
    return f"correlated ({n} campaign(s) updated)" if isinstance(n, int) else "correlated"


def run_demo(config: SimulationConfig, workdir: Path, store: Store, report_path: Path,
             progress: DemoProgress | None = None) -> DemoResult:
    """Simulate, hunt, score and report (see module doc)."""
    seconds: dict[str, float] = {}

    def phase(name: str) -> float:
        if progress is not None:
            progress.phase(name)
        return time.monotonic()

    t = phase("simulate + ingest")
    sim_dir = workdir / "simulation"
    sim, ing = simulate_and_ingest(config, sim_dir, store, progress)
    seconds["simulate + ingest"] = time.monotonic() - t

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


def _day_paths(logs: Path, day: str) -> list[Path]:
    """A day's files: the Windows file by name (always a known format), the Zeek and Linux day
    folders (content in no known format there is a warning, not an error)."""
    out = sorted((logs / "windows").glob(f"*-{day}.*"))
    out += [d for d in (logs / "zeek" / day, logs / "linux" / day) if d.is_dir()]
    return out


def _simulate_child(config: SimulationConfig, out: str, queue: Any) -> None:
    """Run the simulation in a child process, reporting each finished day."""
    class _Q:
        def start(self, days: int) -> None:
            queue.put(("start", days, 0))

        def day(self, index: int, events: int) -> None:
            queue.put(("day", index, events))
    try:
        report = simulate(config, Path(out), _Q())
        queue.put(("done", report, 0))
    except BaseException as e:  # reported to the parent, which raises
        import traceback
        queue.put(("error", f"{type(e).__name__}: {e}\n{traceback.format_exc()}", 0))


def simulate_and_ingest(config: SimulationConfig, sim_dir: Path, store: Store,
                        progress: DemoProgress | None = None) -> tuple[SimulationReport, IngestReport]:
    """Simulate in a child process and ingest each day as soon as it is complete, so the two
    use both cores; the result is the same as simulating, then ingesting `logs/`."""
    import multiprocessing as mp
    from datetime import timedelta

    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    child = ctx.Process(target=_simulate_child, args=(config, str(sim_dir), queue), daemon=True)
    child.start()
    bar = progress.sim() if progress else None
    total = IngestReport("demo")
    done_days = 0
    report: SimulationReport | None = None

    def take(upto: int) -> None:
        nonlocal done_days
        while done_days < upto:
            day = (config.start + timedelta(days=done_days)).isoformat()
            paths = _day_paths(sim_dir / "logs", day)
            if paths:
                r = ingest(store, paths, workers=1, command="demo")
                total.sources += r.sources
                total.events += r.events
                total.warnings += r.warnings
                total.failed += r.failed
                total.unknown.extend(r.unknown)
                total.by_table.update(r.by_table)
                total.by_format.update(r.by_format)
            done_days += 1
            if progress is not None:
                progress.ingested(done_days, total.events)

    t0 = time.monotonic()
    try:
        while report is None:
            kind, value, events = queue.get()
            if kind == "start" and bar is not None:
                bar.start(int(value))
            elif kind == "day":
                if bar is not None:
                    bar.day(int(value), int(events))
                take(int(value))  # every day before this one is complete on disk
            elif kind == "done":
                report = value
            elif kind == "error":
                raise RuntimeError(f"simulation failed: {value}")
        take(config.days)
    finally:
        child.join(timeout=5)
        if child.is_alive():
            child.terminate()
    total.seconds = time.monotonic() - t0
    return report, total


def best_campaign(result_campaigns: list[Campaign], ev: Evaluation) -> Campaign | None:
    """The detected campaign that matches a planted one (else the top-scored one)."""
    for c in result_campaigns:
        if ev.campaign_match.get(c.id):
            return c
    return result_campaigns[0] if result_campaigns else None


def planted_rows(planted: dict[str, Any], ev: Evaluation) -> list[dict[str, Any]]:
    stages = planted.get("stages", {})
    titles = ev.stage_titles.get(planted.get("id", ""), {})
    rows = []
    for st in STAGE_ORDER:
        m = stages.get(st.value)
        if m is None:
            continue
        found = titles.get(st.value, [])
        rows.append({"stage": st.value, "first": m["first"], "last": m["last"], "steps": m["steps"],
                     "events": m.get("events", 0),
                     "found by aptwatch": ("yes: " + "; ".join(found[:3]) + (" ..." if len(found) > 3 else ""))
                     if found else "no"})
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
    sections = [Section("Planted campaign (ground truth)",
                        ["stage", "first", "last", "steps", "events", "found by aptwatch"],
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
