"""Benchmark: third-party alerts. Ingest of the AIT-ADS CSV and of Wazuh alerts JSON against DuckDB's own
readers of the same files, and the import detector against a bare DuckDB GROUP BY over the same lake.

    python bench/alerts.py [--csv-copies 6] [--wazuh 500000] [--workdir DIR]

- AIT-ADS: the four real scenario files of ../shared/data/ait-ads, data rows concatenated `--csv-copies`
  times into one file (one source: content hashing would skip identical copies). Baseline:
  `CREATE TABLE t AS SELECT * FROM read_csv(file)`.
- Wazuh: `--wazuh` alerts generated from realistic templates (sshd, web, sudo, syscheck, Windows
  eventchannel, forwarded Suricata), one per line. Baseline: `read_json(format='newline_delimited')`.
- Import detector: `detect` (every group, `--min-severity informational`) on the AIT-ADS store, against
  a DuckDB query computing the same groups (count, first/last time) over the same Parquet files.
Each stage runs in a fresh process (bench/harness.py); rates are alerts per second.
"""

from __future__ import annotations

import argparse
import gzip
import os
import random
import shutil
import sys
import tempfile
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import SHARED, Measure, measure, report, warm


def build_csv(path: str, copies: int) -> int:
    root = os.path.join(SHARED, "ait-ads", "alerts_csv")
    header = None
    rows = 0
    with open(path, "w", encoding="utf-8", newline="") as out:
        for _ in range(copies):
            for name in sorted(os.listdir(root)):
                with gzip.open(os.path.join(root, name), "rt", encoding="utf-8", newline="") as f:
                    first = f.readline()
                    if header is None:
                        header = first
                        out.write(header)
                    for line in f:
                        out.write(line)
                        rows += 1
    return rows


def build_wazuh(path: str, n: int, seed: int = 11) -> None:
    import orjson

    rnd = random.Random(seed)
    agents = [{"id": f"{i:03d}", "name": f"web{i:02d}", "ip": f"10.10.{i // 250}.{i % 250 + 1}"} for i in range(40)]
    templates: list[dict[str, Any]] = [
        {"rule": {"level": 5, "description": "sshd: Attempt to login using a non-existent user", "id": "5710",
                  "mitre": {"id": ["T1110.001"], "tactic": ["Credential Access"], "technique": ["Password Guessing"]},
                  "groups": ["syslog", "sshd", "authentication_failed", "invalid_login"], "firedtimes": 3},
         "decoder": {"parent": "sshd", "name": "sshd"}, "location": "/var/log/auth.log"},
        {"rule": {"level": 5, "description": "Web server 400 error code.", "id": "31101",
                  "groups": ["web", "accesslog", "attack"], "firedtimes": 9},
         "decoder": {"name": "web-accesslog"}, "location": "/var/log/apache2/access.log"},
        {"rule": {"level": 3, "description": "Successful sudo to ROOT executed.", "id": "5402",
                  "mitre": {"id": ["T1548.003"], "tactic": ["Privilege Escalation", "Defense Evasion"]},
                  "groups": ["syslog", "sudo"]},
         "decoder": {"parent": "sudo", "name": "sudo"}, "location": "/var/log/auth.log"},
        {"rule": {"level": 7, "description": "Integrity checksum changed.", "id": "550",
                  "groups": ["ossec", "syscheck", "syscheck_entry_modified"]},
         "syscheck": {"path": "/etc/passwd", "event": "modified", "md5_after": "8a2c8e0e4f7f8c9b1d2e3f4a5b6c7d8e"},
         "decoder": {"name": "syscheck_integrity_changed"}, "location": "syscheck"},
        {"rule": {"level": 5, "description": "Logon failure - Unknown user or bad password.", "id": "60122",
                  "groups": ["windows", "windows_security", "authentication_failed"]},
         "decoder": {"name": "windows_eventchannel"}, "location": "EventChannel"},
        {"rule": {"level": 3, "description": "Suricata: Alert - ET SCAN Possible Nmap User-Agent Observed",
                  "id": "86601", "groups": ["ids", "suricata"]},
         "decoder": {"name": "json"}, "location": "/var/log/suricata/eve.json"},
    ]
    with open(path, "wb") as f:
        for i in range(n):
            t = templates[rnd.randrange(len(templates))]
            agent = agents[rnd.randrange(len(agents))]
            src = f"203.0.113.{rnd.randrange(1, 255)}"
            rec: dict[str, Any] = {
                "timestamp": f"2024-03-{1 + i * 28 // n:02d}T{(i * 7) % 24:02d}:{(i * 11) % 60:02d}:"
                             f"{(i * 13) % 60:02d}.{i % 1000:03d}+0000",
                **t, "agent": agent, "manager": {"name": "wazuh-manager"}, "id": f"{1709287200 + i}.{i * 37}",
            }
            if t["rule"]["id"] == "60122":
                rec["data"] = {"win": {"system": {"eventID": "4625", "computer": f"{agent['name']}.corp.example"},
                                       "eventdata": {"targetUserName": f"user{rnd.randrange(300)}",
                                                     "ipAddress": src, "workstationName": "KALI"}}}
            elif t["rule"]["id"] == "86601":
                rec["data"] = {"src_ip": src, "dest_ip": agent["ip"], "dest_port": "80", "proto": "TCP",
                               "alert": {"signature_id": "2024364", "signature": "ET SCAN Possible Nmap User-Agent "
                                         "Observed", "category": "Web Application Attack", "severity": "1"}}
            elif t["rule"]["id"] in ("5710", "31101"):
                rec["data"] = {"srcip": src, "srcuser": f"user{rnd.randrange(300)}"}
                rec["full_log"] = f"Mar  1 10:00:00 {agent['name']} sshd[{rnd.randrange(65535)}]: Invalid user " \
                                  f"admin from {src} port {rnd.randrange(1024, 65535)} ssh2"
            f.write(orjson.dumps(rec) + b"\n")


