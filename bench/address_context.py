"""Benchmark: address context over a large Zeek dns.log, against a bare DuckDB aggregate of the same rows.

    python bench/address_context.py [--rows 2000000] [--workdir DIR]

Generates a Zeek TSV dns.log (the DNS log of an office: mostly external answers, internal A/AAAA answers
for local names, PTR lookups of internal addresses, NXDOMAINs), ingests it, then measures in fresh
processes:
- aptwatch: `update_host_addresses` rebuilding `host_addresses` from every DNS row (the derivation that
  runs after each ingest, here over the whole table at once);
- baseline: DuckDB grouping the same lake rows by (query, answers) with counts and first/last time.
Rates are DNS rows per second.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Measure, measure, report, warm

HEADER = ("#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tdns\n"
          "#open\t2024-03-01-00-00-00\n"
          "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\ttrans_id\trtt\tquery\tqclass\t"
          "qclass_name\tqtype\tqtype_name\trcode\trcode_name\tAA\tTC\tRD\tRA\tZ\tanswers\tTTLs\trejected\n"
          "#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tcount\tinterval\tstring\tcount\tstring\tcount\t"
          "string\tcount\tstring\tbool\tbool\tbool\tbool\tcount\tvector[string]\tvector[interval]\tbool\n")


def generate(path: str, rows: int, seed: int = 5) -> None:
    rnd = random.Random(seed)
    hosts = [f"ws{i:04d}" for i in range(2000)]
    sites = ["www.example.org", "cdn.example-cdn.net", "login.example.com", "update.vendor.example",
             "api.saas.example", "dns.msftncsi.com"]
    t0 = 1709251200.0
    with open(path, "w") as f:
        f.write(HEADER)
        for i in range(rows):
            ts = t0 + i * 0.05
            client = f"10.1.{rnd.randrange(8)}.{rnd.randrange(1, 250)}"
            r = rnd.random()
            if r < 0.7:
                q, qt, rc = rnd.choice(sites), "A", "NOERROR"
                ans = f"93.184.{rnd.randrange(256)}.{rnd.randrange(256)},93.184.{rnd.randrange(256)}.1"
            elif r < 0.88:
                h = rnd.randrange(len(hosts))
                q, qt, rc = f"{hosts[h]}.corp.example.com", "A", "NOERROR"
                ans = f"10.2.{h // 250}.{h % 250 + 1}"
            elif r < 0.95:
                h = rnd.randrange(len(hosts))
                q, qt, rc = f"{h % 250 + 1}.{h // 250}.2.10.in-addr.arpa", "PTR", "NOERROR"
                ans = f"{hosts[h]}.corp.example.com"
            else:
                q, qt, rc, ans = f"nx{rnd.randrange(10**6)}.corp.example.com", "A", "NXDOMAIN", "-"
            f.write(f"{ts:.6f}\tC{i:017d}\t{client}\t{rnd.randrange(1024, 65535)}\t10.1.0.2\t53\tudp\t"
                    f"{rnd.randrange(65535)}\t0.001\t{q}\t1\tC_INTERNET\t1\t{qt}\t0\t{rc}\tF\tF\tT\tT\t0\t"
                    f"{ans}\t300.000000\tF\n")
        f.write("#close\t2024-03-02-00-00-00\n")


def run_ingest(path: str, store: str) -> tuple[int, dict[str, Any]]:
    from aptwatch.ingest import ingest
    from aptwatch.store import Store

    r = ingest(Store.open(store, create=True), [path])
    return r.events, {}


def run_update(store: str) -> tuple[int, dict[str, Any]]:
    from aptwatch.context.addresses import AddressBook, update_host_addresses
    from aptwatch.context.networks import InternalNetworks
    from aptwatch.store import Store

    st = Store.open(store)
    with st.writer("bench"):
        # another range list forces a rebuild from every row (what one ingest pays for its own rows)
        result = update_host_addresses(st, InternalNetworks(("10.0.0.0/8", "192.168.0.0/16")))
    with st.session() as s:
        n = s.sql("SELECT count(*) FROM dns").column(0)[0].as_py()
    return int(n), {"pairs": result.pairs, "resolvable": len(AddressBook.load(st))}


def run_baseline(store: str) -> tuple[int, dict[str, Any]]:
    from aptwatch.store import Store

    with Store.open(store).session() as s:
        t = s.sql("SELECT query, answers, count(*) AS n, min(time), max(time) FROM dns GROUP BY ALL")
    return int(sum(t.column("n").to_pylist())), {"groups": t.num_rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--workdir", default=None)
    a = ap.parse_args()
    work = a.workdir or tempfile.mkdtemp(prefix="aptwatch-bench-addr-")
    path = os.path.join(work, "dns.log")
    generate(path, a.rows)
    warm(path)
    store = os.path.join(work, "store")
    shutil.rmtree(store, ignore_errors=True)
    ing = measure("aptwatch ingest", run_ingest, path, store)
    assert ing.items == a.rows, (ing.items, a.rows)
    ours = measure("update_host_addresses (rebuild)", run_update, store)
    base = measure("duckdb GROUP BY", run_baseline, store)
    assert ours.items == base.items == a.rows
    rows: list[tuple[str, Measure, Measure]] = [
        (f"address context from {a.rows:,} Zeek DNS rows -> {ours.extra['pairs']:,} pairs", ours, base)]
    print(f"ingest (parse + commit + address context): {ing.seconds:.2f}s {ing.rate:,.0f} rows/s "
          f"{ing.peak_rss_mb:,.0f} MB")
    print(f"update: {ours.seconds:.2f}s {ours.rate:,.0f}/s {ours.peak_rss_mb:,.0f} MB | baseline {base.seconds:.2f}s "
          f"{base.rate:,.0f}/s | ratio {ours.rate / base.rate:.2f}")
    print()
    print(report("Address context: derivation vs a DuckDB aggregate of the same DNS rows", rows))
    if not a.workdir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
