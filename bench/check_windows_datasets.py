"""Check: every Windows dataset in ../shared/data is stored without loss.

    python bench/check_windows_datasets.py [--only evtx|otrf]

1. evtx-attack-samples: ingest the folder; for every .evtx, events stored == records the `evtx`
   package reads from the same file (a byte-identical copy is stored once: counted apart);
   per-channel and per-table counts.
2. OTRF Security-Datasets (otrf-atomic/windows, otrf-compound): ingest both folders (archives
   are read in place); for every source ingest stored, events == records in the content
   (non-blank JSON lines, or the elements of a JSON array), and every difference is explained
   by a stored warning of that source. Files no source reads (pcaps, Zeek logs, __MACOSX
   resource forks) are listed with the reason.
Exit status 1 when a check fails. Prints a Markdown summary (pasted into docs/sources.md).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("APTWATCH_SHARED_DATA", REPO.parent / "shared" / "data"))
sys.path.insert(0, str(REPO / "src"))

from aptwatch.ingest import discover, ingest  # noqa: E402
from aptwatch.sources.base import SourceRef  # noqa: E402
from aptwatch.store import Store  # noqa: E402


def query(store: Store, sql: str) -> list[dict[str, Any]]:
    with store.session(with_state=True) as s:
        return s.sql(sql).to_pylist()


def count_records(ref: SourceRef) -> int:
    """Records in a JSON export, counted independently of aptwatch's readers."""
    with ref.open() as f:
        data = f.read()
    text = data.decode("utf-8", "replace").lstrip("\ufeff")
    s = text.lstrip()
    if s.startswith("["):
        try:
            return len(json.loads(s))
        except json.JSONDecodeError:
            return -1
    return sum(1 for line in text.splitlines() if line.strip())


def check_evtx(work: Path) -> tuple[bool, list[str]]:
    import evtx

    root = SHARED / "evtx-attack-samples"
    store = Store.open(work / "evtx-store", create=True)
    report = ingest(store, [root])
    files = sorted(root.rglob("*.evtx"))
    bare: dict[str, int] = {}
    for f in files:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            bare[str(f)] = sum(1 for _ in evtx.PyEvtxParser(str(f), number_of_threads=1).records_json())
    stored = {r["path"]: r["events"] for r in query(store, "SELECT path, events FROM sources")}
    sha = {}
    import hashlib

    for f in files:
        sha[str(f)] = hashlib.sha256(f.read_bytes()).hexdigest()
    ok = True
    lines: list[str] = []
    dup_records = 0
    for f in files:
        p = str(f)
        if p in stored:
            if stored[p] != bare[p]:
                ok = False
                lines.append(f"MISMATCH {p}: stored {stored[p]}, evtx reads {bare[p]}")
            continue
        # not stored: must be a byte-identical copy of a file that is (ingest stores content once)
        twins = [str(g) for g in files if sha[str(g)] == sha[p] and str(g) in stored]
        if not twins or stored[twins[0]] != bare[p]:
            ok = False
            lines.append(f"MISSING {p}")
        dup_records += bare[p]
    total_bare = sum(bare.values())
    total_stored = sum(stored.values())
    per_channel = query(store, "SELECT channel, count(*) AS n FROM events GROUP BY 1 ORDER BY 2 DESC")
    per_table = query(store, "SELECT table_name, count(*) AS n FROM events GROUP BY 1 ORDER BY 2 DESC")
    n_warn = query(store, "SELECT count(*) AS n FROM warnings WHERE reason NOT IN ('unknown_format')")[0]["n"]
    lines += [
        "### evtx-attack-samples",
        "",
        f"{len(files)} .evtx files; the `evtx` package reads {total_bare:,} records; aptwatch stored "
        f"{total_stored:,} events + {dup_records:,} records of byte-identical copies stored once "
        f"(= {total_stored + dup_records:,}); lost: {total_bare - total_stored - dup_records}; "
        f"warnings: {n_warn}. Per-file equality: {'all files' if ok else 'FAILED'} "
        f"(ingest {report.seconds:.1f} s).",
        "",
        "| channel | events |", "|---|---|",
        *[f"| {r['channel'] or '(none: an ETW trace saved as .evtx)'} | {r['n']:,} |" for r in per_channel],
        "",
        "| table | events |", "|---|---|",
        *[f"| {r['table_name']} | {r['n']:,} |" for r in per_table],
        "",
    ]
    ok = ok and total_bare == total_stored + dup_records
    return ok, lines


