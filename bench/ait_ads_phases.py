"""Measure the import detector on the AIT Alert Data Set: which findings fall in labelled attack phases.

    python bench/ait_ads_phases.py [--min-severity low] [--workdir DIR]

Ingests every alerts_csv/<scenario>_alerts.txt.gz under ../shared/data/ait-ads, runs the import
detector, and compares the findings with attack_phases.csv (ground truth, used here only to measure):
per rule, how many findings overlap an attack phase window (one minute of slack) and how many fall in
the data set's false-positive windows or outside any phase; per scenario, which attack phases have at
least one finding. Prints Markdown for docs/detections.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import SHARED


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--min-severity", default="low")
    ap.add_argument("--workdir", default=None)
    a = ap.parse_args()

    import duckdb

    from aptwatch.detect.base import DetectSettings
    from aptwatch.detect.runner import run_detectors
    from aptwatch.ingest import ingest
    from aptwatch.model.finding import Severity
    from aptwatch.store import Store

    root = os.path.join(SHARED, "ait-ads")
    work = a.workdir or tempfile.mkdtemp(prefix="aptwatch-aitads-")
    store = Store.open(os.path.join(work, "store"), create=True)
    files = sorted(os.path.join(root, "alerts_csv", f) for f in os.listdir(os.path.join(root, "alerts_csv")))
    ingest(store, files)
    run_detectors(store, DetectSettings(min_severity=Severity.parse(a.min_severity)))
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    con.execute(f"ATTACH '{store.state.path}' AS s (READ_ONLY)")
    con.execute(f"CREATE TABLE ph AS SELECT * FROM read_csv('{os.path.join(root, 'attack_phases.csv')}')")
    con.execute("""
        CREATE TABLE f AS SELECT id, rule_id, title, tactics, time, time_last, CAST(extra->>'count' AS BIGINT) AS n,
               regexp_extract(evidence->>'$[0].source', '([a-z]+)_alerts', 1) AS scenario FROM s.findings""")
    con.execute("""
        CREATE TABLE fp AS SELECT f.*, list(DISTINCT ph.phase) FILTER (WHERE ph.phase IS NOT NULL) AS phases
        FROM f LEFT JOIN ph ON ph.scenario = f.scenario AND f.time <= ph.end_utc + INTERVAL 1 MINUTE
                            AND f.time_last >= ph.start_utc - INTERVAL 1 MINUTE
        GROUP BY ALL""")
    rows = con.execute("""
        SELECT rule_id, any_value(title), any_value(array_to_string(tactics, ',')), count(*), sum(n),
               count(*) FILTER (WHERE len([p FOR p IN phases IF NOT starts_with(p, 'false_positive')]) > 0),
               count(*) FILTER (WHERE coalesce(len([p FOR p IN phases IF NOT starts_with(p, 'false_positive')]), 0) = 0)
        FROM fp GROUP BY ALL ORDER BY 4 DESC""").fetchall()
    total = con.execute("SELECT count(*) FROM s.findings").fetchone()[0]
    alerts = con.execute("SELECT sum(n) FROM f").fetchone()[0]
    print(f"{len(files)} scenario files, {alerts:,} alerts in findings at --min-severity {a.min_severity}, "
          f"{total:,} findings\n")
    print("| rule | title | tactics | findings | alerts | in an attack phase | outside (benign noise) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| `{r[0]}` | {r[1]} | {r[2] or ''} | {r[3]} | {r[4]:,} | {r[5]} | {r[6]} |")
    covered: dict[str, set[str]] = defaultdict(set)
    for scenario, phases in con.execute("SELECT scenario, phases FROM fp").fetchall():
        covered[scenario].update(p for p in phases or [] if not p.startswith("false_positive"))
    every = con.execute("SELECT scenario, list(phase ORDER BY start_utc) FROM ph "
                        "WHERE NOT starts_with(phase, 'false_positive') GROUP BY ALL ORDER BY 1").fetchall()
    print("\n| scenario | attack phases with a finding | without |\n|---|---|---|")
    for scenario, phases in every:
        if scenario not in covered and not any(scenario in f for f in files):
            continue
        have = [p for p in phases if p in covered[scenario]]
        miss = [p for p in phases if p not in covered[scenario]]
        print(f"| {scenario} | {', '.join(have)} | {', '.join(miss)} |")
    if not a.workdir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
