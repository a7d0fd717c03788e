"""Benchmark: EVTX ingest vs a bare loop of the `evtx` package over the same files.

    python bench/ingest_evtx.py [--mode merged|files] [--copies 25,250] [--workdir DIR] [--keep]

Input: ../shared/data/evtx-attack-samples (277 files, 8,255 records) replicated; every copy is
distinct content, or ingest would store it once (sources are identified by their SHA-256):
- `merged` (default): each copy is ONE .evtx holding every chunk of every sample, records
  renumbered from a per-copy offset, chunk and header CRC32s recomputed (bench/evtx_merge.py):
  the shape of a real host log (one big Security.evtx / Sysmon.evtx);
- `files`: each copy is the 277 sample files with the copy and file numbers written into the
  unused part of the 4 KiB file header (past the 128 checksummed bytes): a triage folder of small
  files.
25 copies = 206,375 records (the issue's >= 200k); 250 copies = 10x for the peak-RSS check.

Stages, each in a fresh process (bench/harness.py): the bare loop (`for r in
PyEvtxParser(f).records_json(): n += 1`, with 1 thread and with the package's default threads;
the faster is the baseline), aptwatch's EVTX parser alone in one process (source.read: mapping
to Arrow, no store), and `aptwatch ingest` (hash, sniff, parse in worker processes, Parquet,
commit) into a fresh store. Target (issue 3): ingest >= 0.5 x the bare loop; peak RSS flat.
"""

from __future__ import annotations

import argparse
import glob
import os
import resource
import shutil
import sys
import tempfile
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# Imported here, not in the stage functions: a stage's child process imports this module before
# its clock starts, so the rates compare parsing, not interpreter start-up (~1 s for aptwatch).
import evtx

from aptwatch.ingest import ingest
from aptwatch.model.records import TableBatch
from aptwatch.sources.base import ReadContext, SourceRef
from aptwatch.sources.evtx import Evtx
from aptwatch.store import Store
from evtx_merge import merge
from harness import SHARED, Measure, measure, report, warm

SAMPLES = os.path.join(SHARED, "evtx-attack-samples")


def samples() -> list[str]:
    return sorted(glob.glob(os.path.join(SAMPLES, "**", "*.evtx"), recursive=True))