def check_otrf(work: Path) -> tuple[bool, list[str]]:
    roots = [SHARED / "otrf-atomic" / "windows", SHARED / "otrf-compound"]
    store = Store.open(work / "otrf-store", create=True)
    report = ingest(store, roots)
    sources = query(store, "SELECT path, format, events, warnings FROM sources ORDER BY path")
    warns = query(store, "SELECT source, reason, count(*) AS n FROM warnings GROUP BY ALL")
    by_source: dict[str, Counter[str]] = {}
    for w in warns:
        by_source.setdefault(w["source"], Counter())[w["reason"]] += w["n"]
    refs = {r.display: r for r in discover(roots) if isinstance(r, SourceRef)}
    ok = True
    lines: list[str] = []
    formats: Counter[str] = Counter()
    events_by_format: Counter[str] = Counter()
    equal = explained = 0
    for s in sources:
        expected = count_records(refs[s["path"]])
        formats[s["format"]] += 1
        events_by_format[s["format"]] += s["events"]
        if expected == s["events"]:
            equal += 1
            continue
        why = by_source.get(s["path"], Counter())
        if why:
            explained += 1
            lines.append(f"- `{s['path'].split('/data/', 1)[-1]}`: {expected:,} records, {s['events']:,} stored; "
                         f"warnings: {dict(why)}")
        else:
            ok = False
            lines.append(f"- UNEXPLAINED `{s['path']}`: {expected} records, {s['events']} stored")
    skipped = Counter()
    skipped_ex: dict[str, str] = {}
    for w in query(store, "SELECT source, reason FROM warnings WHERE reason IN ('unknown_format', 'empty', "
                          "'unreadable')"):
        kind = ("__MACOSX resource fork" if "__MACOSX" in w["source"] else Path(w["source"]).suffix or "no suffix")
        skipped[f"{w['reason']}: {kind}"] += 1
        skipped_ex.setdefault(f"{w['reason']}: {kind}", w["source"].split("/data/", 1)[-1])
    per_table = query(store, "SELECT table_name, count(*) AS n FROM events GROUP BY 1 ORDER BY 2 DESC")
    reasons = query(store, "SELECT reason, count(*) AS n, count(DISTINCT source) AS s FROM warnings "
                           "WHERE reason NOT IN ('unknown_format', 'empty') GROUP BY 1 ORDER BY 2 DESC")
    generic_json = [s["path"].split("/data/", 1)[-1] for s in sources if s["format"] == "jsonl"]
    head = [
        "### OTRF Security-Datasets (otrf-atomic/windows, otrf-compound)",
        "",
        f"{len(sources)} sources stored ({report.skipped} byte-identical copies skipped), "
        f"{sum(events_by_format.values()):,} events, ingest {report.seconds:.0f} s. Stored events == records "
        f"in the file for {equal} of {len(sources)} sources; {explained} differ with warnings explaining why"
        f"{'' if ok else ', SOME UNEXPLAINED'}.",
        "",
        "| format | sources | events |", "|---|---|---|",
        *[f"| {f} | {n} | {events_by_format[f]:,} |" for f, n in formats.most_common()],
        "",
        "| table | events |", "|---|---|",
        *[f"| {r['table_name']} | {r['n']:,} |" for r in per_table],
        "",
        "Warnings (no record lost): " + ("; ".join(f"{r['reason']} {r['n']} in {r['s']} source(s)" for r in reasons)
                                         or "none") + ".",
        "",
        "Read by the generic `jsonl` source (not Windows events): " + ", ".join(f"`{g}`" for g in generic_json)
        + ".",
        "",
        "Not read (no Windows JSON inside): "
        + "; ".join(f"{n} × {k} (e.g. `{skipped_ex[k]}`)" for k, n in skipped.most_common()) + ".",
        "",
    ]
    if lines:
        head += ["Sources where stored events differ from records in the file:", "", *lines, ""]
    return ok, head


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--only", choices=("evtx", "otrf"))
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="aptwatch-check-"))
    ok = True
    out: list[str] = []
    try:
        if a.only in (None, "evtx"):
            good, lines = check_evtx(work)
            ok &= good
            out += lines
        if a.only in (None, "otrf"):
            good, lines = check_otrf(work)
            ok &= good
            out += lines
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("\n".join(out))
    print("OK" if ok else "FAILED", file=sys.stderr)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
