"""Generic JSON lines: one JSON object per line, any shape, into the `generic` table.

The catch-all for JSON logs no specific source claims. Work happens in the engine: lines are
cut by `sources.lines`, DuckDB validates them and extracts time, host and event code from
the keys found by looking at the first records, and the raw line is kept as is. `data` stays
NULL because `raw` already is the record's object (see schema.py).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from aptwatch.concurrency import ordered_map, prefetch
from aptwatch.model.hosts import host_keys
from aptwatch.model.records import IngestWarning, TableBatch
from aptwatch.sources.base import ReadContext, Source, first_lines
from aptwatch.sources.lines import LineChunk, iter_line_chunks

#: keys tried, in order, for the event time (dotted = nested)
TIME_KEYS = ("@timestamp", "timestamp", "time", "ts", "TimeCreated", "TimeGenerated", "EventTime", "event_time",
             "eventTime", "UtcTime", "datetime", "date", "_time", "EventReceivedTime", "event.created",
             "created_at", "start_time", "starttime")
HOST_KEYS = ("host.name", "host.hostname", "hostname", "Hostname", "host", "Computer", "ComputerName",
             "computer_name", "MachineName", "agent.hostname", "agent.name", "device.hostname", "device_name")
CODE_KEYS = ("EventID", "event_id", "EventId", "event.code")
CHANNEL_KEYS = ("Channel", "channel", "event.dataset", "log_type")
#: lines per step of the pipeline (split -> DuckDB extraction -> lake). Each chunk costs three DuckDB
#: queries and their Arrow hand-overs whatever its size: 32 MB chunks ingest 4M records ~5 % faster than
#: 16 MB (user CPU 5.9 -> 5.5 s) for ~90 MB more peak RSS (still a bound, not a function of the input).
CHUNK_BYTES = 32 << 20


def _path(key: str) -> str:
    """JSON path for a dotted key, each part quoted."""
    return "$." + ".".join('"' + part.replace('"', '\\"') + '"' for part in key.split("."))


def _lookup(obj: dict[str, Any], key: str) -> Any:
    cur: Any = obj
    for part in key.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


def pick_key(samples: Sequence[dict[str, Any]], keys: Sequence[str], want: type | tuple[type, ...]) -> str | None:
    """The key holding a value of the wanted type in the most samples (earlier keys win ties)."""
    best, best_hits = None, 0
    for key in keys:
        hits = sum(1 for s in samples if isinstance(v := _lookup(s, key), want) and not isinstance(v, bool))
        if hits > best_hits:
            best, best_hits = key, hits
    return best


def time_sql(text: str) -> str:
    """SQL turning a time string (ISO 8601, or epoch seconds / ms / us as digits) into TIMESTAMPTZ.

    Numbers are read as seconds, milliseconds or microseconds by magnitude (years 1973-2286);
    anything else that is not an ISO time becomes NULL (a `bad_time` warning), never an error.
    """
    num = f"TRY_CAST({text} AS DOUBLE)"
    # A text with ':' is never a number: ISO times skip the (failing) number cast, ~25% of this expression.
    return (
        f"(CASE WHEN contains({text}, ':') THEN TRY_CAST({text} AS TIMESTAMPTZ) "
        f"WHEN {num} >= 1e14 AND {num} < 1e16 THEN make_timestamptz(CAST({num} AS BIGINT)) "
        f"WHEN {num} >= 1e11 AND {num} < 1e13 THEN make_timestamptz(CAST({num} * 1000 AS BIGINT)) "
        f"WHEN {num} >= 1e8 AND {num} < 1e10 THEN make_timestamptz(CAST({num} * 1000000 AS BIGINT)) "
        f"WHEN {num} IS NOT NULL THEN NULL "
        f"ELSE TRY_CAST({text} AS TIMESTAMPTZ) END)"
    )


class JsonLines(Source):
    name = "jsonl"
    description = "JSON lines of any shape (catch-all) -> generic table."
    priority = 90

    def sniff(self, head: bytes, name: str) -> bool:
        lines = first_lines(head.lstrip(b"\xef\xbb\xbf"), 3)
        if not lines:
            return False
        try:
            return all(isinstance(orjson.loads(ln), dict) for ln in lines)
        except orjson.JSONDecodeError:
            return False

    def read(self, ctx: ReadContext) -> Iterator[TableBatch | IngestWarning]:
        con = duckdb.connect(config={"threads": 1})
        con.execute("SET TimeZone='UTC'")
        local = threading.local()

        def cursor() -> duckdb.DuckDBPyConnection:
            # DuckDB connections are not shared between threads; each worker gets its own cursor.
            cur: duckdb.DuckDBPyConnection | None = getattr(local, "cur", None)
            if cur is None:
                cur = local.cur = con.cursor()
                cur.execute("SET TimeZone='UTC'")
            return cur

        with ctx.open() as stream:
            chunks = prefetch(iter_line_chunks(stream, CHUNK_BYTES), depth=2)
            first = next(chunks, None)
            if first is None:
                return
            plan = _Plan.from_lines(first.lines.slice(0, 200).to_pylist())

            def work(chunk: LineChunk) -> list[TableBatch | IngestWarning]:
                return [*chunk.warnings, *plan.run(cursor(), chunk.lines, chunk.line_numbers)]

            # Chunks are processed on two threads (DuckDB and Arrow release the GIL), in order.
            for items in ordered_map(work, itertools.chain([first], chunks), workers=2, depth=3):
                yield from items
        con.close()


class _Plan:
    """Which keys hold time / host / code / channel, and the SQL extracting them."""

    def __init__(self, time_key: str | None, host_key: str | None, code_key: str | None,
                 channel_key: str | None) -> None:
        self.keys = {name: key for name, key in (("time", time_key), ("host", host_key), ("event_code", code_key),
                                                 ("channel", channel_key)) if key}
        paths = ", ".join(_sql_str(_path(k)) for k in self.keys.values())
        # Step 1 parses each line once (one json_extract_string with a list of paths); step 2
        # works on the small extracted strings. A single expression would re-parse the line for
        # every reference DuckDB inlines.
        self.extract = f"json_extract_string(line, [{paths}])" if self.keys else "CAST(NULL AS VARCHAR[])"
        pos = {name: i + 1 for i, name in enumerate(self.keys)}

        def value(name: str) -> str:
            return f"v[{pos[name]}]" if name in pos else "NULL"

        time = time_sql(value("time")) if "time" in pos else "NULL"
        self.finish = (f"CAST({time} AS TIMESTAMPTZ) AS time, CAST({value('host')} AS VARCHAR) AS host, "
                       f"CAST(TRY_CAST({value('event_code')} AS INTEGER) AS INTEGER) AS event_code, "
                       f"CAST({value('channel')} AS VARCHAR) AS channel")
        self.has_time = time_key is not None

    @classmethod
    def from_lines(cls, lines: Sequence[str | None]) -> _Plan:
        samples: list[dict[str, Any]] = []
        for ln in lines:
            try:
                obj = orjson.loads(ln) if ln else None
            except orjson.JSONDecodeError:
                continue
            if isinstance(obj, dict):
                samples.append(obj)
        return cls(
            pick_key(samples, TIME_KEYS, (str, int, float)),
            pick_key(samples, HOST_KEYS, str),
            pick_key(samples, CODE_KEYS, (int, str)),
            pick_key(samples, CHANNEL_KEYS, str),
        )

    def run(self, con: duckdb.DuckDBPyConnection, lines: pa.Array,
            numbers: pa.Array) -> Iterator[TableBatch | IngestWarning]:
        chunk = pa.table({"line": lines, "record": numbers})
        ext = self._extract(con, chunk)
        ok = pc.fill_null(ext.column("ok"), False)
        good = chunk
        if (pc.sum(ok).as_py() or 0) != chunk.num_rows:
            yield from self._warnings(chunk, ok, ext.column("nonblank"))
            good = chunk.filter(ok)
            ext = ext.filter(ok)
        con.register("ext", ext)
        try:
            x = con.sql(f"SELECT {self.finish} FROM ext").to_arrow_table()
        finally:
            con.unregister("ext")
        out = pa.table({"record": good.column("record"), "time": x.column("time"),
                        "host": host_keys(x.column("host")), "event_code": x.column("event_code"),
                        "channel": x.column("channel"), "raw": good.column("line")})
        if out.num_rows:
            yield TableBatch("generic", out)
        if self.has_time:
            missing = out.column("time").null_count
            if missing:
                yield IngestWarning("bad_time", f"{missing} record(s) in this chunk have no parseable time")

    def _extract(self, con: duckdb.DuckDBPyConnection, chunk: pa.Table) -> pa.Table:
        """ok / nonblank / extracted strings per line. Fast path parses each line once; when a line
        is not valid JSON that query fails and the guarded (slower) query runs instead."""
        con.register("chunk", chunk)
        try:
            try:
                if not self.keys:  # nothing extracted, so nothing would validate the lines: guarded path
                    raise duckdb.InvalidInputException("no keys")
                # ltrim copies every line; CASE evaluates it only for the (rare) lines not starting with '{'
                return con.sql(
                    "SELECT line <> '' AND (CASE WHEN starts_with(line, '{') THEN true "
                    "ELSE starts_with(ltrim(line), '{') END) AS ok, line <> '' AS nonblank, "
                    f"{self.extract} AS v FROM chunk").to_arrow_table()
            except (duckdb.Error, UnicodeDecodeError):
                # UnicodeDecodeError: DuckDB's message quoting the bad line can cut a character in two.
                return con.sql(
                    "SELECT CASE WHEN line <> '' AND json_valid(line) THEN json_type(line) = 'OBJECT' ELSE false "
                    f"END AS ok, line <> '' AS nonblank, CASE WHEN json_valid(line) THEN {self.extract} END AS v "
                    "FROM chunk").to_arrow_table()
        finally:
            con.unregister("chunk")

    @staticmethod
    def _warnings(chunk: pa.Table, ok: pa.ChunkedArray, nonblank: pa.ChunkedArray) -> Iterator[IngestWarning]:
        rows = pc.and_(pc.invert(ok), nonblank)
        for rec, line in zip(chunk.column("record").filter(rows).to_pylist(),
                             chunk.column("line").filter(rows).to_pylist(), strict=True):
            reason = "bad_json"
            try:
                if not isinstance(orjson.loads(line), dict):
                    reason = "not_object"
            except orjson.JSONDecodeError:
                pass
            yield IngestWarning(reason, IngestWarning.excerpt(line), rec)


def _sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"
