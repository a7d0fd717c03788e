"""Wazuh alerts JSON (`/var/ossec/logs/alerts/alerts.json`) and Wazuh indexer exports -> `ids_alert`.

One alert per line: `{"timestamp": ..., "rule": {"level", "description", "id", "groups", "mitre":
{"id", "tactic", "technique"}}, "agent": {"id", "name", "ip"}, "manager", "decoder", "data":
{"srcip", "dstuser", ...}, "full_log", "location", ...}`. Lines exported from the Wazuh indexer
(elasticdump, as in the AIT Alert Data Set) wrap the alert in `{"_index", "_id", "_source": {...}}`;
both shapes are read. Sniffed from content: JSON objects whose `rule` has a `level`.

Work happens in the engine, as for generic JSON lines: DuckDB validates each line once,
extracts the mapped fields with one `json_extract_string` call, and flattens the fields no
column took into `data` with `json_tree` (dotted source names, e.g. `rule.firedtimes`,
`data.srcuser`, `agent.id`; arrays stay whole). `raw` keeps the line as written. The column
map is `FIELDS` below and docs/sources.md ("Alerts").
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from aptwatch.model.hosts import host_keys
from aptwatch.model.killchain import tactic_id
from aptwatch.model.records import IngestWarning, TableBatch
from aptwatch.sources.base import ReadContext, Source, first_lines
from aptwatch.sources.jsonl import time_sql
from aptwatch.sources.lines import iter_line_chunks

#: column -> source fields tried in order (first non-empty wins). Arrays become ','-joined text. When Wazuh
#: forwards a Suricata EVE alert (`data.alert.signature_id` present), the columns describe the Suricata
#: alert (sensor `suricata`, its signature, id, severity and metadata ATT&CK ids) and the Wazuh rule
#: that carried it stays in `event_code`, `rule_groups` and `data` (`rule.*`).
FIELDS: dict[str, tuple[str, ...]] = {
    "time": ("timestamp", "@timestamp"),
    "host": ("agent.name", "predecoder.hostname", "hostname"),
    "host_ip": ("agent.ip",),
    "channel": ("location",),
    "provider": ("predecoder.program_name", "decoder.name"),
    "event_code": ("rule.id",),
    "suricata_sid": ("data.alert.signature_id",),
    "signature": ("data.alert.signature", "rule.description"),
    "signature_id": ("data.alert.signature_id", "rule.id"),
    "category": ("data.alert.category",),
    "severity": ("data.alert.severity", "rule.level"),
    "alert_action": ("data.alert.action", "data.action"),
    "src_ip": ("data.srcip", "data.src_ip", "data.win.eventdata.ipAddress"),
    "src_port": ("data.srcport", "data.src_port", "data.win.eventdata.ipPort"),
    "dst_ip": ("data.dstip", "data.dest_ip"),
    "dst_port": ("data.dstport", "data.dest_port"),
    "flow_id": ("data.flow_id",),
    "protocol": ("data.proto",),
    "rule_groups": ("rule.groups",),
    "mitre_tactics": ("data.alert.metadata.mitre_tactic_id", "rule.mitre.tactic"),
    "mitre_techniques": ("data.alert.metadata.mitre_technique_id", "rule.mitre.id"),
    "message": ("full_log",),
    "user": ("data.srcuser", "data.dstuser", "data.win.eventdata.targetUserName", "data.user"),
    "process_path": ("data.win.eventdata.image", "data.audit.exe"),
    "file_path": ("syscheck.path",),
}
#: extracted only to decide the sensor; not a column
_HELPERS = ("suricata_sid",)
#: Wazuh's own rule fields a forwarded Suricata alert shadows: in `data` then, since no column took them
SHADOWED = frozenset({"rule.description", "rule.level", "rule.mitre.tactic", "rule.mitre.id"})
#: fields kept out of `data` because a column holds them (every candidate, so `data` never repeats a column)
MAPPED = frozenset(f for fields in FIELDS.values() for f in fields) - SHADOWED
_INT_COLUMNS = {"event_code": "INTEGER", "src_port": "INTEGER", "dst_port": "INTEGER"}
_NO_VALUE = ("", "-", "[]", "(null)")


def _unwrap(obj: Any) -> Any:
    if isinstance(obj, dict) and isinstance(obj.get("_source"), dict):
        return obj["_source"]
    return obj


def is_wazuh_alert(obj: Any) -> bool:
    """A Wazuh alert (or an indexer document holding one): a `rule` object with a `level`."""
    obj = _unwrap(obj)
    return isinstance(obj, dict) and isinstance(obj.get("rule"), dict) and "level" in obj["rule"]


def _path(key: str, prefix: str) -> str:
    return prefix + "." + ".".join('"' + part.replace('"', '\\"') + '"' for part in key.split("."))


def _sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


class WazuhAlerts(Source):
    name = "wazuh_alerts"
    description = "Wazuh alerts JSON (alerts.json, indexer/elasticdump exports) -> ids_alert."
    priority = 30

    def sniff(self, head: bytes, name: str) -> bool:
        lines = first_lines(head.lstrip(b"\xef\xbb\xbf"), 5)
        if not lines:
            return False
        try:
            return all(is_wazuh_alert(orjson.loads(ln)) for ln in lines)
        except orjson.JSONDecodeError:
            return False

    def read(self, ctx: ReadContext) -> Iterator[TableBatch | IngestWarning]:
        con = duckdb.connect(config={"threads": 2})
        con.execute("SET TimeZone='UTC'")
        plan: _Plan | None = None
        try:
            with ctx.open() as stream:
                for chunk in iter_line_chunks(stream):
                    yield from chunk.warnings
                    if plan is None:
                        plan = _Plan.from_lines(chunk.lines.slice(0, 50).to_pylist())
                    yield from plan.run(con, chunk.lines, chunk.line_numbers)
        finally:
            con.close()


class _Plan:
    """The SQL for one file: where the alert sits in a line (top level or `_source`) and what to extract."""

    def __init__(self, wrapped: bool) -> None:
        self.prefix = "$._source" if wrapped else "$"
        self.doc = "json_extract(line, '$._source')" if wrapped else "line"
        paths: list[str] = []
        self.slots: dict[str, list[int]] = {}
        for col, fields in FIELDS.items():
            self.slots[col] = []
            for f in fields:
                paths.append(_path(f, self.prefix))
                self.slots[col].append(len(paths))
        self.extract = "json_extract_string(line, [" + ", ".join(_sql_str(p) for p in paths) + "])"
        self.finish = ", ".join(self._column_sql(col) for col in FIELDS)
        excluded = ", ".join(_sql_str(f) for f in sorted(MAPPED))
        shadowed = ", ".join(_sql_str(f) for f in sorted(SHADOWED))
        forwarded = f"json_exists({self.doc}, '$.data.alert.signature_id')"
        # json_tree walks the alert; leaves (and whole arrays) outside arrays become dotted keys.
        self.flatten = (
            "SELECT i, json_group_object(k, v) AS data FROM ("
            "SELECT i, regexp_replace(substr(t.fullkey, 3), '\"', '', 'g') AS k, t.value AS v, fwd "
            f"FROM (SELECT i, line, {forwarded} AS fwd FROM good) AS g, json_tree({self.doc}) AS t "
            "WHERE t.type <> 'OBJECT' AND NOT contains(t.fullkey, '[') AND t.fullkey <> '$') "
            f"WHERE k NOT IN ({excluded}) AND (fwd OR k NOT IN ({shadowed})) GROUP BY i")

    def _column_sql(self, col: str) -> str:
        expr = "coalesce(" + ", ".join(f"c[{i}]" for i in self.slots[col]) + ")"
        if col == "time":
            return f"CAST({time_sql(expr)} AS TIMESTAMPTZ) AS time"
        if col in _INT_COLUMNS:
            return f"TRY_CAST({expr} AS {_INT_COLUMNS[col]}) AS {col}"
        if col == "protocol":
            return f"lower({expr}) AS protocol"
        return f"{expr} AS {col}"

    @staticmethod
    def clean_sql(values: str) -> str:
        """Every extracted value once: arrays (rule.groups, rule.mitre.*) -> 'a,b'; '-' and '' (Wazuh's "no
        value") -> NULL. One list comprehension keeps the per-column expressions small for the planner."""
        none = ", ".join(_sql_str(x) for x in _NO_VALUE)
        return (f"[CASE WHEN x IN ({none}) THEN NULL WHEN starts_with(x, '[') AND json_valid(x) THEN "
                f"nullif(array_to_string(CAST(json_extract_string(x, '$[*]') AS VARCHAR[]), ','), '') "
                f"ELSE x END FOR x IN {values}]")

    @classmethod
    def from_lines(cls, lines: Sequence[str | None]) -> _Plan:
        wrapped = 0
        plain = 0
        for ln in lines:
            try:
                obj = orjson.loads(ln) if ln else None
            except orjson.JSONDecodeError:
                continue
            if isinstance(obj, dict):
                if isinstance(obj.get("_source"), dict):
                    wrapped += 1
                else:
                    plain += 1
        return cls(wrapped > plain)

    def run(self, con: duckdb.DuckDBPyConnection, lines: pa.Array,
            numbers: pa.Array) -> Iterator[TableBatch | IngestWarning]:
        chunk = pa.table({"line": lines, "record": numbers})
        con.register("chunk", chunk)
        try:
            valid = con.sql(
                "SELECT CASE WHEN line <> '' AND json_valid(line) THEN json_type(line) = 'OBJECT' ELSE false END "
                "AS ok, trim(line) <> '' AS nonblank FROM chunk").to_arrow_table()
        finally:
            con.unregister("chunk")
        ok = pc.fill_null(valid.column("ok"), False)
        if (pc.sum(ok).as_py() or 0) != chunk.num_rows:
            bad = pc.and_(pc.invert(ok), pc.fill_null(valid.column("nonblank"), False))
            for rec, line in zip(chunk.column("record").filter(bad).to_pylist(),
                                 chunk.column("line").filter(bad).to_pylist(), strict=True):
                yield IngestWarning(_bad_reason(line), IngestWarning.excerpt(line), rec)
            chunk = chunk.filter(ok)
        if chunk.num_rows == 0:
            return
        good = chunk.append_column("i", pa.array(range(chunk.num_rows), pa.int64()))
        con.register("good", good)
        try:
            x = con.sql(f"WITH e AS (SELECT i, {self.extract} AS v, json_exists({self.doc}, '$.rule.level') AS "
                        f"is_alert FROM good), f AS (SELECT i, is_alert, {self.clean_sql('v')} AS c FROM e) "
                        f"SELECT i, {self.finish}, is_alert FROM f ORDER BY i").to_arrow_table()
            flat = con.sql(f"SELECT g.i, f.data FROM good g LEFT JOIN ({self.flatten}) f USING (i) "
                           "ORDER BY g.i").to_arrow_table()
        finally:
            con.unregister("good")
        forwarded = pc.is_valid(x.column("suricata_sid"))
        cols: dict[str, pa.Array | pa.ChunkedArray] = {
            "record": good.column("record"), "raw": good.column("line"), "data": flat.column("data"),
            "sensor": pc.if_else(forwarded, "suricata", "wazuh")}
        for col in FIELDS:
            if col not in _HELPERS:
                cols[col] = x.column(col)
        cols["host"] = host_keys(x.column("host"))
        cols["mitre_tactics"] = _tactic_ids(x.column("mitre_tactics"))
        yield TableBatch("ids_alert", pa.table(cols))
        not_alerts = good.num_rows - (pc.sum(pc.fill_null(x.column("is_alert"), False)).as_py() or 0)
        if not_alerts:
            yield IngestWarning("not_alert", f"{not_alerts} JSON object(s) in this chunk have no rule.level "
                                             "(stored, but not a Wazuh alert)")
        missing = x.column("time").null_count
        if missing:
            yield IngestWarning("bad_time", f"{missing} alert(s) in this chunk have no parseable timestamp")


def _tactic_ids(names: pa.ChunkedArray | pa.Array) -> pa.Array:
    """'Credential Access,Lateral Movement' -> 'TA0006,TA0008' (once per distinct value; unknown names dropped,
    they stay in `raw`)."""
    if isinstance(names, pa.ChunkedArray):
        names = names.combine_chunks()
    encoded = pc.dictionary_encode(names)
    mapped: list[str | None] = []
    for v in encoded.dictionary.to_pylist():
        ids = [t for t in (tactic_id(n) for n in v.split(",")) if t] if v else []
        mapped.append(",".join(dict.fromkeys(ids)) or None)
    return pa.array(mapped, pa.string()).take(encoded.indices)


def _bad_reason(line: str) -> str:
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        return "bad_json"
    return "bad_json" if isinstance(obj, dict) else "not_object"
