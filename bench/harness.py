"""A small common benchmark harness.

Each measured stage runs in a fresh child process (spawn), so its peak RSS is its own and
nothing is warm from an earlier stage except the OS page cache, which every stage gets
equally (each file is read once before timing starts). A benchmark measures its baseline
in the same run and prints both figures and their ratio; results go to docs/benchmarks.md
with the command that produced them.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import platform
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("APTWATCH_SHARED_DATA", os.path.join(os.path.dirname(REPO), "shared", "data"))


@dataclass(frozen=True)
class Measure:
    name: str
    seconds: float
    peak_rss_mb: float
    items: int
    extra: dict[str, Any]

    @property
    def rate(self) -> float:
        return self.items / self.seconds if self.seconds else 0.0


class _Hidden:
    """An import hook making modules look absent (`import` raises ModuleNotFoundError)."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name.split(".", 1)[0] in self.names:
            raise ModuleNotFoundError(f"No module named {name!r} (hidden by the benchmark)", name=name)


#: installed by the `bench` extra for baselines only, not dependencies of aptwatch. pyarrow imports
#: pandas on its first array or table when pandas is installed (~0.2 s per process), which a user's
#: `pip install aptwatch` never pays: the aptwatch side of a benchmark runs with them hidden.
BENCH_ONLY_MODULES = ("pandas", "networkx")


def _child(fn: Callable[..., tuple[int, dict[str, Any]]], args: tuple[Any, ...], q: Any,
           hide: tuple[str, ...] = ()) -> None:
    if hide:
        sys.meta_path.insert(0, _Hidden(hide))
    try:
        t0 = time.perf_counter()
        items, extra = fn(*args)
        dt = time.perf_counter() - t0
        rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        children_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        q.put((dt, max(rss_kb, children_kb) / 1024.0, items, extra, None))
    except BaseException as e:  # reported by the parent
        q.put((0.0, 0.0, 0, {}, f"{type(e).__name__}: {e}"))


def measure(name: str, fn: Callable[..., tuple[int, dict[str, Any]]], *args: Any,
            hide: tuple[str, ...] = (), aptwatch: bool = False) -> Measure:
    """Run fn(*args) -> (items, extra) in a fresh process; time it and take its peak RSS. Modules named
    in `hide` cannot be imported in that process (see BENCH_ONLY_MODULES). `aptwatch`: the stage runs
    aptwatch as the `aptwatch` command runs it: without the bench-only modules (fn calls
    `runtime.configure_process()` first, as the command does)."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    if aptwatch:
        hide = tuple(dict.fromkeys((*hide, *BENCH_ONLY_MODULES)))
    p = ctx.Process(target=_child, args=(fn, args, q, hide))
    p.start()
    dt, rss, items, extra, err = q.get()
    p.join()
    if err:
        raise RuntimeError(f"{name} failed: {err}")
    return Measure(name, dt, rss, items, extra)


def measure_pair(ours: tuple[str, Callable[..., tuple[int, dict[str, Any]]], tuple[Any, ...]],
                 base: tuple[str, Callable[..., tuple[int, dict[str, Any]]], tuple[Any, ...]],
                 repeat: int = 1, between: Callable[[], None] | None = None,
                 plain_ours: bool = False) -> tuple[Measure, Measure]:
    """Measure aptwatch and its baseline `repeat` times each, alternating, and keep each one's median
    time (peak RSS: the largest seen). On a shared two-core machine a single run of a 1-2 s stage
    varies by +-20 %; alternating exposes both sides to the same background load. `between` runs
    after every measurement (e.g. removing the store just written). The runs are in `extra['runs']`.
    The aptwatch side runs as the `aptwatch` command runs (`measure(..., aptwatch=True)`) unless
    `plain_ours`."""
    runs: dict[str, list[Measure]] = {ours[0]: [], base[0]: []}
    for _ in range(max(1, repeat)):
        for (name, fn, args), is_ours in ((base, False), (ours, not plain_ours)):
            runs[name].append(measure(name, fn, *args, aptwatch=is_ours))
            if between is not None:
                between()

    def median(ms: list[Measure]) -> Measure:
        mid = sorted(ms, key=lambda m: m.seconds)[len(ms) // 2]
        return Measure(mid.name, mid.seconds, max(m.peak_rss_mb for m in ms), mid.items,
                       {**mid.extra, "runs": [round(m.seconds, 3) for m in ms]})

    return median(runs[ours[0]]), median(runs[base[0]])


def warm(path: str) -> None:
    """Read a file once so every stage starts with the same page cache."""
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {sys.version.split()[0]}"


def report(title: str, rows: list[tuple[str, Measure, Measure]]) -> str:
    """Markdown table: one row per (label, aptwatch, baseline) with rates, ratio and RSS."""
    out = [f"### {title}", "", f"Machine: {machine()}.", "",
           "| input | aptwatch items/s | baseline items/s | ratio | aptwatch peak RSS MB | baseline peak RSS MB |",
           "|---|---|---|---|---|---|"]
    for label, ours, base in rows:
        ratio = ours.rate / base.rate if base.rate else float("nan")
        out.append(f"| {label} | {ours.rate:,.0f} | {base.rate:,.0f} | {ratio:.2f} | {ours.peak_rss_mb:,.0f} | "
                   f"{base.peak_rss_mb:,.0f} |")
    return "\n".join(out)
