"""Evaluate the lateral-movement analytic on the OTRF Security-Datasets atomic recordings.

    python bench/eval_lateral.py [--negatives] [--only SDWIN-...,SDWIN-...]

Positives: every dataset of ../shared/data/otrf-atomic/INDEX.csv whose files lie under
windows/lateral_movement (ground truth: the dataset's ATT&CK mapping in _metadata/<id>.yaml, read here
only). Each dataset is ingested twice into fresh stores with the registered sources — host logs (OTRF
JSON, zipped or not) with the pcaps, and the pcaps alone (aptwatch's pcap source) — and `lateral` runs
with default settings; the "host logs" column is the first store's findings whose evidence is all host
logs. A dataset is detected when the analytic raises a finding; the
technique matches when a finding's technique equals a mapped technique or is its parent / sub-technique.

Negatives (`--negatives`): the Windows datasets of `--negative-folders` (default: collection, discovery,
execution, persistence, privilege escalation, other) whose metadata has no TA0008, host and network
together; findings there are reported per host-day (hosts = distinct `host` of the events,
days = UTC days). Some of those recordings do contain remote steps (DCSync from a workstation, remote
service creation for a credential dump), so these are "findings on recordings not labelled lateral
movement", an upper bound of the false positives, listed per rule and dataset for reading.

The recordings are minutes long with no history: `lateral.new_edge` (first-seen, needs a learned
baseline) stays silent on them by design; the content rules are what is measured. `--learn-days 0` is
the hunting setting for a lone recording (every edge first seen), measured apart.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from collections import Counter, defaultdict
from typing import Any

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evalkit import fresh_store, query, shared

OTRF = "otrf-atomic"


def datasets() -> dict[str, dict[str, Any]]:
    """Windows datasets of INDEX.csv: id -> title, host / network paths (those present), folder, mapping."""
    out: dict[str, dict[str, Any]] = {}
    with open(shared(OTRF, "INDEX.csv"), newline="") as f:
        for r in csv.DictReader(f):
            if r["platform"] != "Windows" or not r["local_path"]:
                continue
            path = shared(OTRF, r["local_path"])
            if not os.path.exists(path):
                continue
            d = out.setdefault(r["id"], {"title": r["title"], "host": [], "network": [], "folder": "",
                                         "techniques": set(), "tactics": set()})
            folder = r["local_path"].split("/")[1]
            d["folder"] = d["folder"] or folder
            kind = "network" if "/network/" in r["local_path"] else "host"
            if path not in d[kind]:
                d[kind].append(path)
    for ds_id, d in out.items():
        meta_path = shared(OTRF, "_metadata", f"{ds_id}.yaml")
        if os.path.exists(meta_path):
            with open(meta_path) as mf:
                meta = yaml.safe_load(mf) or {}
            for m in meta.get("attack_mappings") or []:
                t = m.get("technique")
                if t:
                    sub = m.get("sub-technique")
                    d["techniques"].add(f"{t}.{sub}" if sub else t)
                d["tactics"].update(m.get("tactics") or [])
    return out


def technique_match(found: set[str], expected: set[str]) -> bool:
    return any(f == e or f.startswith(e + ".") or e.startswith(f + ".") for f in found for e in expected)


def findings(store: Any, options: dict[str, Any]) -> list[dict[str, Any]]:
    """Run `lateral`; its findings with rule, techniques and the files their evidence came from."""
    import orjson

    from aptwatch.detect import DETECTORS
    from aptwatch.detect.base import DetectSettings
    from aptwatch.detect.runner import run_detectors
    from aptwatch.model.finding import Severity

    rep = run_detectors(store, DetectSettings(min_severity=Severity.INFORMATIONAL, options=options),
                        detectors=[DETECTORS["lateral"]])
    if rep.failed:
        raise RuntimeError(rep.failed)
    with store.state.connect(read_only=True) as con:
        rows = con.execute("SELECT rule_id, techniques, evidence FROM findings WHERE detector = 'lateral'").fetchall()
    return [{"rule_id": r[0], "techniques": set(r[1] or []),
             "sources": {str(e.get("source") or "") for e in orjson.loads(r[2] or "[]")}} for r in rows]


def host_days(store: Any) -> int:
    rows = query(store, "SELECT count(*) AS n FROM (SELECT DISTINCT lower(host), date_trunc('day', time) FROM events "
                        "WHERE host IS NOT NULL AND time IS NOT NULL)")
    return int(rows[0]["n"] or 0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--negatives", action="store_true", help="also run the non-lateral Windows datasets")
    ap.add_argument("--no-positives", action="store_true", help="skip the lateral-movement datasets")
    ap.add_argument("--negative-folders",
                    default="collection,discovery,execution,persistence,privilege_escalation,other",
                    help="OTRF windows/ folders of the negatives (credential_access and defense_evasion are left out "
                         "by default: 48 recordings, several with remote steps, and hours on a shared machine)")
    ap.add_argument("--only", default="", help="comma-separated dataset ids")
    ap.add_argument("--work", default=None, help="directory for the temporary stores")
    ap.add_argument("--learn-days", type=float, default=None,
                    help="analytics.learn_days (0: the hunting setting, every edge of a recording is first seen)")
    args = ap.parse_args()
    options: dict[str, Any] = {} if args.learn_days is None else {"analytics.learn_days": args.learn_days}
    only = {s for s in args.only.split(",") if s}
    ds = {k: v for k, v in sorted(datasets().items()) if not only or k in only}
    pos = {k: v for k, v in ds.items() if v["folder"] == "lateral_movement" and not args.no_positives}
    print("| dataset | title | mapped | host logs | network only (pcap) | host + network | technique matched |")
    print("|---|---|---|---|---|---|---|")
    totals: Counter[str] = Counter()
    by_rule: Counter[str] = Counter()
    for ds_id, d in pos.items():
        # host + network in one store; the host column is its findings whose evidence is host logs only
        # (no pcap-derived rule can fire without a network store's own findings, measured apart)
        both = findings(fresh_store(d["host"] + d["network"], args.work), options) if d["host"] or d["network"] else []
        net_fs = findings(fresh_store(d["network"], args.work), options) if d["network"] else []
        host_fs = [f for f in both if f["sources"] and not any(".cap" in x or ".pcap" in x for x in f["sources"])]
        cells = []
        for mode, fs, present in (("host", host_fs, bool(d["host"])), ("network", net_fs, bool(d["network"])),
                                  ("both", both, True)):
            if not present:
                cells.append("n/a")
                continue
            totals[f"{mode}:n"] += 1
            totals[f"{mode}:hit"] += int(bool(fs))
            rules = sorted({f["rule_id"].split(".", 1)[1] for f in fs})
            cells.append(", ".join(rules) if rules else "—")
        by_rule.update(f["rule_id"] for f in both)
        found = set().union(*(f["techniques"] for f in both)) if both else set()
        matched = technique_match(found, d["techniques"])
        totals["both:tech"] += int(matched)
        print(f"| {ds_id} | {d['title']} | {', '.join(sorted(d['techniques']))} | {' | '.join(cells)} "
              f"| {'yes' if matched else 'no'} |", flush=True)
    for mode in ("host", "network", "both"):
        print(f"{mode}: detected {totals[mode + ':hit']}/{totals[mode + ':n']}")
    print(f"host + network, technique matched: {totals['both:tech']}/{totals['both:n']}")
    print("findings per rule (host + network):", dict(sorted(by_rule.items())), flush=True)
    if not args.negatives:
        return
    folders = {f for f in args.negative_folders.split(",") if f}
    neg = {k: v for k, v in ds.items() if v["folder"] in folders and "TA0008" not in v["tactics"]}
    n_hd = 0
    n_find = 0
    with_findings: list[str] = []
    neg_rules: Counter[str] = Counter()
    per_folder: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for ds_id, d in neg.items():
        store = fresh_store(d["host"] + d["network"], args.work)
        fs = findings(store, options)
        hd = host_days(store)
        n_hd += hd
        n_find += len(fs)
        per_folder[d["folder"]][0] += 1
        per_folder[d["folder"]][1] += hd
        per_folder[d["folder"]][2] += len(fs)
        neg_rules.update(f["rule_id"] for f in fs)
        if fs:
            per_rule = Counter(f["rule_id"] for f in fs)
            with_findings.append(f"{ds_id} ({d['title']}, {hd} host-days): "
                                 + ", ".join(f"{r} {n}" for r, n in sorted(per_rule.items())))
    print(f"\nnegatives: {len(neg)} datasets, {n_hd} host-days, {n_find} findings "
          f"({n_find / n_hd if n_hd else float('nan'):.2f} per host-day); datasets with findings "
          f"{len(with_findings)}/{len(neg)}")
    for folder, (n, hd, nf) in sorted(per_folder.items()):
        print(f"  {folder}: {n} datasets, {hd} host-days, {nf} findings")
    print("negative findings per rule:", dict(sorted(neg_rules.items())))
    for line in with_findings:
        print("  ", line)


if __name__ == "__main__":
    main()
