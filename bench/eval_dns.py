"""Evaluate the DNS analytic: tunnel-name scorer, tunnel domains, DGA (numbers for docs/detections.md).

    python bench/eval_dns.py

1. Name scorer (`dns.tunnel_name_score`) on the labelled query names of netrack/learn
   (../shared/data/dns-tunnel-pcaps/netrack-learn-dns/dns/<tool>/names.csv): plain (label 0) vs
   dns2tcp / iodine / dnscapy (label 1); precision / recall at score >= 0.5.
2. Tunnel domains (`dns.tunnel`): the iodine and dns2tcp pcaps (parsed by aptwatch's pcap source), each
   alone in a fresh store; detection = the tunnel's registered domain is reported. False positives: the
   DNS logs of the CTU-Normal days (stratosphere-zeek 010, 011, 012) and of slips test9 / test10, per
   host-day.
3. DGA (`dns.dga`): Simda (stratosphere-zeek 005 dns.log): detection = the infected host is reported;
   false positives on the same negative DNS logs.
"""

from __future__ import annotations

import csv
import gzip
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evalkit import ent, fresh_store, prf, query, run, shared


def names_csv(tool: str) -> list[tuple[int, str]]:
    base = shared("dns-tunnel-pcaps", "netrack-learn-dns", "dns", tool, "names.csv")
    path = base if os.path.exists(base) else base + ".gz"
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as f:
        return [(int(r["label"]), r["qname"]) for r in csv.DictReader(f)]


def name_scorer() -> None:
    import duckdb
    import pyarrow as pa

    from aptwatch.detect.analytics.dns import tunnel_name_score

    con = duckdb.connect()

    class S:
        def sql(self, q: str) -> pa.Table:
            r = con.sql(q)
            return r.to_arrow_table() if r is not None else pa.table({})

        def register(self, n: str, t: pa.Table) -> None:
            con.register(n, t)

    print("| names | count | scored >= 0.5 |")
    print("|---|---|---|")
    tp = fp = fn = 0
    for tool in ("plain", "dns2tcp", "iodine", "dnscapy"):
        rows = names_csv(tool)
        out = tunnel_name_score(S(), pa.table({"name": [q for _, q in rows]})).to_pylist()
        score = {r["name"]: r["score"] for r in out}
        hit = sum(1 for _, q in rows if score.get(q.rstrip(".").lower(), 0) >= 0.5)
        label = rows[0][0] if rows else 0
        print(f"| {tool} (label {label}) | {len(rows)} | {hit} ({hit / max(len(rows), 1):.1%}) |")
        if label:
            tp += hit
            fn += len(rows) - hit
        else:
            fp += hit
    print(f"\nName scorer at 0.5: {prf(tp, fp, fn)} (per name, {tp + fn} tunnel names)\n")


def main() -> None:
    name_scorer()
    negatives = [shared("stratosphere-zeek", f"{d}-zeek-mixed", "data", "dns.log.labeled")
                 for d in ("010", "011", "012")]
    negatives += [shared("slips-dataset", "test9-mixed-zeek-dir", "dns.log"),
                  shared("slips-dataset", "test10-mixed-zeek-dir", "dns.log")]
    print("| dataset | expected | reported by dns.tunnel | reported by dns.dga |")
    print("|---|---|---|---|")
    for name, path, expect in (
            ("iodine pcap (elastic/examples)", shared("dns-tunnel-pcaps", "pcaps", "iodine"), "tunnel domain"),
            ("dns2tcp pcap (netrack/learn)", shared("dns-tunnel-pcaps", "pcaps", "dns2tcp"), "tunnel domain"),
            ("Simda DGA (stratosphere 005 dns.log)", shared("stratosphere-zeek", "005-zeek-scenario-malicious",
                                                            "dns.log"), "infected host")):
        store = fresh_store([path])
        f = run(store, ["dns"])
        tun = sorted({d for x in f if x["rule_id"] == "dns.tunnel" for d in ent(x, "domain")})
        dga = sorted({s for x in f if x["rule_id"] == "dns.dga" for s in ent(x, "src_ip") + ent(x, "host")})
        print(f"| {name} | {expect} | {tun} | {dga} |")
    fp_t = fp_d = 0
    hd = 0.0
    for path in negatives:
        if not os.path.exists(path):
            continue
        store = fresh_store([path])
        f = run(store, ["dns"])
        fp_t += sum(1 for x in f if x["rule_id"] == "dns.tunnel")
        fp_d += sum(1 for x in f if x["rule_id"] == "dns.dga")
        hd += float(query(store, "SELECT count(*) AS n FROM (SELECT DISTINCT src_ip, date_trunc('day', time) FROM dns)")
                    [0]["n"] or 0)
        for x in f:
            print(f"  negative-set finding ({os.path.basename(os.path.dirname(path))}): {x['title']}")
    print(f"\nNegative DNS logs ({len(negatives)} files, {hd:.0f} source-days): dns.tunnel {fp_t} finding(s) "
          f"({fp_t / hd if hd else 0:.3f}/host-day), dns.dga {fp_d} ({fp_d / hd if hd else 0:.3f}/host-day)")


if __name__ == "__main__":
    main()
