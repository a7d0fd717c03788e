"""`correlate(store)`: process the findings correlation has not seen yet, chunk by chunk.

Per chunk (at most `chunk_size` findings, oldest first):

1. read the chunk and the active suppressions (read-only, milliseconds);
2. enrich it from the events it points at (`enrich.py`, through an engine session);
3. in one write transaction: update rule and entity statistics, load the neighbourhood (earlier
   members sharing its keys or hosts), link it (`linker.py`, pure), write the decisions, apply
   merges, re-score the campaigns it touched and publish them (`campaigns.py`).

Nothing is recomputed over history: each run touches only new findings and the campaigns they
join. Memory is bounded by the chunk and its neighbourhood.
"""

from __future__ import annotations

import time as _time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa

from aptwatch.context.addresses import AddressBook, update_host_addresses
from aptwatch.context.networks import InternalNetworks, configured_networks, parse_ip
from aptwatch.correlate import campaigns as publish
from aptwatch.correlate.admin import AdminActor, load_actors
from aptwatch.correlate.enrich import Enrichment, evidence_entities, logon_sources
from aptwatch.correlate.entities import (
    CROSS_HOST,
    GLOBAL,
    INSTANCE,
    SOURCE_IP_KINDS,
    FindingKeys,
    LinkKey,
    finding_keys,
    norm_ip,
    normalise_user,
)
from aptwatch.correlate.linker import (
    MEMBER,
    CampaignInfo,
    Edge,
    EntityRow,
    HostRow,
    Item,
    Linker,
    LinkResult,
    Neighbourhood,
)
from aptwatch.correlate.scoring import evidence_weight
from aptwatch.correlate.settings import CorrelateSettings
from aptwatch.detect.analytics.routine import actor_account, actor_host
from aptwatch.detect.runner import new_run_id
from aptwatch.model.finding import entities_from_json
from aptwatch.store import Store
from aptwatch.store import correlation as cs
from aptwatch.store.base import Capability, Session

#: a host whose findings name more internal addresses than this is a hub (DC, scanner)
HUB_PEERS = 8


@dataclass
class CorrelateReport:
    run_id: str
    findings: int = 0
    members: int = 0
    routine: int = 0
    suppressed: int = 0
    new_campaigns: int = 0
    merges: int = 0
    published: int = 0
    detected: list[tuple[str, datetime]] = field(default_factory=list)
    chunks: int = 0
    seconds: float = 0.0
    #: seconds per phase (read, enrich, stats, neighbourhood, link, write, publish)
    phases: dict[str, float] = field(default_factory=dict)

    def lap(self, phase: str, since: float) -> float:
        now = _time.perf_counter()
        self.phases[phase] = self.phases.get(phase, 0.0) + now - since
        return now

    def to_json(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "findings": self.findings, "members": self.members, "routine": self.routine,
                "suppressed": self.suppressed, "new_campaigns": self.new_campaigns, "merges": self.merges,
                "published": self.published, "newly_detected": [[c, t.isoformat()] for c, t in self.detected],
                "chunks": self.chunks, "seconds": round(self.seconds, 3),
                "phases": {k: round(v, 3) for k, v in self.phases.items()}}


@dataclass
class _Row:
    """A pending finding with what correlation derived from it."""

    id: str
    time: datetime
    time_last: datetime
    detector: str
    rule_id: str
    severity: str
    tactics: list[str]
    stage: str | None
    entities: dict[str, tuple[str, ...]]
    evidence: list[tuple[str, str]]
    keys: FindingKeys = field(default_factory=FindingKeys)
    hosts: list[str] = field(default_factory=list)
    #: `extra.remote` of a lateral finding: who did it from where (detect/analytics/routine.py)
    remote: dict[str, Any] = field(default_factory=dict)

    @property
    def rule(self) -> str:
        return f"{self.detector}:{self.rule_id}"


