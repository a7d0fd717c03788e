"""Probe (not a benchmark): what the Windows mapping and the rest of ingest cost per EVTX record.

    python bench/evtx_mapping_probe.py [--copies 8] [--workdir DIR] [--part sql,floor]

Two questions behind issue 3's unmet target (ingest >= 0.5 x a bare loop of the `evtx` package),
answered on merged copies of evtx-attack-samples (bench/evtx_merge.py, as bench/ingest_evtx.py makes
them), CPU time per record in ONE process, the bare loop measured in the same run:

- `sql`: would the mapping be cheaper as DuckDB SQL over the batch's record JSON (one DuckDB thread)?
  A prototype of that route: the record JSON strings as one Arrow column, System values and the
  EventData object extracted by DuckDB's JSON functions (one list-of-paths extract), the mapped fields
  of every EventMap (sources/windows/mapping.py) by one list-of-paths extract per table, `data` (the
  EventData object minus the mapped fields, values rewritten as the builder writes them) and the derived
  columns (hashes, file names, GUIDs) as SQL, every table's rows out to Arrow. Output fidelity is NOT
  checked (the prototype skips null/boolean/list spellings, duplicate keys, special events): it is a
  lower bound of the route's cost, compared with the current parser (`Evtx().read`).
- `floor`: what would ingest cost if the mapping were free? `ingest(..., workers=1)` with the real parser,
  then with the parser replaced by the bare loop plus its precomputed output (the mapping costs nothing),
  then by the precomputed output alone, and with every event moved to one day (a time-ordered log).
  The projected ratio assumes two workers on two cores: bare us/record / (ingest us/record / 2).

Results and their reading: docs/benchmarks.md, "Ingest: Windows EVTX vs a bare loop" (issue 3).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import duckdb
import evtx
import numpy as np
import pyarrow as pa

from aptwatch.ingest import ingest
from aptwatch.model.records import IngestWarning, TableBatch
from aptwatch.model.schema import event_table
from aptwatch.sources.base import ReadContext, SourceRef
from aptwatch.sources.evtx import Evtx
from aptwatch.sources.windows.mapping import LOGS, EventMap
from aptwatch.store import Store
from ingest_evtx import make_inputs

BATCH = 20_000  # the builder's batch (MAX_BATCH_ROWS)
_GUID = "'^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$'"
_SYSTEM = ['Provider."#attributes".Name', "Channel", "EventID", "Computer", 'TimeCreated."#attributes".SystemTime',
           "EventRecordID", 'Execution."#attributes".ProcessID', 'Security."#attributes".UserID']


def cpu() -> float:
    return time.process_time()


def per_record(seconds: float, n: int) -> str:
    return f"{seconds / n * 1e6:.2f} us/record"


def bare_loop(files: list[str]) -> tuple[int, float]:
    t = cpu()
    n = 0
    for f in files:
        for _ in evtx.PyEvtxParser(f, number_of_threads=1).records_json():
            n += 1
    return n, cpu() - t


def parse(files: list[str]) -> dict[str, list[TableBatch | IngestWarning]]:
    return {os.path.realpath(f): list(Evtx().read(ReadContext(SourceRef(f), "0" * 64, os.path.getsize(f))))
            for f in files}


# --------------------------------------------------------------------------------------
# sql: the mapping as DuckDB SQL
# --------------------------------------------------------------------------------------
def _q(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _maps() -> tuple[pa.Table, dict[str, list[tuple[int, EventMap]]]]:
    """(provider, EventID) -> map id as a table, and the EventMaps of every event table."""
    ids: dict[int, tuple[int, EventMap]] = {}
    keys: list[tuple[str, int, int, str]] = []
    for log in LOGS:
        for eid, em in log.events.items():
            mid = ids.setdefault(id(em), (len(ids), em))[0]
            keys += [(p.lower(), eid, mid, em.table) for p in log.providers]
    tables: dict[str, list[tuple[int, EventMap]]] = {}
    for mid, em in ids.values():
        tables.setdefault(em.table, []).append((mid, em))
    keyt = pa.table({name: [k[i] for k in keys] for i, name in enumerate(("p", "eid", "mid", "tname"))})
    return keyt, tables


def _data_sql() -> str:
    """`data`: the EventData object minus the mapped fields, text values (GUIDs braced and lower-cased),
    plus the System extras (the builder's `_data_json`, without its rarer spellings)."""
    return f"""to_json(map_from_entries(list_transform(
        list_filter(map_entries(ed::MAP(VARCHAR, JSON)), lambda e: NOT list_contains(mapped, e.key)),
        lambda e: {{'key': e.key, 'value': CASE json_type(e.value)
            WHEN 'VARCHAR' THEN (CASE WHEN regexp_full_match(e.value->>'$', {_GUID})
                                 THEN '{{' || lower(e.value->>'$') || '}}' ELSE e.value->>'$' END)
            WHEN 'NULL' THEN '' ELSE e.value->>'$' END}})
        || [{{'key': 'EventRecordID', 'value': s[6]}}, {{'key': 'ExecutionProcessID', 'value': s[7]}},
            {{'key': 'UserID', 'value': s[8]}}]))"""


def _table_sql(tname: str, group: list[tuple[int, EventMap]], parts: set[str]) -> str:
    """One event table's rows of the staged batch: mapped columns ('cols'), `data` ('data') and the
    derived columns ('derived'), plus `raw` and the common columns."""
    t = event_table(tname)
    union: list[str] = []
    for _, em in group:
        union += [f for f in em.fields.values() if f not in union]
    paths = "[" + ",".join(_q('$."' + f + '"') for f in union) + "]"
    whens: dict[str, list[str]] = {}
    for mid, em in group:
        for col, src in em.fields.items():
            whens.setdefault(col, []).append(f"WHEN {mid} THEN v[{union.index(src) + 1}]")
        if em.action:
            whens.setdefault("action", []).append(f"WHEN {mid} THEN {_q(em.action)}")
        for col, val in em.const.items():
            whens.setdefault(col, []).append(f"WHEN {mid} THEN {_q(val)}")
    sel = []
    for col, w in whens.items():
        if not t.has(col):
            continue
        typ = t.column(col).arrow_type
        e = "CASE mid " + " ".join(w) + " END"
        if pa.types.is_integer(typ):
            e = f"TRY_CAST({e} AS {'INTEGER' if typ == pa.int32() else 'BIGINT'})"
        elif pa.types.is_boolean(typ):
            e = f"TRY_CAST({e} AS BOOLEAN)"
        sel.append(f"{e} AS {col}")
    mapped = "CASE mid " + " ".join(
        f"WHEN {mid} THEN [{','.join(_q(s) for s in em.fields.values())}]::VARCHAR[]" for mid, em in group) + " END"
    derived = []
    if "process_path" in whens and t.has("process_name"):
        derived.append("regexp_replace(process_path, '^.*[\\\\/]', '') AS process_name")
    if "path" in whens and t.has("file_name"):
        derived.append("regexp_replace(path, '^.*[\\\\/]', '') AS file_name")
    if "hashes" in whens and t.has("md5"):
        for h, ln in (("MD5", 32), ("SHA1", 40), ("SHA256", 64), ("IMPHASH", 32)):
            derived.append(f"nullif(lower(regexp_extract(hashes, '(?i)(?:^|,)\\s*{h}=([0-9a-f]{{{ln}}})(?:,|$)', 1)),"
                           f" '') AS {h.lower()}")
    for g in ("process_guid", "parent_process_guid", "source_process_guid", "target_process_guid"):
        if g in whens:
            derived.append(f"CASE WHEN regexp_full_match({g}, {_GUID}) THEN '{{' || lower({g}) || '}}' ELSE {g} END"
                           f" AS {g}_c")
    body = f"""SELECT rec AS record, s[1] AS provider, s[2] AS channel, TRY_CAST(s[3] AS INTEGER) AS event_code,
        s[4] AS computer, TRY_CAST(s[5] AS TIMESTAMPTZ) AS time,
        {', '.join(sel) if 'cols' in parts else 'NULL AS x'}, {_data_sql() if 'data' in parts else 'NULL'} AS data,
        j AS raw
        FROM (SELECT rec, s, mid, j, ed, {mapped} AS mapped, json_extract_string(ed, {paths}) AS v
              FROM stage WHERE tname = {_q(tname)})"""
    if derived and "derived" in parts:
        body = f"SELECT *, {', '.join(derived)} FROM ({body})"
    return body


_STAGE = f"""CREATE OR REPLACE TEMP TABLE stage AS
SELECT b.rec, b.s, b.ed, b.j, m.mid, coalesce(m.tname, 'generic') AS tname FROM (
  SELECT rec, j, json_extract_string(j, [{','.join(_q('$.Event.System.' + p) for p in _SYSTEM)}]) AS s,
         json_extract(j, '$.Event.EventData') AS ed
  FROM batch) b
LEFT JOIN maps m ON m.p = lower(b.s[1]) AND m.eid = TRY_CAST(b.s[3] AS INTEGER)"""


def joined_strings(values: list[str]) -> pa.Array:
    """A string column from Python str without per-value conversion: one join + encode, byte lengths
    from `len` for ASCII text (O(1) in CPython) and an encode for the rest."""
    lengths = np.fromiter((len(s) if s.isascii() else len(s.encode()) for s in values), np.int64, len(values))
    offsets = np.zeros(len(values) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return pa.LargeStringArray.from_buffers(len(values), pa.py_buffer(offsets),
                                            pa.py_buffer("".join(values).encode()))


def probe_sql(files: list[str]) -> None:
    n, bare = bare_loop(files)
    print(f"records: {n:,}; bare loop (1 thread): {per_record(bare, n)}", flush=True)
    t = cpu()
    rows = sum(b.num_rows for items in parse(files).values() for b in items if isinstance(b, TableBatch))
    print(f"current parser (Evtx().read: msgspec + mapping in Python + Arrow): {per_record(cpu() - t, rows)}")
    t = cpu()
    raws: list[str] = []
    recs: list[int] = []
    for f in files:
        for r in evtx.PyEvtxParser(f, number_of_threads=1).records_json():
            assert r is not None
            recs.append(r["event_record_id"])
            raws.append(r["data"])
    print(f"SQL route, Python part: bare loop keeping JSON + record number: {per_record(cpu() - t, n)}")
    batches = [(raws[i:i + BATCH], recs[i:i + BATCH]) for i in range(0, n, BATCH)]
    t = cpu()
    for b, _ in batches:
        pa.array(b, pa.string())
    print(f"  JSON column by pa.array(list of str): {per_record(cpu() - t, n)}")
    t = cpu()
    cols = [joined_strings(b) for b, _ in batches]
    print(f"  JSON column by one joined buffer + offsets: {per_record(cpu() - t, n)}")
    assert cols[0].to_pylist() == batches[0][0]
    keyt, tables = _maps()
    con = duckdb.connect()
    con.execute("SET threads = 1")
    con.register("maps", keyt)
    variants = {"columns only": {"cols"}, "columns + derived": {"cols", "derived"},
                "columns + derived + data": {"cols", "derived", "data"}, "raw and common columns only": set()}
    for label, parts in variants.items():
        sql = {tn: _table_sql(tn, g, parts) for tn, g in tables.items()}
        t_stage = t_tables = 0.0
        for (_b, r), col in zip(batches, cols, strict=True):
            con.register("batch", pa.table({"rec": pa.array(r, pa.int64()), "j": col}))
            t0 = cpu()
            con.execute(_STAGE)
            t1 = cpu()
            for (tn,) in con.execute("SELECT DISTINCT tname FROM stage").fetchall():
                if tn != "generic":
                    con.sql(sql[tn]).to_arrow_table()
            t_tables += cpu() - t1
            t_stage += t1 - t0
        print(f"  DuckDB, {label}: stage (System values + EventData + map lookup) {per_record(t_stage, n)}, "
              f"per-table queries {per_record(t_tables, n)}", flush=True)
    # the same steps in one query over every record (no per-table query overhead)
    con.register("batch", pa.table({"rec": pa.array(recs, pa.int64()), "j": pa.concat_arrays(cols)}))
    con.execute(_STAGE)
    ml = pa.table({"mid": [mid for g in tables.values() for mid, _ in g],
                   "mapped": [list(em.fields.values()) for g in tables.values() for _, em in g],
                   "patch": ["{" + ",".join(f'"{f}":null' for f in em.fields.values()) + "}"
                             for g in tables.values() for _, em in g]})
    con.register("ml", ml)
    con.execute("CREATE TEMP TABLE st2 AS SELECT stage.*, coalesce(ml.mapped, []) AS mapped, "
                "coalesce(ml.patch, '{}') AS patch FROM stage LEFT JOIN ml USING (mid)")
    one = {
        "`data` by MAP (as above)": f"sum(length({_data_sql()}))",
        "`data` by json_merge_patch (removal only, no rewrites)": "sum(length(json_merge_patch(ed, patch)::VARCHAR))",
        "`data` by json_merge_patch + regexp (numbers as text) + extras": (
            "sum(length(rtrim(regexp_replace(json_merge_patch(ed, patch)::VARCHAR, ':(-?[0-9]+)([,}])', "
            "':\"\\1\"\\2', 'g'), '}') || ',\"EventRecordID\":\"' || s[6] || '\"}'))"),
        "10 fields by one list-of-paths extract": (
            "sum(len(json_extract_string(ed, ['$.Image','$.CommandLine','$.User','$.ProcessId','$.ProcessGuid',"
            "'$.TargetFilename','$.Hashes','$.ParentImage','$.TargetUserName','$.LogonType'])))"),
    }
    for label, expr in one.items():
        t = cpu()
        con.execute(f"SELECT {expr} FROM st2").fetchall()
        print(f"  DuckDB, one query over all records: {label}: {per_record(cpu() - t, n)}", flush=True)
    t = cpu()
    con.sql("SELECT j FROM st2").to_arrow_table()
    print(f"  DuckDB, one query over all records: `raw` out to Arrow: {per_record(cpu() - t, n)}", flush=True)


# --------------------------------------------------------------------------------------
# floor: ingest with a free mapping
# --------------------------------------------------------------------------------------
def _ingest_cpu(files: list[str], work: str) -> tuple[int, float]:
    d = tempfile.mkdtemp(prefix="probe-", dir=work)
    try:
        t = cpu()
        r = ingest(Store.open(os.path.join(d, "store"), create=True), files, workers=1)
        return r.events, cpu() - t
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _one_day(item: TableBatch | IngestWarning) -> TableBatch | IngestWarning:
    if not isinstance(item, TableBatch):
        return item
    t = item.data
    i = t.column_names.index("time")
    day = pa.array([datetime(2024, 3, 1, 12, tzinfo=UTC)] * t.num_rows, t.schema.field(i).type)
    return TableBatch(item.table, t.set_column(i, "time", day))


def probe_floor(files: list[str], work: str) -> None:
    n, bare = bare_loop(files)
    print(f"records: {n:,}; bare loop (1 thread): {per_record(bare, n)}", flush=True)

    def show(label: str) -> None:
        events, c = _ingest_cpu(files, work)
        assert events == n, (events, n)
        print(f"ingest workers=1, {label}: {per_record(c, n)}; projected ratio on 2 cores "
              f"{bare / n / (c / n / 2):.2f}", flush=True)

    show("real parser")
    pre = parse(files)
    real = Evtx.read

    def bare_then_precomputed(self: Evtx, ctx: ReadContext) -> Iterator[TableBatch | IngestWarning]:
        for _ in evtx.PyEvtxParser(ctx.local_path(), number_of_threads=1).records_json():
            pass
        yield from pre[os.path.realpath(ctx.local_path())]

    def precomputed(self: Evtx, ctx: ReadContext) -> Iterator[TableBatch | IngestWarning]:
        yield from pre[os.path.realpath(ctx.local_path())]

    try:
        Evtx.read = bare_then_precomputed
        show("free mapping (bare loop, then the parser's output precomputed)")
        Evtx.read = precomputed
        show("no parse, no mapping (precomputed output only)")
        pre = {k: [_one_day(x) for x in v] for k, v in pre.items()}
        Evtx.read = bare_then_precomputed
        show("free mapping, every event moved to one day (a time-ordered log)")
    finally:
        Evtx.read = real


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--copies", type=int, default=8, help="merged copies of evtx-attack-samples (8,255 records each)")
    ap.add_argument("--workdir", default=None, help="keep the generated inputs here")
    ap.add_argument("--part", default="sql,floor")
    a = ap.parse_args()
    work = a.workdir or tempfile.mkdtemp(prefix="aptwatch-probe-evtx-")
    try:
        files = make_inputs(work, "merged", a.copies)
        parts: Any = a.part.split(",")
        if "sql" in parts:
            print("== sql: the mapping as DuckDB SQL (first 2 copies)")
            probe_sql(files[:2])
        if "floor" in parts:
            print(f"== floor: ingest with a free mapping ({a.copies} copies)")
            probe_floor(files, work)
    finally:
        if not a.workdir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
