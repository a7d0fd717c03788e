"""Benchmark: all SigmaHQ Windows rules over evtx-attack-samples replicated N times, end to end.

    python bench/sigma_evtx.py [--copies 20] [--workdir DIR]

Three stages, each in a fresh process (bench/harness.py), over the same files:

- bare parse: a loop over `evtx.PyEvtxParser(...).records_json()`, the floor of any EVTX tool;
- aptwatch: `ingest` into a new store, then the `sigma` detector with SigmaHQ's rules,
  rules-threat-hunting and rules-emerging-threats (level informational and up: every rule);
- baseline: the same Windows rules compiled by pySigma-backend-sqlite and run on SQLite over
  the flattened records (bench/sigma_sqlite.py: today's popular Python hunter's approach).

Both end-to-end stages include loading and compiling the rules. Targets (issue 8): aptwatch
>= 5x the baseline's records/s; stretch: aptwatch >= 0.25x the bare parse rate.
Input: the 277 sample files are merged into one EVTX per copy (bench/evtx_merge.py; record
numbers offset per copy so each copy is distinct content).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from evtx_merge import merge
from harness import SHARED, Measure, machine, measure, warm

SIGMA = Path(SHARED) / "sigma"
RULE_DIRS = [SIGMA / "rules", SIGMA / "rules-threat-hunting", SIGMA / "rules-emerging-threats"]


def bare_parse(files: list[str]) -> tuple[int, dict[str, Any]]:
    import evtx

    n = 0
    for f in files:
        for _ in evtx.PyEvtxParser(f).records_json():
            n += 1
    return n, {}


def aptwatch_run(files: list[str], store_dir: str) -> tuple[int, dict[str, Any]]:
    import time

    from aptwatch.detect.base import DetectSettings
    from aptwatch.detect.runner import run_detectors
    from aptwatch.ingest import ingest
    from aptwatch.model.finding import Severity
    from aptwatch.store import Store

    t0 = time.perf_counter()
    store = Store.open(store_dir, create=True)
    rep = ingest(store, files)
    t1 = time.perf_counter()
    # the Sigma detector only: the baseline runs Sigma rules only (the behavioural analytics would add their
    # time and their findings, which grow with the copies: several of them are per event)
    det = run_detectors(store, DetectSettings(rule_paths=tuple(RULE_DIRS), min_severity=Severity.INFORMATIONAL,
                                              only=("sigma",), options={"sigma_builtin": False}))
    t2 = time.perf_counter()
    stats = det.stats.get("sigma", {})
    return rep.events, {"ingest_s": round(t1 - t0, 1), "detect_s": round(t2 - t1, 1), "matches": stats.get("matches"),
                        "findings": det.by_detector.get("sigma", 0), "compile_s": stats.get("compile_seconds"),
                        "errors": len(det.errors)}


def baseline_run(files: list[str]) -> tuple[int, dict[str, Any]]:
    import time

    from sigma_sqlite import compile_queries, connect, flatten_records, load_sqlite, run_queries, windows_rules

    t0 = time.perf_counter()
    rules = windows_rules(RULE_DIRS)
    queries, not_converted = compile_queries(rules)
    t1 = time.perf_counter()
    con = connect()
    n = load_sqlite(flatten_records([Path(f) for f in files]), con)
    t2 = time.perf_counter()
    matches, failed = run_queries(con, queries)
    t3 = time.perf_counter()
    return n, {"compile_s": round(t1 - t0, 1), "load_s": round(t2 - t1, 1), "match_s": round(t3 - t2, 1),
               "matches": len(matches), "rules": len(queries), "not_converted": not_converted, "failed": failed}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--copies", type=int, default=20)
    ap.add_argument("--workdir", type=Path)
    a = ap.parse_args()
    work = a.workdir or Path(tempfile.mkdtemp(prefix="aptwatch-bench-sigma-"))
    work.mkdir(parents=True, exist_ok=True)
    samples = sorted(str(p) for p in (Path(SHARED) / "evtx-attack-samples").rglob("*.evtx"))
    files = []
    for k in range(a.copies):
        out = work / f"copy{k:03d}.evtx"
        merge(str(out), samples, first_record=1 + k * 1_000_000)
        files.append(str(out))
        warm(str(out))
    try:
        bare = measure("bare parse", bare_parse, files)
        ours = measure("aptwatch", aptwatch_run, files, str(work / "store"))
        base = measure("baseline", baseline_run, files)
    finally:
        shutil.rmtree(work / "store", ignore_errors=True)
    print(render(a.copies, bare, ours, base))


def render(copies: int, bare: Measure, ours: Measure, base: Measure) -> str:
    rows = [("bare evtx parse loop", bare), ("aptwatch ingest + Sigma detect", ours),
            ("baseline: pySigma sqlite backend on SQLite", base)]
    out = [f"Machine: {machine()}. Input: evtx-attack-samples x {copies} ({bare.items:,} records).", "",
           "| stage | records | seconds | records/s | peak RSS MB | detail |", "|---|---:|---:|---:|---:|---|"]
    for label, m in rows:
        out.append(f"| {label} | {m.items:,} | {m.seconds:.1f} | {m.rate:,.0f} | {m.peak_rss_mb:,.0f} | "
                   f"{', '.join(f'{k} {v}' for k, v in m.extra.items())} |")
    out += ["", f"aptwatch / baseline: **{ours.rate / base.rate:.1f}x** (target >= 5x); "
                f"aptwatch / bare parse: **{ours.rate / bare.rate:.2f}** (stretch >= 0.25)."]
    detect_s = float(ours.extra.get("detect_s") or 0)
    ingest_s = float(ours.extra.get("ingest_s") or 0)
    if detect_s > 0 and ingest_s > 0 and bare.seconds > 0:
        out.append(f"Parts against the bare parse ({bare.seconds:.1f} s): ingest alone "
                   f"{bare.seconds / ingest_s:.2f}, Sigma detect alone {bare.seconds / detect_s:.2f} "
                   "(rates as a share of the parse rate).")
    return "\n".join(out)


if __name__ == "__main__":
    main()
