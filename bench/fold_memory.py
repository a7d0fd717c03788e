"""Benchmark: peak memory of the first `beacon` run over a large backlog, folded in bounded chunks vs at once.

    python bench/fold_memory.py [--sizes 1000000,3000000] [--chunk-rows 250000] [--workdir DIR] [--keep]

Input: the replicated real Zeek conn rows of bench/beacon_scale.py (stratosphere-zeek captures, every
replica with its own internal sources, ~7 days), written once per size through the lake as one ingest
(a backlog nothing has folded yet).

Stages (each in a fresh process on its own copy of the store, peak RSS its own, see bench/harness.py):
- chunked: the `beacon` detector with `pairs.chunk_rows` and `beacon.score_chunk_conns` set to
  `--chunk-rows` (the fold commits one chunk of days / source ranges at a time, scoring reads the
  changed series in hash parts of that many connections);
- one pass (baseline): the same detector with both options at 10^12, i.e. the whole backlog folded and
  scored in one piece, as before chunking.
Both must give the same findings (ids and scores are compared). The claim checked: the chunked peak RSS
stays about flat as the backlog grows, the one-pass peak grows with it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from beacon_scale import run_generate
from harness import machine, measure

ONE_PASS = 10**12


def run_beacon(store_dir: str, chunk_rows: int) -> tuple[int, dict[str, Any]]:
    from aptwatch.detect.analytics.beacon import Beacon
    from aptwatch.detect.base import DetectSettings
    from aptwatch.detect.runner import run_detectors
    from aptwatch.model.finding import Severity
    from aptwatch.store import Store

    store = Store.open(store_dir)
    settings = DetectSettings(min_severity=Severity.INFORMATIONAL,
                              options={"pairs.chunk_rows": chunk_rows, "beacon.score_chunk_conns": chunk_rows})
    rep = run_detectors(store, settings, detectors=[Beacon()])
    if rep.failed:
        raise RuntimeError(rep.failed)
    st = rep.stats.get("beacon", {})
    with store.state.connect() as con:
        found = con.execute("""SELECT id, round(CAST(json_extract(extra, '$.scores.score') AS DOUBLE), 3)
                               FROM findings WHERE detector = 'beacon' ORDER BY id""").fetchall()
    return int(st.get("folded_events", 0)), {"fold_chunks": st.get("fold_chunks"),
                                             "score_chunks": st.get("score_chunks"),
                                             "findings": found}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="1000000,3000000")
    ap.add_argument("--chunk-rows", type=int, default=250_000)
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--keep", action="store_true", help="keep the generated stores")
    args = ap.parse_args()
    work = args.workdir or tempfile.mkdtemp(prefix="aw-foldmem-")
    print(f"Machine: {machine()}; chunk rows {args.chunk_rows:,}", flush=True)
    print("| conn rows | chunked s | chunked peak RSS MB | fold / score chunks | one pass s "
          "| one pass peak RSS MB | RSS one pass / chunked | same findings |")
    print("|---|---|---|---|---|---|---|---|")
    try:
        for n in (int(s) for s in args.sizes.split(",")):
            gen = os.path.join(work, f"gen-{n}")
            if not os.path.exists(gen):
                measure("generate", run_generate, gen, n)
            runs = {}
            for label, rows in (("chunked", args.chunk_rows), ("one pass", ONE_PASS)):
                store = os.path.join(work, f"run-{n}-{rows}")
                shutil.rmtree(store, ignore_errors=True)
                shutil.copytree(gen, store)
                runs[label] = measure(f"beacon {label}", run_beacon, store, rows)
                shutil.rmtree(store, ignore_errors=True)
            c, o = runs["chunked"], runs["one pass"]
            same = c.extra["findings"] == o.extra["findings"]
            print(f"| {c.items:,} | {c.seconds:.1f} | {c.peak_rss_mb:,.0f} | {c.extra['fold_chunks']} / "
                  f"{c.extra['score_chunks']} | {o.seconds:.1f} | {o.peak_rss_mb:,.0f} | "
                  f"{o.peak_rss_mb / max(c.peak_rss_mb, 1):.2f}x | {'yes' if same else 'NO'} "
                  f"({len(c.extra['findings'])}) |", flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
