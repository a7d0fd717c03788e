"""The baseline hunter: SigmaHQ rules compiled by pySigma-backend-sqlite, run on SQLite over flattened EVTX.

This is the approach of today's popular Python Sigma hunter (Zircolite): every EVTX record
is flattened to one row of a single `logs` table (System fields and EventData / UserData
fields by their names, text columns `COLLATE NOCASE`), each rule becomes one SQL query
through the sysmon / Windows log source mapping (category -> Sysmon EventID and channel,
service -> channel), and every query scans the table. Used by bench/sigma_evtx.py (speed)
and bench/sigma_crosscheck.py (what matches); not part of aptwatch.
"""

from __future__ import annotations

import functools
import re
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import evtx
import orjson
from sigma.backends.sqlite import sqliteBackend
from sigma.collection import SigmaCollection
from sigma.pipelines.common import windows_logsource_mapping
from sigma.processing.conditions import LogsourceCondition
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import AddConditionTransformation
from sigma.rule import SigmaRule

SYSMON = "Microsoft-Windows-Sysmon/Operational"
#: the Sysmon events of each generic category (as pySigma-pipeline-sysmon maps them)
SYSMON_EVENTS: dict[str, dict[str, Any]] = {
    "process_creation": {"EventID": 1}, "file_change": {"EventID": 2}, "network_connection": {"EventID": 3},
    "sysmon_status": {"EventID": [4, 16]}, "process_termination": {"EventID": 5}, "driver_load": {"EventID": 6},
    "image_load": {"EventID": 7}, "create_remote_thread": {"EventID": 8}, "raw_access_thread": {"EventID": 9},
    "process_access": {"EventID": 10}, "file_event": {"EventID": 11},
    "registry_add": {"EventID": 12, "EventType": "CreateKey"},
    "registry_delete": {"EventID": 12, "EventType": ["DeleteKey", "DeleteValue"]},
    "registry_set": {"EventID": 13}, "registry_rename": {"EventID": 14}, "registry_event": {"EventID": [12, 13, 14]},
    "create_stream_hash": {"EventID": 15}, "pipe_created": {"EventID": [17, 18]},
    "wmi_event": {"EventID": [19, 20, 21]}, "dns_query": {"EventID": 22}, "file_delete": {"EventID": [23, 26]},
    "clipboard_capture": {"EventID": 24}, "process_tampering": {"EventID": 25},
    "file_block_executable": {"EventID": 27}, "file_block_shredding": {"EventID": 28},
    "file_executable_detected": {"EventID": 29}, "sysmon_error": {"EventID": 255},
}
#: (rule id, error) of queries that failed at run time (diagnostics)
FAILURES: list[tuple[str, str]] = []
POWERSHELL = {"ps_module": 4103, "ps_script": 4104, "ps_classic_start": 400, "ps_classic_provider_start": 600,
              "ps_classic_script": 800}


def pipeline() -> ProcessingPipeline:
    items: list[ProcessingItem] = []
    for cat, cond in SYSMON_EVENTS.items():
        items.append(ProcessingItem(transformation=AddConditionTransformation({"Channel": SYSMON, **cond}),
                                    rule_conditions=[LogsourceCondition(category=cat, product="windows")]))
    for cat, eid in POWERSHELL.items():
        chans = windows_logsource_mapping["powershell-classic" if eid in (400, 600, 800) else "powershell"]
        items.append(ProcessingItem(transformation=AddConditionTransformation({"Channel": chans, "EventID": eid}),
                                    rule_conditions=[LogsourceCondition(category=cat, product="windows")]))
    for service, chans in windows_logsource_mapping.items():
        items.append(ProcessingItem(transformation=AddConditionTransformation({"Channel": chans}),
                                    rule_conditions=[LogsourceCondition(product="windows", service=service)]))
    return ProcessingPipeline(name="baseline windows", priority=20, items=items)


def windows_rules(rule_dirs: Iterable[Path]) -> list[SigmaRule]:
    coll = SigmaCollection.load_ruleset([str(d) for d in rule_dirs], collect_errors=True)
    return [r for r in coll.rules if isinstance(r, SigmaRule) and r.logsource.product == "windows" and not r.errors]


def compile_queries(rules: list[SigmaRule]) -> tuple[list[tuple[str, str]], int]:
    """(rule id, SQL) per rule that converts; and how many did not."""
    backend = sqliteBackend(pipeline(), collect_errors=True, table="logs")
    out: list[tuple[str, str]] = []
    failed = 0
    for r in rules:
        try:
            qs = backend.convert_rule(r)
        except Exception:  # the baseline skips what it cannot convert, as the hunter does
            failed += 1
            continue
        if not qs:
            failed += 1
        out.extend((str(r.id), q) for q in qs)
    return out, failed


