"""Zeek logs written as JSON lines (Zeek's JSON writer, any version, and common shippers).

Field spellings seen in the wild, all read (the style is detected from the first records):
- Zeek's own writer: dotted top-level keys, `{"id.orig_h": ...}`;
- Elastic / Logstash pipelines that de-dot field names: `{"id_orig_h": ...}`;
- pipelines that expand dots into objects: `{"id": {"orig_h": ...}}`.
`ts` may be epoch seconds or ISO 8601 (`JSON::TS_ISO8601`); `@timestamp` is used when a shipper
dropped `ts`. A file may hold several log types, told apart by `_path` (Zeek, Corelight) or
`@stream` (shippers); without one, the type comes from the file name (`conn.log`,
`conn.00:00:00-01:00:00.log.gz`, `dns.json`) or from the record's fields.

Work is done in DuckDB: each line is parsed once into the values the mapping needs. `raw` is the
line, which already is the flat record keyed by Zeek's names, so `data` stays NULL (schema
convention). Lines that are not JSON objects become `bad_json` / `not_object` warnings.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from aptwatch.concurrency import prefetch
from aptwatch.model.records import IngestWarning, TableBatch
from aptwatch.sources.base import ReadContext, Source, first_lines
from aptwatch.sources.lines import iter_line_chunks
from aptwatch.sources.netbase import (
    BLANKS,
    AddressContext,
    DuckRun,
    attach_raw,
    bad_json_lines,
    drop_columns,
    endpoint_hosts,
    epoch_time_sql,
    parse_networks,
    sql_str,
)
from aptwatch.sources.zeek_map import (
    JsonAccess,
    column_sql,
    endpoint_sql,
    logmap,
    normalise_path,
    path_from_fields,
    path_from_name,
    signature_of,
)

#: keys that only Zeek logs carry (with `ts`)
_ZEEK_KEYS = frozenset({"id.orig_h", "id_orig_h", "certificate.subject", "certificate_subject"})
#: Zeek connection and file ids: "C" / "F" and base62 (a Linux `uid: 1000` is not one)
_ZEEK_ID = re.compile(r"^[CF][0-9A-Za-z]{8,22}$")
#: dotted field prefixes that shippers nest or de-dot
_NESTED = frozenset({"id", "certificate", "san", "basic_constraints", "times", "remote_location"})


def _flat_keys(obj: dict[str, Any], prefix: str = "") -> Iterator[str]:
    for k, v in obj.items():
        if isinstance(v, dict) and k in _NESTED:
            yield from _flat_keys(v, prefix + k + ".")
        else:
            yield prefix + k


def looks_like_zeek(obj: dict[str, Any], name: str) -> bool:
    """Is this JSON object a Zeek log record (by its keys; the file name helps for key-poor logs)?"""
    if isinstance(obj.get("_path"), str) and ("ts" in obj or "@timestamp" in obj):
        return True
    if "event_type" in obj:  # Suricata EVE
        return False
    hint = path_from_name(name)
    if hint is not None and ("ts" in obj or signature_of(hint) <= set(_flat_keys(obj))):
        return True
    if "ts" not in obj:
        return False
    if set(obj) & _ZEEK_KEYS or (isinstance(obj.get("id"), dict) and "orig_h" in obj["id"]):
        return True
    if any(isinstance(obj.get(k), str) and _ZEEK_ID.match(obj[k]) for k in ("uid", "fuid")):
        return True
    return path_from_fields(_flat_keys(obj)) is not None


def detect_style(samples: Sequence[dict[str, Any]]) -> str:
    """dotted (Zeek), nested (dots expanded to objects) or underscore (de-dotted), by majority."""
    votes: Counter[str] = Counter()
    for s in samples:
        for k, v in s.items():
            if "." in k and k.split(".", 1)[0] in _NESTED:
                votes["dotted"] += 1
            elif isinstance(v, dict) and k in _NESTED:
                votes["nested"] += 1
            elif "_" in k and k.split("_", 1)[0] in _NESTED and k not in ("id",):
                votes["underscore"] += 1
    return votes.most_common(1)[0][0] if votes else "dotted"


def compile_path(path: str, style: str) -> str:
    """SELECT over `seg(record, line)` for records of one Zeek log path."""
    m = logmap(path)
    acc = JsonAccess(style)
    cols, _consumed = column_sql(m, acc)
    orig, resp = endpoint_sql(m, acc)
    time = f"COALESCE({epoch_time_sql(acc.text('ts'))}, {epoch_time_sql(acc.text('@timestamp'))})"
    provider = f"COALESCE({acc.text('_system_name')}, 'zeek')"
    has_ts = f"{acc.text('ts')} IS NOT NULL"
    select = "".join(f"{expr} AS \"{col}\", " for col, expr in cols.items())
    return (f"WITH s AS ({acc.select_from('seg')}) "
            f"SELECT record, {time} AS time, {has_ts} AS has_ts, {sql_str(path)} AS channel, "
            f"{provider} AS provider, {select}{orig} AS __orig, {resp} AS __resp FROM s")


class ZeekJson(Source):
    name = "zeek_json"
    product = "zeek"
    description = "Zeek logs as JSON lines (Zeek writer, Corelight, Elastic/Logstash de-dotted or nested keys)."
    priority = 30

    def sniff(self, head: bytes, name: str) -> bool:
        lines = first_lines(head.lstrip(b"\xef\xbb\xbf"), 3)
        if not lines:
            return False
        try:
            objs = [orjson.loads(ln) for ln in lines]
        except orjson.JSONDecodeError:
            return False
        return all(isinstance(o, dict) for o in objs) and all(looks_like_zeek(o, name) for o in objs)

    def read(self, ctx: ReadContext) -> Iterator[TableBatch | IngestWarning]:
        networks = AddressContext(parse_networks(ctx.settings.internal_networks))
        plan: _Plan | None = None
        with DuckRun() as run, ctx.open() as stream:
            for chunk in prefetch(iter_line_chunks(stream), depth=1):
                yield from chunk.warnings
                if plan is None:
                    plan = _Plan.from_lines(chunk.lines.slice(0, 200).to_pylist(), ctx.ref.name)
                yield from plan.run(run, chunk.lines, chunk.line_numbers, networks)


class _Plan:
    def __init__(self, style: str, default_path: str) -> None:
        self.style = style
        self.default_path = default_path
        self.sql: dict[str, str] = {}

    @classmethod
    def from_lines(cls, lines: Sequence[str | None], name: str) -> _Plan:
        samples: list[dict[str, Any]] = []
        for ln in lines:
            try:
                obj = orjson.loads(ln) if ln else None
            except orjson.JSONDecodeError:
                continue
            if isinstance(obj, dict):
                samples.append(obj)
        style = detect_style(samples)
        default = path_from_name(name)
        if default is None:
            votes = Counter(p for s in samples if (p := path_from_fields(_flat_keys(s))))
            default = votes.most_common(1)[0][0] if votes else "unknown"
        return cls(style, default)

    def run(self, run: DuckRun, lines: pa.Array, numbers: pa.Array,
            networks: AddressContext) -> Iterator[TableBatch | IngestWarning]:
        chunk = pa.table({"record": numbers, "line": lines})
        nonblank = pc.not_equal(pc.utf8_trim(lines, characters=BLANKS), "")
        chunk = chunk.filter(nonblank)
        if not chunk.num_rows:
            return
        head = self._classify(run, chunk)
        ok = pc.fill_null(head.column("ok"), False)
        if (pc.sum(ok).as_py() or 0) != chunk.num_rows:
            yield from bad_json_lines(chunk.filter(pc.invert(ok)))
            chunk = chunk.filter(ok)
            head = head.filter(ok)
        if not chunk.num_rows:
            return
        paths = head.column("pth")
        distinct = pc.unique(paths).to_pylist()
        for raw_path in distinct:
            path = normalise_path(raw_path) if raw_path is not None else self.default_path
            sel = pc.is_null(paths) if raw_path is None else pc.fill_null(pc.equal(paths, raw_path), False)
            part = chunk if len(distinct) == 1 else chunk.filter(sel)
            yield from self._run_path(run, path, part, networks)

    def _classify(self, run: DuckRun, chunk: pa.Table) -> pa.Table:
        """ok (a JSON object) and the `_path` / `@stream` of each line; the fast query fails on broken
        JSON, then the guarded one runs."""
        extract = "json_extract_string(line, ['$._path', '$.\"@stream\"'])"
        try:
            return run.query(f"SELECT starts_with(ltrim(line), '{{') AS ok, "
                             f"COALESCE({extract}[1], {extract}[2]) AS pth FROM chunk", chunk=chunk)
        except (duckdb.Error, UnicodeDecodeError):
            # nested CASEs: DuckDB evaluates both sides of AND, and json_type raises on broken JSON
            valid = "CASE WHEN json_valid(line) THEN json_type(line) = 'OBJECT' ELSE false END"
            return run.query(f"SELECT {valid} AS ok, CASE WHEN json_valid(line) THEN "
                             f"COALESCE({extract}[1], {extract}[2]) END AS pth FROM chunk", chunk=chunk)

    def _run_path(self, run: DuckRun, path: str, part: pa.Table,
                  networks: AddressContext) -> Iterator[TableBatch | IngestWarning]:
        sql = self.sql.get(path)
        if sql is None:
            sql = self.sql[path] = compile_path(path, self.style)
        out = attach_raw(run.query(sql, seg=part), part)
        no_time = pc.and_(pc.is_null(out.column("time")), out.column("has_ts"))
        missing = pc.sum(no_time).as_py() or 0
        if missing:
            first = out.column("record").filter(no_time)[0].as_py()
            yield IngestWarning("bad_time", f"{missing} record(s) have a `ts` that is not a time", first)
        hosts = endpoint_hosts(out.column("__orig"), out.column("__resp"), networks)
        out = drop_columns(out, ("has_ts", "__orig", "__resp")).append_column("host", hosts)
        yield TableBatch(logmap(path).table, out)
