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

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

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


@dataclass(frozen=True)
class FoldResult:
    ingests: int
    events: int
    pairs: int
    updated_at: datetime | None


def fold(ctx: DetectContext) -> FoldResult:
    """Fold not-yet-folded flows into `pair_days` (and `ip_names`); idempotent per ingest run.

    Options are read as `pairs.<name>` or `analytics.<name>` (several analytics share the fold).
    With `rebuild`, the aggregate is rebuilt once per detection run, whichever analytic asks first."""
    opts = Options(ctx, "pairs")
    rebuild = opts.get("rebuild", False)
    if rebuild:
        done = ctx.writer.read_state("SELECT value FROM baselines WHERE analytic = ? AND key = '__rebuilt__'", [NAME])
        if done.num_rows and done.column(0)[0].as_py() == ctx.run_id:
            rebuild = False
    inc = pending(ctx, NAME, TABLES, rebuild=rebuild)
    if inc.empty:
        return FoldResult(0, 0, 0, None)
    session = ctx.session
    install_macros(session)
    tables = set(session.event_tables())
    cidrs = internal_cidrs(opts)
    new = inc.where()

    parts = []
    if "network" in tables:
        multi = session.sql(f"SELECT count(DISTINCT format) AS n FROM network WHERE {new}").column(0)[0].as_py()
        if (multi or 0) > 1:
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

    now = datetime.now(UTC)
    statements: list[tuple[str, Any]] = []
    registered: dict[str, pa.Table] = {}
    pairs = pa.table({})
    if parts:
        union = " UNION ALL BY NAME ".join(f"({p})" for p in parts)
        ip_sources = []
        for t, cols in (("network", ("src_ip", "dst_ip")), ("tls", ("src_ip",)), ("http", ("src_ip",))):
            if t in tables:
                ip_sources += [f"SELECT DISTINCT {c} AS ip FROM {t} WHERE {new}" for c in cols]
        ips = session.sql(f"SELECT ip, {internal_ip_sql('ip', cidrs)} AS internal, "
                          f"{internal_ip_sql('ip', NOT_EXTERNAL)} AS special FROM "
                          f"({' UNION '.join(ip_sources)}) WHERE ip IS NOT NULL")
        session.register("aw_ipclass", ips)
        pairs = session.sql(f"""
            WITH c AS ({union})
            SELECT c.kind, c.src, c.dst, date_trunc('day', c.time) AS day, max(c.host) AS host,
                   -- one sort per group: times and sizes together
                   list(struct_pack(t := CAST(floor(epoch(c.time)) AS BIGINT), s := c.sz) ORDER BY c.time) AS ts_sz,
                   count(*) AS conns, sum(c.sz) AS bytes_out, sum(c.bi) AS bytes_in, sum(c.dur) AS duration,
                   list_distinct(list(c.port) FILTER (WHERE c.port IS NOT NULL))[1:16] AS ports,
                   arg_min(c.tbl || '|' || c.ev, c.time) AS e1, min(c.time) AS t1,
                   arg_max(c.tbl || '|' || c.ev, c.time) AS e2, max(c.time) AS t2
            FROM c
            JOIN aw_ipclass s ON s.ip = c.src AND s.internal
            LEFT JOIN aw_ipclass d ON d.ip = c.dst
            WHERE c.kind = 'name' OR NOT (coalesce(d.internal, false) OR coalesce(d.special, false))
            GROUP BY c.kind, c.src, c.dst, date_trunc('day', c.time)
        """)
        session.register("aw_pairs_raw", pairs)
        pairs = session.sql(f"""
            SELECT kind, src, dst, day, host, list_transform(ts_sz, lambda x: x.t) AS ts,
                   list_transform(ts_sz, lambda x: x.s) AS sizes, conns, bytes_out, bytes_in, duration, ports,
                   list_distinct([e1 || '|' || epoch_us(t1), e2 || '|' || epoch_us(t2)]) AS events,
                   {lit(now.isoformat())}::TIMESTAMPTZ AS updated_at
            FROM aw_pairs_raw""")
        pairs = _merge_existing(ctx, pairs, rebuild=inc.rebuild)
        registered["aw_new_pairs"] = pairs
        registered["aw_new_keys"] = pairs.select(["kind", "src", "dst", "day"])
        # rows of keys that already existed were merged above: replace them, append the rest
        statements.append(("DELETE FROM pair_days WHERE (kind, src, dst, day) IN "
                           "(SELECT kind, src, dst, day FROM aw_new_keys)", None))
        statements.append(("INSERT INTO pair_days BY NAME SELECT * FROM aw_new_pairs", None))
    names = _ip_names(ctx, inc, tables)
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
    events = session.sql(" UNION ALL ".join(
        f"SELECT count(*) AS n FROM {t} WHERE {new}" for t in TABLES if t in tables)).column(0)
    n_events = sum(v.as_py() or 0 for v in events)
    pre = reset_statements(NAME, state_tables=("pair_days",)) if inc.rebuild else []
    if inc.rebuild:
        pre += [("DELETE FROM baselines WHERE analytic = 'ip_names'", None),
                ("INSERT INTO baselines VALUES (?, '__rebuilt__', ?, ?, 0, 0, ?)", [NAME, now, now, ctx.run_id])]
    ctx.writer.write_state(pre + statements + inc.mark_statements(n_events), registered)
    return FoldResult(len(inc.ingest_ids), n_events, pairs.num_rows, now)


