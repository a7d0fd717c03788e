"""Benchmark: simulator generation rate and peak RSS as the simulated window grows.

    python bench/simulate_scale.py [--hosts 1000] [--days 1,2,4] [--workdir DIR] [--compress]

Each size runs in a fresh process (harness.measure): a 1,000-host organisation for 1, 2, 4 ...
days with one APT29 campaign. Memory must stay flat as days grow (the simulator streams); the
full target - 1,000 hosts x 180 days (>= 100M events) - is extrapolated from the measured rate
and clearly labelled as such. Baseline, same run: serialising the same number of events
(a representative winlogbeat record through orjson to disk), the floor any generator pays.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Measure, machine, measure


def run_sim(out: str, hosts: int, days: int, compress: bool) -> tuple[int, dict[str, Any]]:
    import resource
    from pathlib import Path

    from aptwatch.simulate.config import SimulationConfig
    from aptwatch.simulate.engine import simulate

    r = simulate(SimulationConfig(hosts=hosts, days=days, seed=42, profiles=("apt29",), compress=compress,
                                  campaign_start_days=(0,)), Path(out))
    ru = resource.getrusage(resource.RUSAGE_SELF)
    size = sum(f.stat().st_size for f in Path(out).rglob("*") if f.is_file())
    return r.events, {"bytes": size, "peak_pending": r.peak_pending, "by_stream": r.by_stream,
                      "malicious": r.malicious, "cpu": ru.ru_utime + ru.ru_stime}


def run_baseline(out: str, n: int) -> tuple[int, dict[str, Any]]:
    import orjson

    rec = {"@timestamp": "2024-03-04T08:31:12.345Z", "agent": {"type": "winlogbeat", "name": "ws0001"},
           "host": {"name": "ws0001"}, "event": {"code": "1", "kind": "event", "provider": "Microsoft-Windows-Sysmon"},
           "winlog": {"channel": "Microsoft-Windows-Sysmon/Operational", "computer_name": "WS0001.corp.example.com",
                      "event_id": "1", "record_id": "1", "event_data": {
                          "UtcTime": "2024-03-04 08:31:12.345", "ProcessGuid": "{6785c836-9039-65d9-0700-000000000400}",
                          "ProcessId": "4242", "Image": "C:\\Windows\\System32\\svchost.exe",
                          "CommandLine": "C:\\Windows\\system32\\svchost.exe -k netsvcs -p",
                          "User": "NT AUTHORITY\\SYSTEM", "Hashes": "SHA1=" + "A" * 40 + ",MD5=" + "B" * 32,
                          "ParentImage": "C:\\Windows\\services.exe"}}}
    import resource

    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "baseline.ndjson"), "wb", buffering=1 << 20) as f:
        for i in range(n):
            rec["winlog"]["record_id"] = str(i)  # type: ignore[index]
            f.write(orjson.dumps(rec) + b"\n")
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return n, {"cpu": ru.ru_utime + ru.ru_stime}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", type=int, default=1000)
    ap.add_argument("--days", default="1,2,4")
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--compress", action="store_true")
    args = ap.parse_args()
    work = args.workdir or tempfile.mkdtemp(prefix="aptwatch-simbench-")
    rows: list[tuple[int, Measure, Measure]] = []
    try:
        for days in [int(x) for x in args.days.split(",")]:
            out = os.path.join(work, f"sim-{days}")
            ours = measure(f"simulate {args.hosts}x{days}", run_sim, out, args.hosts, days, args.compress)
            shutil.rmtree(out, ignore_errors=True)
            base = measure(f"baseline {ours.items}", run_baseline, os.path.join(work, "base"), ours.items)
            shutil.rmtree(os.path.join(work, "base"), ignore_errors=True)
            rows.append((days, ours, base))
            print(f"{args.hosts} hosts x {days} d: {ours.items:,} events in {ours.seconds:.1f}s "
                  f"({ours.rate:,.0f}/s; {ours.items / ours.extra['cpu']:,.0f}/CPU-s), peak RSS "
                  f"{ours.peak_rss_mb:,.0f} MB, peak pending {ours.extra['peak_pending']:,}; baseline "
                  f"{base.rate:,.0f}/s ({base.items / base.extra['cpu']:,.0f}/CPU-s)", flush=True)
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    print()
    print(f"### Simulator scale ({'gzip' if args.compress else 'plain'} files)\n")
    print(f"Machine: {machine()}.\n")
    print("| window | events | events/host/day | aptwatch events/s (wall) | aptwatch events/CPU-s | "
          "baseline events/CPU-s | ratio (CPU) | peak RSS MB | output GB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for days, ours, base in rows:
        cpu_rate, base_cpu = ours.items / ours.extra["cpu"], base.items / base.extra["cpu"]
        print(f"| {args.hosts} hosts x {days} d | {ours.items:,} | {ours.items / args.hosts / days:,.0f} | "
              f"{ours.rate:,.0f} | {cpu_rate:,.0f} | {base_cpu:,.0f} | {cpu_rate / base_cpu:.2f} | "
              f"{ours.peak_rss_mb:,.0f} | {ours.extra['bytes'] / 1e9:.2f} |")
    days, ours, _ = rows[-1]
    per_day = ours.items / days
    total = per_day * 180
    cpu_rate = ours.items / ours.extra["cpu"]
    print(f"\nExtrapolated (not measured): {args.hosts} hosts x 180 days = {total / 1e6:,.0f}M events, "
          f"{total / cpu_rate / 3600:.1f} h of CPU at the measured rate per CPU-second, "
          f"{ours.extra['bytes'] / days * 180 / 1e9:,.0f} GB of {'gzip' if args.compress else 'plain'} files, "
          f"peak RSS as measured (flat in the window length).")


if __name__ == "__main__":
    main()
