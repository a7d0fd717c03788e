"""Evaluate the beaconing analytic on labelled captures (numbers for docs/detections.md).

    python bench/eval_beacon.py

Datasets (each ingested alone into a fresh store with aptwatch's own sources, the `beacon` analytic run
with default thresholds):
- stratosphere-zeek/001 labeled-conn.log (NjRAT, CTU-Malware-Capture-Botnet-230-1): a pair is positive
  when any of its flows is labelled `Malicious/CC`;
- stratosphere-zeek/008, 010, 011, 012 (CTU-Normal-40/42/43/44: a Windows host exposed to the Internet,
  24 h each): no C2; every reported pair is a false positive (the host sits in 147.32.0.0/16, which
  is given as internal);
- slips-dataset test18 (CTU-SME-11, RemcosRAT, Zeek, hand-labelled): positive = pairs to the RemcosRAT
  C2 178.237.33.50 or exfiltration 66.63.168.35;
- slips-dataset test-cc capture 1 (curl to HTTPS every 2 s) and capture 2 (2-3 s jitter), parsed from the
  pcaps: positive = the curl destination (port 443 address and its SNI).
Scoreable = the pair has at least `min_conns` connections in the capture (what any beacon detector
needs). Labels are read from the stored `data` JSON by this script only.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evalkit import ent, fresh_store, prf, query, run, shared

CTU = "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,147.32.0.0/16,fc00::/7,fe80::/10"


def pair_of(f: dict) -> tuple[str, str]:
    return ent(f, "src_ip")[0], (ent(f, "dst_ip") or ent(f, "domain"))[0]


def evaluate(name: str, paths: list[str], positive_sql: str | None, positive_dsts: set[str] | None = None,
             internal: str | None = None) -> dict:
    store = fresh_store(paths)
    opts = {"analytics.internal_cidrs": internal} if internal else {}
    findings = run(store, ["beacon"], **opts)
    reported = {pair_of(f) for f in findings}
    pos: set[tuple[str, str]] = set()
    if positive_sql:
        pos = {(r["src"], r["dst"]) for r in query(store, positive_sql)}
    if positive_dsts:
        pos |= {p for p in reported if p[1] in positive_dsts}
        pos |= {(r["src"], r["dst"]) for r in query(store, "SELECT DISTINCT src_ip AS src, dst_ip AS dst FROM network")
                if r["dst"] in positive_dsts}
    scoreable = {(r["src"], r["dst"]) for r in query(store, """
        SELECT src_ip AS src, dst_ip AS dst FROM network GROUP BY ALL HAVING count(*) >= 6
        UNION SELECT src_ip, lower(server_name) FROM tls WHERE server_name IS NOT NULL GROUP BY ALL HAVING count(*) >= 6
    """)}
    tp = len(reported & pos)
    fp = len(reported - pos)
    fn = len(pos - reported)
    fn_scoreable = len((pos & scoreable) - reported)
    # host-days: internal sources with outbound flows, per UTC day (what the analytic looks at)
    with store.state.connect(read_only=True) as con:
        hd = float(con.execute("SELECT count(*) FROM (SELECT DISTINCT src, day FROM pair_days)").fetchone()[0])
    return {"name": name, "tp": tp, "fp": fp, "fn": fn, "fn_scoreable": fn_scoreable, "positives": len(pos),
            "host_days": hd, "fp_per_host_day": fp / hd if hd else float("nan"),
            "reported": sorted(f"{a} -> {b}" for a, b in reported),
            "missed": sorted(f"{a} -> {b}{' (scoreable)' if (a, b) in scoreable else ''}" for a, b in pos - reported)}


def main() -> None:
    sz = "stratosphere-zeek"
    cases = [
        evaluate("stratosphere 001 NjRAT (labelled conn)", [shared(sz, "001-zeek-scenario-malicious",
                                                                     "labeled-conn.log")],
                 "SELECT DISTINCT src_ip AS src, dst_ip AS dst FROM network "
                 "WHERE json_extract_string(data, '$.detailedlabel') = 'CC'"),
    ]
    for d in ("008", "010", "011", "012"):
        cases.append(evaluate(f"stratosphere {d} CTU-Normal day (no C2)", [shared(sz, f"{d}-zeek-mixed", "data")],
                              None, internal=CTU))
    cases.append(evaluate("slips test18 RemcosRAT (Zeek, hand-labelled)",
                          [shared("slips-dataset", "test18-malicious-ctu-sme-11-win", "zeek-labeled")], None,
                          {"178.237.33.50", "66.63.168.35"}))
    for i in (1, 2):
        path = shared("slips-dataset", "test-cc", f"test-cc-capture-{i}.pcap")
        store_probe = fresh_store([path])
        dsts = {r["dst"] for r in query(store_probe, "SELECT DISTINCT dst_ip AS dst FROM network WHERE dst_port = 443")}
        dsts |= {r["n"] for r in query(store_probe, "SELECT DISTINCT lower(server_name) AS n FROM tls "
                                                    "WHERE server_name IS NOT NULL")}
        cases.append(evaluate(f"slips test-cc capture {i} ({'periodic 2 s' if i == 1 else 'jittered 2-3 s'}, pcap)",
                              [path], None, dsts, internal=CTU))
    tp = sum(c["tp"] for c in cases)
    fp = sum(c["fp"] for c in cases)
    fn = sum(c["fn"] for c in cases)
    print("| dataset | positive pairs | detected | missed (scoreable) | false positives | FP per host-day |")
    print("|---|---|---|---|---|---|")
    for c in cases:
        print(f"| {c['name']} | {c['positives']} | {c['tp']} | {c['fn']} ({c['fn_scoreable']}) | {c['fp']} | "
              f"{c['fp_per_host_day']:.2f} |")
    print(f"\nAll: {tp} detected, {fn} missed, {fp} false positives; {prf(tp, fp, fn)}")
    for c in cases:
        print(f"\n{c['name']}\n  reported: {c['reported'][:12]}\n  missed: {c['missed'][:12]}")


if __name__ == "__main__":
    main()