def _merge_existing(ctx: DetectContext, new: pa.Table, *, rebuild: bool) -> pa.Table:
    """New rows whose (kind, src, dst, day) already has a row (a day's flows arriving in several ingests)
    are merged with it: times re-sorted with their sizes, sums added."""
    if rebuild or not new.num_rows:
        return new
    keys = new.select(["kind", "src", "dst", "day"])
    old = ctx.writer.read_state("SELECT p.* FROM pair_days p SEMI JOIN aw_keys USING (kind, src, dst, day)",
                                tables={"aw_keys": keys})
    if not old.num_rows:
        return new
    s = ctx.session
    s.register("aw_pd_old", old)
    s.register("aw_pd_new", new)
    merged = s.sql("""
        WITH u AS (SELECT * FROM aw_pd_old UNION ALL BY NAME SELECT * FROM aw_pd_new),
        g AS (SELECT kind, src, dst, day, max(host) AS host, flatten(list(ts)) AS ts, flatten(list(sizes)) AS sizes,
                     sum(conns) AS conns, sum(bytes_out) AS bytes_out, sum(bytes_in) AS bytes_in,
                     sum(duration) AS duration, list_distinct(flatten(list(ports)))[1:16] AS ports,
                     list_distinct(flatten(list(events)))[1:4] AS events, max(updated_at) AS updated_at
              FROM u GROUP BY kind, src, dst, day)
        SELECT kind, src, dst, day, host, list_sort(ts) AS ts,
               list_transform(list_grade_up(ts), lambda i: sizes[i]) AS sizes, conns, bytes_out, bytes_in, duration,
               ports, events, updated_at
        FROM g
    """)
    return merged.select(new.column_names).cast(new.schema)


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
    return ctx.session.sql(f"""
        SELECT ip, list_distinct(list(name))[1:16] AS names, min(time) AS first_seen, max(time) AS last_seen,
               count(*) AS count
        FROM ({' UNION ALL '.join(parts)})
        WHERE ip IS NOT NULL AND name IS NOT NULL AND name <> ''
          AND (regexp_full_match(ip, '[0-9]{{1,3}}(\\.[0-9]{{1,3}}){{3}}') OR regexp_full_match(ip, '[0-9a-fA-F:]+'))
        GROUP BY ip
    """)


def watermark(ctx: DetectContext, analytic: str) -> datetime | None:
    """When `analytic` last scored pair_days rows."""
    return meta_time(ctx.writer, analytic, "__watermark__")


def watermark_statement(analytic: str, at: datetime) -> tuple[str, Any]:
    return ("INSERT OR REPLACE INTO baselines VALUES (?, '__watermark__', ?, ?, 0, 0, NULL)", [analytic, at, at])


def changed_pairs(ctx: DetectContext, since: datetime | None, window_days: float, *,
                  kinds: tuple[str, ...] = ("ip", "name")) -> tuple[pa.Table, datetime | None]:
    """pair_days rows of the window for every pair with a row updated after `since`, and the newest
    `updated_at` seen (the consumer's next watermark)."""
    kind_list = ", ".join(lit(k) for k in kinds)
    t = ctx.writer.read_state(f"""
        WITH latest AS (SELECT max(day) AS d FROM pair_days),
        touched AS (SELECT DISTINCT kind, src, dst FROM pair_days
                    WHERE kind IN ({kind_list}) AND (CAST(? AS TIMESTAMPTZ) IS NULL OR updated_at > ?))
        SELECT p.* FROM pair_days p SEMI JOIN touched USING (kind, src, dst), latest
        WHERE p.day >= latest.d - to_days(CAST(? AS INTEGER))
    """, [since, since, max(0, int(window_days) - 1)])
    top = ctx.writer.read_state("SELECT max(updated_at) FROM pair_days").column(0)[0].as_py()
    return t, top


def ip_names(ctx: DetectContext) -> pa.Table:
    """ip -> names (VARCHAR[]) learned from DNS answers, SNI and Host headers."""
    return ctx.writer.read_state("""
        SELECT key AS ip, CAST(json_extract(value, '$.names') AS VARCHAR[]) AS names
        FROM baselines WHERE analytic = 'ip_names'
    """)
