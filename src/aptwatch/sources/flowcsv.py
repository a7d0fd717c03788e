"""Flow records as delimited text with a header line (nfdump `-o csv`, Argus `ra` output).

The shared reader of `nfdump_csv` and `argus`: the header names the columns, DuckDB splits each
line at the delimiter (these writers never quote) and the source's `LogMap` maps columns to the
`network` table; columns no mapping took go to `data` as strings keyed by their header names
(Argus / Stratosphere `Label` included: ground truth, never used by detection). Times without a
zone are read in `IngestSettings.local_timezone` (both tools print the local time of the machine
that ran them; default UTC). A line with the wrong number of fields is stored in `generic` with a
`bad_columns` warning, so no record is lost.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from aptwatch.concurrency import prefetch
from aptwatch.model.records import IngestWarning, TableBatch
from aptwatch.sources.base import ReadContext
from aptwatch.sources.lines import iter_line_chunks
from aptwatch.sources.netbase import (
    BLANKS,
    AddressContext,
    DuckRun,
    drop_columns,
    endpoint_hosts,
    json_key,
    parse_networks,
    sql_str,
)
from aptwatch.sources.zeek_map import LogMap, column_sql, endpoint_sql

DELIMITERS = (",", "\t", ";", "|")


class CsvAccess:
    """Header columns as SQL over `f` (the line split at the delimiter); empty text is NULL."""

    def __init__(self, names: list[str]) -> None:
        self.pos: dict[str, int] = {}
        for i, n in enumerate(names):
            self.pos.setdefault(n, i + 1)

    def has(self, name: str) -> bool:
        return name in self.pos

    def text(self, name: str) -> str:
        return f"NULLIF(trim(f[{self.pos[name]}]), '')"

    def number(self, name: str, sql_type: str) -> str:
        return f"TRY_CAST(trim(f[{self.pos[name]}]) AS {sql_type})"

    def items(self, name: str) -> str:
        t = self.text(name)
        return f"(CASE WHEN {t} IS NULL THEN NULL ELSE [{t}] END)"


def local_time_sql(text: str, tz: str) -> str:
    """SQL: a zone-less date-time (ISO, or `YYYY/MM/DD hh:mm:ss[.ffffff]`) in zone `tz`, or epoch seconds."""
    iso = f"replace({text}, '/', '-')"
    num = f"TRY_CAST({text} AS DOUBLE)"
    return (f"(CASE WHEN {num} IS NOT NULL THEN (CASE WHEN isfinite({num}) AND abs({num}) < 1e12 THEN "
            f"make_timestamptz(CAST(round({num} * 1000000) AS BIGINT)) END) "
            f"ELSE timezone({sql_str(tz)}, TRY_CAST({iso} AS TIMESTAMP)) END)")


def split_header(line: str) -> tuple[str, list[str]]:
    """The delimiter giving the most fields, and the header names."""
    delim = max(DELIMITERS, key=lambda d: len(line.split(d)))
    return delim, [n.strip() for n in line.split(delim)]


def compile_flows(m: LogMap, names: list[str], delim: str, time_columns: tuple[str, ...], tz: str) -> str:
    acc = CsvAccess(names)
    cols, consumed = column_sql(m, acc)
    orig, resp = endpoint_sql(m, acc)
    present = [c for c in time_columns if acc.has(c)]
    time = (f"COALESCE({', '.join(local_time_sql(acc.text(c), tz) for c in present)})" if present
            else "CAST(NULL AS TIMESTAMPTZ)")
    consumed.update(present[:1])
    members = [f"({json_key(n)} || to_json({acc.text(n)}))" for n in names
               if n and n not in consumed and acc.pos.get(n) == names.index(n) + 1]
    data = (f"NULLIF('{{' || concat_ws(',', {', '.join(members)}) || '}}', '{{}}')" if members
            else "CAST(NULL AS VARCHAR)")
    select = "".join(f"{expr} AS \"{col}\", " for col, expr in cols.items())
    return (f"WITH s AS (SELECT record, line, string_split(line, {sql_str(delim)}) AS f FROM seg) "
            f"SELECT record, len(f) = {len(names)} AS ok, {time} AS time, {sql_str(m.path)} AS channel, "
            f"{select}{orig} AS __orig, {resp} AS __resp, {data} AS data, line AS raw FROM s")


def read_flows(ctx: ReadContext, m: LogMap, time_columns: tuple[str, ...], provider: str,
               trailer: str | None = None) -> Iterator[TableBatch | IngestWarning]:
    """Read a delimited flow file whose first non-blank line is the header. Lines from `trailer` on
    (nfdump's "Summary" block) are not records and are skipped."""
    networks = AddressContext(parse_networks(ctx.settings.internal_networks))
    sql: str | None = None
    names: list[str] = []
    delim = ","
    done = False
    with DuckRun() as run, ctx.open() as stream:
        for chunk in prefetch(iter_line_chunks(stream), depth=1):
            yield from chunk.warnings
            if done:
                continue
            lines = chunk.lines
            records = chunk.line_numbers
            nonblank = pc.not_equal(pc.utf8_trim(lines, characters=BLANKS), "")
            if trailer is not None:
                stop = np.flatnonzero(pc.fill_null(pc.equal(pc.utf8_trim(lines, characters=BLANKS), trailer), False)
                                      .to_numpy(zero_copy_only=False))
                if len(stop):
                    lines, records, nonblank = lines[: stop[0]], records[: stop[0]], nonblank[: stop[0]]
                    done = True
            seg = pa.table({"record": records, "line": lines}).filter(nonblank)
            if sql is None:
                if not seg.num_rows:
                    continue
                delim, names = split_header(seg.column("line")[0].as_py().lstrip("\ufeff"))
                sql = compile_flows(m, names, delim, time_columns, ctx.settings.local_timezone)
                seg = seg.slice(1)
            if not seg.num_rows:
                continue
            out = run.query(sql, seg=seg)
            ok = pc.fill_null(out.column("ok"), False)
            if (pc.sum(ok).as_py() or 0) != out.num_rows:
                bad = out.filter(pc.invert(ok))
                for rec, raw in zip(bad.column("record").to_pylist(), bad.column("raw").to_pylist(), strict=True):
                    yield IngestWarning("bad_columns", f"expected {len(names)} fields, got {len(raw.split(delim))}: "
                                        + IngestWarning.excerpt(raw), rec)
                yield TableBatch("generic", pa.table({
                    "record": bad.column("record"), "time": bad.column("time"), "channel": bad.column("channel"),
                    "provider": pa.array([provider] * bad.num_rows, pa.string()), "raw": bad.column("raw")}))
                out = out.filter(ok)
            if not out.num_rows:
                continue
            missing = out.column("time").null_count
            if missing:
                yield IngestWarning("bad_time", f"{missing} record(s) without a readable start time")
            hosts = endpoint_hosts(out.column("__orig"), out.column("__resp"), networks)
            out = drop_columns(out, ("ok", "__orig", "__resp"))
            out = out.append_column("host", hosts).append_column(
                "provider", pa.array([provider] * out.num_rows, pa.string()))
            yield TableBatch(m.table, out)
