"""AIT Alert Data Set (AIT-ADS) alert CSV -> `ids_alert`.

The AIT-ADS (Landauer et al., CSET'24; github.com/ait-aecid/alert-data-set) publishes the alerts
Wazuh, Suricata (forwarded by Wazuh) and AMiner raised over the AIT Log Data Set V2 as one CSV per
scenario, written by the data set's `analyze.py`:

    time,name,ip,host,short,time_label,event_label
    1642723347,Wazuh: ClamAV database update,172.19.130.4,mail,W-Sys-Cav,false_positive,-

`time` is epoch seconds (UTC), `name` the alert text as the sensor wrote it ("Wazuh: <rule
description>", "Suricata: Alert - <signature>", "AMiner: <detector message>"), `ip`/`host` the
host the alert is about, `short` the data set's alert-type code whose first letter names the
sensor (W Wazuh, S Suricata, A AMiner). `time_label` and `event_label` are the data set's ground
truth (attack phase by time window, attack step by event): they are stored in `data` under their
own names, with any other column the file has, and never used by detection (a test proves it).

Sniffed from the header (`time,name,ip,host,short` first). Lines are cut by `sources.lines` and
split into fields in the engine with one RE2 expression (RFC 4180 quoting: `"a, b"`, `""`), so a
line with a stray quote or the wrong number of fields becomes a warning, never a shifted row.
"""

from __future__ import annotations

from collections.abc import Iterator

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from aptwatch.model.hosts import host_keys
from aptwatch.model.records import IngestWarning, TableBatch
from aptwatch.sources.base import ReadContext, Source, first_lines
from aptwatch.sources.jsonl import time_sql
from aptwatch.sources.lines import iter_line_chunks
from aptwatch.sources.wazuh import WHITESPACE_SQL

#: the first header columns that identify the format
HEADER = ("time", "name", "ip", "host", "short")
#: column -> ids_alert column (everything else goes to `data` under its own name)
MAPPED = {"time": "time", "name": "signature", "ip": "host_ip", "host": "host", "short": "signature_id"}
SENSOR_BY_CODE = {"W": "wazuh", "S": "suricata", "A": "aminer"}

_FIELD = r'"(?:[^"]|"")*"|[^,"]*'
#: one well-formed CSV line (RE2: linear time, no backtracking)
_LINE_RE = f"^(?:(?:{_FIELD}),)*(?:{_FIELD})$"


def _sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _split_header(line: str) -> list[str]:
    return [c.strip().strip('"').strip() for c in line.lstrip("\ufeff").split(",")]


class AitAdsCsv(Source):
    name = "ait_ads_csv"
    description = "AIT Alert Data Set CSV (Wazuh, Suricata, AMiner alerts with labels) -> ids_alert."
    priority = 20

    def sniff(self, head: bytes, name: str) -> bool:
        lines = first_lines(head.lstrip(b"\xef\xbb\xbf"), 1)
        if not lines:
            return False
        cols = [c.lower() for c in _split_header(lines[0].decode("utf-8", "replace"))]
        return tuple(cols[: len(HEADER)]) == HEADER and len(set(cols)) == len(cols)

    def read(self, ctx: ReadContext) -> Iterator[TableBatch | IngestWarning]:
        con = duckdb.connect(config={"threads": 2})
        con.execute("SET TimeZone='UTC'")
        plan: _Plan | None = None
        try:
            with ctx.open() as stream:
                for chunk in iter_line_chunks(stream):
                    yield from chunk.warnings
                    lines, numbers = chunk.lines, chunk.line_numbers
                    if plan is None:
                        if len(lines) == 0:
                            continue
                        plan = _Plan(_split_header(str(lines[0].as_py() or "")))
                        lines, numbers = lines.slice(1), numbers.slice(1)
                    yield from plan.run(con, lines, numbers)
        finally:
            con.close()


