"""Probe: which step of the MAIN ingest process sets its peak RSS, per input size.

    python bench/ingest_memory_probe.py --copies 25,100 [--workdir DIR] [--tracemalloc]

Input: merged copies of evtx-attack-samples (bench/evtx_merge.py, as bench/ingest_evtx.py makes them).
Each size is ingested into a fresh store in a fresh process (2 workers). The main process's steps are
wrapped (the wrappers only measure): every `commit_sources` call, the compaction (`compact`, and each
of its merge groups), the address context (`update_host_addresses`) and the rest (discovery, hashing,
waiting for the workers). Per step: the peak RSS of the main process during it (VmHWM, reset before the
step by writing 5 to /proc/self/clear_refs), the largest Arrow allocation seen (`pa.total_allocated_bytes`,
sampled every 20 ms) and, with --tracemalloc, the Python heap's peak. DuckDB's own memory is outside
both: it shows in VmHWM only.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shutil
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import pyarrow as pa

import aptwatch.ingest as ingest_mod
import aptwatch.store.writer as writer_mod
from aptwatch.store import Store
from ingest_evtx import make_inputs


def _status(key: str) -> int:
    """A /proc/self/status value in MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) // 1024
    return -1


def _reset_hwm() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class Steps:
    """Per-step peaks of the main process."""

    def __init__(self, trace: bool) -> None:
        self.trace = trace
        self.peaks: dict[str, dict[str, float]] = {}
        self.arrow_peak = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._sample, daemon=True)
        self._t.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.arrow_peak = max(self.arrow_peak, pa.total_allocated_bytes())

    def _record(self, name: str, t0: float) -> None:
        p = self.peaks.setdefault(name, {"calls": 0, "hwm_mb": 0, "arrow_mb": 0, "py_mb": 0, "seconds": 0.0})
        p["calls"] += 1
        p["hwm_mb"] = max(p["hwm_mb"], _status("VmHWM"))
        p["arrow_mb"] = max(p["arrow_mb"], self.arrow_peak / 1e6)
        p["seconds"] += time.monotonic() - t0
        if self.trace:
            p["py_mb"] = max(p["py_mb"], tracemalloc.get_traced_memory()[1] / 1e6)

    def begin(self) -> float:
        self._record("(before)", time.monotonic())
        _reset_hwm()
        self.arrow_peak = pa.total_allocated_bytes()
        if self.trace:
            tracemalloc.reset_peak()
        return time.monotonic()

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def inner(*args: Any, **kw: Any) -> Any:
            # what ran since the last step (hashing, waiting for workers) counts as "other"
            self._record("other", time.monotonic())
            t0 = self.begin()
            try:
                return fn(*args, **kw)
            finally:
                self._record(name, t0)
                _reset_hwm()
                self.arrow_peak = pa.total_allocated_bytes()
                if self.trace:
                    tracemalloc.reset_peak()
        return inner


def run(files: list[str], store: str, trace: bool, q: Any) -> None:
    if trace:
        tracemalloc.start()
    steps = Steps(trace)
    writer_mod.StoreWriter.commit_sources = steps.wrap("commit_sources", writer_mod.StoreWriter.commit_sources)
    writer_mod.compact = steps.wrap("compact", writer_mod.compact)
    ingest_mod.update_host_addresses = steps.wrap("update_host_addresses", ingest_mod.update_host_addresses)
    t0 = time.monotonic()
    r = ingest_mod.ingest(Store.open(store, create=True), files, workers=2)
    steps._record("other", time.monotonic())
    q.put((r.events, r.compacted, time.monotonic() - t0, steps.peaks))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--copies", default="25,100")
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--tracemalloc", action="store_true")
    a = ap.parse_args()
    work = a.workdir or tempfile.mkdtemp(prefix="aptwatch-memprobe-")
    try:
        for copies in (int(x) for x in a.copies.split(",")):
            files = make_inputs(work, "merged", copies)
            store = os.path.join(work, f"probe-store-{copies}")
            shutil.rmtree(store, ignore_errors=True)
            ctx = mp.get_context("spawn")
            q = ctx.Queue()
            p = ctx.Process(target=run, args=(files, store, a.tracemalloc, q))
            p.start()
            events, compacted, seconds, peaks = q.get()
            p.join()
            shutil.rmtree(store, ignore_errors=True)
            print(f"{copies} copies: {events:,} events, {compacted} files compacted, {seconds:.0f} s")
            print("| main-process step | calls | seconds | peak RSS (VmHWM) MB | Arrow peak MB | Python peak MB |")
            print("|---|---|---|---|---|---|")
            for name, p_ in peaks.items():
                print(f"| {name} | {p_['calls']} | {p_['seconds']:.1f} | {p_['hwm_mb']:.0f} | {p_['arrow_mb']:.0f} | "
                      f"{p_['py_mb']:.0f} |")
            print(flush=True)
    finally:
        if not a.workdir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
