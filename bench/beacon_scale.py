"""Benchmark: beaconing over N conn rows in the store vs a straightforward pandas group-by of the same scoring.

    python bench/beacon_scale.py [--sizes 1000000,4000000,10000000] [--workdir DIR] [--keep]

Rows: the real Zeek conn.log rows of ../shared/data/stratosphere-zeek (~27k), replicated: replica k
gives every originator a distinct internal address 10.a.b.c and shifts times by (k mod 12) * 12 h
+ 7k s, so the store holds ~N / 27k times as many (source, destination) series over ~7 days, with
the captures' own mix of beacons, scans and browsing. They are written as Parquet through the lake
(`conform` + `PartitionWriter` + a committed source), as a Zeek ingest would write them.

Stages (each in a fresh process, peak RSS its own, see bench/harness.py):
- aptwatch: the `beacon` detector on a fresh copy of the store (folds the rows into `pair_days`,
  scores every series at both scales, applies modifiers and allowlist, stores findings);
- pandas: reads the same lake files with pandas, keeps the same rows (internal source, external
  destination), sorts, and computes the same scores per (src, dst) with `groupby(...).apply` of a
  numpy scoring function (RITA v5 sub-scores + growth score, both scales).
Agreement is checked: the final scores of the pairs both scored must match (max abs difference).
Target (issue 5): aptwatch >= 5x faster at 10M rows; peak RSS reported; cost curve at 1M / 4M / 10M.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import shutil
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import SHARED, Measure, measure, report

BASE_US = 1709251200 * 1_000_000  # 2024-03-01T00:00:00Z
CONN_FILES = ("001-zeek-scenario-malicious/conn.log", "003-zeek-scenario-malicious/conn.log",
              "005-zeek-scenario-malicious/conn.log", "008-zeek-mixed/data/conn.log.labeled",
              "010-zeek-mixed/data/conn.log.labeled", "011-zeek-mixed/data/conn.log.labeled.gz",
              "012-zeek-mixed/data/conn.log.labeled")


def read_conn(path: str) -> Any:
    """A Zeek TSV conn.log -> Arrow table in the network table's shape (ground-truth columns dropped)."""
    import pyarrow as pa

    opener = gzip.open if path.endswith(".gz") else open
    fields: list[str] = []
    rows: list[list[str]] = []
    with opener(path, "rt", encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("#fields"):
                fields = line.split("\t")[1:]
            elif line and not line.startswith("#"):
                rows.append(line.split("\t"))
    idx = {n: i for i, n in enumerate(fields)}

    def col(name: str) -> list[str | None]:
        i = idx[name]
        return [r[i] if i < len(r) and r[i] not in ("-", "(empty)") else None for r in rows]

    def num(name: str, cast: type) -> list[Any]:
        return [cast(float(v)) if v is not None else None for v in col(name)]

    ts = num("ts", float)
    return pa.table({
        "time": pa.array([int(t * 1e6) for t in ts], pa.int64()).cast(pa.timestamp("us", tz="UTC")),
        "record": pa.array(range(1, len(rows) + 1), pa.int64()),
        "src_ip": pa.array(col("id.orig_h"), pa.string()),
        "src_port": pa.array(num("id.orig_p", int), pa.int32()),
        "dst_ip": pa.array(col("id.resp_h"), pa.string()),
        "dst_port": pa.array(num("id.resp_p", int), pa.int32()),
        "protocol": pa.array(col("proto"), pa.string()),
        "app_protocol": pa.array(col("service"), pa.string()),
        "duration": pa.array(num("duration", float), pa.float64()),
        "bytes_out": pa.array(num("orig_bytes", int), pa.int64()),
        "bytes_in": pa.array(num("resp_bytes", int), pa.int64()),
        "conn_state": pa.array(col("conn_state"), pa.string()),
        "flow_id": pa.array(col("uid"), pa.string()),
        "channel": pa.array(["conn"] * len(rows), pa.string()),
        "raw": pa.array(["\t".join(r[: idx.get("label", len(r))]) for r in rows], pa.string()),
    })


def base_rows() -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    parts = []
    for f in CONN_FILES:
        path = os.path.join(SHARED, "stratosphere-zeek", f)
        if not os.path.exists(path):
            continue
        t = read_conn(path)
        # the captures were made years apart: start each one on 2024-03-01 so the store spans ~a week
        us = pc.cast(t.column("time"), pa.int64())
        shifted = pc.add(pc.subtract(us, pc.min(us)), BASE_US).cast(pa.timestamp("us", tz="UTC"))
        parts.append(t.set_column(t.schema.get_field_index("time"), "time", shifted))
    t = pa.concat_tables(parts)
    return t.filter(pc.is_valid(t.column("src_ip")))


def generate(store_dir: str, n: int) -> int:
    """Write ~n replicated conn rows into a new store through the lake; returns the row count."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from aptwatch.ingest import conform
    from aptwatch.model.records import TableBatch
    from aptwatch.store import Store
    from aptwatch.store.lake import PartitionWriter
    from aptwatch.store.writer import SourceCommit

    base = base_rows()
    srcs = pc.unique(base.column("src_ip")).to_pylist()
    src_index = pc.index_in(base.column("src_ip"), pa.array(srcs)).to_numpy()
    store = Store.open(store_dir, create=True)
    written = 0
    k = 0
    with store.writer("bench") as w:
        ingest_id = "bench-ingest"
        w.begin_ingest(ingest_id, "bench")
        commits = []
        while written < n:
            chunk_commit_rows = 0
            sha = hashlib.sha256(f"bench-{k}".encode()).hexdigest()
            pw = PartitionWriter(store.root, f"{ingest_id}-{sha[:12]}")
            lo = hi = None
            for _ in range(64):  # 64 replicas per committed source
                if written >= n:
                    break
                take = min(base.num_rows, n - written)
                t = base.slice(0, take)
                # replica k: originator i -> 10.(k // 64 + 1 mod 250).(k % 64 * 4 + i // 250).(i % 250 + 1)
                ids = src_index[:take]
                a = (k // 64) % 250 + 1
                b = (k % 64) * 4 + (ids // 250)
                c = ids % 250 + 1
                new_src = np.char.add(np.char.add(f"10.{a}.", b.astype(str)), np.char.add(".", c.astype(str)))
                shift = ((k % 12) * 43200 + k * 7) * 1_000_000
                times = pc.add(pc.cast(t.column("time"), pa.int64()), shift).cast(pa.timestamp("us", tz="UTC"))
                t = t.set_column(t.schema.get_field_index("src_ip"), "src_ip", pa.array(new_src, pa.string()))
                t = t.set_column(t.schema.get_field_index("time"), "time", times)
                t = t.set_column(t.schema.get_field_index("record"), "record",
                                 pa.array(np.arange(chunk_commit_rows + 1, chunk_commit_rows + take + 1), pa.int64()))
                conformed = conform(TableBatch("network", t), sha16=sha[:16], display=f"bench/conn-{k // 64}.log",
                                    ingest_id=ingest_id, fmt="zeek")
                pw.write("network", conformed)
                mm = pc.min_max(times).as_py()
                lo = mm["min"] if lo is None else min(lo, mm["min"])
                hi = mm["max"] if hi is None else max(hi, mm["max"])
                chunk_commit_rows += take
                written += take
                k += 1
            files = pw.close()
            commits.append(SourceCommit(sha, f"bench/conn-{k // 64}.log", 0, "zeek", tuple(files), chunk_commit_rows,
                                        (), 0, lo, hi))
        w.commit_sources(ingest_id, commits)
        w.finish_ingest(ingest_id, 0)
    return written


# -- stages ----------------------------------------------------------------------------
def run_generate(store_dir: str, n: int) -> tuple[int, dict[str, Any]]:
    return generate(store_dir, n), {}


def run_aptwatch(store_dir: str) -> tuple[int, dict[str, Any]]:
    from aptwatch.detect.analytics.beacon import Beacon
    from aptwatch.detect.base import DetectSettings
    from aptwatch.detect.runner import run_detectors
    from aptwatch.model.finding import Severity
    from aptwatch.store import Store

    store = Store.open(store_dir)
    rep = run_detectors(store, DetectSettings(min_severity=Severity.INFORMATIONAL), detectors=[Beacon()])
    if rep.failed:
        raise RuntimeError(rep.failed)
    st = rep.stats.get("beacon", {})
    with store.state.connect() as con:
        scores = con.execute("""SELECT json_extract_string(entities, '$.src_ip'),
                                       coalesce(json_extract_string(entities, '$.dst_ip'),
                                                json_extract_string(entities, '$.domain')),
                                       CAST(json_extract(extra, '$.scores.score') AS DOUBLE)
                                FROM findings WHERE detector = 'beacon'""").fetchall()
    return int(st.get("folded_events", 0)), {"pairs": st.get("scored_pairs"), "findings": rep.findings,
                                             "scores": {f"{a}>{b}": s for a, b, s in scores}}


def _bowley(q1: float, q2: float, q3: float, tight: float) -> float:
    den = q3 - q1
    if den >= max(10.0, tight * q2) and q2 != q1 and q2 != q3:
        return (q1 + q3 - 2 * q2) / den
    return 0.0


def score_series(ts: Any, sizes: Any, lo: int, hi: int, tight: float = 0.1) -> dict[str, float] | None:
    """The beacon scores of one series at one scale (numpy), as the DuckDB query computes them."""
    import numpy as np

    keep = ts >= lo
    ts = ts[keep]
    sizes = sizes[keep]
    if len(ts) < 6 or hi <= lo:
        return None
    dt = np.diff(ts).astype(float)
    dt = dt[dt > 0]
    if len(dt) < 3:
        return None
    q1, q2, q3 = np.quantile(dt, [0.25, 0.5, 0.75])
    mad = float(np.median(np.abs(dt - q2)))
    ts_mad = max(0.0, (q2 - mad) / q2) if q2 >= 1 else 1.0
    ts_score = round(((1 - abs(_bowley(q1, q2, q3, tight))) + ts_mad) / 2, 3)
    szn = sizes[~np.isnan(sizes)]
    ds_score = None
    if len(szn) >= 3:
        s1, s2, s3 = np.quantile(szn, [0.25, 0.5, 0.75])
        smad = float(np.median(np.abs(szn - s2)))
        ds_mad = max(0.0, (s2 - smad) / s2) if s2 >= 1 else 0.0
        ds_score = round(((1 - abs(_bowley(s1, s2, s3, tight))) + ds_mad) / 2, 3)
    bins = np.minimum(23, np.floor((ts - lo) * 24.0 / (hi - lo)).astype(int))
    freq = np.bincount(bins, minlength=24)[:24]
    mean = freq.mean()
    cv = freq.std() / mean if mean else None
    cv_score = 0.0 if cv is None or cv > 1 else round(1 - cv, 3)
    bars = int((freq > 0).sum())
    bimodal = 0.0
    if bars >= 11:
        size = np.ceil(freq.max() * 0.05)
        buckets = np.floor(freq[freq > 0] / size) * size
        counts = np.sort(np.unique(buckets, return_counts=True)[1])[::-1]
        bimodal = min(1.0, round(counts[:2].sum() / max(bars - 1, 1), 3))
    bits = "".join("1" if f > 0 else "0" for f in freq)
    run = min(24, max(len(x) for x in (bits + bits).split("0")))
    coverage = min(1.0, np.ceil((ts[-1] - ts[0]) / (hi - lo) * 1000) / 1000)
    dur = max(coverage, min(1.0, np.ceil(run / 12 * 1000) / 1000)) if bars >= 6 else 0.0
    hist = max(cv_score, bimodal)
    score = round((ts_score + hist + dur) / 3 if ds_score is None else
                  0.25 * ts_score + 0.25 * ds_score + 0.25 * hist + 0.25 * dur, 3)
    growth = 0.0
    if len(dt) >= 5:
        lr = np.log(dt[1:] / dt[:-1])
        inc = dt[1:] - dt[:-1]
        lr_med, inc_med = float(np.median(lr)), float(np.median(inc))
        if lr_med >= np.log(1.1) and (lr > 0).mean() >= 0.6:
            growth = max(growth, max(0.0, 1 - float(np.median(np.abs(lr - lr_med))) / lr_med))
        if inc_med > 0 and inc_med >= 0.05 * float(np.median(dt)) and (inc > 0).mean() >= 0.6:
            growth = max(growth, max(0.0, 1 - float(np.median(np.abs(inc - inc_med))) / inc_med))
    return {"score": score, "ts": ts_score, "growth": growth}


def run_pandas(store_dir: str) -> tuple[int, dict[str, Any]]:
    import duckdb
    import numpy as np
    import pandas as pd

    con = duckdb.connect(os.path.join(store_dir, "state.duckdb"), read_only=True)
    files = [os.path.join(store_dir, p) for (p,) in con.execute(
        "SELECT path FROM files WHERE table_name = 'network' AND status = 'active'").fetchall()]
    con.close()
    df = pd.concat([pd.read_parquet(f, columns=["time", "src_ip", "dst_ip", "bytes_out"]) for f in files],
                   ignore_index=True)
    n = len(df)

    def internal(s: pd.Series) -> pd.Series:
        o = s.str.split(".", expand=True)
        a = pd.to_numeric(o[0], errors="coerce")
        b = pd.to_numeric(o[1], errors="coerce")
        low = s.str.lower()
        v6 = s.str.contains(":", regex=False) & (low.str.match(r"^f[cd]|^fe[89ab]") | (low == "::1"))
        v4 = ~s.str.contains(":", regex=False) & (
            (a == 10) | ((a == 172) & b.between(16, 31)) | ((a == 192) & (b == 168))
            | ((a == 100) & b.between(64, 127)) | (a == 127) | ((a == 169) & (b == 254)))
        special = (low.str.startswith("ff") & s.str.contains(":", regex=False)) | (a.between(224, 239)) | (
            s == "255.255.255.255") | (a == 0)
        return v4 | v6 | special

    df = df[internal(df["src_ip"]) & ~internal(df["dst_ip"])]
    df["ts"] = (df["time"] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)
    df = df.sort_values(["src_ip", "dst_ip", "ts"])
    lo, hi = int(df["ts"].min()), int(df["ts"].max())
    scales = [(lo, hi)] + ([(hi - 86400, hi)] if hi - lo > 2 * 86400 else [])

    def score(g: pd.DataFrame) -> float:
        ts = g["ts"].to_numpy()
        sizes = g["bytes_out"].to_numpy(dtype=float, na_value=np.nan)
        best = None
        for a, b in scales:
            r = score_series(ts, sizes, a, b)
            if r is not None and (best is None or max(r["score"], r["growth"]) > max(best["score"], best["growth"])):
                best = r
        return best["score"] if best else np.nan

    scores = df.groupby(["src_ip", "dst_ip"], sort=False).apply(score).dropna()
    return n, {"pairs": len(scores), "scores": {f"{a}>{b}": float(s) for (a, b), s in scores.items()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="1000000,4000000,10000000")
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--keep", action="store_true", help="keep the generated stores")
    ap.add_argument("--no-baseline", action="store_true", help="measure aptwatch only (no pandas stage)")
    a = ap.parse_args()
    work = a.workdir or tempfile.mkdtemp(prefix="aptwatch-beacon-")
    rows: list[tuple[str, Measure, Measure]] = []
    for n in (int(x) for x in a.sizes.split(",")):
        gen = os.path.join(work, f"gen-{n}")
        if not os.path.exists(gen):
            t0 = time.perf_counter()
            measure("generate", run_generate, gen, n)
            print(f"generated {n:,} rows in {time.perf_counter() - t0:.0f}s", flush=True)
        store = os.path.join(work, f"run-{n}")
        shutil.rmtree(store, ignore_errors=True)
        shutil.copytree(gen, store)
        for dirpath, _d, names in os.walk(os.path.join(store, "lake")):
            for name in names:
                with open(os.path.join(dirpath, name), "rb") as f:
                    while f.read(1 << 24):
                        pass
        ours = measure("aptwatch beacon", run_aptwatch, store)
        if a.no_baseline:
            print(f"{n:>11,} rows  aptwatch {ours.seconds:7.2f}s {ours.peak_rss_mb:6.0f} MB  pairs scored "
                  f"{ours.extra['pairs']}  findings {ours.extra['findings']}", flush=True)
            shutil.rmtree(store, ignore_errors=True)
            continue
        base = measure("pandas groupby-apply", run_pandas, store)
        shutil.rmtree(store, ignore_errors=True)
        common = set(ours.extra["scores"]) & set(base.extra["scores"])
        diff = max((abs(ours.extra["scores"][k] - base.extra["scores"][k]) for k in common), default=0.0)
        print(f"{n:>11,} rows  aptwatch {ours.seconds:7.2f}s {ours.peak_rss_mb:6.0f} MB  "
              f"pandas {base.seconds:7.2f}s {base.peak_rss_mb:6.0f} MB  speed-up {base.seconds / ours.seconds:5.1f}x  "
              f"pairs scored {ours.extra['pairs']} / {base.extra['pairs']}  findings {ours.extra['findings']}  "
              f"score agreement on {len(common)} reported pairs: max |diff| {diff:.3f}", flush=True)
        rows.append((f"{n:,} conn rows", ours, base))
    if rows:
        print()
        print(report("Beaconing: aptwatch (DuckDB over the store) vs pandas groupby-apply, same scoring", rows))
    if not a.workdir and not a.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
