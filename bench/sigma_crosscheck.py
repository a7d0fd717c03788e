"""Cross-check: aptwatch's Sigma matches against pySigma's sqlite backend on SQLite, same events.

    python bench/sigma_crosscheck.py [--store DIR] [--json FILE]

Both run the pinned SigmaHQ Windows rules over SigmaHQ's regression samples (202 .evtx). A
match is (rule id, file content, record); files with the same content count once on both
sides. Prints the agreement and every difference, per rule, with the event's channel and
EventID, for docs/coverage.md.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import orjson

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.sigma_checks import RULE_DIRS, SIGMA, detect
from bench.sigma_sqlite import compile_queries, connect, flatten_records, load_sqlite, run_queries, windows_rules

Match = tuple[str, str, int]  # (rule id, sha256 of the file, record)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", type=Path)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    files = sorted((SIGMA / "regression_data").rglob("*.evtx"))
    sha = {str(f): hashlib.sha256(f.read_bytes()).hexdigest() for f in files}
    rules = windows_rules(RULE_DIRS)
    windows_ids = {str(r.id) for r in rules}

    store = detect(a.store or Path(tempfile.mkdtemp(prefix="aptwatch-xc-")) / "store", files, builtin=False)
    with store.session(with_state=True) as s:
        stored = {r["path"]: r["sha256"] for r in s.sql("SELECT path, sha256 FROM sources").to_pylist()}
        ours_rows = s.sql("SELECT rule_id, source, record FROM state.sigma_matches").to_pylist()
    ours: set[Match] = {(r["rule_id"], stored[r["source"]], r["record"]) for r in ours_rows
                        if r["rule_id"] in windows_ids}

    queries, not_converted = compile_queries(rules)
    con = connect()
    load_sqlite(flatten_records(files), con)
    theirs_rows, failed = run_queries(con, queries)
    theirs: set[Match] = {(rid, sha[src], rec) for rid, src, rec in theirs_rows}
    info = {(sha[r["__source"]], int(r["__record"])): (r.get("Channel"), r.get("EventID"))
            for r in (dict(zip([c[0] for c in cur.description], row, strict=True))
                      for cur in [con.execute('SELECT "__source", "__record", "Channel", "EventID" FROM logs')]
                      for row in cur.fetchall())}

    both = ours & theirs
    only_ours = ours - theirs
    only_theirs = theirs - ours
    print(f"rules: {len(rules)} Windows rules; baseline converts {len(rules) - not_converted}, "
          f"{failed} baseline queries failed at run time")
    print(f"matches: aptwatch {len(ours)}, baseline {len(theirs)}, both {len(both)}, "
          f"only aptwatch {len(only_ours)}, only baseline {len(only_theirs)}")
    titles = {str(r.id): r.title for r in rules}
    for label, diff in (("only aptwatch", only_ours), ("only baseline", only_theirs)):
        per: dict[str, list[tuple[str, int]]] = defaultdict(list)
        for rid, h, rec in sorted(diff):
            per[rid].append((h, rec))
        print(f"\n{label}: {len(diff)} match(es) of {len(per)} rule(s)")
        for rid, evs in sorted(per.items(), key=lambda kv: -len(kv[1])):
            kinds = sorted({f"{info.get(e, ('?', '?'))[0]}/{info.get(e, ('?', '?'))[1]}" for e in evs})
            print(f"- {rid} {titles.get(rid, '')}: {len(evs)} event(s) [{', '.join(kinds)}]")
    if a.json:
        a.json.write_bytes(orjson.dumps({"only_aptwatch": sorted(only_ours), "only_baseline": sorted(only_theirs)},
                                        option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    main()