def _flat(prefix: str, obj: Any, out: dict[str, Any]) -> None:
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == "#attributes":
                for ak, av in v.items():
                    out[f"{prefix}_{ak}" if prefix else ak] = av
            elif k == "#text":
                out[prefix] = v
            else:
                _flat(k, v, out)
    elif isinstance(obj, list):
        out[prefix] = " ".join(str(x) for x in obj)
    elif prefix:
        out[prefix] = obj


def flatten_records(paths: Iterable[Path]) -> Iterator[dict[str, Any]]:
    """One flat dict per EVTX record (Zircolite's flattening: leaf names, attributes as Tag_Attr)."""
    for p in paths:
        parser = evtx.PyEvtxParser(str(p))
        for rec in parser.records_json():
            try:
                ev = orjson.loads(rec["data"]).get("Event", {})
            except orjson.JSONDecodeError:
                continue
            row: dict[str, Any] = {"__source": str(p), "__record": rec["event_record_id"]}
            system = ev.get("System", {})
            _flat("", system, row)
            row.pop("Provider_Guid", None)
            data = ev.get("EventData") or {}
            if isinstance(data, dict):
                _flat("", data.get("Data", data) if isinstance(data.get("Data"), dict) else data, row)
            ud = ev.get("UserData")
            if isinstance(ud, dict):
                _flat("", ud, row)
            yield row


@functools.lru_cache(maxsize=4096)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _regexp(pattern: str, value: Any) -> bool:
    """SQLite's REGEXP operator, as the hunter registers it (Python's re, searched)."""
    if value is None:
        return False
    try:
        return _compiled(pattern).search(str(value)) is not None
    except re.error:
        return False


def connect() -> sqlite3.Connection:
    con = sqlite3.connect(":memory:")
    con.create_function("regexp", 2, _regexp, deterministic=True)
    return con


def load_sqlite(rows: Iterable[dict[str, Any]], con: sqlite3.Connection) -> int:
    """Create `logs` with every key as a TEXT COLLATE NOCASE column and insert the rows."""
    rows = list(rows)
    cols: dict[str, int] = {}  # SQLite column names ignore case: SourceProcessGuid == SourceProcessGUID
    for r in rows:
        for k in r:
            cols.setdefault(k.lower(), len(cols))
    names: list[str] = [""] * len(cols)
    for r in rows:
        for k in r:
            if not names[cols[k.lower()]]:
                names[cols[k.lower()]] = k
    ddl = ", ".join(f'"{c}" TEXT COLLATE NOCASE' for c in names)
    con.execute(f"CREATE TABLE logs ({ddl})")
    ph = ", ".join("?" for _ in names)

    def values(r: dict[str, Any]) -> list[str | None]:
        out: list[str | None] = [None] * len(names)
        for k, v in r.items():
            if v is not None:
                out[cols[k.lower()]] = str(v)
        return out

    con.executemany(f"INSERT INTO logs VALUES ({ph})", (values(r) for r in rows))
    con.commit()
    return len(rows)


def run_queries(con: sqlite3.Connection, queries: list[tuple[str, str]]) -> tuple[list[tuple[str, str, int]], int]:
    """Run every query; (rule id, source, record) per match, and how many queries failed."""
    cols = {row[1].lower() for row in con.execute("PRAGMA table_info(logs)")}
    out: list[tuple[str, str, int]] = []
    failed = 0
    for rid, q in queries:
        sql = q.replace("SELECT * FROM logs", 'SELECT "__source", "__record" FROM logs', 1)
        try:
            out.extend((rid, s, int(r)) for s, r in con.execute(sql))
        except sqlite3.OperationalError as e:
            if "no such column" not in str(e):
                failed += 1
                FAILURES.append((rid, str(e)[:200]))
                continue
            # a field no event has: the hunter adds it as an empty column and runs the rule
            missing = str(e).split("no such column:")[-1].strip().strip('"')
            if missing.lower() not in cols:
                con.execute(f'ALTER TABLE logs ADD COLUMN "{missing}" TEXT COLLATE NOCASE')
                cols.add(missing.lower())
                return_rows, f2 = run_queries(con, [(rid, q)])
                out.extend(return_rows)
                failed += f2
            else:
                failed += 1
    return out, failed