class _Plan:
    """Field positions and the SQL for one header."""

    def __init__(self, header: list[str]) -> None:
        self.header = header
        self.header_line = ",".join(header)
        self.ncols = len(header)
        pos = {c.lower(): i + 1 for i, c in enumerate(header)}

        def f(col: str) -> str:
            return f"f[{pos[col]}]"

        extra = [(c, i + 1) for i, c in enumerate(header) if c.lower() not in MAPPED]
        data = ("json_object(" + ", ".join(f"{_sql_str(c)}, f[{i}]" for c, i in extra) + ")") if extra else "NULL"
        code = f"upper(left(trim({f('short')}), 1))"
        name_sensor = f"lower(trim(split_part({f('name')}, ':', 1)))"
        sensor_case = " ".join(f"WHEN {code} = {_sql_str(k)} THEN {_sql_str(v)}" for k, v in SENSOR_BY_CODE.items())
        known = ", ".join(_sql_str(v) for v in SENSOR_BY_CODE.values())
        self.select = (
            f"record, line AS raw, CAST({time_sql(f('time'))} AS TIMESTAMPTZ) AS time, "
            f"nullif({f('name')}, '') AS signature, nullif({f('ip')}, '') AS host_ip, "
            f"nullif({f('host')}, '') AS host, nullif({f('short')}, '') AS signature_id, "
            f"CASE {sensor_case} WHEN {name_sensor} IN ({known}) THEN {name_sensor} ELSE 'unknown' END AS sensor, "
            f"CAST({data} AS VARCHAR) AS data")

    def run(self, con: duckdb.DuckDBPyConnection, lines: pa.Array,
            numbers: pa.Array) -> Iterator[TableBatch | IngestWarning]:
        chunk = pa.table({"line": lines, "record": numbers})
        con.register("chunk", chunk)
        try:
            parsed = con.sql(f"""
                WITH s AS (
                    SELECT record, line, trim(line, {WHITESPACE_SQL}) = '' AS blank,
                           line = {_sql_str(self.header_line)} AS repeated,
                           contains(line, '"') AS quoted,
                           CASE WHEN contains(line, '"') THEN regexp_full_match(line, {_sql_str(_LINE_RE)})
                                ELSE true END AS wellformed
                    FROM chunk
                ), p AS (
                    -- fast path: a line without quotes splits on commas; quoted lines take the RE2 field split
                    SELECT *, CASE WHEN blank OR NOT wellformed THEN NULL
                                   WHEN NOT quoted THEN string_split(line, ',')
                                   ELSE [CASE WHEN starts_with(x, '"') THEN replace(x[2:-2], '""', '"') ELSE x END
                                         FOR x IN regexp_extract_all(line || ',', {_sql_str('(' + _FIELD + '),')}, 1)]
                              END AS f
                    FROM s
                )
                SELECT *, len(f) AS n FROM p""").to_arrow_table()
        finally:
            con.unregister("chunk")
        good_mask = pc.and_(pc.equal(pc.fill_null(parsed.column("n"), -1), self.ncols),
                            pc.invert(parsed.column("repeated")))
        yield from self._warnings(parsed, good_mask)
        good = parsed.filter(good_mask)
        if good.num_rows == 0:
            return
        con.register("good", good.select(["record", "line", "f"]))
        try:
            x = con.sql(f"SELECT {self.select} FROM good ORDER BY record").to_arrow_table()
        finally:
            con.unregister("good")
        x = x.set_column(x.schema.get_field_index("host"), "host", host_keys(x.column("host")))
        yield TableBatch("ids_alert", x)
        missing = x.column("time").null_count
        if missing:
            yield IngestWarning("bad_time", f"{missing} row(s) in this chunk have no parseable time")

    def _warnings(self, parsed: pa.Table, good_mask: pa.ChunkedArray) -> Iterator[IngestWarning]:
        bad = pc.and_(pc.invert(good_mask), pc.invert(parsed.column("blank")))
        if not pc.any(bad).as_py():
            return
        rows = parsed.filter(bad).select(["record", "line", "wellformed", "repeated", "n"]).to_pylist()
        for r in rows:
            if r["repeated"]:
                yield IngestWarning("repeated_header", "header line repeated inside the file (skipped)", r["record"])
            elif not r["wellformed"]:
                yield IngestWarning("bad_csv", "unbalanced quotes: " + IngestWarning.excerpt(r["line"]), r["record"])
            else:
                yield IngestWarning("bad_columns", f"{r['n']} fields, header has {self.ncols}: "
                                    + IngestWarning.excerpt(r["line"]), r["record"])