def make_inputs(work: str, mode: str, copies: int) -> list[str]:
    """The input files for `copies` copies (created once, reused by larger runs)."""
    src = samples()
    out: list[str] = []
    for k in range(copies):
        if mode == "merged":
            path = os.path.join(work, "merged", f"copy{k:04d}.evtx")
            if not os.path.exists(path):
                os.makedirs(os.path.dirname(path), exist_ok=True)
                merge(path, src, first_record=1 + k * 10_000_000)
            out.append(path)
        else:
            for i, f in enumerate(src):
                path = os.path.join(work, "files", f"copy{k:04d}", f"{i:03d}.evtx")
                if not os.path.exists(path):
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    with open(f, "rb") as fh:
                        data = bytearray(fh.read())
                    # unused header bytes: every file distinct (the samples hold one byte-identical pair)
                    data[256:264] = k.to_bytes(8, "little")
                    data[264:272] = i.to_bytes(8, "little")
                    with open(path, "wb") as fh:
                        fh.write(bytes(data))
                out.append(path)
    return out


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (ingest's worker processes): robust to other
    load on a shared machine, unlike wall time."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def run_bare(files: list[str], threads: int) -> tuple[int, dict[str, Any]]:
    c0 = cpu_seconds()
    n = 0
    for f in files:
        for _ in evtx.PyEvtxParser(f, number_of_threads=threads).records_json():
            n += 1
    return n, {"cpu": cpu_seconds() - c0}


def run_parse(files: list[str]) -> tuple[int, dict[str, Any]]:
    c0 = cpu_seconds()
    n = 0
    src = Evtx()
    for f in files:
        for item in src.read(ReadContext(SourceRef(f), "0" * 64, os.path.getsize(f))):
            if isinstance(item, TableBatch):
                n += item.num_rows
    return n, {"cpu": cpu_seconds() - c0}


def stop_fork_server() -> None:
    """Stop multiprocessing's fork server and wait for it. Ingest's workers are its children, not this
    process's: only once it has been waited for do their CPU time and peak RSS count in this process's
    RUSAGE_CHILDREN (`cpu_seconds`, the harness's peak RSS). `_stop` is the standard library's own hook
    for this (used by its tests): fine in a benchmark, never in library code."""
    from multiprocessing import forkserver

    # (the workers are reaped already: a fork server reports a worker's exit code, which the pool's
    # shutdown waits for, only after waitpid)
    forkserver._forkserver._stop()  # type: ignore[attr-defined]


def run_ingest(files: list[str], store: str) -> tuple[int, dict[str, Any]]:
    c0 = cpu_seconds()
    from aptwatch.runtime import configure_process

    configure_process()  # as `aptwatch ingest` does first
    r = ingest(Store.open(store, create=True), files)
    stop_fork_server()
    # this process is the ingest's main process (commits, compaction, address context): its own peak,
    # beside the stage's peak over it and its workers (issue 3: the main process's peak grew with input)
    main_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return r.events, {"warnings": r.warnings, "skipped": r.skipped, "cpu": cpu_seconds() - c0, "main_mb": main_mb,
                      "compacted": r.compacted}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--mode", choices=("merged", "files"), default="merged")
    ap.add_argument("--copies", default="25,250", help="comma-separated copy counts (25 = 206,375 records)")
    ap.add_argument("--workdir", default=None, help="keep inputs here between runs")
    ap.add_argument("--keep", action="store_true", help="do not delete the generated inputs")
    a = ap.parse_args()
    work = a.workdir or tempfile.mkdtemp(prefix="aptwatch-bench-evtx-")
    rows: list[tuple[str, Measure, Measure]] = []
    extra: list[str] = []
    try:
        for copies in (int(x) for x in a.copies.split(",")):
            files = make_inputs(work, a.mode, copies)
            for f in files:
                warm(f)
            size_mb = sum(os.path.getsize(f) for f in files) / 1e6
            bare1 = measure("bare loop, 1 thread", run_bare, files, 1)
            bare0 = measure("bare loop, default threads", run_bare, files, 0)
            base = bare1 if bare1.rate >= bare0.rate else bare0
            parse = measure("aptwatch EVTX parser, 1 process", run_parse, files, aptwatch=True)
            store = os.path.join(work, f"store-{copies}")
            shutil.rmtree(store, ignore_errors=True)
            ours = measure("aptwatch ingest", run_ingest, files, store, aptwatch=True)
            shutil.rmtree(store, ignore_errors=True)
            assert ours.items == parse.items == base.items, (ours.items, parse.items, base.items)
            label = f"{copies} copies, {len(files):,} file(s), {base.items:,} records ({size_mb:,.0f} MB)"
            rows.append((label, ours, base))
            def us(m: Measure) -> float:
                return float(m.extra["cpu"]) / m.items * 1e6

            line = (f"{label}: ingest {ours.rate:,.0f}/s ({ours.seconds:.1f} s, {ours.peak_rss_mb:.0f} MB, main "
                    f"process {ours.extra['main_mb']:.0f} MB, {ours.extra['compacted']} files compacted, "
                    f"{us(ours):.1f} us CPU/record) | bare 1 thread {bare1.rate:,.0f}/s ({bare1.peak_rss_mb:.0f} "
                    f"MB, {us(bare1):.1f} us) | bare default threads {bare0.rate:,.0f}/s ({us(bare0):.1f} us) | "
                    f"parser alone {parse.rate:,.0f}/s ({parse.peak_rss_mb:.0f} MB, {us(parse):.1f} us) | "
                    f"ratio ingest/bare {ours.rate / base.rate:.2f}, parser/bare {parse.rate / base.rate:.2f}; "
                    f"CPU per record bare/ingest {us(base) / us(ours):.2f}")
            extra.append(line)
            print(line, flush=True)
    finally:
        if not a.keep and not a.workdir:
            shutil.rmtree(work, ignore_errors=True)
    print()
    print(report(f"EVTX ingest ({a.mode}) vs a bare loop of the evtx package", rows))
    print()
    print("\n".join(f"- {x}" for x in extra))


if __name__ == "__main__":
    main()
