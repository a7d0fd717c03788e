"""The `pair_days` aggregate shared by the beaconing and slow-exfiltration analytics.

Flows from internal sources to external destinations are folded, once per ingest run, into one
row per (kind, source, destination, UTC day) holding the sorted connection start times, the
bytes sent per connection, byte and duration sums, ports and two evidence references. Kinds:
`ip` (network table: Zeek conn, Sysmon 3, Suricata flow, nfdump/Argus) and `name` (TLS SNI and
HTTP Host, so a beacon that hops addresses behind one name is still one series). Scoring then
reads these rows for the analysis window instead of re-reading raw flows.

The same fold learns `ip_names` baselines (address -> names it answered for, from DNS answers,
TLS SNI and HTTP Host), used for allowlists and to name destinations in findings.

Rows change when new events are folded (`updated_at`); each consumer keeps a watermark and
scores only the pairs whose rows changed since its last run.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from aptwatch.detect.analytics.common import (
    NOT_EXTERNAL,
    Incremental,
    Options,
    install_macros,
    internal_cidrs,
    internal_ip_sql,
    lit,
    meta_time,
    pending,
    reset_statements,
)
from aptwatch.detect.base import DetectContext
from aptwatch.model.finding import Evidence

NAME = "pair_days"
TABLES = ("network", "tls", "http", "dns")
#: pair_days rows older than this many days before the newest day are dropped
DEFAULT_RETAIN_DAYS = 35
#: new flow rows folded per chunk: bounds the fold's memory whatever the backlog (option `pairs.chunk_rows`)
DEFAULT_CHUNK_ROWS = 1_000_000


@dataclass(frozen=True)
class FoldResult:
    ingests: int
    events: int
    pairs: int
    updated_at: datetime | None
    chunks: int = 0


@dataclass(frozen=True)
class Chunk:
    """A part of a fold that can be aggregated alone: whole UTC days [lo, hi), optionally only sources in
    [src_lo, src_hi). A `pair_days` key (kind, src, dst, day) lies in exactly one chunk, so folding chunk by
    chunk gives the same rows as folding everything at once."""

    lo: str
    hi: str
    src_lo: str | None = None
    src_hi: str | None = None

    def where(self) -> str:
        cond = [f"time >= TIMESTAMPTZ {lit(self.lo + ' 00:00:00+00')}",
                f"time < TIMESTAMPTZ {lit(self.hi + ' 00:00:00+00')}"]
        if self.src_lo is not None:
            cond.append(f"src_ip >= {lit(self.src_lo)}")
        if self.src_hi is not None:
            cond.append(f"src_ip < {lit(self.src_hi)}")
        return " AND ".join(cond)

    def day_where(self) -> str:
        """The chunk's days over `pair_days` (whose rows are appended roughly in day order, so the
        table's min/max zone maps skip the rest)."""
        return f"day >= TIMESTAMP {lit(self.lo)} AND day < TIMESTAMP {lit(self.hi)}"


@dataclass(frozen=True)
class Plan:
    """How the pending ingests are folded: chunks of at most ~`chunk_rows` new rows, each committed to the
    state database before the next is read (flat memory over any backlog). A plan of several chunks is stored
    (`baselines` row `pair_days/__plan__`) with its progress in the transaction of each chunk, so a run
    killed midway resumes it exactly (string ranges and day bounds, no engine hash) instead of re-folding
    committed chunks."""

    ingests: tuple[str, ...]
    chunks: tuple[Chunk, ...]
    multi: bool
    events: int
    rebuild: bool = False
    done: int = 0

    def to_json(self, done: int) -> str:
        return orjson.dumps({"ingests": list(self.ingests), "multi": self.multi, "events": self.events,
                             "rebuild": self.rebuild, "done": done,
                             "chunks": [[c.lo, c.hi, c.src_lo, c.src_hi] for c in self.chunks]}).decode()

    @staticmethod
    def from_json(text: str) -> Plan:
        d = orjson.loads(text)
        return Plan(tuple(d["ingests"]), tuple(Chunk(*c) for c in d["chunks"]), bool(d["multi"]), int(d["events"]),
                    bool(d["rebuild"]), int(d["done"]))


