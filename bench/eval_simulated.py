"""Benchmark: campaign detection on simulated organisations, over several seeds and profiles.

    python bench/eval_simulated.py [--profiles apt29,apt28,apt41,lazarus] [--seeds 1,2,3]
                                   [--hosts 50] [--days 30] [--workdir DIR] [--json FILE]
    python bench/eval_simulated.py --merge A.json B.json   # one table from runs split over processes
    python bench/eval_simulated.py ... --workdir W --keep   # keep each run's store and ground truth in W
    python bench/eval_simulated.py ... --workdir W --recorrelate   # correlate the kept runs again, score
    python bench/eval_simulated.py --rescore STORE SIMULATION   # one kept store (e.g. the demo's), again

For each profile and seed, in a fresh process: simulate (one planted campaign), ingest into a
new store, run every registered detector with its packaged rules, correlate (when a correlation
engine is registered), and score against the ground truth (aptwatch/simulate/evaluate.py):

- campaign precision: detected campaigns that are true under the strict rule of
  simulate/evaluate.py (detected after the planted campaign began, more than half of the finding
  weight and of the hosts on planted events) / detected campaigns;
- campaign recall: planted campaigns matched by a detected campaign / planted campaigns;
- false campaigns per 1,000 host-days;
- time to detect: detection time - the campaign's first malicious event (reconnaissance), and
  - the initial compromise;
- stage coverage: planted stages with at least one finding on a planted event;
- finding precision: findings with evidence on a planted event / findings.

The simulator is a test bench: these numbers describe aptwatch on data we generated; detection
claims stand on the real datasets (docs/detections.md, docs/campaigns.md).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import machine, measure


def run_one(work: str, profile: str, seed: int, hosts: int, days: int, keep: bool = False,
            recorrelate: bool = False) -> tuple[int, dict[str, Any]]:
    """One profile and seed. `keep`: leave the store and the ground truth in `work` (the raw logs are
    removed: the store holds every event); `recorrelate`: reuse such a kept run, correlate it again from
    scratch (`correlate --rebuild`) and score it: how a correlation change alone moves the numbers."""
    from pathlib import Path

    from aptwatch.correlate import correlate as correlate_all
    from aptwatch.demo import correlate
    from aptwatch.detect.base import DetectSettings
    from aptwatch.detect.runner import run_detectors
    from aptwatch.ingest import ingest
    from aptwatch.simulate.config import SimulationConfig
    from aptwatch.simulate.engine import simulate
    from aptwatch.store import Store

    out = Path(work) / f"{profile.replace(':', '_')}-{seed}"
    if recorrelate:
        kept = json.loads((out / "run.json").read_text(encoding="utf-8"))
        store = Store.open(out / "store")
        correlate_all(store, rebuild=True)
        n_events, n_ingested, by_detector, how = kept["events"], kept["ingested"], kept["by_detector"], "correlated"
    else:
        sim = simulate(SimulationConfig(hosts=hosts, days=days, seed=seed, profiles=(profile,)), out / "sim")
        store = Store.open(out / "store", create=True)
        ing = ingest(store, [out / "sim" / "logs"])
        det = run_detectors(store, DetectSettings())
        how = correlate(store)
        n_events, n_ingested, by_detector = sim.events, ing.events, det.by_detector
    ev, ttd_compromise, planted = score_store(store, out / "sim")
    if keep and not recorrelate:
        shutil.rmtree(out / "sim" / "logs", ignore_errors=True)
        (out / "run.json").write_text(json.dumps({"events": n_events, "ingested": n_ingested,
                                                  "by_detector": by_detector}), encoding="utf-8")
    elif not keep and not recorrelate:
        shutil.rmtree(out, ignore_errors=True)
    return n_events, {"eval": ev.to_json(), "ingested": n_ingested, "findings_by_detector": by_detector,
                        "correlation": how, "ttd_compromise": ttd_compromise,
                        "planted_stages": len(planted.get("stages", {}))}


def score_store(store: Any, sim_dir: Any) -> tuple[Any, float | None, dict[str, Any]]:
    """Score a correlated store against its simulation's ground truth: the evaluation, the time from the
    initial compromise to the detection of the matching campaign (s), and the planted campaign."""
    from aptwatch.model.finding import parse_time
    from aptwatch.simulate.evaluate import evaluate, label_events, load_truth, member_weights
    from aptwatch.store.read import load_campaigns, load_findings

    truth = load_truth(sim_dir)
    with store.session(with_state=True) as s:
        labels = label_events(s, truth)
        findings = load_findings(s)
        campaigns = load_campaigns(s)
        weights = member_weights(s)
    ev = evaluate(truth, labels, findings, campaigns, weights)
    planted = truth.campaigns[0]
    compromise = parse_time(planted["stages"].get("initial_compromise", {}).get("first"))
    ttd_compromise = None
    for c in campaigns:
        if ev.campaign_match.get(c.id) and c.detected_at and compromise:
            d = (c.detected_at - compromise).total_seconds()
            ttd_compromise = d if ttd_compromise is None else min(ttd_compromise, d)
    return ev, ttd_compromise, planted


def rescore(store_dir: str, sim_dir: str) -> None:
    """Correlate a kept store again from scratch and print every detected campaign's verdict (for the store
    of `aptwatch demo --store S --out O`: `--rescore S O/simulation`)."""
    from pathlib import Path

    from aptwatch.correlate import correlate
    from aptwatch.store import Store
    from aptwatch.store.read import load_campaigns

    store = Store.open(Path(store_dir))
    correlate(store, rebuild=True)
    ev, ttd, _ = score_store(store, Path(sim_dir))
    with store.session(with_state=True) as s:
        camps = {c.id: c for c in load_campaigns(s, "detected_at IS NOT NULL")}
    print(f"{ev.findings} findings ({ev.true_findings} on planted events), {ev.detected_campaigns} detected "
          f"campaign(s), {ev.true_campaigns} true; detected {ttd / 3600:.1f} h ({ttd / 86400:.1f} d) after the "
          "initial compromise"
          if ttd is not None else f"{ev.detected_campaigns} detected campaign(s), none true")
    for cid, v in ev.campaign_verdicts.items():
        c = camps.get(cid)
        where = f"{', '.join(c.hosts)}; {len(c.findings)} findings; detected {c.detected_at}" if c else ""
        print(f"  {cid}: {'TRUE' if v['true'] else 'FALSE'} ({where}); weight share {v['weight_share']:.2f}, "
              f"host share {v['host_share']:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--profiles", default="apt29,apt28,apt41,lazarus")
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--hosts", type=int, default=50)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--json", default=None)
    ap.add_argument("--keep", action="store_true",
                    help="keep each run's store and ground truth under --workdir (for --recorrelate)")
    ap.add_argument("--recorrelate", action="store_true",
                    help="re-correlate the runs kept under --workdir (correlate --rebuild) and score them again")
    ap.add_argument("--rescore", nargs=2, metavar=("STORE", "SIMULATION"), default=None,
                    help="re-correlate one kept store (e.g. of `aptwatch demo --store S --out O`: S O/simulation) "
                         "and print its campaigns' verdicts")
    ap.add_argument("--merge", nargs="*", default=None,
                    help="print the table of earlier --json files (runs split over processes) and exit")
    args = ap.parse_args()
    if args.rescore:
        rescore(*args.rescore)
        return
    if args.merge is not None:
        merged: list[dict[str, Any]] = []
        for path in args.merge:
            with open(path, encoding="utf-8") as f:
                merged.extend(json.load(f))
        print(report(merged, args.hosts, args.days))
        return
    if (args.keep or args.recorrelate) and not args.workdir:
        sys.exit("--keep and --recorrelate need --workdir")
    work = args.workdir or tempfile.mkdtemp(prefix="aptwatch-evalbench-")
    results: list[dict[str, Any]] = []
    try:
        for profile in args.profiles.split(","):
            for seed in [int(s) for s in args.seeds.split(",")]:
                m = measure(f"{profile}/{seed}", run_one, work, profile, seed, args.hosts, args.days, args.keep,
                            args.recorrelate)
                ev = m.extra["eval"]
                results.append({"profile": profile, "seed": seed, "events": m.items, "seconds": m.seconds,
                                "rss_mb": m.peak_rss_mb, **m.extra})
                print(f"{profile} seed {seed}: {m.items:,} events, {ev['findings']:,} findings "
                      f"({ev['true_findings']:,} true), campaigns {ev['detected_campaigns']} "
                      f"({ev['true_campaigns']} true), stages {len(next(iter(ev['stages_detected'].values()), []))}"
                      f"/{m.extra['planted_stages']}, {m.seconds:.0f}s", flush=True)
                for cid, v in ev["campaign_verdicts"].items():
                    print(f"  {cid}: {'true' if v['true'] else 'false'}; weight share {v['weight_share']:.2f}, "
                          f"host share {v['host_share']:.2f}; {'; '.join(v['why'])}", flush=True)
                if args.json:  # after every run, so an interrupted bench keeps what it measured
                    with open(args.json, "w", encoding="utf-8") as f:
                        json.dump(results, f, indent=2)
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2)
    print(report(results, args.hosts, args.days))


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.0f}%"


def report(results: list[dict[str, Any]], hosts: int, days: int) -> str:
    lines = [f"### Campaign detection on simulated organisations ({hosts} hosts x {days} days)", "",
             f"Machine: {machine()}.", "",
             "| profile | runs | campaign precision | campaign recall | false campaigns / 1,000 host-days | "
             "false campaigns (holding planted findings) | median TTD after first event | "
             "median TTD after compromise | stage coverage | finding precision |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    profiles = sorted({r["profile"] for r in results}, key=lambda p: [r["profile"] for r in results].index(p))
    for p in [*profiles, "all"]:
        rs = [r for r in results if p in ("all", r["profile"])]
        det = sum(r["eval"]["detected_campaigns"] for r in rs)
        tp = sum(r["eval"]["true_campaigns"] for r in rs)
        fp = sum(r["eval"]["false_campaigns"] for r in rs)
        recalled = sum(len({v for v in r["eval"]["campaign_match"].values() if v}) for r in rs)
        planted = sum(len(r["eval"]["planted"]) for r in rs)
        host_days = hosts * days * len(rs)
        ttd = [v / 86400 for r in rs for v in r["eval"]["time_to_detect_seconds"].values() if v is not None]
        ttdc = [r["ttd_compromise"] / 86400 for r in rs if r["ttd_compromise"] is not None]
        cov = [len(next(iter(r["eval"]["stages_detected"].values()), [])) / r["planted_stages"] for r in rs]
        nf = sum(r["eval"]["findings"] for r in rs)
        tf = sum(r["eval"]["true_findings"] for r in rs)
        lines.append(
            f"| {p} | {len(rs)} | {_pct(tp / det if det else None)} | {_pct(recalled / planted if planted else 0)} | "
            f"{fp / (host_days / 1000):.2f} | {fp} ({sum(r['eval']['contaminated_campaigns'] for r in rs)}) | "
            f"{f'{statistics.median(ttd):.1f} d' if ttd else 'not detected'} | "
            f"{f'{statistics.median(ttdc):.1f} d' if ttdc else 'not detected'} | "
            f"{_pct(statistics.mean(cov) if cov else 0)} | {_pct(tf / nf if nf else None)} |")
    corr = {r["correlation"] for r in results}
    lines += ["", f"Correlation: {', '.join(sorted(corr))}. Detectors: "
              f"{', '.join(sorted({k for r in results for k in r['findings_by_detector']})) or 'none registered'}."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