def correlate(store: Store, settings: CorrelateSettings | None = None, *, wait: float = 0.0, rebuild: bool = False,
              progress: Callable[[int, int], None] | None = None) -> CorrelateReport:
    """Correlate every finding not yet correlated (all of them with `rebuild`)."""
    s = settings or CorrelateSettings()
    t0 = _time.monotonic()
    started = datetime.now(UTC)
    report = CorrelateReport(new_run_id("correlate"))
    with store.writer("correlate", wait=wait) as writer:
        if rebuild:
            with cs.connect(store, read_only=False) as con:
                con.execute("BEGIN")
                cs.clear(con)
                con.execute("COMMIT")
        with cs.connect(store, read_only=True) as con:
            total = cs.pending_count(con)
        if total:
            update_host_addresses(store)  # catch up address context (as detect does) before resolving
        # the lake cannot change while we hold the writer lock: one session and one address book serve
        # every chunk
        session = store.session() if total else None
        ctx = _Context(configured_networks(store), AddressBook.load(store)) if total else None
        if session is not None and Capability.DUCKDB_SQL in session.capabilities:
            session.sql("SET enable_progress_bar = false")
        try:
            while True:
                with cs.connect(store, read_only=True) as con:
                    chunk = cs.pending_findings(con, s.chunk_size)
                    supp = cs.suppressions(con, active_at=datetime.now(UTC))
                if chunk.num_rows == 0 or session is None or ctx is None:
                    break
                _chunk(store, session, ctx, chunk, supp, s, report)
                report.chunks += 1
                if progress:
                    progress(report.findings, total)
        finally:
            if session is not None:
                session.close()
        report.seconds = _time.monotonic() - t0
        writer.write_run(report.run_id, "correlate", started, report.to_json())
    return report


def _rows(chunk: pa.Table, ctx: _Context) -> list[_Row]:
    out = []
    for r in chunk.to_pylist():
        ents = entities_from_json(orjson.loads(r["entities"]) if r["entities"] else {})
        ev = []
        for e in orjson.loads(r["evidence"]) if r["evidence"] else []:
            if e.get("event_id") and e.get("table"):
                ev.append((str(e["table"]), str(e["event_id"])))
        row = _Row(r["id"], r["time"], r["time_last"] or r["time"], r["detector"], r["rule_id"],
                   r["severity"] or "informational", list(r["tactics"] or []), r["stage"], ents, ev)
        extra = orjson.loads(r["extra"]) if r.get("extra") else {}
        remote = extra.get("remote") if isinstance(extra, dict) else None
        if isinstance(remote, dict):
            row.remote = remote
        row.keys = finding_keys(ents, internal=ctx.internal)
        out.append(row)
    return out


def _actor(r: _Row) -> tuple[str, str] | None:
    """The finding's actor as lateral's routine-administration baseline keys it: (source, account)."""
    if r.remote.get("src"):
        return actor_host(str(r.remote["src"])), actor_account(str(r.remote.get("account") or ""))
    src = next((v for k in sorted(SOURCE_IP_KINDS) for v in r.entities.get(k, ()) if v and v != "-"), None)
    if src is None:
        return None
    user = next((u for k in ("user", "account", "target_user") for v in r.entities.get(k, ())
                 if (u := normalise_user(v))), "")
    return actor_host(src), actor_account(user)


def _enrich(session: Session, rows: list[_Row], s: CorrelateSettings) -> Enrichment:
    refs = [(r.id, t, e) for r in rows for t, e in r.evidence]
    out = Enrichment()
    if not session.event_tables():
        return out
    if refs:
        times = [r.time for r in rows if r.evidence]
        out.extra = evidence_entities(session, refs, min(times), max(times))
    hosted = [(r.id, r.keys.hosts[0], r.time) for r in rows if r.keys.hosts]
    out.logons = logon_sources(session, hosted, s.edge_window)
    return out


