"""Correlation state in the state database: the SQL behind `aptwatch.correlate`.

Everything here runs inside one write transaction per chunk of findings (see
`correlate/engine.py`). Work is pushed into DuckDB: statistics are upserted with set
operations over the chunk, the neighbourhood of the chunk (earlier members sharing its keys,
hosts near it in time) is fetched with joins on `corr_entity_index`, and campaign summaries are
aggregated per (campaign, stage, rule) in SQL. Python only sees the chunk and its neighbourhood,
so memory is bounded by the chunk, never by history.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import duckdb
import orjson
import pyarrow as pa

if TYPE_CHECKING:
    from aptwatch.store import Store

TS = pa.timestamp("us", tz="UTC")
LATER_STAGES_SQL = "('escalate_privileges', 'internal_recon', 'lateral_movement', 'data_exfiltration')"


@contextmanager
def connect(store: Store, *, read_only: bool) -> Iterator[duckdb.DuckDBPyConnection]:
    """The state database, without DuckDB's progress bar (library code never writes to the terminal)."""
    with store.state.connect(read_only=read_only) as con:
        con.execute("SET enable_progress_bar = false")
        yield con


def _json(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


def _ts(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def _epoch(t: datetime | None) -> float | None:
    if t is None:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.timestamp()


# ------------------------------------------------------------------------------------------
# input
# ------------------------------------------------------------------------------------------
def pending_findings(con: duckdb.DuckDBPyConnection, limit: int) -> pa.Table:
    """The next findings correlation has not processed, oldest first."""
    return con.sql(
        "SELECT f.id, f.time, f.time_last, f.detector, f.rule_id, f.severity, f.tactics, f.stage, f.entities, "
        "f.evidence, f.extra FROM findings f "
        "WHERE NOT EXISTS (SELECT 1 FROM campaign_members m WHERE m.finding_id = f.id) "
        f"ORDER BY f.time, f.id LIMIT {int(limit)}").to_arrow_table()


def pending_count(con: duckdb.DuckDBPyConnection) -> int:
    row = con.execute("SELECT count(*) FROM findings f WHERE NOT EXISTS "
                      "(SELECT 1 FROM campaign_members m WHERE m.finding_id = f.id)").fetchall()
    return int(row[0][0]) if row else 0


@dataclass(frozen=True)
class Suppression:
    id: str
    scope: str
    target: str
    conditions: Mapping[str, Any]
    reason: str
    author: str | None
    created_at: datetime | None
    expires_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "scope": self.scope, "target": self.target, "conditions": dict(self.conditions),
                "reason": self.reason, "author": self.author, "created_at": self.created_at,
                "expires_at": self.expires_at}


def suppressions(con: duckdb.DuckDBPyConnection, *, active_at: datetime | None = None) -> list[Suppression]:
    rows = con.execute("SELECT id, scope, target, conditions, reason, author, created_at, expires_at "
                       "FROM suppressions ORDER BY created_at, id").fetchall()
    out = []
    for r in rows:
        s = Suppression(r[0], r[1], r[2], orjson.loads(r[3]) if r[3] else {}, r[4], r[5], r[6], r[7])
        if active_at is not None and s.expires_at is not None and s.expires_at <= active_at:
            continue
        out.append(s)
    return out


def resolve_campaign(con: duckdb.DuckDBPyConnection, cid: str) -> str:
    """A campaign id, following merges (absorbed id -> surviving id)."""
    row = con.execute("SELECT campaign_id FROM campaign_aliases WHERE alias = ?", [cid]).fetchall()
    return str(row[0][0]) if row else cid


# ------------------------------------------------------------------------------------------
# statistics
# ------------------------------------------------------------------------------------------
def update_rule_stats(con: duckdb.DuckDBPyConnection, rules: pa.Table, routine_hours: int
                      ) -> dict[str, tuple[bool, int, int]]:
    """Upsert (rule, host) hour buckets from `rules` (finding_id, rule, host, time).

    Returns finding id -> (routine, hosts the rule fired on, distinct earlier hours it fired in on this
    host, exact up to `routine_hours`). A finding is routine when its rule fired on its host in
    `routine_hours` distinct hours strictly before the finding's hour.
    """
    k = int(routine_hours)
    con.register("chunk_rules", rules)
    con.execute(f"""
        INSERT INTO corr_rule_hosts (rule_id, host, findings, buckets, routine_from, first_seen, last_seen)
        SELECT rule, host, sum(n), list(strftime(hour, '%Y-%m-%dT%H') ORDER BY hour)[1:{k}], NULL, min(t0), max(t1)
        FROM (SELECT rule, host, date_trunc('hour', time) AS hour, count(*) AS n, min(time) AS t0, max(time) AS t1
              FROM chunk_rules WHERE host IS NOT NULL GROUP BY rule, host, hour)
        GROUP BY rule, host
        ON CONFLICT (rule_id, host) DO UPDATE SET
            findings = corr_rule_hosts.findings + excluded.findings,
            buckets = list_sort(list_distinct(list_concat(corr_rule_hosts.buckets, excluded.buckets)))[1:{k}],
            first_seen = least(corr_rule_hosts.first_seen, excluded.first_seen),
            last_seen = greatest(corr_rule_hosts.last_seen, excluded.last_seen)
    """)
    con.execute(f"""
        UPDATE corr_rule_hosts SET routine_from = strptime(buckets[{k}], '%Y-%m-%dT%H') + INTERVAL 1 HOUR
        WHERE len(buckets) >= {k} AND (rule_id, host) IN (SELECT DISTINCT rule, host FROM chunk_rules)
    """)
    rows = con.execute("""
        SELECT c.finding_id, coalesce(c.time >= r.routine_from, false), coalesce(n.hosts, 0), r.buckets,
               strftime(c.time, '%Y-%m-%dT%H')
        FROM chunk_rules c
        LEFT JOIN corr_rule_hosts r ON r.rule_id = c.rule AND r.host = c.host
        LEFT JOIN (SELECT rule_id, count(*) AS hosts FROM corr_rule_hosts
                   WHERE rule_id IN (SELECT DISTINCT rule FROM chunk_rules) GROUP BY rule_id) n ON n.rule_id = c.rule
    """).fetchall()
    con.unregister("chunk_rules")
    return {r[0]: (bool(r[1]), int(r[2]), sum(1 for b in (r[3] or ()) if b < r[4])) for r in rows}


def update_entity_stats(con: duckdb.DuckDBPyConnection, keys: pa.Table, host_cap: int
                        ) -> dict[tuple[str, str], int]:
    """Upsert entity prevalence from `keys` (finding_id, kind, value, host, time); kind/value -> hosts."""
    cap = int(host_cap)
    con.register("chunk_keys", keys)
    con.execute(f"""
        INSERT INTO corr_entities (kind, value, n_hosts, hosts, findings, first_seen, last_seen)
        SELECT kind, value, count(host), list(host)[1:{cap}], sum(n), min(t0), max(t1) FROM (
            SELECT kind, value, host, count(*) AS n, min(time) AS t0, max(time) AS t1
            FROM chunk_keys GROUP BY kind, value, host)
        GROUP BY kind, value
        ON CONFLICT (kind, value) DO UPDATE SET
            n_hosts = greatest(excluded.n_hosts, CASE
                WHEN len(corr_entities.hosts) < {cap}
                    THEN len(list_distinct(list_concat(corr_entities.hosts, excluded.hosts)))
                ELSE corr_entities.n_hosts + len(list_distinct(list_concat(corr_entities.hosts, excluded.hosts)))
                     - len(corr_entities.hosts)
            END),
            hosts = list_distinct(list_concat(corr_entities.hosts, excluded.hosts))[1:{cap}],
            findings = corr_entities.findings + excluded.findings,
            first_seen = least(corr_entities.first_seen, excluded.first_seen),
            last_seen = greatest(corr_entities.last_seen, excluded.last_seen)
    """)
    rows = con.execute("SELECT e.kind, e.value, e.n_hosts FROM corr_entities e "
                       "JOIN (SELECT DISTINCT kind, value FROM chunk_keys) k USING (kind, value)").fetchall()
    con.unregister("chunk_keys")
    return {(r[0], r[1]): int(r[2]) for r in rows}


def known_hosts(con: duckdb.DuckDBPyConnection) -> int:
    """Hosts correlation has seen findings on (the estate size rarity is relative to)."""
    row = con.execute("SELECT count(*) FROM (SELECT host FROM corr_hosts UNION SELECT host FROM corr_rule_hosts)"
                      ).fetchall()
    return int(row[0][0]) if row else 0


# ------------------------------------------------------------------------------------------
# neighbourhood
# ------------------------------------------------------------------------------------------
@dataclass
class RawNeighbourhood:
    #: (kind, value, campaign, host, first, last, finding)
    entities: list[tuple[str, str, str, str, float, float, str]]
    #: (kind 'host'|'touch', host, campaign, time, finding, weight, finding's last event time, rule,
    #: finding's first event time, finding's kill-chain stage)
    hosts: list[tuple[str, str, str, float, str, float, float, str, float, str | None]]
    #: campaign -> (seed time, seed finding, first credential-access time)
    campaigns: dict[str, tuple[float, str, float | None]]
    #: host -> [first seen, last seen, findings, active hours, start of the last active hour]
    host_stats: dict[str, list[float]]
    #: (active hours, seconds watched) over every known host
    estate: tuple[float, float]
    #: (host, stage) -> [distinct hours with non-routine findings of that stage, start of the last one]
    stage_stats: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    #: (host, rule) -> the starts of the first distinct hours the rule fired in on the host (epoch s, sorted,
    #: at most `routine_hours` of them: a rule beyond that is routine there)
    rule_hours: dict[tuple[str, str], list[float]] = field(default_factory=dict)


def neighbourhood(con: duckdb.DuckDBPyConnection, keys: Iterable[tuple[str, str]], hosts: Iterable[str],
                  tmin: float, tmax: float, *, horizon: timedelta, edge_window: timedelta,
                  host_window: timedelta, estate_window: timedelta | None = None) -> RawNeighbourhood:
    """Earlier members that share a key with the chunk or sit on its hosts near its time span, and (with
    `estate_window`) the staged members of every other host within that window of it (cross-host
    proximity: an hour around the chunk, so bounded by the chunk's own density)."""
    from aptwatch.correlate.linker import campaign_id_for

    key_list = sorted(set(keys))
    host_list = sorted(set(hosts))
    con.register("want_keys", pa.table({"kind": [k for k, _ in key_list], "value": [v for _, v in key_list]},
                                       schema=pa.schema([("kind", pa.string()), ("value", pa.string())])))
    con.register("want_hosts", pa.table({"host": host_list}, schema=pa.schema([("host", pa.string())])))
    lo, hi = _ts(tmin), _ts(tmax)
    ent = con.execute("""
        SELECT ei.kind, ei.value, m.campaign_id, ei.host, min(ei.time), max(ei.time), arg_max(ei.finding_id, ei.time)
        FROM corr_entity_index ei
        JOIN want_keys k ON k.kind = ei.kind AND k.value = ei.value
        JOIN campaign_members m ON m.finding_id = ei.finding_id
        WHERE m.disposition = 'member' AND ei.time BETWEEN ? AND ?
        GROUP BY ei.kind, ei.value, m.campaign_id, ei.host
    """, [lo - horizon, hi + horizon]).fetchall()
    near = con.execute("""
        SELECT ei.kind, ei.value, m.campaign_id, ei.time, ei.finding_id, coalesce(ei.weight, 1.0), m.time_last,
               m.detector || ':' || m.rule_id, m.time, m.stage
        FROM corr_entity_index ei
        JOIN want_hosts h ON h.host = ei.value
        JOIN campaign_members m ON m.finding_id = ei.finding_id
        WHERE ei.kind IN ('host', 'touch') AND m.disposition = 'member' AND ei.time BETWEEN ? AND ?
    """, [lo - max(edge_window, host_window), hi + max(edge_window, host_window)]).fetchall()
    if estate_window is not None:
        # one hour more before: a span counts beyond its first hour (linker.excess)
        near += con.execute("""
            SELECT ei.kind, ei.value, m.campaign_id, ei.time, ei.finding_id, 1.0, m.time_last,
                   m.detector || ':' || m.rule_id, m.time, m.stage
            FROM corr_entity_index ei
            JOIN campaign_members m ON m.finding_id = ei.finding_id
            WHERE ei.kind = 'host' AND m.disposition = 'member' AND m.stage IS NOT NULL
              AND ei.value NOT IN (SELECT host FROM want_hosts) AND ei.time BETWEEN ? AND ?
        """, [lo - estate_window - timedelta(hours=1), hi + estate_window]).fetchall()
    host_rows = con.execute("SELECT host, first_seen, last_seen, findings, active_hours, last_active FROM corr_hosts "
                            "WHERE host IN (SELECT host FROM want_hosts)").fetchall()
    host_stats: dict[str, list[float]] = {
        r[0]: [_epoch(r[1]) or 0.0, _epoch(r[2]) or 0.0, float(r[3]), float(r[4]),
               e if (e := _epoch(r[5])) is not None else -1.0] for r in host_rows}
    est = con.execute("SELECT coalesce(sum(active_hours), 0), coalesce(sum(epoch(last_seen) - epoch(first_seen)), 0) "
                      "FROM corr_hosts").fetchall()[0]
    stage_rows = con.execute("SELECT host, stage, hours, last_hour FROM corr_host_stages "
                             "WHERE host IN (SELECT host FROM want_hosts)").fetchall()
    stage_stats = {(r[0], r[1]): [float(r[2]), e if (e := _epoch(r[3])) is not None else -1.0] for r in stage_rows}
    rule_rows = con.execute("SELECT host, rule_id, "
                            "list_transform(buckets, lambda b: epoch(strptime(b, '%Y-%m-%dT%H'))) "
                            "FROM corr_rule_hosts WHERE host IN (SELECT host FROM want_hosts)").fetchall()
    rule_hours = {(r[0], r[1]): sorted(float(b) for b in r[2] or ()) for r in rule_rows}
    con.unregister("want_keys")
    con.unregister("want_hosts")
    cids = sorted({r[2] for r in ent} | {r[2] for r in near})
    campaigns: dict[str, tuple[float, str, float | None]] = {}
    if cids:
        con.register("want_cids", pa.table({"id": cids}, schema=pa.schema([("id", pa.string())])))
        info = con.execute("""
            SELECT campaign_id, min(time) FILTER (WHERE list_contains(tactics, 'TA0006') AND NOT suppressed),
                   list(finding_id) FILTER (WHERE link = 'seed'), list(time) FILTER (WHERE link = 'seed'), min(time)
            FROM campaign_members WHERE campaign_id IN (SELECT id FROM want_cids) AND disposition = 'member'
            GROUP BY campaign_id
        """).fetchall()
        con.unregister("want_cids")
        for cid, cred, seeds, seed_times, first in info:
            anchor = (_epoch(first) or 0.0, cid)
            for fid, t in zip(seeds or [], seed_times or [], strict=True):
                if campaign_id_for(fid) == cid:
                    anchor = (_epoch(t) or 0.0, fid)
                    break
            campaigns[cid] = (anchor[0], anchor[1], _epoch(cred))
    return RawNeighbourhood(
        [(r[0], r[1], r[2], r[3], _epoch(r[4]) or 0.0, _epoch(r[5]) or 0.0, r[6]) for r in ent],
        [(r[0], r[1], r[2], _epoch(r[3]) or 0.0, r[4], float(r[5]), _epoch(r[6]) or _epoch(r[3]) or 0.0, r[7],
          _epoch(r[8]) or _epoch(r[3]) or 0.0, r[9]) for r in near],
        campaigns, host_stats, (float(est[0]), float(est[1])), stage_stats, rule_hours)


# ------------------------------------------------------------------------------------------
# writing a chunk
# ------------------------------------------------------------------------------------------
MEMBER_SCHEMA = pa.schema([
    ("finding_id", pa.string()), ("campaign_id", pa.string()), ("disposition", pa.string()), ("time", TS),
    ("time_last", TS), ("host", pa.string()), ("rule_id", pa.string()), ("detector", pa.string()),
    ("severity", pa.string()), ("stage", pa.string()), ("tactics", pa.list_(pa.string())), ("weight", pa.float64()),
    ("link", pa.string()), ("via", pa.string()), ("link_weight", pa.float64()), ("why", pa.string()),
    ("suppressed", pa.bool_()), ("run_id", pa.string()), ("processed_at", TS),
])
INDEX_SCHEMA = pa.schema([("finding_id", pa.string()), ("kind", pa.string()), ("value", pa.string()),
                          ("host", pa.string()), ("time", TS), ("weight", pa.float64())])


def write_members(con: duckdb.DuckDBPyConnection, members: pa.Table, index_rows: pa.Table) -> None:
    con.register("new_members", members)
    cols = ", ".join(f'"{f.name}"' for f in MEMBER_SCHEMA)
    con.execute(f"INSERT OR REPLACE INTO campaign_members ({cols}) SELECT {cols} FROM new_members")
    con.unregister("new_members")
    if index_rows.num_rows:
        con.register("new_index", index_rows)
        con.execute("INSERT INTO corr_entity_index (finding_id, kind, value, host, time, weight) "
                    "SELECT finding_id, kind, value, host, time, weight FROM new_index")
        con.unregister("new_index")


def write_host_stats(con: duckdb.DuckDBPyConnection, stats: Mapping[str, Sequence[float]]) -> None:
    if not stats:
        return
    hosts = list(stats)
    con.register("new_hosts", pa.table({
        "host": hosts, "first_seen": pa.array([_ts(stats[h][0]) for h in hosts], TS),
        "last_seen": pa.array([_ts(stats[h][1]) for h in hosts], TS),
        "findings": [int(stats[h][2]) for h in hosts], "active_hours": [int(stats[h][3]) for h in hosts],
        "last_active": pa.array([_ts(stats[h][4]) if stats[h][4] >= 0 else None for h in hosts], TS)}))
    con.execute("INSERT OR REPLACE INTO corr_hosts (host, first_seen, last_seen, findings, active_hours, last_active) "
                "SELECT host, first_seen, last_seen, findings, active_hours, last_active FROM new_hosts")
    con.unregister("new_hosts")


def write_stage_stats(con: duckdb.DuckDBPyConnection, stats: Mapping[tuple[str, str], Sequence[float]]) -> None:
    """Upsert per (host, stage) hour counts (`corr_host_stages`)."""
    if not stats:
        return
    keys = list(stats)
    con.register("new_stages", pa.table({
        "host": [h for h, _ in keys], "stage": [st for _, st in keys],
        "hours": [int(stats[k][0]) for k in keys],
        "last_hour": pa.array([_ts(stats[k][1]) if stats[k][1] >= 0 else None for k in keys], TS)}))
    con.execute("INSERT OR REPLACE INTO corr_host_stages (host, stage, hours, last_hour) "
                "SELECT host, stage, hours, last_hour FROM new_stages")
    con.unregister("new_stages")


def apply_merges(con: duckdb.DuckDBPyConnection, merged: Mapping[str, str], run_id: str
                 ) -> dict[str, datetime]:
    """Point members of absorbed campaigns at their survivor; returns survivor -> earliest detected_at of
    the campaigns it absorbed (a merge never makes a campaign detected later than a part of it was)."""
    if not merged:
        return {}
    m = pa.table({"old": list(merged), "new": list(merged.values())})
    con.register("merge_map", m)
    detected = con.execute("SELECT mm.new, min(c.detected_at) FROM campaigns c JOIN merge_map mm ON mm.old = c.id "
                           "WHERE c.detected_at IS NOT NULL GROUP BY mm.new").fetchall()
    con.execute("UPDATE campaign_members SET campaign_id = mm.new FROM merge_map mm "
                "WHERE campaign_members.campaign_id = mm.old")
    con.execute("UPDATE campaign_aliases SET campaign_id = mm.new FROM merge_map mm "
                "WHERE campaign_aliases.campaign_id = mm.old")
    con.execute("INSERT OR REPLACE INTO campaign_aliases (alias, campaign_id, merged_at, run_id) "
                "SELECT old, new, ?, ? FROM merge_map",
                [datetime.now(UTC), run_id])
    con.execute("DELETE FROM campaigns WHERE id IN (SELECT old FROM merge_map)")
    con.unregister("merge_map")
    return {r[0]: r[1] for r in detected}


# ------------------------------------------------------------------------------------------
# summaries
# ------------------------------------------------------------------------------------------
@dataclass
class StageAgg:
    stage: str
    rule: str
    weight: float
    findings: int
    first: datetime
    last: datetime
    hosts: list[str]


@dataclass
class CampaignAgg:
    id: str
    members: int
    live: int
    first: datetime | None
    last: datetime | None
    hosts: list[str]
    findings: list[str]
    users: list[str]
    links: dict[str, int]
    detected_at: datetime | None
    attribution: str | None
    previous: dict[str, Any]
    stages: list[StageAgg]


def summarize(con: duckdb.DuckDBPyConnection, campaign_ids: Sequence[str]) -> list[CampaignAgg]:
    """Per campaign: members, time span, hosts, users, findings, and (stage, rule) evidence aggregates,
    with recurring persistence / C2 re-staged to maintain_presence (scoring.py documents the rule)."""
    if not campaign_ids:
        return []
    con.register("touched", pa.table({"id": list(campaign_ids)}, schema=pa.schema([("id", pa.string())])))
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE agg_members AS
        WITH m AS (
            -- campaigns are two or more linked findings: lone findings are not summarised
            SELECT * FROM campaign_members WHERE disposition = 'member' AND campaign_id IN (
                SELECT campaign_id FROM campaign_members WHERE disposition = 'member'
                AND campaign_id IN (SELECT id FROM touched) GROUP BY campaign_id HAVING count(*) >= 2)
        ), later AS (
            SELECT campaign_id, min(time) FILTER (WHERE NOT suppressed AND stage IN {LATER_STAGES_SQL}) AS t_later
            FROM m GROUP BY campaign_id
        )
        SELECT m.*, CASE
            WHEN m.stage IS NULL THEN 'unstaged'
            WHEN m.stage = 'establish_foothold' AND later.t_later IS NOT NULL AND m.time > later.t_later
                 AND (list_contains(m.tactics, 'TA0003') OR list_contains(m.tactics, 'TA0011'))
                THEN 'maintain_presence'
            ELSE m.stage END AS eff_stage
        FROM m JOIN later USING (campaign_id)
    """)
    camp = con.execute("""
        SELECT a.campaign_id, count(*), count(*) FILTER (WHERE NOT suppressed),
               min(time) FILTER (WHERE NOT suppressed), max(time_last) FILTER (WHERE NOT suppressed),
               list(DISTINCT host) FILTER (WHERE NOT suppressed AND host IS NOT NULL),
               list(finding_id ORDER BY time, finding_id),
               any_value(c.detected_at), any_value(c.attribution), any_value(c.explanation), min(time),
               max(time_last)
        FROM agg_members a LEFT JOIN campaigns c ON c.id = a.campaign_id
        GROUP BY a.campaign_id
    """).fetchall()
    links: dict[str, dict[str, int]] = {}
    for cid, link, n in con.execute("SELECT campaign_id, link, count(*) FROM agg_members GROUP BY ALL").fetchall():
        links.setdefault(cid, {})[link] = int(n)
    users = dict(con.execute("""
        SELECT a.campaign_id, list(DISTINCT ei.value ORDER BY ei.value)
        FROM agg_members a JOIN corr_entity_index ei ON ei.finding_id = a.finding_id
        WHERE ei.kind = 'user' AND NOT a.suppressed GROUP BY a.campaign_id
    """).fetchall())
    stage_rows = con.execute("""
        SELECT campaign_id, eff_stage, detector || ':' || rule_id, max(weight), count(*), min(time), max(time_last),
               list(DISTINCT host) FILTER (WHERE host IS NOT NULL)
        FROM agg_members WHERE NOT suppressed GROUP BY ALL
    """).fetchall()
    con.execute("DROP TABLE agg_members")
    con.unregister("touched")
    stages: dict[str, list[StageAgg]] = {}
    for cid, st, rule, w, n, t0, t1, hs in stage_rows:
        stages.setdefault(cid, []).append(StageAgg(st, rule, float(w or 0.0), int(n), t0, t1, sorted(hs or [])))
    out = []
    for cid, n, live, t0, t1, hs, fids, det, attr, expl, all0, all1 in camp:
        out.append(CampaignAgg(cid, int(n), int(live), t0 or all0, t1 or all1, sorted(hs or []), list(fids or []),
                               list(users.get(cid) or []), links.get(cid, {}), det, attr,
                               orjson.loads(expl) if expl else {}, stages.get(cid, [])))
    return out


def member_rows(con: duckdb.DuckDBPyConnection, campaign_ids: Sequence[str]) -> dict[str, list[tuple[Any, ...]]]:
    """Per campaign: (finding, time, host, detector:rule, stage, tactics, weight, suppressed) of its members."""
    out: dict[str, list[tuple[Any, ...]]] = {c: [] for c in campaign_ids}
    if not campaign_ids:
        return out
    con.register("want_members", pa.table({"id": list(campaign_ids)}, schema=pa.schema([("id", pa.string())])))
    for r in con.execute("""
        SELECT campaign_id, finding_id, time, host, detector || ':' || rule_id, stage, tactics, weight, suppressed
        FROM campaign_members WHERE campaign_id IN (SELECT id FROM want_members) AND disposition = 'member'
        ORDER BY campaign_id, time, finding_id
    """).fetchall():
        out[r[0]].append(r[1:])
    con.unregister("want_members")
    return out


CAMPAIGN_SCHEMA = pa.schema([
    ("id", pa.string()), ("score", pa.float64()), ("stages", pa.list_(pa.string())), ("first_seen", TS),
    ("detected_at", TS), ("last_seen", TS), ("dwell_seconds", pa.float64()), ("hosts", pa.list_(pa.string())),
    ("users", pa.list_(pa.string())), ("findings", pa.list_(pa.string())), ("attribution", pa.string()),
    ("explanation", pa.string()), ("status", pa.string()), ("updated_at", TS),
])


def write_campaign_rows(con: duckdb.DuckDBPyConnection, rows: pa.Table, drop: Sequence[str]) -> None:
    """Upsert campaign rows (keeping an attribution written by the attribution stage) and point the
    findings of written campaigns at them; `drop` removes rows of campaigns no longer published."""
    if drop:
        con.register("drop_ids", pa.table({"id": list(drop)}, schema=pa.schema([("id", pa.string())])))
        con.execute("DELETE FROM campaigns WHERE id IN (SELECT id FROM drop_ids)")
        con.execute("UPDATE findings SET campaign = NULL WHERE campaign IN (SELECT id FROM drop_ids)")
        con.unregister("drop_ids")
    if not rows.num_rows:
        return
    con.register("new_campaigns", rows)
    con.execute("""
        INSERT OR REPLACE INTO campaigns (id, score, stages, first_seen, detected_at, last_seen, dwell_seconds, hosts,
                                          users, findings, attribution, explanation, status, updated_at)
        SELECT n.id, n.score, n.stages, n.first_seen, n.detected_at, n.last_seen, n.dwell_seconds, n.hosts, n.users,
               n.findings, coalesce(c.attribution, n.attribution), n.explanation, n.status, n.updated_at
        FROM new_campaigns n LEFT JOIN campaigns c ON c.id = n.id
    """)
    con.execute("""
        UPDATE findings SET campaign = m.campaign_id FROM campaign_members m
        WHERE findings.id = m.finding_id AND m.campaign_id IN (SELECT id FROM new_campaigns)
          AND m.disposition = 'member' AND findings.campaign IS DISTINCT FROM m.campaign_id
    """)
    con.unregister("new_campaigns")


# ------------------------------------------------------------------------------------------
# feedback
# ------------------------------------------------------------------------------------------
def add_suppression(con: duckdb.DuckDBPyConnection, s: Suppression) -> None:
    con.execute("INSERT OR REPLACE INTO suppressions (id, scope, target, conditions, reason, author, created_at, "
                "expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [s.id, s.scope, s.target, _json(dict(s.conditions)), s.reason, s.author, s.created_at, s.expires_at])


def remove_suppression(con: duckdb.DuckDBPyConnection, sid: str) -> Suppression | None:
    found = [s for s in suppressions(con) if s.id == sid]
    if not found:
        return None
    con.execute("DELETE FROM suppressions WHERE id = ?", [sid])
    return found[0]


def mark_members(con: duckdb.DuckDBPyConnection, finding_ids: Sequence[str], suppressed: bool) -> list[str]:
    """Set `suppressed` on members; returns the campaigns affected."""
    if not finding_ids:
        return []
    con.register("mark_ids", pa.table({"id": list(finding_ids)}, schema=pa.schema([("id", pa.string())])))
    rows = con.execute("SELECT DISTINCT campaign_id FROM campaign_members WHERE finding_id IN "
                       "(SELECT id FROM mark_ids) AND campaign_id IS NOT NULL").fetchall()
    con.execute("UPDATE campaign_members SET suppressed = ? WHERE finding_id IN (SELECT id FROM mark_ids)",
                [suppressed])
    con.unregister("mark_ids")
    return [r[0] for r in rows]


def members_matching(con: duckdb.DuckDBPyConnection, s: Suppression) -> list[str]:
    """Finding ids (already correlated) that a suppression covers."""
    if s.scope == "finding":
        rows = con.execute("SELECT finding_id FROM campaign_members WHERE finding_id = ?", [s.target]).fetchall()
    elif s.scope == "campaign":
        rows = [(f,) for f in s.conditions.get("findings", [])]
    elif s.scope == "rule":
        host = s.conditions.get("host")
        rows = con.execute(
            "SELECT finding_id FROM campaign_members WHERE (rule_id = ? OR detector || ':' || rule_id = ?) "
            "AND (? IS NULL OR host = ?)", [s.target, s.target, host, host]).fetchall()
    else:
        rows = []
    return [r[0] for r in rows]


def reset_detection(con: duckdb.DuckDBPyConnection, campaign_ids: Sequence[str]) -> None:
    if campaign_ids:
        con.execute("UPDATE campaigns SET detected_at = NULL, dwell_seconds = NULL WHERE list_contains(?, id)",
                    [list(campaign_ids)])


def clear(con: duckdb.DuckDBPyConnection) -> None:
    """Forget all correlation state (for `correlate --rebuild`); suppressions are kept."""
    for t in ("campaign_members", "corr_entity_index", "corr_entities", "corr_rule_hosts", "campaign_aliases",
              "corr_hosts", "corr_host_stages", "campaigns"):
        con.execute(f"DELETE FROM {t}")
    con.execute("UPDATE findings SET campaign = NULL WHERE campaign IS NOT NULL")