def fold(ctx: DetectContext) -> FoldResult:
    """Fold not-yet-folded flows into `pair_days` (and `ip_names`); idempotent per ingest run.

    Options are read as `pairs.<name>` or `analytics.<name>` (several analytics share the fold).
    With `rebuild`, the aggregate is rebuilt once per detection run, whichever analytic asks first.
    A plan left by a run that was killed midway is finished first."""
    opts = Options(ctx, "pairs")
    rebuild = opts.get("rebuild", False)
    if rebuild:
        done = ctx.writer.read_state("SELECT value FROM baselines WHERE analytic = ? AND key = '__rebuilt__'", [NAME])
        if done.num_rows and done.column(0)[0].as_py() == ctx.run_id:
            rebuild = False
    results: list[FoldResult] = []
    stored = None if rebuild else ctx.writer.read_state(
        "SELECT value FROM baselines WHERE analytic = ? AND key = '__plan__'", [NAME])
    if stored is not None and stored.num_rows:
        results.append(_run_plan(ctx, opts, Plan.from_json(stored.column(0)[0].as_py())))
    inc = pending(ctx, NAME, TABLES, rebuild=rebuild)
    if not inc.empty:
        results.append(_run_plan(ctx, opts, _new_plan(ctx, inc, opts)))
    if not results:
        return FoldResult(0, 0, 0, None)
    return FoldResult(sum(r.ingests for r in results), sum(r.events for r in results),
                      sum(r.pairs for r in results), results[-1].updated_at, sum(r.chunks for r in results))


