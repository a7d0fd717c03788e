"""Correlation at scale: findings over 365 days on 5,000 hosts, with a baseline in the same run.

For each size (default 10k, 100k, 1M findings) the script generates a store of synthetic findings
(deterministic, seeded; not timed), then measures, each in a fresh process (bench/harness.py):

- **aptwatch**: `correlate(store)` from scratch: statistics, neighbourhood joins, linking, scoring and
  publishing of every campaign, written to the state database;
- **aptwatch incremental**: one more day of findings (~0.3 % of the total) correlated against the
  existing state: the cost of a daily run, which must not grow with history;
- **baseline**: the straightforward approach, networkx connected components over the bipartite
  finding-entity graph read from `finding_entities` (no weights, no time, no scoring: it glues
  everything that shares a DC address or a CDN into one component, which is why it is fast and
  useless; it is here as the cost floor of "read the entities and join them").

The synthetic estate: 5,000 hosts with Zipf-distributed activity; 300 rules with Zipf frequencies,
random tactics and severities, each firing on its own Zipf-sized set of hosts (where its trigger
exists); per-host users plus 40 admin accounts; 3 domain controller addresses and a proxy every host
talks to; 3,000 domains with Zipf popularity; and 12 planted campaigns (each 10-20 findings over 2-5
hosts and several weeks, sharing a rare C2 domain and a stolen account after credential access). The
script reports how many planted campaigns were detected whole and how many other campaigns reached
*detected* (background tactics are random, so "other" is an upper bound of what realistic noise gives).

Usage: python bench/correlate_scale.py [--sizes 10000,100000,1000000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import Measure, machine, measure

T0 = datetime(2024, 1, 1, tzinfo=UTC)
HOSTS = 5000
DAYS = 365
RULES = 300
PLANTED = 12
TACTICS = ["TA0043", "TA0001", "TA0002", "TA0003", "TA0004", "TA0005", "TA0006", "TA0007", "TA0008", "TA0009",
           "TA0011", "TA0010", "TA0040"]
SEVERITIES = ["informational", "low", "low", "medium", "medium", "medium", "high", "critical"]


def _zipf_weights(n: int, s: float = 1.1) -> list[float]:
    return [1.0 / (i + 1) ** s for i in range(n)]


def generate(store_dir: str, n: int, seed: int = 7) -> tuple[int, dict[str, Any]]:
    """Write n background findings plus the planted campaigns into a new store."""
    from aptwatch.model.finding import Finding
    from aptwatch.store import Store

    rnd = random.Random(seed)
    st = Store.open(store_dir, create=True)
    host_w = _zipf_weights(HOSTS, 0.8)
    rule_w = _zipf_weights(RULES, 1.0)
    rule_meta = [(rnd.choice(TACTICS), rnd.choice(SEVERITIES)) for _ in range(RULES)]
    domains = [f"d{i}.example.com" for i in range(3000)]
    dom_w = _zipf_weights(len(domains), 1.2)
    admins = [f"adm{i}" for i in range(40)]
    hosts = [f"h{i:04d}" for i in range(HOSTS)]
    span = DAYS * 86400
    batch: list[Finding] = []
    written = 0

    def flush() -> None:
        nonlocal written
        with st.writer("bench") as w:
            written += w.write_findings(batch, "gen")
        batch.clear()

    # a rule fires where its trigger (software, admin habit) exists: on a Zipf-sized set of hosts
    rule_hosts = [rnd.choices(range(HOSTS), weights=host_w, k=max(1, int(HOSTS * 0.2 / (r + 1) ** 0.7)))
                  for r in range(RULES)]
    rule_idx = rnd.choices(range(RULES), weights=rule_w, k=n)
    for i in range(n):
        r = rule_idx[i]
        h = rnd.choice(rule_hosts[r])
        tactic, sev = rule_meta[r]
        t = T0 + timedelta(seconds=rnd.randrange(span))
        ents: dict[str, Any] = {"host": hosts[h]}
        x = rnd.random()
        if x < 0.5:
            ents["user"] = f"u{h}" if rnd.random() < 0.8 else rnd.choice(admins)
        if x < 0.3:
            ents["dst_ip"] = rnd.choice(["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.9.9"])
        if rnd.random() < 0.3:
            ents["domain"] = rnd.choices(domains, weights=dom_w)[0]
        if rnd.random() < 0.1:
            ents["src_ip"] = f"10.{1 + h // 250}.{h % 250}.{rnd.randrange(2, 250)}"
        batch.append(Finding.build(detector="sigma", rule_id=f"r{r:03d}", title=f"rule {r}", severity=sev, time=t,
                                   tactics=[tactic], entities=ents, key=[str(i)]))
        if len(batch) >= 50_000:
            flush()
    planted: list[list[str]] = []
    chain = [("TA0001", "medium"), ("TA0011", "medium"), ("TA0007", "low"), ("TA0006", "high"),
             ("TA0008", "high"), ("TA0009", "medium"), ("TA0010", "high")]
    for c in range(PLANTED):
        start = T0 + timedelta(days=rnd.randrange(0, DAYS - 60))
        victims = rnd.sample(hosts, rnd.randint(2, 5))
        c2 = f"c2-{c}.evil.example"
        stolen = f"victim{c}"
        ids = []
        t = start
        for step in range(rnd.randint(10, 20)):
            tactic, sev = chain[min(step * len(chain) // 12, len(chain) - 1)]
            host = victims[min(step * len(victims) // 12, len(victims) - 1)]
            t += timedelta(minutes=rnd.randint(3, 25)) if step % 4 else timedelta(days=rnd.randint(1, 5))
            ents = {"host": host, "user": stolen, **({"domain": c2} if step % 3 == 0 else {})}
            f = Finding.build(detector="sigma", rule_id=f"apt{c}-{step}", title="planted", severity=sev, time=t,
                              tactics=[tactic], entities=ents, key=[str(c), str(step)])
            ids.append(f.id)
            batch.append(f)
        planted.append(ids)
    flush()
    with open(os.path.join(store_dir, "planted.txt"), "w") as fh:
        fh.write("\n".join(",".join(p) for p in planted))
    return written, {}


def add_day(store_dir: str, n: int, seed: int = 8) -> None:
    """One more day of background findings after the year."""
    from aptwatch.model.finding import Finding
    from aptwatch.store import Store

    rnd = random.Random(seed)
    st = Store.open(store_dir)
    t_day = T0 + timedelta(days=DAYS)
    out = []
    for i in range(n):
        h = rnd.randrange(HOSTS)
        r = rnd.randrange(RULES)
        out.append(Finding.build(detector="sigma", rule_id=f"r{r:03d}", title=f"rule {r}",
                                 severity=rnd.choice(SEVERITIES), time=t_day + timedelta(seconds=rnd.randrange(86400)),
                                 tactics=[rnd.choice(TACTICS)], entities={"host": f"h{h:04d}", "user": f"u{h}"},
                                 key=["day", str(i)]))
    with st.writer("bench") as w:
        w.write_findings(out, "gen2")


def run_aptwatch(store_dir: str) -> tuple[int, dict[str, Any]]:
    from aptwatch.correlate import correlate
    from aptwatch.store import Store

    st = Store.open(store_dir)
    rep = correlate(st)
    with st.state.connect() as con:
        detected = {r[0]: set(r[1]) for r in con.execute(
            "SELECT id, findings FROM campaigns WHERE detected_at IS NOT NULL").fetchall()}
    with open(os.path.join(store_dir, "planted.txt")) as fh:
        planted = [set(line.split(",")) for line in fh.read().splitlines() if line]
    found = sum(1 for p in planted if any(p <= d for d in detected.values()))
    other = sum(1 for d in detected.values() if not any(d & p for p in planted))
    return rep.findings, {"members": rep.members, "routine": rep.routine, "published": rep.published,
                          "planted_detected_whole": f"{found}/{len(planted)}", "other_detected": other,
                          "chunks": rep.chunks}


def run_networkx(store_dir: str) -> tuple[int, dict[str, Any]]:
    import networkx as nx

    from aptwatch.store import Store

    st = Store.open(store_dir)
    with st.state.connect() as con:
        n = con.execute("SELECT count(*) FROM findings").fetchall()[0][0]
        rows = con.execute("SELECT finding_id, kind, value FROM finding_entities").fetchall()
    g: nx.Graph = nx.Graph()
    for fid, kind, value in rows:
        g.add_edge(fid, f"{kind}\x1f{value}")
    comps = [c for c in nx.connected_components(g)]
    largest = max((len(c) for c in comps), default=0)
    return int(n), {"components": len(comps), "largest_component_nodes": largest}


def fmt_row(label: str, m: Measure) -> str:
    extra = ", ".join(f"{k} {v}" for k, v in m.extra.items())
    return f"| {label} | {m.name} | {m.seconds:,.1f} | {m.rate:,.0f} | {m.peak_rss_mb:,.0f} | {extra} |"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--keep", default=None, help="keep the generated stores under this directory")
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    root = args.keep or tempfile.mkdtemp(prefix="aptwatch-bench-")
    lines = [f"Machine: {machine()}.", "",
             "| findings | run | seconds | findings/s | peak RSS MB | notes |", "|---|---|---|---|---|---|"]
    try:
        for n in sizes:
            d = os.path.join(root, f"s{n}")
            shutil.rmtree(d, ignore_errors=True)
            gen = measure("generate (not compared)", generate, d, n)
            print(f"generated {gen.items:,} findings in {gen.seconds:.0f}s", file=sys.stderr)
            ours = measure("aptwatch correlate", run_aptwatch, d)
            base = measure("networkx components", run_networkx, d)
            add_day(d, max(1, n // DAYS))
            inc = measure("aptwatch next day", run_aptwatch, d)
            for m in (ours, inc, base):
                line = fmt_row(f"{n:,}", m)
                print(line, file=sys.stderr)
                lines.append(line)
            lines.append(f"| {n:,} | ratio aptwatch / baseline time | {ours.seconds / base.seconds:.2f} | | "
                         f"{ours.peak_rss_mb / base.peak_rss_mb:.2f} (RSS) | |")
            if not args.keep:
                shutil.rmtree(d, ignore_errors=True)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
