"""Benchmark: Linux text sources (auditd, auth.log, Sysmon for Linux in syslog) against a bare Python
line + regex loop over the same file, in the same run.

    python bench/ingest_linux.py [--lines 1000000] [--workdir DIR]

Inputs are built from real records, replicated with shifted times and serials so every event is
distinct (audit SYSCALL records also get shifted pid / ppid / ses: no two SYSCALL bodies are alike, as
in a real log, while the other records of a command repeat, as they do when commands run again): the
OTRF atomic Linux audit.log records (sh_arp_cache, sh_binary_padding_dd), the OTRF Log4Shell Sysmon
for Linux events (re-framed as syslog lines), and an auth.log made of the line shapes of
tests/sources/test_authlog.py. The real files themselves are ingested too (they
are tiny: their rate is dominated by fixed costs).

Baseline: read the file line by line in Python and run the syslog / audit header regex on each
line (the least any parser of these formats must do). aptwatch: full `ingest` into a fresh store
(parse, join audit records, map, write Parquet, commit), one worker process.
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import shutil
import sys
import tempfile
from typing import Any

import orjson

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import SHARED, Measure, measure, report, warm

_AUDIT = re.compile(r"(?:node=(\S+) )?type=(\S+) (?:msg=)?audit\((\d+)\.(\d+):(\d+)\): ?")
_PID = re.compile(r" (pid|ppid|ses)=(\d+)")
_SYSLOG = re.compile(r"([A-Za-z]{3}) {1,2}(\d{1,2}) (\d{2}):(\d{2}):(\d{2}) (\S+) ([^\s\[:]+)(?:\[(\d+)\])?: (.*)")


def _audit_source_lines() -> list[str]:
    out: list[str] = []
    for f in sorted(glob.glob(os.path.join(SHARED, "otrf-atomic", "linux", "*", "host", "*", "*.log"))):
        with open(f, encoding="utf-8") as fh:
            out += [ln.rstrip("\n") for ln in fh if ln.strip()]
    return out


def gen_audit(path: str, n_lines: int) -> int:
    """audit.log from the real OTRF records; every copy gets its own time and serial."""
    src = _audit_source_lines()
    if not src:
        raise SystemExit("needs ../shared/data/otrf-atomic/linux")
    written = 0
    with open(path, "w", encoding="utf-8") as out:
        copy = 0
        while written < n_lines:
            shift = copy * 3
            for ln in src:
                m = _AUDIT.search(ln)
                assert m is not None
                sec, serial = int(m.group(3)) + shift, int(m.group(5)) + copy * 1000
                body = ln[m.end(5):]
                if m.group(2) == "SYSCALL":  # a new process each time, as in a real log: no two bodies alike
                    body = _PID.sub(lambda p, c=copy: f" {p.group(1)}={int(p.group(2)) + c}", body)
                out.write(ln[: m.start(3)] + f"{sec}.{m.group(4)}:{serial}" + body + "\n")
                written += 1
            copy += 1
    return written


def gen_auth(path: str, n_lines: int) -> int:
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from tests.sources.test_authlog import AUTH_LOG

    src = [ln[15:] for ln in AUTH_LOG.splitlines()]  # without the timestamp
    written = copy = 0
    with open(path, "w", encoding="utf-8") as out:
        while written < n_lines:
            copy += 1
            for line in src:  # the kernel audit line gets its own audit id per copy
                ln = line.replace("audit(1704067560.123:812)", f"audit({1704067560 + copy}.123:{812 + copy})")
                s = written // 20
                out.write(f"Mar {1 + (s // 86400) % 28:2d} {(s // 3600) % 24:02d}:{(s // 60) % 60:02d}:{s % 60:02d}"
                          + ln + "\n")
                written += 1
    return written


def gen_sysmon(path: str, n_lines: int) -> int:
    files = glob.glob(os.path.join(SHARED, "otrf-compound", "Log4Shell", "syslog_sysmon_*", "*.json"))
    if not files:
        raise SystemExit("needs ../shared/data/otrf-compound/Log4Shell")
    with open(files[0], "rb") as fh:
        msgs = [orjson.loads(ln)["SyslogMessage"] for ln in fh if ln.strip()]
    written = 0
    with open(path, "w", encoding="utf-8") as out:
        while written < n_lines:
            for m in msgs:
                out.write(f"May 11 18:10:{written % 60:02d} ubuntu5 sysmon: {m}\n")
                written += 1
    return written


def _cpu() -> float:
    """CPU seconds of this process and its finished children: a rate per CPU second does not
    depend on how many other processes share the machine, wall time does."""
    import resource

    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def run_baseline(path: str) -> tuple[int, dict[str, Any]]:
    c0 = _cpu()
    n = hits = 0
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            n += 1
            if _AUDIT.match(line) or _SYSLOG.match(line):
                hits += 1
    return n, {"matched": hits, "cpu_s": _cpu() - c0}


def run_aptwatch(path: str, store: str) -> tuple[int, dict[str, Any]]:
    from aptwatch.ingest import ingest
    from aptwatch.store import Store

    c0 = _cpu()
    from aptwatch.runtime import configure_process

    configure_process()  # as `aptwatch ingest` does first
    r = ingest(Store.open(store, create=True), [path], workers=1)
    return r.events, {"warnings": r.warnings, "formats": dict(r.by_format), "tables": dict(r.by_table),
                      "cpu_s": _cpu() - c0}


def line_count(path: str) -> int:
    with open(path, "rb") as fh:
        return sum(1 for ln in fh if ln.strip())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--workdir", default=None)
    a = ap.parse_args()
    work = a.workdir or tempfile.mkdtemp(prefix="aptwatch-bench-linux-")
    inputs: list[tuple[str, str]] = []
    for label, gen, n in (("audit.log", gen_audit, a.lines), ("auth.log", gen_auth, a.lines),
                          ("sysmon syslog", gen_sysmon, max(a.lines // 5, 1000))):
        path = os.path.join(work, label.replace(" ", "_") + f"-{n}")
        if not os.path.exists(path):
            gen(path, n)
        inputs.append((f"{label}, {line_count(path):,} lines ({os.path.getsize(path) / 1e6:,.0f} MB)", path))
    for f in sorted(glob.glob(os.path.join(SHARED, "otrf-compound", "Log4Shell", "syslog_*", "*.json"))
                    + glob.glob(os.path.join(SHARED, "otrf-atomic", "linux", "*", "host", "*", "*.log"))):
        inputs.append((f"real: {os.path.basename(f)[:48]} ({line_count(f)} lines)", f))
    rows: list[tuple[str, Measure, Measure]] = []
    cpu_rows: list[str] = []
    for label, path in inputs:
        warm(path)
        base = measure("baseline", run_baseline, path)
        store = os.path.join(work, "store")
        shutil.rmtree(store, ignore_errors=True)
        ours = measure("aptwatch ingest", run_aptwatch, path, store, aptwatch=True)
        shutil.rmtree(store, ignore_errors=True)
        # rates are per input line for both (an audit event joins several lines)
        ours = Measure(ours.name, ours.seconds, ours.peak_rss_mb, base.items, ours.extra)
        rows.append((label, ours, base))
        oc, bc = ours.extra["cpu_s"], base.extra["cpu_s"]
        cpu_rows.append(f"| {label} | {base.items / oc:,.0f} | {base.items / bc:,.0f} | {bc / oc:.3f} |")
        print(f"{label}: aptwatch {ours.seconds:.2f}s {ours.rate:,.0f} lines/s {ours.peak_rss_mb:.0f} MB "
              f"{ours.extra}; baseline {base.seconds:.2f}s {base.rate:,.0f} lines/s; "
              f"ratio {ours.rate / base.rate:.3f}", flush=True)
    print()
    print(report("Linux text sources: aptwatch ingest vs a bare Python line + regex loop (rates in lines/s)", rows))
    print()
    print("Per CPU second (user + system time of the measured process):")
    print()
    print("| input | aptwatch lines/CPU-s | baseline lines/CPU-s | ratio |")
    print("|---|---|---|---|")
    print("\n".join(cpu_rows))
    if not a.workdir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
