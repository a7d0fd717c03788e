"""Sigma engine checks on real data: SigmaHQ regression samples and evtx-attack-samples coverage.

    python bench/sigma_checks.py regression [--store DIR]   # each rule's own positive sample
    python bench/sigma_checks.py coverage [--store DIR]     # per tactic folder of evtx-attack-samples

Both ingest the evtx files into a fresh store (or reuse --store) and run every registered
detector the way `aptwatch detect --rules ...` does: Sigma with the pinned SigmaHQ rules (rules,
rules-threat-hunting, rules-emerging-threats) plus aptwatch's own rules, and the behavioural
analytics and alert-import detectors, at minimum level informational; they print Markdown for
docs/coverage.md. `coverage` reports right-tactic coverage three ways (SigmaHQ rules only, Sigma
with aptwatch's own rules, all detectors) and the same on the files no own rule names. With
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


OWN_RULES = Path(__file__).resolve().parents[1] / "src" / "aptwatch" / "rules"


def own_rules() -> dict[str, tuple[str, str]]:
    """aptwatch's own rules: id -> (title, description) (descriptions name the files checked against)."""
    out: dict[str, tuple[str, str]] = {}
    for f in sorted(OWN_RULES.rglob("*.yml")):
        for doc in yaml.safe_load_all(f.read_text()):
            if isinstance(doc, dict) and doc.get("id"):
                out[str(doc["id"])] = (str(doc.get("title") or ""), str(doc.get("description") or ""))
    return out


def findings_by_source(store: Store) -> dict[str, list[dict[str, Any]]]:
    """source -> findings of every detector (detector, rule, tactics) through their evidence.

    Sigma findings cite the first 20 events of a (rule, host, day) group, so Sigma detection rules
    are read from `sigma_matches` (every matched event) by `matches_by_source` as well.
    """
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    with store.session(with_state=True) as s:
        rows = s.sql("SELECT detector, rule_id, tactics, evidence FROM findings").to_pylist()
    for r in rows:
        ev = orjson.loads(r["evidence"]) if isinstance(r["evidence"], str | bytes) else (r["evidence"] or [])
        for src in {e.get("source") for e in ev if e.get("source")}:
            out[src].append({"detector": r["detector"], "rule": r["rule_id"], "tactics": r["tactics"] or []})
    return out


def coverage(store_dir: Path, dump: Path | None, builtin: bool) -> None:
    """Per tactic folder: right tactic with SigmaHQ only, + own rules, all detectors; any finding."""
    files = sorted(SAMPLES.rglob("*.evtx"))
    store = detect(store_dir, files, builtin=builtin)
    sigma = matches_by_source(store)
    others = findings_by_source(store)
    own = own_rules()
    own_ids = set(own)
    own_text = "\n".join(d for _, d in own.values())
    per_rule: dict[str, list[bool]] = defaultdict(list)  # own rule -> [file named by that rule?]
    with store.session(with_state=True) as s:  # byte-identical files are one source
        stored = {r["sha256"]: r["path"] for r in s.sql("SELECT sha256, path FROM sources").to_pylist()}
    key = {str(f): stored.get(hashlib.sha256(f.read_bytes()).hexdigest(), str(f)) for f in files}
    cols = ("sigmahq", "sigma", "all")
    per: dict[str, list[dict[str, bool]]] = defaultdict(list)
    detail = {}
    for f in files:
        rel = f.relative_to(SAMPLES)
        folder = rel.parts[0] if len(rel.parts) > 1 else "(root)"
        fm = others.get(key[str(f)], [])
        # sigma_matches holds every event a detection rule matched; correlation rules (whose
        # matches are groups, not events) are read from their findings' evidence
        sm = sigma.get(key[str(f)], []) + [m for m in fm if m["detector"] == "sigma"]
        om = [m for m in fm if m["detector"] != "sigma"]
        sets = {
            "sigmahq": [m for m in sm if m["rule"] not in own_ids],
            "sigma": sm,
            "all": sm + om,
        }
        want = FOLDER_TACTICS.get(folder) or set()
        row = {c: bool(want & {t for m in ms for t in m["tactics"]}) for c, ms in sets.items()}
        row["any_sigma"] = bool(sm)
        row["any"] = bool(sm or om)
        # a file an own rule's description names is one the rules were checked against
        row["named"] = f.stem in own_text
        for rid in {m["rule"] for m in sm if m["rule"] in own and want & set(m["tactics"])}:
            per_rule[rid].append(f.stem in own[rid][1])
        per[folder].append(row)
        detail[str(rel)] = {
            "rules": sorted({m["rule"] for m in sm}),
            "analytics": sorted({f"{m['detector']}:{m['rule']}" for m in om}),
            "tactics_sigma": sorted({t for m in sm for t in m["tactics"]}),
            "tactics_all": sorted({t for m in sm + om for t in m["tactics"]}),
            "named_by_own_rule": row["named"], "right": {c: row[c] for c in cols},
        }

    def pct(n: int, d: int) -> str:
        return f"{n} ({100 * n / d:.0f}%)" if d else "-"

    print("| folder | files | SigmaHQ only | Sigma (SigmaHQ + own) | all detectors | any finding (Sigma) "
          "| any finding (all) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    tot: dict[str, int] = defaultdict(int)
    for folder in sorted(per):
        rows = per[folder]
        tf = folder in FOLDER_TACTICS
        n = len(rows)
        counts = {c: sum(r[c] for r in rows) for c in (*cols, "any_sigma", "any")}
        right = [pct(counts[c], n) if tf else "-" for c in cols]
        print(f"| {folder} | {n} | {' | '.join(right)} | {pct(counts['any_sigma'], n)} | {pct(counts['any'], n)} |")
        if tf:
            tot["n"] += n
            for c, v in counts.items():
                tot[c] += v
    n = tot["n"]
    print(f"| **tactic folders** | **{n}** | " + " | ".join(f"**{pct(tot[c], n)}**" for c in cols)
          + f" | **{pct(tot['any_sigma'], n)}** | **{pct(tot['any'], n)}** |")
    # generalisation: tactic-folder files no own rule's description names
    unseen = [r for folder, rows in per.items() if folder in FOLDER_TACTICS for r in rows if not r["named"]]
    u = len(unseen)
    print(f"\nFiles no own rule names (leave-one-out style): {u} of {n}; right tactic "
          + ", ".join(f"{c} {pct(sum(r[c] for r in unseen), u)}" for c in cols))
    gained = [r for folder, rows in per.items() if folder in FOLDER_TACTICS for r in rows
              if r["sigma"] and not r["sigmahq"]]
    print(f"Files reaching the right tactic only through own rules: {len(gained)}, of which "
          f"{sum(not r['named'] for r in gained)} are files no own rule names")
    print("\n| own rule | files it gives the right tactic | of which files the rule does not name |")
    print("|---|---:|---:|")
    for rid, named in sorted(per_rule.items(), key=lambda kv: own[kv[0]][0]):
        print(f"| {own[rid][0]} | {len(named)} | {sum(not n for n in named)} |")
    print(f"| **all own rules** (file, rule) pairs | {sum(len(v) for v in per_rule.values())} | "
          f"{sum(not n for v in per_rule.values() for n in v)} |")
    gained_a = [r for folder, rows in per.items() if folder in FOLDER_TACTICS for r in rows
                if r["all"] and not r["sigma"]]
    print(f"Files reaching the right tactic only through the analytics / import detectors: {len(gained_a)}")
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