@dataclass
class _Context:
    """What a run knows about addresses: the estate's internal ranges and which host used which address."""

    networks: InternalNetworks
    book: AddressBook
    memo: dict[str, bool | None] = field(default_factory=dict)
    #: addresses the address book knows nothing about (most of them): no lookup per finding
    unknown: set[str] = field(default_factory=set)

    def internal(self, value: str) -> bool | None:
        """Whether an address is internal (None: not an address); memoised per run."""
        v = self.memo.get(value, False)
        if v is False and value not in self.memo:
            v = None if parse_ip(value) is None else self.networks.contains(value)
            self.memo[value] = v
        return v

    def host_of(self, address: str, at: datetime) -> str:
        """The host key that used an internal address at a time, else the address itself."""
        if address in self.unknown:
            return norm_ip(address) or address
        if not self.book.claims(address):
            self.unknown.add(address)
            return norm_ip(address) or address
        return self.book.resolve(address, at) or (norm_ip(address) or address)


def _chunk(store: Store, session: Session, ctx: _Context, chunk: pa.Table, supp: list[cs.Suppression],
           s: CorrelateSettings, report: CorrelateReport) -> None:
    t = _time.perf_counter()
    rows = _rows(chunk, ctx)
    t = report.lap("read", t)
    enr = _enrich(session, rows, s)
    t = report.lap("enrich", t)
    for r in rows:
        extra = enr.extra.get(r.id)
        if extra:
            r.keys = finding_keys(r.entities, extra, internal=ctx.internal)
        # a host key that is an address is the named host that used it, when the address context knows
        hosts = list(dict.fromkeys(ctx.host_of(h, r.time) if ctx.internal(h) else h for h in r.keys.hosts))
        if not hosts and r.keys.addresses:
            # a finding without a host (a network sensor's) belongs to the internal address that originated it
            hosts = [ctx.host_of(r.keys.addresses[0], r.time)]
        r.hosts = hosts
    finding_supp = {x.target for x in supp if x.scope == "finding"}
    rule_supp = [x for x in supp if x.scope == "rule"]
    with cs.connect(store, read_only=False) as con:
        con.execute("BEGIN")
        rule_tab = pa.table({
            "finding_id": [r.id for r in rows], "rule": [r.rule for r in rows],
            "host": pa.array([r.hosts[0] if r.hosts else None for r in rows], pa.string()),
            "time": pa.array([r.time for r in rows], cs.TS)})
        rule_info = cs.update_rule_stats(con, rule_tab, s.routine_hours)
        key_rows: dict[str, list[Any]] = {"finding_id": [], "kind": [], "value": [], "host": [], "time": []}

        def krow(fid: str, kind: str, value: str, host: str | None, t: datetime) -> None:
            key_rows["finding_id"].append(fid)
            key_rows["kind"].append(kind)
            key_rows["value"].append(value)
            key_rows["host"].append(host)
            key_rows["time"].append(t)

        edges_raw: dict[str, list[tuple[str, float]]] = {}
        #: internal addresses the finding itself (or its events) names: shared peers link like artifacts
        named: dict[str, list[str]] = {}
        for r in rows:
            host = r.hosts[0] if r.hosts else None
            for k in r.keys.keys:
                if k.scope != INSTANCE:
                    krow(r.id, k.kind, k.value, host, r.time)
            own = list(r.keys.addresses)
            own += [a for kind in ("src_ip", "dst_ip") for a in enr.extra.get(r.id, {}).get(kind, [])]
            addrs = [(a, 1.0) for a in own] + enr.logons.get(r.id, [])
            named_here = {norm_ip(a) for a in own}
            seen: set[str] = set()
            for raw_a, hub in addrs:
                a = norm_ip(raw_a)
                if a is None or a in seen or not ctx.internal(a):
                    continue
                seen.add(a)
                edges_raw.setdefault(r.id, []).append((a, hub))
                if a in named_here and a not in r.hosts and ctx.host_of(a, r.time) not in r.hosts:
                    named.setdefault(r.id, []).append(a)
                krow(r.id, "addr", a, host, r.time)
                if host:
                    krow(r.id, "peers", host, a, r.time)
        key_tab = pa.table({**{k: key_rows[k] for k in ("finding_id", "kind", "value", "host")},
                            "time": pa.array(key_rows["time"], cs.TS)},
                           schema=pa.schema([("finding_id", pa.string()), ("kind", pa.string()),
                                             ("value", pa.string()), ("host", pa.string()), ("time", cs.TS)]))
        prevalence = cs.update_entity_stats(con, key_tab, s.entity_host_cap)
        t = report.lap("stats", t)

        actors: dict[str, tuple[str, str]] = {}
        admins: dict[tuple[str, str], AdminActor] = {}
        if s.admin_routine:
            actors = {r.id: act for r in rows if (act := _actor(r)) is not None}
            admins = load_actors(con, actors.values())
        known = cs.known_hosts(con)
        k_full = max(s.rarity_hosts, s.rarity_share * known)

        def rarity(kind: str, value: str) -> float:
            n = prevalence.get((kind, value), 1)
            w = min(1.0, k_full / max(1, n))
            return 0.0 if w < s.min_link_weight else w

        items: list[Item] = []
        by_id: dict[str, _Row] = {}
        weights: dict[str, float] = {}
        for r in rows:
            by_id[r.id] = r
            routine, rule_hosts, rule_hours = rule_info.get(r.id, (False, 0, 0))
            weights[r.id] = evidence_weight(r.severity, rule_hosts, s)
            keys = list(r.keys.keys) + [LinkKey("addr", a, GLOBAL) for a in named.get(r.id, [])]
            # an internal address two findings name is infrastructure both touched: it weighs as an
            # edge does (edge_weight x rarity), never like a shared external indicator
            rar = {k: rarity(k.kind, k.value) * (s.edge_weight if k.kind == "addr" else 1.0)
                   for k in keys if k.scope in (GLOBAL, CROSS_HOST)}
            host = r.hosts[0] if r.hosts else None
            hub = min(1.0, HUB_PEERS / max(1, prevalence.get(("peers", host), 1))) if host else 1.0
            edges = []
            for a, logon_hub in edges_raw.get(r.id, []):
                target = ctx.host_of(a, r.time)
                w = s.edge_weight * rarity("addr", a) * hub * logon_hub
                if target not in r.hosts and w > 0:
                    edges.append(Edge(a, target, w))
            suppressed = r.id in finding_supp or any(_rule_match(x, r) for x in rule_supp)
            why = None
            actor = actors.get(r.id)
            adm = admins.get(actor) if actor else None
            if actor and adm and adm.routine(r.time, s.admin_days, s.admin_destinations, s.admin_age, s.admin_burst):
                # routine administration: no campaign of its own, no proximity, and the administrator's
                # account and workstation glue nothing (admin.py)
                routine = True
                why = f"routine administration by {actor[1] or '?'} from {actor[0]}"
                keys = [k for k in keys if k.kind not in ("user", "addr")]
                rar = {k: w for k, w in rar.items() if k in keys}
                edges = []
            items.append(Item(r.id, r.time.timestamp(), r.hosts, keys, rar, edges, routine, suppressed,
                              "TA0006" in r.tactics, r.time_last.timestamp(), r.rule, rule_hours, r.stage,
                              routine_why=why))
        want_keys = [(k.kind, k.value) for it in items for k in it.keys
                     if k.scope == INSTANCE or it.rarity.get(k, 0.0) > 0]
        want_hosts = [h for it in items for h in it.hosts] + [e.host for it in items for e in it.edges]
        tmin = min(it.time for it in items)
        tmax = max(it.time for it in items)
        t = report.lap("items", t)
        raw = cs.neighbourhood(con, want_keys, want_hosts, tmin, tmax, horizon=s.horizon,
                               edge_window=s.edge_window, host_window=s.host_window,
                               estate_window=s.estate_max_window if s.estate_proximity else None)
        t = report.lap("neighbourhood", t)
        hood = Neighbourhood(
            [EntityRow(*e) for e in raw.entities],
            [HostRow(h, c, t, f, w, e, rl, st, sg) for kind, h, c, t, f, w, e, rl, st, sg in raw.hosts
             if kind == "host"],
            [HostRow(h, c, t, f, w, e, rl, st, sg) for kind, h, c, t, f, w, e, rl, st, sg in raw.hosts
             if kind == "touch"],
            {c: CampaignInfo(a, f, cr) for c, (a, f, cr) in raw.campaigns.items()}, raw.host_stats, raw.estate,
            raw.stage_stats, known, raw.rule_hours)
        result = Linker(s, hood).run(items)
        t = report.lap("link", t)
        run_id = report.run_id
        _write(con, result, items, by_id, weights, run_id)
        cs.write_host_stats(con, result.host_stats)
        cs.write_stage_stats(con, result.stage_stats)
        carried = cs.apply_merges(con, result.merged, run_id)
        t = report.lap("write", t)
        stats = publish.publish(con, sorted(result.touched), s, carried, supp)
        con.execute("COMMIT")
        report.lap("publish", t)
    report.findings += len(rows)
    report.members += sum(1 for d in result.decisions if d.disposition == MEMBER)
    report.routine += sum(1 for d in result.decisions if d.disposition == "routine")
    report.suppressed += sum(1 for d in result.decisions if d.disposition == "suppressed")
    report.new_campaigns += len(result.created)
    report.merges += len(result.merged)
    report.published += stats.published
    report.detected.extend(stats.detected)


