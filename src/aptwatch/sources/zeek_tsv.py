"""Zeek logs in the ASCII (TSV) writer's format: `#separator`, `#fields` / `#types` headers.

Work happens in the engine: `sources.lines` cuts the file into lines, DuckDB splits each data
line at the separator and converts the fields (Zeek TSV is a CSV dialect without quoting), so a
conn.log streams at the rate of the engine. What the parser handles:

- header blocks anywhere in the file (`#fields` may change mid-file, as when logs of several
  Zeek runs or several log types are concatenated), `#close` lines, a leading BOM or blank;
- `#unset_field` (`-`) -> NULL, `#empty_field` (`(empty)`) -> '' for strings and [] for sets and
  vectors, `#set_separator` for container fields; escapes (`\\x09`) are kept as Zeek wrote them;
- extra columns (Stratosphere `label`, `detailedlabel`, any site-specific field) land in `data`
  under their own names; they are never used by detection;
- a line with the wrong number of fields (a truncated last line, a hand-edited file) is stored in
  the `generic` table with its raw text and a `bad_columns` warning, so the row is not lost and
  the count of stored rows equals the count of data lines; a data line before any `#fields`
  header is stored the same way (`no_header`).

Columns: see `zeek_map` for the table each log path goes to. `raw` is the original line; `data`
holds the fields no column took, typed as Zeek's JSON writer would write them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from aptwatch.concurrency import prefetch
from aptwatch.model.records import IngestWarning, TableBatch
from aptwatch.sources.base import ReadContext, Source, first_lines
from aptwatch.sources.lines import iter_line_chunks
from aptwatch.sources.netbase import (
    AddressContext,
    DuckRun,
    attach_raw,
    drop_columns,
    endpoint_hosts,
    epoch_time_sql,
    parse_networks,
    sql_str,
)
from aptwatch.sources.zeek_map import (
    column_sql,
    data_value_sql,
    endpoint_sql,
    logmap,
    path_from_fields,
    path_from_name,
)

_CONTAINER = ("set[", "vector[", "table[")
_ESCAPE = re.compile(r"\\x([0-9a-fA-F]{2})")


def _unescape(value: str) -> str:
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), value)


class _TsvAccess:
    """Fields of a TSV header block as SQL over `f` (the line split at the separator)."""

    def __init__(self, fields: list[str], types: list[str], unset: str, empty: str, set_sep: str) -> None:
        self.pos: dict[str, int] = {}
        for i, name in enumerate(fields):
            self.pos.setdefault(name, i + 1)
        self.types = {name: (types[i] if i < len(types) else "string") for name, i in
                      ((n, p - 1) for n, p in self.pos.items())}
        self.unset = sql_str(unset)
        self.empty = sql_str(empty)
        self.set_sep = sql_str(set_sep)

    def has(self, name: str) -> bool:
        return name in self.pos

    def raw(self, name: str) -> str:
        return f"f[{self.pos[name]}]"

    def text(self, name: str) -> str:
        r = self.raw(name)
        return f"(CASE {r} WHEN {self.unset} THEN NULL WHEN {self.empty} THEN '' ELSE {r} END)"

    def number(self, name: str, sql_type: str) -> str:
        return f"TRY_CAST({self.raw(name)} AS {sql_type})"

    def first(self, name: str) -> str:
        if self.types[name].lower().startswith(_CONTAINER):
            return f"({self.items(name)})[1]"
        return self.text(name)

    def items(self, name: str) -> str:
        r = self.raw(name)
        if self.types[name].lower().startswith(_CONTAINER):
            return (f"(CASE {r} WHEN {self.unset} THEN NULL WHEN {self.empty} THEN CAST([] AS VARCHAR[]) "
                    f"ELSE string_split({r}, {self.set_sep}) END)")
        t = self.text(name)
        return f"(CASE WHEN {t} IS NULL THEN NULL ELSE [{t}] END)"


@dataclass
class _Block:
    """One header block: separators, path, fields and types, and the SQL compiled for them."""

    sep: str = "\t"
    set_sep: str = ","
    empty: str = "(empty)"
    unset: str = "-"
    path: str | None = None
    opened: datetime | None = None
    fields: list[str] | None = None
    types: list[str] = field(default_factory=list)
    sql: str | None = None
    table: str = "generic"

    def header(self, line: str) -> None:
        """Apply one `#...` header line."""
        text = line.strip(" \t\ufeff")
        if text.startswith("#separator"):
            value = _unescape(text[len("#separator"):].strip(" "))
            self.sep = value or "\t"
            return
        parts = text[1:].split(self.sep)
        key, values = parts[0], parts[1:]
        if key == "set_separator" and values:
            self.set_sep = values[0]
        elif key == "empty_field" and values:
            self.empty = values[0]
        elif key == "unset_field" and values:
            self.unset = values[0]
        elif key == "path" and values:
            self.path = values[0].strip().lower() or None
        elif key == "open" and values:
            self.opened = _parse_open(values[0])
        elif key == "fields":
            self.fields = [v.strip() for v in values]
            self.types = []
            self.sql = None
        elif key == "types":
            self.types = [v.strip() for v in values]
            self.sql = None


def _parse_open(value: str) -> datetime | None:
    try:
        return datetime.strptime(value.strip(), "%Y-%m-%d-%H-%M-%S").replace(tzinfo=UTC)
    except ValueError:
        return None


def compile_block(block: _Block, name: str) -> str:
    """The SELECT turning data lines of this block (table `seg(record, line)`) into table columns."""
    assert block.fields is not None
    fields = block.fields
    types = block.types if len(block.types) == len(fields) else ["string"] * len(fields)
    path = block.path or path_from_name(name) or path_from_fields(fields) or "unknown"
    block.path = path
    m = logmap(path)
    block.table = m.table
    acc = _TsvAccess(fields, types, block.unset, block.empty, block.set_sep)
    cols, consumed = column_sql(m, acc)
    orig, resp = endpoint_sql(m, acc)
    if acc.has("ts"):
        time = epoch_time_sql(acc.raw("ts"))
    elif block.opened is not None:
        time = f"CAST('{block.opened.isoformat()}' AS TIMESTAMPTZ)"
    else:
        time = "CAST(NULL AS TIMESTAMPTZ)"
    consumed.add("ts")
    members = [f"{sql_str(f)}, {data_value_sql(types[i], f'f[{i + 1}]', block.unset, block.empty, block.set_sep)}"
               for i, f in enumerate(fields) if f not in consumed and acc.pos.get(f) == i + 1]
    data = f"CAST(json_object({', '.join(members)}) AS VARCHAR)" if members else "CAST(NULL AS VARCHAR)"
    select = [f"{expr} AS \"{col}\"" for col, expr in cols.items()]
    bad_time = (f"(time IS NULL AND f[{acc.pos['ts']}] <> {sql_str(block.unset)})" if acc.has("ts") else "false")
    return (f"WITH s AS (SELECT record, string_split(line, {sql_str(block.sep)}) AS f FROM seg), "
            f"t AS (SELECT record, f, len(f) = {len(fields)} AS ok, {time} AS time FROM s) "
            f"SELECT record, ok, {bad_time} AS bad_time, time, {sql_str(path)} AS channel, 'zeek' AS provider, "
            + "".join(s + ", " for s in select)
            + f"{orig} AS __orig, {resp} AS __resp, {data} AS data FROM t")


class ZeekTsv(Source):
    name = "zeek_tsv"
    product = "zeek"
    description = "Zeek logs, ASCII/TSV writer (#fields headers; any log path; gzip/archives in place)."
    priority = 20

    def sniff(self, head: bytes, name: str) -> bool:
        lines = first_lines(head.lstrip(b"\xef\xbb\xbf"), 2)
        return bool(lines) and (lines[0].startswith(b"#separator") or lines[0].startswith(b"#fields\t"))

    def read(self, ctx: ReadContext) -> Iterator[TableBatch | IngestWarning]:
        networks = AddressContext(parse_networks(ctx.settings.internal_networks))
        block = _Block()
        with DuckRun() as run, ctx.open() as stream:
            for chunk in prefetch(iter_line_chunks(stream), depth=1):
                yield from chunk.warnings
                yield from _read_chunk(run, block, chunk.lines, chunk.first_line, ctx.ref.name, networks)


def _read_chunk(run: DuckRun, block: _Block, lines: pa.Array, first_line: int, name: str,
                networks: AddressContext) -> Iterator[TableBatch | IngestWarning]:
    is_header = pc.fill_null(pc.starts_with(lines, "#"), False).to_numpy(zero_copy_only=False)
    headers = np.flatnonzero(is_header)
    start = 0
    for h in [*headers.tolist(), len(lines)]:
        if h > start:
            yield from _read_run(run, block, lines.slice(start, h - start), first_line + start, name, networks)
        if h < len(lines):
            block.header(lines[h].as_py())
        start = h + 1


def _read_run(run: DuckRun, block: _Block, lines: pa.Array, first_line: int, name: str,
              networks: AddressContext) -> Iterator[TableBatch | IngestWarning]:
    records = pa.array(np.arange(first_line, first_line + len(lines), dtype=np.int64))
    if block.fields is None:
        yield from _headerless(block, lines, records)
        return
    if block.sql is None:
        block.sql = compile_block(block, name)
    seg = pa.table({"record": records, "line": lines})
    nonblank = pc.not_equal(lines, "")
    if not pc.all(nonblank).as_py():
        seg = seg.filter(nonblank)
    out = attach_raw(run.query(block.sql, seg=seg), seg)
    ok = pc.fill_null(out.column("ok"), False)
    n_ok = pc.sum(ok).as_py() or 0
    if n_ok != out.num_rows:
        bad = out.filter(pc.invert(ok))
        yield from _bad_rows(block, bad, "bad_columns", f"expected {len(block.fields)} fields")
        out = out.filter(ok)
    if not out.num_rows:
        return
    bad_time = pc.sum(out.column("bad_time")).as_py() or 0
    if bad_time:
        first = out.column("record").filter(out.column("bad_time"))[0].as_py()
        yield IngestWarning("bad_time", f"{bad_time} record(s) have a `ts` that is not a time", first)
    hosts = endpoint_hosts(out.column("__orig"), out.column("__resp"), networks)
    out = drop_columns(out, ("ok", "bad_time", "__orig", "__resp")).append_column("host", hosts)
    yield TableBatch(block.table, out)


def _headerless(block: _Block, lines: pa.Array, records: pa.Array) -> Iterator[TableBatch | IngestWarning]:
    """Lines before any `#fields` header: a stray header with leading blanks is applied, blank lines
    skipped, anything else stored in `generic` with a `no_header` warning."""
    keep_lines: list[str] = []
    keep_records: list[int] = []
    for line, rec in zip(lines.to_pylist(), records.to_pylist(), strict=True):
        stripped = (line or "").strip(" \t\ufeff")
        if not stripped:
            continue
        if stripped.startswith("#"):
            block.header(stripped)
            continue
        keep_lines.append(line)
        keep_records.append(rec)
    if keep_lines:
        t = pa.table({"record": pa.array(keep_records, pa.int64()), "raw": pa.array(keep_lines, pa.string())})
        yield from _bad_rows(block, t, "no_header", "data line before any #fields header")


def _bad_rows(block: _Block, bad: pa.Table, reason: str, detail: str) -> Iterator[TableBatch | IngestWarning]:
    raws = bad.column("raw").to_pylist()
    recs = bad.column("record").to_pylist()
    sep = block.sep
    for rec, raw in zip(recs, raws, strict=True):
        yield IngestWarning(reason, f"{detail}, got {len(raw.split(sep))}: {IngestWarning.excerpt(raw)}", rec)
    times = [_first_field_time(raw, sep) for raw in raws]
    yield TableBatch("generic", pa.table({
        "record": pa.array(recs, pa.int64()),
        "time": pa.array(times, pa.timestamp("us", tz="UTC")),
        "channel": pa.array([block.path] * len(recs), pa.string()),
        "provider": pa.array(["zeek"] * len(recs), pa.string()),
        "raw": pa.array(raws, pa.string()),
    }))


def _first_field_time(raw: str, sep: str) -> datetime | None:
    try:
        v = float(raw.split(sep, 1)[0])
    except ValueError:
        return None
    if not (0 <= v < 1e11):
        return None
    return datetime.fromtimestamp(v, UTC)
