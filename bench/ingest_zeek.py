"""Benchmark: Zeek conn.log (TSV) ingest vs DuckDB's own read_csv of the same file.

    python bench/ingest_zeek.py [--sizes 1000000,5000000] [--workdir DIR] [--source PATH]

Input: a real Zeek conn.log from ../shared/data (default: the Stratosphere CTU-Normal-43 day,
9,048 connections with its `label` / `detailedlabel` columns) replicated to the requested size;
each copy rewrites the end of `uid`, and `ts` is spread evenly over the capture's own window (one
day) in file order, so rows differ and the file looks like one busy sensor's day.
Target (issue 4): aptwatch rate >= 0.5 x read_csv rate at >= 5M rows, peak RSS flat across sizes.
The baseline is `CREATE TABLE t AS SELECT * FROM read_csv(...)` into a DuckDB file (types
inferred, `-` as NULL), i.e. DuckDB parsing and storing the same file.
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import sys
import tempfile
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import SHARED, Measure, measure, report, warm

DEFAULT_SOURCE = os.path.join(SHARED, "stratosphere-zeek", "011-zeek-mixed", "data", "conn.log.labeled.gz")
_ALPHA = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def generate(src: str, path: str, n: int) -> None:
    """Replicate the data lines of `src` to n rows (one header block, a #close line at the end)."""
    opener = gzip.open if src.endswith(".gz") else open
    with opener(src, "rb") as f:
        lines = f.read().split(b"\n")
    header = [ln for ln in lines if ln.startswith(b"#") and not ln.startswith(b"#close")]
    rows = [ln.split(b"\t") for ln in lines if ln and not ln.startswith(b"#")]
    ts = [float(r[0]) for r in rows]
    # The n rows keep the capture's time window (one day here), in time order, as one busy
    # sensor's conn.log of that day would: row i gets start + i * span / n.
    start, step = min(ts), (max(ts) - min(ts)) / n
    written = 0
    with open(path, "wb") as out:
        out.write(b"\n".join(header) + b"\n")
        copy = 0
        while written < n:
            suffix = bytes([_ALPHA[copy % 62], _ALPHA[(copy // 62) % 62], _ALPHA[(copy // 3844) % 62]])
            block = []
            for r in rows:
                if written >= n:
                    break
                r2 = list(r)
                r2[0] = b"%.6f" % (start + written * step)
                r2[1] = r[1][:-3] + suffix
                block.append(b"\t".join(r2))
                written += 1
            out.write(b"\n".join(block) + b"\n")
            copy += 1
        out.write(b"#close\t2022-06-18-00-00-00\n")


def field_names(path: str) -> list[str]:
    with open(path, "rb") as f:
        for line in f:
            if line.startswith(b"#fields"):
                return line.rstrip(b"\n").decode().split("\t")[1:]
    raise ValueError("no #fields header")


def run_duckdb(path: str) -> tuple[int, dict[str, Any]]:
    import duckdb

    names = field_names(path)
    db = os.path.join(os.path.dirname(path), "baseline.duckdb")
    con = duckdb.connect(db)
    con.execute(f"CREATE TABLE t AS SELECT * FROM read_csv('{path}', delim='\\t', comment='#', header=false, "
                f"names={names!r}, nullstr='-', quote='', escape='')")
    n = con.execute("SELECT count(*) FROM t").fetchone()[0]
    con.close()
    return n, {}


def run_aptwatch(path: str, store: str) -> tuple[int, dict[str, Any]]:
    from aptwatch.ingest import ingest
    from aptwatch.runtime import configure_process
    from aptwatch.store import Store

    configure_process()  # as `aptwatch ingest` does first
    r = ingest(Store.open(store, create=True), [path])
    return r.events, {"warnings": r.warnings, "tables": dict(r.by_table)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="1000000,5000000")
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--source", default=DEFAULT_SOURCE)
    a = ap.parse_args()
    work = a.workdir or tempfile.mkdtemp(prefix="aptwatch-bench-")
    rows: list[tuple[str, Measure, Measure]] = []
    for n in (int(x) for x in a.sizes.split(",")):
        path = os.path.join(work, f"conn-{n}.log")
        if not os.path.exists(path):
            generate(a.source, path, n)
        warm(path)
        base = measure("duckdb read_csv", run_duckdb, path)
        os.unlink(os.path.join(work, "baseline.duckdb"))
        store = os.path.join(work, f"store-{n}")
        shutil.rmtree(store, ignore_errors=True)
        ours = measure("aptwatch ingest", run_aptwatch, path, store, aptwatch=True)
        shutil.rmtree(store, ignore_errors=True)
        assert ours.items == base.items == n, (ours.items, base.items, n)
        assert ours.extra["tables"] == {"network": n}, ours.extra
        size_mb = os.path.getsize(path) / 1e6
        rows.append((f"{n:,} rows ({size_mb:,.0f} MB)", ours, base))
        print(f"{n:>10,}  aptwatch {ours.seconds:6.2f}s {ours.rate:>10,.0f}/s {ours.peak_rss_mb:6.0f} MB   "
              f"read_csv {base.seconds:6.2f}s {base.rate:>10,.0f}/s {base.peak_rss_mb:6.0f} MB   "
              f"ratio {ours.rate / base.rate:.2f}", flush=True)
    print()
    print(report("Zeek conn.log (TSV): aptwatch ingest vs DuckDB read_csv", rows))
    if not a.workdir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