def _rule_match(sup: cs.Suppression, r: _Row) -> bool:
    if sup.target not in (r.rule_id, r.rule):
        return False
    host = sup.conditions.get("host")
    return host is None or host in r.hosts


def _write(con: Any, result: LinkResult, items: list[Item], rows: dict[str, _Row], weights: dict[str, float],
           run_id: str) -> None:
    now = datetime.now(UTC)
    item_by_id = {it.id: it for it in items}
    cols: dict[str, list[Any]] = {f.name: [] for f in cs.MEMBER_SCHEMA}
    idx: dict[str, list[Any]] = {f.name: [] for f in cs.INDEX_SCHEMA}
    for d in result.decisions:
        r = rows[d.finding]
        it = item_by_id[d.finding]
        host = r.hosts[0] if r.hosts else None
        for name, value in (("finding_id", r.id), ("campaign_id", d.campaign), ("disposition", d.disposition),
                            ("time", r.time), ("time_last", r.time_last), ("host", host), ("rule_id", r.rule_id),
                            ("detector", r.detector), ("severity", r.severity), ("stage", r.stage),
                            ("tactics", r.tactics), ("weight", weights[r.id]), ("link", d.link), ("via", d.via),
                            ("link_weight", d.link_weight),
                            ("why", orjson.dumps([w.to_json() for w in d.why[:20]]).decode()),
                            ("suppressed", d.disposition == "suppressed"), ("run_id", run_id), ("processed_at", now)):
            cols[name].append(value)
        if d.disposition != MEMBER:
            continue

        def add(kind: str, value: str, weight: float | None = None, _r: _Row = r, _h: str | None = host,
                at: datetime | None = None) -> None:
            idx["finding_id"].append(_r.id)
            idx["kind"].append(kind)
            idx["value"].append(value)
            idx["host"].append(_h)
            idx["time"].append(at or _r.time)
            idx["weight"].append(weight)

        ends = (r.time, r.time_last) if r.time_last > r.time else (r.time,)
        for at in ends:  # a finding spanning a time range is found by proximity to either end
            for h in it.hosts:
                add("host", h, at=at)
            for e in it.edges:
                add("touch", e.host, e.weight, at=at)
        for k in it.keys:
            add(k.kind, k.value)
    cs.write_members(con, pa.table(cols, schema=cs.MEMBER_SCHEMA), pa.table(idx, schema=cs.INDEX_SCHEMA))


__all__ = ["CorrelateReport", "LinkKey", "correlate"]
