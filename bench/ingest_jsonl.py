"""Benchmark: generic JSON-lines ingest vs DuckDB's own read_json of the same file.

    python bench/ingest_jsonl.py [--sizes 1000000,4000000] [--repeat 3] [--workdir DIR]

Each side runs `--repeat` times, alternating, and its median time is reported (peak RSS: the
largest of its runs). Run it with the package's bytecode cached (a first `aptwatch` run writes it;
PYTHONDONTWRITEBYTECODE disables that and adds ~0.1 s of compiling to every aptwatch run, which the
baseline's installed packages never pay). The aptwatch side runs as the `aptwatch` command runs
(harness.measure(aptwatch=True)): without the `bench` extra's packages, as `pip install aptwatch`
installs it (pyarrow imports pandas on first use when it is installed, ~0.2 s per process), with
aptwatch's process settings (runtime.py: Arrow's allocator). `--plain` measures it without both.

Target (issue: Foundation): aptwatch rate / read_json rate >= 0.5, and peak RSS flat as the
file grows (1M vs 4M records).
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
from harness import Measure, measure_pair, report, warm


def generate(path: str, n: int, seed: int = 7) -> None:
    """Time-ordered records shaped like an ECS export (what a SIEM hands a hunter)."""
    import orjson

    rnd = random.Random(seed)
    users = [f"user{i}" for i in range(300)]
    cmds = ["C:\\Windows\\System32\\svchost.exe -k netsvcs", "powershell.exe -NoProfile -Command Get-Process",
            "C:\\Program Files\\Mozilla Firefox\\firefox.exe", "cmd.exe /c whoami", "explorer.exe"]
    with open(path, "wb") as f:
        for i in range(n):
            rec = {
                "@timestamp": f"2024-03-{1 + int(i * 86400 / n * 28) // 86400:02d}T"
                              f"{(i * 7) % 24:02d}:{(i * 11) % 60:02d}:{(i * 13) % 60:02d}.{i % 1000:03d}Z",
                "host": {"name": f"ws{rnd.randrange(800):04d}.corp.example.com"},
                "event": {"code": rnd.choice([4624, 4688, 4689, 5156]), "provider": "Microsoft-Windows-Security"},
                "user": {"name": rnd.choice(users)},
                "process": {"pid": rnd.randrange(65536), "command_line": rnd.choice(cmds)},
                "message": "An event happened " + "x" * rnd.randrange(10, 120),
            }
            f.write(orjson.dumps(rec) + b"\n")


def run_duckdb(path: str) -> tuple[int, dict[str, Any]]:
    import duckdb

    con = duckdb.connect(os.path.join(os.path.dirname(path), "baseline.duckdb"))
    con.execute(f"CREATE TABLE t AS SELECT * FROM read_json('{path}', format='newline_delimited')")
    n = con.execute("SELECT count(*) FROM t").fetchone()[0]
    con.close()
    return n, {}


def run_aptwatch(path: str, store: str) -> tuple[int, dict[str, Any]]:
    from aptwatch.ingest import ingest
    from aptwatch.runtime import configure_process
    from aptwatch.store import Store

    configure_process()  # as `aptwatch ingest` does first
    r = ingest(Store.open(store, create=True), [path])
    return r.events, {"warnings": r.warnings}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="1000000,4000000")
    ap.add_argument("--repeat", type=int, default=3, help="runs per side; the median is reported")
    ap.add_argument("--plain", action="store_true",
                    help="run the aptwatch side in a plain process: bench-only modules (pandas) importable, "
                         "pyarrow's default allocator settings")
    ap.add_argument("--workdir", default=None)
    a = ap.parse_args()
    work = a.workdir or tempfile.mkdtemp(prefix="aptwatch-bench-")
    rows: list[tuple[str, Measure, Measure]] = []
    for n in (int(x) for x in a.sizes.split(",")):
        path = os.path.join(work, f"events-{n}.jsonl")
        if not os.path.exists(path):
            generate(path, n)
        warm(path)
        store = os.path.join(work, f"store-{n}")
        baseline_db = os.path.join(work, "baseline.duckdb")

        def clean(store: str = store, baseline_db: str = baseline_db) -> None:
            shutil.rmtree(store, ignore_errors=True)
            if os.path.exists(baseline_db):
                os.unlink(baseline_db)

        clean()
        ours, base = measure_pair(("aptwatch ingest", run_aptwatch, (path, store)),
                                  ("duckdb read_json", run_duckdb, (path,)), a.repeat, clean,
                                  plain_ours=a.plain)
        assert ours.items == base.items == n, (ours.items, base.items, n)
        size_mb = os.path.getsize(path) / 1e6
        rows.append((f"{n:,} records ({size_mb:,.0f} MB)", ours, base))
        print(f"{n:>10,}  aptwatch {ours.seconds:6.2f}s {ours.rate:>10,.0f}/s {ours.peak_rss_mb:6.0f} MB   "
              f"read_json {base.seconds:6.2f}s {base.rate:>10,.0f}/s {base.peak_rss_mb:6.0f} MB   "
              f"ratio {ours.rate / base.rate:.2f}   runs: aptwatch {ours.extra['runs']} "
              f"read_json {base.extra['runs']}", flush=True)
    print()
    print(report("Generic JSON lines: aptwatch ingest vs DuckDB read_json", rows))
    if not a.workdir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
