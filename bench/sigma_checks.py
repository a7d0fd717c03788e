"""Sigma engine checks on real data: SigmaHQ regression samples and evtx-attack-samples coverage.

    python bench/sigma_checks.py regression [--store DIR]   # each rule's own positive sample
    python bench/sigma_checks.py coverage [--store DIR]     # per tactic folder of evtx-attack-samples

Both ingest the evtx files into a fresh store (or reuse --store), run the `sigma` detector with
the pinned SigmaHQ rules (rules, rules-threat-hunting, rules-emerging-threats) plus aptwatch's
own rules at minimum level informational, and print Markdown for docs/coverage.md. With
`--json FILE` the per-file / per-sample results are written too (the cross-check reads them).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson
import yaml

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.harness import SHARED

from aptwatch.detect.base import DetectSettings
from aptwatch.detect.runner import run_detectors
from aptwatch.ingest import ingest
from aptwatch.model.finding import Severity
from aptwatch.store import Store

SIGMA = Path(SHARED) / "sigma"
RULE_DIRS = [SIGMA / "rules", SIGMA / "rules-threat-hunting", SIGMA / "rules-emerging-threats"]
SAMPLES = Path(SHARED) / "evtx-attack-samples"
#: evtx-attack-samples top folder -> the tactic ids that count as "right tactic"
FOLDER_TACTICS = {
    "Command and Control": {"TA0011"}, "Credential Access": {"TA0006"}, "Defense Evasion": {"TA0005"},
    "Discovery": {"TA0007"}, "Execution": {"TA0002"}, "Lateral Movement": {"TA0008"},
    "Persistence": {"TA0003"}, "Privilege Escalation": {"TA0004"},
}


def detect(store_dir: Path, files: list[Path], builtin: bool = True) -> Store:
    store = Store.open(store_dir, create=True)
    ingest(store, [str(f) for f in files])
    settings = DetectSettings(rule_paths=tuple(RULE_DIRS), min_severity=Severity.INFORMATIONAL,
                              options={"sigma_builtin": builtin})
    report = run_detectors(store, settings)
    if report.failed:
        raise SystemExit(f"detector failed: {report.failed}")
    return store


def matches_by_source(store: Store) -> dict[str, list[dict[str, Any]]]:
    """source -> matches (rule id, tactics) from the store."""
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    with store.session(with_state=True) as s:
        rows = s.sql("SELECT m.source, m.rule_id, list(DISTINCT m.event_id) AS events FROM state.sigma_matches m "
                     "GROUP BY ALL").to_pylist()
        tactics = {r["rule_id"]: r["tactics"] for r in s.sql(
            "SELECT rule_id, any_value(tactics) AS tactics FROM findings WHERE detector = 'sigma' GROUP BY ALL"
        ).to_pylist()}
    for r in rows:
        out[r["source"]].append({"rule": r["rule_id"], "events": len(r["events"]),
                                 "tactics": tactics.get(r["rule_id"]) or []})
    return out


def regression(store_dir: Path, dump: Path | None) -> None:
    infos = sorted((SIGMA / "regression_data").rglob("info.yml"))
    samples: list[tuple[str, str, Path]] = []
    for info in infos:
        meta = yaml.safe_load(info.read_text())
        for rm in meta.get("rule_metadata") or []:
            for t in meta.get("regression_tests_info") or []:
                if t.get("type") == "evtx":
                    samples.append((str(rm["id"]), rm.get("title", ""), SIGMA / t["path"]))
    files = sorted({p for _, _, p in samples if p.exists()})
    store = detect(store_dir, files, builtin=False)
    by_source = matches_by_source(store)
    # identical samples are one source (ingest skips content it has): match by content hash
    with store.session(with_state=True) as s:
        stored = {r["sha256"]: r["path"] for r in s.sql("SELECT sha256, path FROM sources").to_pylist()}
    as_stored = {str(p): stored.get(hashlib.sha256(p.read_bytes()).hexdigest(), str(p)) for p in files}
    compiled = _compiled_ids()
    passed, failed, skipped = [], [], []
    for rid, title, path in samples:
        if not path.exists():
            skipped.append((rid, title, "sample missing"))
        elif rid not in compiled:
            skipped.append((rid, title, compiled_reason(rid)))
        elif any(m["rule"] == rid for m in by_source.get(as_stored[str(path)], [])):
            passed.append((rid, title))
        else:
            failed.append((rid, title, str(path.relative_to(SIGMA))))
    n = len(samples)
    print(f"SigmaHQ regression samples: {n}; passed {len(passed)} ({100 * len(passed) / n:.1f}%), "
          f"failed {len(failed)}, skipped {len(skipped)}")
    for rid, title, where in failed:
        print(f"- FAILED {rid} {title} ({where})")
    for rid, title, why in skipped:
        print(f"- SKIPPED {rid} {title}: {why}")
    if dump:
        dump.write_bytes(orjson.dumps({"passed": passed, "failed": failed, "skipped": skipped,
                                       "matches": by_source}, option=orjson.OPT_INDENT_2))


_COMPILED: dict[str, str | None] = {}


def _compiled_ids() -> dict[str, str | None]:
    from aptwatch.detect.sigma.compiler import compile_rules
    from aptwatch.detect.sigma.loader import load_rules

    if not _COMPILED:
        c = compile_rules(load_rules(RULE_DIRS))
        _COMPILED.update({r.uid: None for r in c.rules})
        _COMPILED.update({f"problem:{p.rule_id}": p.reason for p in c.problems if p.rule_id})
    return {k: v for k, v in _COMPILED.items() if not k.startswith("problem:")}


def compiled_reason(rid: str) -> str:
    return _COMPILED.get(f"problem:{rid}") or "rule not in the pinned rule folders"


def coverage(store_dir: Path, dump: Path | None, builtin: bool) -> None:
    files = sorted(SAMPLES.rglob("*.evtx"))
    store = detect(store_dir, files, builtin=builtin)
    by_source = matches_by_source(store)
    with store.session(with_state=True) as s:  # byte-identical files are one source
        stored = {r["sha256"]: r["path"] for r in s.sql("SELECT sha256, path FROM sources").to_pylist()}
    by_source = {str(f): by_source.get(stored.get(hashlib.sha256(f.read_bytes()).hexdigest(), str(f)), [])
                 for f in files}
    per: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
    detail = {}
    for f in files:
        rel = f.relative_to(SAMPLES)
        folder = rel.parts[0] if len(rel.parts) > 1 else "(root)"
        ms = by_source.get(str(f), [])
        tacs = {t for m in ms for t in m["tactics"]}
        want = FOLDER_TACTICS.get(folder)
        per[folder].append((bool(want and tacs & want), bool(ms)))
        detail[str(rel)] = {"rules": sorted({m["rule"] for m in ms}), "tactics": sorted(tacs)}
    print("| folder | files | right tactic | any finding |")
    print("|---|---:|---:|---:|")
    tot = [0, 0, 0, 0, 0]
    for folder in sorted(per):
        rows = per[folder]
        right = sum(1 for r, _ in rows if r)
        anyf = sum(1 for _, a in rows if a)
        tactic_folder = folder in FOLDER_TACTICS
        print(f"| {folder} | {len(rows)} | {f'{right} ({100 * right / len(rows):.0f}%)' if tactic_folder else '-'} "
              f"| {anyf} ({100 * anyf / len(rows):.0f}%) |")
        tot[0] += len(rows)
        tot[2] += anyf
        if tactic_folder:
            tot[3] += len(rows)
            tot[1] += right
    print(f"| **all** | {tot[0]} | {tot[1]} of {tot[3]} ({100 * tot[1] / max(tot[3], 1):.0f}%) | "
          f"{tot[2]} ({100 * tot[2] / tot[0]:.0f}%) |")
    if dump:
        dump.write_bytes(orjson.dumps(detail, option=orjson.OPT_INDENT_2))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("check", choices=["regression", "coverage"])
    ap.add_argument("--store", type=Path, help="store directory (default: a fresh temporary one)")
    ap.add_argument("--json", type=Path, help="write per-sample results here")
    ap.add_argument("--no-builtin", action="store_true", help="SigmaHQ rules only (no aptwatch rules)")
    a = ap.parse_args()
    store_dir = a.store or Path(tempfile.mkdtemp(prefix="aptwatch-sigma-")) / "store"
    if a.check == "regression":
        regression(store_dir, a.json)
    else:
        coverage(store_dir, a.json, builtin=not a.no_builtin)


if __name__ == "__main__":
    main()
