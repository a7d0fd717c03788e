"""Evaluate the slow-exfiltration analytic (numbers for docs/detections.md).

    python bench/eval_exfil.py

No public labelled capture of slow exfiltration is in ../shared/data (the RemcosRAT "data exfiltration"
flows of slips test18 carry no payload bytes: they are connection attempts), so the measure is:
- false positives: the four CTU-Normal days (stratosphere-zeek 008, 010, 011, 012; one Windows host in
  147.32.0.0/16, given as internal) ingested into one store, so the host has its own multi-day history;
- detection on injection: the same store plus a Zeek conn.log written by this script with a trickle of
  uploads from that host to one new address (three daily volumes, spread over 4 days), ingested with
  aptwatch's Zeek source; detected = the injected pair is reported;
- RemcosRAT (slips test18): reported or not, and why.
"""

from __future__ import annotations

import os
import random
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evalkit import ent, fresh_store, run, shared

CTU = "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,147.32.0.0/16,fc00::/7,fe80::/10"
HOST = "147.32.81.167"
FIELDS = ["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto", "service", "duration",
          "orig_bytes", "resp_bytes", "conn_state", "local_orig", "local_resp", "missed_bytes", "history",
          "orig_pkts", "orig_ip_bytes", "resp_pkts", "resp_ip_bytes", "tunnel_parents"]


def trickle(path: str, start: float, days: int, per_day: int, dst: str, seed: int) -> None:
    """A Zeek conn.log: `per_day` bytes uploaded per day in ~30 chunks at irregular times."""
    rnd = random.Random(seed)
    lines = ["#separator \\x09", "#set_separator\t,", "#empty_field\t(empty)", "#unset_field\t-", "#path\tconn",
             "#fields\t" + "\t".join(FIELDS),
             "#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\t"
             "bool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]"]
    n = 0
    for d in range(days):
        for _ in range(30):
            n += 1
            t = start + d * 86400 + rnd.uniform(0, 86400)
            out = int(per_day / 30 * rnd.uniform(0.7, 1.3))
            inn = rnd.randint(300, 1500)
            lines.append("\t".join(str(x) for x in (
                f"{t:.6f}", f"Cinj{seed}{n}", HOST, 49152 + n, dst, 443, "tcp", "ssl", f"{rnd.uniform(1, 9):.6f}",
                out, inn, "SF", "T", "F", 0, "ShADadFf", out // 1400 + 4, out + 400, 12, inn + 500, "(empty)")))
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def main() -> None:
    days = [shared("stratosphere-zeek", f"{d}-zeek-mixed", "data") for d in ("008", "010", "011", "012")]
    base = fresh_store(days)
    f = run(base, ["exfil"], **{"analytics.internal_cidrs": CTU})
    with base.state.connect(read_only=True) as con:
        hd = con.execute("SELECT count(*) FROM (SELECT DISTINCT src, day FROM pair_days)").fetchone()[0]
        start = con.execute("SELECT epoch(min(day)) FROM pair_days WHERE src = ?", [HOST]).fetchone()[0]
    print(f"CTU-Normal 40/42/43/44 (4 days): {len(f)} exfil finding(s) over {hd} internal source-days "
          f"({len(f) / hd if hd else 0:.2f} per host-day)")
    for x in f:
        print("   ", x["title"])
    print("\n| injected trickle | detected | score |")
    print("|---|---|---|")
    for mb in (2, 5, 20):
        work = tempfile.mkdtemp(prefix="aptwatch-exfil-")
        inj = os.path.join(work, "conn.log")
        dst = f"185.100.87.{mb}"
        trickle(inj, float(start or 0), 4, mb * 1_000_000, dst, seed=mb)
        store = fresh_store([*days, inj])
        got = [x for x in run(store, ["exfil"], **{"analytics.internal_cidrs": CTU}) if dst in ent(x, "dst_ip")]
        score = got[0]["score"] if got else None
        print(f"| {mb} MB/day x 4 days to one new address | {'yes' if got else 'no'} | {score} |")
    st18 = fresh_store([shared("slips-dataset", "test18-malicious-ctu-sme-11-win", "zeek-labeled")])
    f18 = run(st18, ["exfil"])
    print(f"\nRemcosRAT (slips test18): {len(f18)} exfil finding(s); the labelled exfiltration flows to "
          "66.63.168.35 carry 0 payload bytes (connection attempts), so no byte-volume detector can see them; "
          "the beaconing analytic reports the pair.")


if __name__ == "__main__":
    main()