def _new_plan(ctx: DetectContext, inc: Incremental, opts: Options) -> Plan:
    """Chunks of consecutive UTC days holding <= `chunk_rows` new flow rows; a larger day is split by
    source address ranges (quantiles of the day's sources)."""
    s = ctx.session
    tables = set(s.event_tables())
    new = inc.where()
    limit = max(100, int(opts.get("chunk_rows", DEFAULT_CHUNK_ROWS)))
    flow = [t for t in ("network", "tls", "http") if t in tables]
    events = s.sql(" UNION ALL ".join(
        f"SELECT count(*) AS n FROM {t} WHERE {new}" for t in TABLES if t in tables)).column(0)
    n_events = sum(v.as_py() or 0 for v in events)
    multi = "network" in tables and (s.sql(
        f"SELECT count(DISTINCT format) FROM network WHERE {new}").column(0)[0].as_py() or 0) > 1
    days: list[tuple[str, int]] = []
    if flow:
        days = [(r["day"], int(r["n"])) for r in s.sql(f"""
            SELECT strftime(date_trunc('day', time), '%Y-%m-%d') AS day, count(*) AS n
            FROM ({' UNION ALL '.join(f'SELECT time FROM {t} WHERE {new}' for t in flow)})
            WHERE time IS NOT NULL GROUP BY 1 ORDER BY 1""").to_pylist()]
    chunks: list[Chunk] = []
    run: list[tuple[str, int]] = []

    def close() -> None:
        if run:
            chunks.append(Chunk(run[0][0], _next_day(run[-1][0])))
            run.clear()

    for day, n in days:
        if n > limit:
            close()
            parts = -(-n // limit)
            bounds = s.sql(f"""
                SELECT quantile_disc(src_ip, {[j / parts for j in range(1, parts)]}) AS q
                FROM ({' UNION ALL '.join(f'SELECT src_ip, time FROM {t} WHERE {new}' for t in flow)})
                WHERE {Chunk(day, _next_day(day)).where()} AND src_ip IS NOT NULL""").column(0)[0].as_py() or []
            edges: list[str | None] = [None, *sorted(set(bounds)), None]
            for lo, hi in itertools.pairwise(edges):
                chunks.append(Chunk(day, _next_day(day), lo, hi))
            continue
        if run and sum(x for _, x in run) + n > limit:
            close()
        run.append((day, n))
    close()
    return Plan(inc.ingest_ids, tuple(chunks), multi, n_events, inc.rebuild)


def _next_day(day: str) -> str:
    return (date.fromisoformat(day) + timedelta(days=1)).isoformat()


def _run_plan(ctx: DetectContext, opts: Options, plan: Plan) -> FoldResult:
    """Fold the plan's remaining chunks, one transaction each; the last one also learns `ip_names`, applies
    retention, marks the ingests as folded and drops the stored plan."""
    inc = Incremental(NAME, plan.ingests, plan.rebuild)
    session = ctx.session
    install_macros(session)
    cidrs = internal_cidrs(opts)
    now = datetime.now(UTC)
    steps = max(len(plan.chunks), 1)
    n_pairs = 0
    for i in range(plan.done, steps):
        statements: list[tuple[str, Any]] = []
        registered: dict[str, pa.Table] = {}
        if i == 0 and inc.rebuild:
            statements += reset_statements(NAME, state_tables=("pair_days",))
            statements += [("DELETE FROM baselines WHERE analytic = 'ip_names'", None),
                           ("INSERT INTO baselines VALUES (?, '__rebuilt__', ?, ?, 0, 0, ?)",
                            [NAME, now, now, ctx.run_id])]
        if plan.chunks:
            new_rows = _chunk_pairs(ctx, inc, plan.chunks[i], plan.multi, cidrs, now)
            if new_rows.num_rows:
                new_rows, replace = _merge_existing(ctx, new_rows, plan.chunks[i], rebuild=inc.rebuild)
                n_pairs += new_rows.num_rows
                registered["aw_new_pairs"] = new_rows
                if replace:  # rows of keys that already existed were merged above: replace them
                    registered["aw_new_keys"] = new_rows.select(["kind", "src", "dst", "day"])
                    statements.append((f"DELETE FROM pair_days WHERE {plan.chunks[i].day_where()} AND "
                                       "(kind, src, dst, day) IN (SELECT kind, src, dst, day FROM aw_new_keys)", None))
                statements.append(("INSERT INTO pair_days BY NAME SELECT * FROM aw_new_pairs", None))
        if i < steps - 1:
            statements.append(("INSERT OR REPLACE INTO baselines VALUES (?, '__plan__', ?, ?, 0, 0, ?)",
                               [NAME, now, now, plan.to_json(i + 1)]))
        else:
            statements += _final_statements(ctx, inc, opts, registered)
            statements += inc.mark_statements(plan.events)
        ctx.writer.write_state(statements, registered)
        # the chunk's relations are not needed any more: let their memory go before the next chunk
        for name in ("aw_ipclass", "aw_pd_old", "aw_pd_new"):
            session.unregister(name)
    return FoldResult(len(plan.ingests), plan.events, n_pairs, now, steps - plan.done)


def _final_statements(ctx: DetectContext, inc: Incremental, opts: Options,
                      registered: dict[str, pa.Table]) -> list[tuple[str, Any]]:
    statements: list[tuple[str, Any]] = [("DELETE FROM baselines WHERE analytic = ? AND key = '__plan__'", [NAME])]
    names = _ip_names(ctx, inc, set(ctx.session.event_tables()))
    if names is not None and names.num_rows:
        registered["aw_new_names"] = names
        statements.append(("""
            INSERT OR REPLACE INTO baselines
            SELECT 'ip_names', n.ip, least(b.first_seen, n.first_seen), greatest(b.last_seen, n.last_seen),
                   coalesce(b.count, 0) + n.count, NULL,
                   CAST(to_json({'names': list_distinct(list_concat(
                       coalesce(CAST(json_extract(b.value, '$.names') AS VARCHAR[]), []), n.names))[1:16]})
                        AS VARCHAR)
            FROM aw_new_names n LEFT JOIN baselines b ON b.analytic = 'ip_names' AND b.key = n.ip
        """, None))
    retain = opts.get("retain_days", DEFAULT_RETAIN_DAYS)
    statements.append((f"""
        DELETE FROM pair_days WHERE day < (SELECT max(day) FROM pair_days) - INTERVAL {int(retain)} DAY
    """, None))
    return statements


def _chunk_pairs(ctx: DetectContext, inc: Incremental, chunk: Chunk, multi: bool, cidrs: tuple[str, ...],
                 now: datetime) -> pa.Table:
    """The pair_days rows of one chunk's new flows (before merging with stored rows of the same keys)."""
    session = ctx.session
    tables = set(session.event_tables())
    new = f"{inc.where()} AND {chunk.where()}"
    parts = []
    if "network" in tables:
        if multi:
            # The same connection logged by several sensors (Zeek conn and Sysmon 3): one row per
            # (src, sport, dst, dport, second), keeping the byte counts of whichever logged them.
            parts.append(f"""
                SELECT 'ip' AS kind, src_ip AS src, dst_ip AS dst, min(time) AS time, max(bytes_out) AS sz,
                       max(bytes_in) AS bi, max(duration) AS dur, CAST(dst_port AS VARCHAR) AS port,
                       max(CASE WHEN initiated THEN host END) AS host, 'network' AS tbl, arg_min(event_id, time) AS ev
                FROM network WHERE {new} AND src_ip IS NOT NULL AND dst_ip IS NOT NULL AND time IS NOT NULL
                GROUP BY src_ip, src_port, dst_ip, dst_port, CAST(floor(epoch(time)) AS BIGINT)""")
        else:
            parts.append(f"""
                SELECT 'ip' AS kind, src_ip AS src, dst_ip AS dst, time, bytes_out AS sz, bytes_in AS bi,
                       duration AS dur, CAST(dst_port AS VARCHAR) AS port,
                       CASE WHEN initiated THEN host END AS host, 'network' AS tbl, event_id AS ev
                FROM network WHERE {new} AND src_ip IS NOT NULL AND dst_ip IS NOT NULL AND time IS NOT NULL""")
    if "tls" in tables:
        parts.append(f"""
            SELECT 'name' AS kind, src_ip AS src, lower(rtrim(server_name, '.')) AS dst, time,
                   CAST(NULL AS BIGINT) AS sz, CAST(NULL AS BIGINT) AS bi, CAST(NULL AS DOUBLE) AS dur,
                   CAST(dst_port AS VARCHAR) AS port, CAST(NULL AS VARCHAR) AS host, 'tls' AS tbl, event_id AS ev
            FROM tls WHERE {new} AND src_ip IS NOT NULL AND server_name IS NOT NULL AND server_name <> ''
              AND time IS NOT NULL""")
    if "http" in tables:
        parts.append(f"""
            SELECT 'name' AS kind, src_ip AS src, lower(regexp_replace(rtrim(http_host, '.'), ':[0-9]+$', '')) AS dst,
                   time, request_bytes AS sz, response_bytes AS bi, CAST(NULL AS DOUBLE) AS dur,
                   CAST(dst_port AS VARCHAR) AS port, CAST(NULL AS VARCHAR) AS host, 'http' AS tbl, event_id AS ev
            FROM http WHERE {new} AND src_ip IS NOT NULL AND http_host IS NOT NULL AND http_host <> ''
              AND time IS NOT NULL""")
    if not parts:
        return pa.table({})
    union = " UNION ALL BY NAME ".join(f"({p})" for p in parts)
    ip_sources = []
    for t, cols in (("network", ("src_ip", "dst_ip")), ("tls", ("src_ip",)), ("http", ("src_ip",))):
        if t in tables:
            ip_sources += [f"SELECT DISTINCT {c} AS ip FROM {t} WHERE {new}" for c in cols]
    ips = session.sql(f"SELECT ip, {internal_ip_sql('ip', cidrs)} AS internal, "
                      f"{internal_ip_sql('ip', NOT_EXTERNAL)} AS special FROM "
                      f"({' UNION '.join(ip_sources)}) WHERE ip IS NOT NULL")
    session.register("aw_ipclass", ips)
    return session.sql(f"""
        WITH c AS ({union}),
        g AS (
            SELECT c.kind, c.src, c.dst, date_trunc('day', c.time) AS day, max(c.host) AS host,
                   -- one sort per group, times and sizes together (list_sort of an unordered list: an
                   -- ordered aggregate buffers every input row and costs ~30% more time and memory)
                   list_sort(list(struct_pack(t := CAST(floor(epoch(c.time)) AS BIGINT), s := c.sz))) AS ts_sz,
                   count(*) AS conns, sum(c.sz) AS bytes_out, sum(c.bi) AS bytes_in, sum(c.dur) AS duration,
                   list_sort(list_distinct(list(c.port) FILTER (WHERE c.port IS NOT NULL)))[1:16] AS ports,
                   arg_min(c.tbl || '|' || c.ev, c.time) AS e1, min(c.time) AS t1,
                   arg_max(c.tbl || '|' || c.ev, c.time) AS e2, max(c.time) AS t2
            FROM c
            JOIN aw_ipclass s ON s.ip = c.src AND s.internal
            LEFT JOIN aw_ipclass d ON d.ip = c.dst
            WHERE c.kind = 'name' OR NOT (coalesce(d.internal, false) OR coalesce(d.special, false))
            GROUP BY c.kind, c.src, c.dst, date_trunc('day', c.time))
        SELECT kind, src, dst, day, host, list_transform(ts_sz, lambda x: x.t) AS ts,
               list_transform(ts_sz, lambda x: x.s) AS sizes, conns, bytes_out, bytes_in, duration, ports,
               list_distinct([e1 || '|' || epoch_us(t1), e2 || '|' || epoch_us(t2)]) AS events,
               {lit(now.isoformat())}::TIMESTAMPTZ AS updated_at
        FROM g""")


def _merge_existing(ctx: DetectContext, new: pa.Table, chunk: Chunk, *, rebuild: bool) -> tuple[pa.Table, bool]:
    """New rows whose (kind, src, dst, day) already has a row (a day's flows arriving in several ingests)
    are merged with it: times re-sorted with their sizes, sums added. Returns the rows and whether any
    stored row was merged (and must be replaced)."""
    if rebuild or not new.num_rows:
        return new, False
    keys = new.select(["kind", "src", "dst", "day"])
    old = ctx.writer.read_state(f"SELECT p.* FROM pair_days p SEMI JOIN aw_keys USING (kind, src, dst, day) "
                                f"WHERE {chunk.day_where()}", tables={"aw_keys": keys})
    if not old.num_rows:
        return new, False
    s = ctx.session
    s.register("aw_pd_old", old)
    s.register("aw_pd_new", new)
    merged = s.sql("""
        WITH u AS (SELECT * FROM aw_pd_old UNION ALL BY NAME SELECT * FROM aw_pd_new),
        g AS (SELECT kind, src, dst, day, max(host) AS host, flatten(list(ts)) AS ts, flatten(list(sizes)) AS sizes,
                     sum(conns) AS conns, sum(bytes_out) AS bytes_out, sum(bytes_in) AS bytes_in,
                     sum(duration) AS duration, list_sort(list_distinct(flatten(list(ports))))[1:16] AS ports,
                     list_distinct(flatten(list(events)))[1:4] AS events, max(updated_at) AS updated_at
              FROM u GROUP BY kind, src, dst, day)
        SELECT kind, src, dst, day, host, list_sort(ts) AS ts,
               list_transform(list_grade_up(ts), lambda i: sizes[i]) AS sizes, conns, bytes_out, bytes_in, duration,
               ports, events, updated_at
        FROM g
    """)
    return merged.select(new.column_names).cast(new.schema), True


class EventRefs:
    """Resolves 'table|event_id|epoch_us' references to evidence: the source path comes from the ledger (an
    event id starts with the first 16 hex digits of its source's SHA-256), the record from the id's suffix.
    One ledger query for all the references of a run's findings."""

    def __init__(self, ctx: DetectContext, refs: list[str]) -> None:
        shas = sorted({p[2] for p in _parse_refs(refs)})
        self.paths: dict[str, str] = {}
        if shas:
            self.paths = {r["sha16"]: r["path"] for r in ctx.writer.read_state(
                "SELECT left(sha256, 16) AS sha16, any_value(path) AS path FROM sources WHERE left(sha256, 16) IN "
                "(SELECT unnest(?)) GROUP BY 1", [shas]).to_pylist()}

    def evidence(self, refs: list[str], limit: int = 10) -> tuple[Evidence, ...]:
        parsed = sorted(set(_parse_refs(refs)), key=lambda p: p[4])[:limit]
        return tuple(Evidence(self.paths.get(sha, ""), rec, table, datetime.fromtimestamp(us / 1e6, UTC), eid)
                     for table, eid, sha, rec, us in parsed)


def _parse_refs(refs: list[str]) -> list[tuple[str, str, str, int, int]]:
    parsed = []
    for ref in refs:
        parts = ref.split("|")
        if len(parts) != 3 or "-" not in parts[1]:
            continue
        sha16, _, rec = parts[1].rpartition("-")
        try:
            parsed.append((parts[0], parts[1], sha16, int(rec), int(parts[2])))
        except ValueError:
            continue
    return parsed


def _ip_names(ctx: DetectContext, inc: Incremental, tables: set[str]) -> pa.Table | None:
    new = inc.where()
    parts = []
    if "dns" in tables:
        parts.append(f"""
            SELECT lower(rtrim(query, '.')) AS name, regexp_replace(trim(a), '^::ffff:', '') AS ip, time
            FROM (SELECT query, time, unnest(string_split(answers, ';')) AS a FROM dns
                  WHERE {new} AND answers IS NOT NULL AND query IS NOT NULL)""")
    if "tls" in tables:
        parts.append(f"SELECT lower(rtrim(server_name, '.')) AS name, dst_ip AS ip, time FROM tls WHERE {new} "
                     f"AND server_name IS NOT NULL AND server_name <> ''")
    if "http" in tables:
        parts.append(f"SELECT lower(regexp_replace(rtrim(http_host, '.'), ':[0-9]+$', '')) AS name, dst_ip AS ip, "
                     f"time FROM http "
                     f"WHERE {new} AND http_host IS NOT NULL AND http_host <> ''")
    if not parts:
        return None
    # (ip, name) first: the per-address name lists stay short whatever the number of queries
    return ctx.session.sql(f"""
        WITH pn AS (SELECT ip, name, min(time) AS first_seen, max(time) AS last_seen, count(*) AS n
                    FROM ({' UNION ALL '.join(parts)})
                    WHERE ip IS NOT NULL AND name IS NOT NULL AND name <> ''
                      AND (regexp_full_match(ip, '[0-9]{{1,3}}(\\.[0-9]{{1,3}}){{3}}')
                           OR regexp_full_match(ip, '[0-9a-fA-F:]+'))
                    GROUP BY ip, name)
        SELECT ip, list(name ORDER BY n DESC, name)[1:16] AS names, min(first_seen) AS first_seen,
               max(last_seen) AS last_seen, CAST(sum(n) AS BIGINT) AS count
        FROM pn GROUP BY ip
    """)


def watermark(ctx: DetectContext, analytic: str) -> datetime | None:
    """When `analytic` last scored pair_days rows."""
    return meta_time(ctx.writer, analytic, "__watermark__")


def watermark_statement(analytic: str, at: datetime) -> tuple[str, Any]:
    return ("INSERT OR REPLACE INTO baselines VALUES (?, '__watermark__', ?, ?, 0, 0, NULL)", [analytic, at, at])


@dataclass(frozen=True)
class Changed:
    """Size of the window's rows of changed pairs, and the consumer's next watermark."""

    rows: int
    conns: int
    top: datetime | None


def _touched_sql(kinds: tuple[str, ...], parts: int = 1, part: int = 0) -> str:
    kind_list = ", ".join(lit(k) for k in kinds)

    def flt(col: str) -> str:
        return f"AND hash({col}) % {int(parts)} = {int(part)}" if parts > 1 else ""

    return f"""
        WITH latest AS (SELECT max(day) AS d FROM pair_days),
        touched AS (SELECT DISTINCT kind, src, dst FROM pair_days
                    WHERE kind IN ({kind_list}) AND (CAST(? AS TIMESTAMPTZ) IS NULL OR updated_at > ?) {flt('src')})
        SELECT p.* FROM pair_days p SEMI JOIN touched USING (kind, src, dst), latest
        WHERE p.day >= latest.d - to_days(CAST(? AS INTEGER)) {flt('p.src')}"""


def changed_size(ctx: DetectContext, since: datetime | None, window_days: float, *,
                 kinds: tuple[str, ...] = ("ip", "name")) -> Changed:
    """How many window rows (and connections) the pairs with a row updated after `since` hold."""
    t = ctx.writer.read_state(f"SELECT count(*) AS n, coalesce(sum(conns), 0) AS c FROM ({_touched_sql(kinds)})",
                              [since, since, max(0, int(window_days) - 1)]).to_pylist()[0]
    top = ctx.writer.read_state("SELECT max(updated_at) FROM pair_days").column(0)[0].as_py()
    return Changed(int(t["n"]), int(t["c"]), top)


def changed_pairs(ctx: DetectContext, since: datetime | None, window_days: float, *,
                  kinds: tuple[str, ...] = ("ip", "name"), parts: int = 1, part: int = 0) -> pa.Table:
    """pair_days rows of the window for every pair with a row updated after `since`, ordered by (kind, src,
    dst, day); with `parts` > 1 only the pairs whose source hashes to `part` (a consumer scoring in bounded
    parts)."""
    return ctx.writer.read_state(f"{_touched_sql(kinds, parts, part)} ORDER BY p.kind, p.src, p.dst, p.day",
                                 [since, since, max(0, int(window_days) - 1)])


def group_days(days: pa.Table, keys: tuple[str, ...] = ("kind", "src", "dst")) -> pa.Table:
    """Day rows ordered by `keys` and day -> one row per key whose list columns are the day lists
    concatenated in day order and whose other columns become lists of the day values.

    Zero-copy: the day rows' list values are already contiguous in that order, so a key's series is the
    same values under new offsets. (A SQL `flatten(list(ts ORDER BY day))` re-materialises nested lists
    and costs ~8x more; measured in docs/benchmarks.md.)"""
    n = days.num_rows
    t = days.combine_chunks()
    change = np.zeros(n, dtype=bool)
    if n:
        change[0] = True
    for k in keys:
        col = t.column(k).chunk(0) if t.column(k).num_chunks else pa.array([], t.schema.field(k).type)
        if n > 1:
            ne = pc.fill_null(pc.not_equal(col.slice(1), col.slice(0, n - 1)), True)
            change[1:] |= ne.to_numpy(zero_copy_only=False)
    starts = np.flatnonzero(change)
    bounds = pa.array(np.append(starts, n), pa.int32())
    out: dict[str, pa.Array] = {k: t.column(k).take(pa.array(starts)) for k in keys}
    for name in t.column_names:
        if name in keys or name == "day":
            continue
        col = t.column(name).chunk(0) if t.column(name).num_chunks else pa.array([], t.schema.field(name).type)
        if pa.types.is_list(col.type):
            out[name] = pa.ListArray.from_arrays(pc.take(col.offsets, bounds), col.values)
        else:
            out[name] = pa.ListArray.from_arrays(bounds, col)
    return pa.table(out)


def ip_names(ctx: DetectContext) -> pa.Table:
    """ip -> names (VARCHAR[]) learned from DNS answers, SNI and Host headers."""
    return ctx.writer.read_state("""
        SELECT key AS ip, CAST(json_extract(value, '$.names') AS VARCHAR[]) AS names
        FROM baselines WHERE analytic = 'ip_names'
    """)
