"""Evaluate the host analytics (lateral, lineage, privilege, persistence) on EVTX-ATTACK-SAMPLES.

    python bench/eval_host.py

Each top folder of ../shared/data/evtx-attack-samples is one ATT&CK tactic (see its SOURCE.txt); every
folder is ingested into its own fresh store with aptwatch's EVTX source and all four analytics run with
default settings. A finding is attributed to the sample file(s) its evidence comes from.

For each analytic: detection rate = sample files of its target tactic(s) with at least one finding of
the analytic; "other-tactic files" = sample files of the other folders with a finding (these are not all
false positives: samples of one tactic often contain others' steps, e.g. a lateral-movement sample that
installs a service); false positives per host-day over the other folders. Rules that depend on a learned
baseline (`*.new_edge`, `*.rare_pair`, `*.first_seen`, `*new_special_privileges`) are counted apart:
the samples span 2016-2022 in one store, so "first seen after the learning period" is an artefact of
the sample collection, not of an environment.
"""

from __future__ import annotations

import os
import sys
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evalkit import fresh_store, query, run, shared

TARGETS = {
    "lateral": {"Lateral Movement"},
    "privilege": {"Credential Access", "Privilege Escalation"},
    "persistence": {"Persistence"},
    "lineage": {"Execution", "Defense Evasion"},
}
BASELINE_RULES = ("new_edge", "rare_pair", "first_seen", "new_special_privileges", "rare_egress")


def main() -> None:
    root = shared("evtx-attack-samples")
    folders = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    files_per_folder: dict[str, set[str]] = {}
    hits: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))  # analytic -> folder -> files
    base_hits: dict[str, int] = defaultdict(int)
    host_days: dict[str, float] = {}
    by_rule: dict[str, int] = defaultdict(int)
    for folder in folders:
        path = os.path.join(root, folder)
        files = {os.path.join(dp, n) for dp, _d, ns in os.walk(path) for n in ns if n.endswith(".evtx")}
        files_per_folder[folder] = {os.path.basename(f) for f in files}
        store = fresh_store([path])
        hd = query(store, "SELECT count(*) AS n FROM (SELECT DISTINCT host, date_trunc('day', time) FROM events "
                          "WHERE host IS NOT NULL)")[0]["n"]
        host_days[folder] = float(hd or 0)
        findings = run(store, ["lateral", "lineage", "privilege", "persistence"])
        with store.state.connect(read_only=True) as con:
            ev = {r[0]: r[1] for r in con.execute("SELECT id, evidence FROM findings").fetchall()}
        import orjson

        for f in findings:
            analytic = f["rule_id"].split(".", 1)[0]
            by_rule[f["rule_id"]] += 1
            if f["rule_id"].split(".", 1)[1] in BASELINE_RULES:
                base_hits[analytic] += 1
                continue
            for e in orjson.loads(ev[f["id"]] or "[]"):
                hits[analytic][folder].add(os.path.basename(e.get("source") or ""))
    print("| analytic | target tactic folders | detection rate (files) | other-tactic files with findings | "
          "findings per host-day, other folders | baseline-rule findings (all folders) |")
    print("|---|---|---|---|---|---|")
    for analytic, targets in TARGETS.items():
        tgt_files = sum(len(files_per_folder.get(t, ())) for t in targets)
        tgt_hit = sum(len(hits[analytic][t] & files_per_folder.get(t, set())) for t in targets)
        other = [f for f in folders if f not in targets]
        oth_files = sum(len(files_per_folder[f]) for f in other)
        oth_hit = sum(len(hits[analytic][f] & files_per_folder[f]) for f in other)
        hd = sum(host_days[f] for f in other)
        rate = tgt_hit / max(tgt_files, 1)
        print(f"| {analytic} | {', '.join(sorted(targets))} | {tgt_hit}/{tgt_files} ({rate:.0%}) "
              f"| {oth_hit}/{oth_files} | {oth_hit / hd if hd else float('nan'):.2f} | {base_hits[analytic]} |")
    print("\nfindings per rule:", dict(sorted(by_rule.items())))


if __name__ == "__main__":
    main()