def run_read(path: str, kind: str) -> tuple[int, dict[str, Any]]:
    import duckdb

    con = duckdb.connect(os.path.join(os.path.dirname(path), f"baseline-{kind}.duckdb"))
    reader = f"read_csv('{path}')" if kind == "csv" else f"read_json('{path}', format='newline_delimited')"
    con.execute(f"CREATE TABLE t AS SELECT * FROM {reader}")
    n = con.execute("SELECT count(*) FROM t").fetchone()[0]
    con.close()
    return n, {}


def run_ingest(path: str, store: str) -> tuple[int, dict[str, Any]]:
    from aptwatch.ingest import ingest
    from aptwatch.store import Store

    r = ingest(Store.open(store, create=True), [path])
    return r.events, {"warnings": r.warnings}


def run_detect(store: str) -> tuple[int, dict[str, Any]]:
    from aptwatch.detect.base import DetectSettings
    from aptwatch.detect.imported import ImportedAlerts
    from aptwatch.detect.runner import run_detectors
    from aptwatch.model.finding import Severity
    from aptwatch.store import Store

    r = run_detectors(Store.open(store), DetectSettings(min_severity=Severity.INFORMATIONAL),
                      detectors=[ImportedAlerts()])
    stats = r.stats["import"]
    return int(stats["alerts"]), {"findings": r.findings}


def run_groupby(store: str) -> tuple[int, dict[str, Any]]:
    from aptwatch.store import Store

    with Store.open(store).session() as s:
        t = s.sql("SELECT sensor, signature_id, signature, host, src_ip, dst_ip, "
                  "time_bucket(INTERVAL 1 HOUR, time) AS b, count(*) AS n, min(time), max(time) "
                  "FROM ids_alert GROUP BY ALL")
    return int(sum(t.column("n").to_pylist())), {"groups": t.num_rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--csv-copies", type=int, default=6)
    ap.add_argument("--wazuh", type=int, default=500_000)
    ap.add_argument("--workdir", default=None)
    a = ap.parse_args()
    work = a.workdir or tempfile.mkdtemp(prefix="aptwatch-bench-alerts-")
    rows: list[tuple[str, Measure, Measure]] = []

    csv_path = os.path.join(work, "ait_ads_alerts.csv")
    n_csv = build_csv(csv_path, a.csv_copies)
    warm(csv_path)
    base = measure("duckdb read_csv", run_read, csv_path, "csv")
    csv_store = os.path.join(work, "store-csv")
    shutil.rmtree(csv_store, ignore_errors=True)
    ours = measure("aptwatch ingest", run_ingest, csv_path, csv_store)
    assert ours.items == base.items == n_csv, (ours.items, base.items, n_csv)
    rows.append((f"AIT-ADS CSV ingest, {n_csv:,} alerts ({os.path.getsize(csv_path) / 1e6:,.0f} MB)", ours, base))

    det = measure("aptwatch detect (import)", run_detect, csv_store)
    grp = measure("duckdb GROUP BY", run_groupby, csv_store)
    assert det.items == grp.items == n_csv, (det.items, grp.items)
    rows.append((f"import detector, {n_csv:,} alerts -> {det.extra['findings']:,} findings", det, grp))

    wz_path = os.path.join(work, "alerts.json")
    build_wazuh(wz_path, a.wazuh)
    warm(wz_path)
    base = measure("duckdb read_json", run_read, wz_path, "json")
    wz_store = os.path.join(work, "store-wazuh")
    shutil.rmtree(wz_store, ignore_errors=True)
    ours = measure("aptwatch ingest", run_ingest, wz_path, wz_store)
    assert ours.items == base.items == a.wazuh, (ours.items, base.items)
    rows.append((f"Wazuh alerts.json ingest, {a.wazuh:,} alerts ({os.path.getsize(wz_path) / 1e6:,.0f} MB)",
                 ours, base))

    for label, o, b in rows:
        print(f"{label}: aptwatch {o.seconds:.2f}s {o.rate:,.0f}/s {o.peak_rss_mb:,.0f} MB | baseline "
              f"{b.seconds:.2f}s {b.rate:,.0f}/s {b.peak_rss_mb:,.0f} MB | ratio {o.rate / b.rate:.2f}", flush=True)
    print()
    print(report("Third-party alerts: aptwatch vs DuckDB on the same input", rows))
    if not a.workdir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
