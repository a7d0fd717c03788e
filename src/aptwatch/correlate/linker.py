"""Incremental linking: findings in, campaign assignments and merges out.

A pure function of (the chunk's findings, the neighbourhood of earlier state that touches them);
no I/O. Findings are taken in event-time order. For each one, every link to an existing campaign
is weighed (see `Link` kinds below); the links to one campaign combine as a noisy-OR
`p = 1 - prod(1 - w)` in which all shared-entity links count as one, at the weight of the rarest
(`combine`); the finding joins the campaign it links to most strongly (`p >= join_threshold`), and merges
into it every other campaign it links to with `p >= merge_threshold`: a merge asserts that two campaigns
are one, and needs the evidence of two independent threshold links (a weaker second link is recorded in
the explanation, not acted on).
A finding that joins none starts a campaign of its own (its *seed*), unless its rule is routine on
its host or its actor a routine administrator (admin.py): routine findings only join through shared
artifacts, never start campaigns.

Link kinds and weights (docs/campaigns.md has the reasoning):

- `host_time`: same host, gap g: `exp(-k * rate * g)`, where rate is how often the host shows unusual
  activity (hours with non-routine findings per hour watched, smoothed towards the estate average),
  k chosen so that the weight reaches the join threshold exactly when the chance of unrelated activity
  in the gap is `host_coincidence` (settings.py). A finding that spans more than an hour (a beacon
  series, a week of uploads) widens the gap by its span beyond that hour: unrelated activity falls
  inside a two-week span as easily as into a two-week gap (`excess`).
- `recurrence`: the same rule on the same host again, weighed like `host_time` with the summed rates of
  the campaign's distinct rules on the host (`signals_rate`): every signal it left there is a chance for
  a coincidental repeat. Counts once with `host_time` and `progression` on the host, at the strongest.
- `entity`: a shared `global` key (external IP, domain, URL, hash), or a `cross_host` key (user,
  program, file, ...) the campaign saw on *another* host, within the horizon:
  rarity `min(1, 2 / hosts carrying it)`; an internal address (`addr`) only within the edge window.
- `credential_use`: a user the campaign saw on another host, after the campaign showed credential
  access: `min(1, 2 * rarity)`.
- `process` / `session`: the same process (or parent / child), the same logon session:
  `instance_weight`.
- `edge`: the finding names an internal address of host A (a connection, a logon) and A's campaign
  was active within `edge_window`; or a campaign member named this finding's host earlier:
  `edge_weight * rarity(address) * hub factor`; the gap is widened by spans beyond an hour, as for
  `host_time` (a three-week connection names its destination for three weeks, not at one moment).
- `progression`: the finding's kill-chain stage comes after a stage the campaign already showed on
  the same host, earlier (reconnaissance then exploitation, exploitation then privilege escalation):
  weighed like `host_time`, but with the rate at which findings *of this stage* appear on the host
  (`stage_rate`), far lower than the rate of any unusual finding. `host_time` and `progression` on
  one host test the same gap: they count once, at the stronger (`combine`).
- `estate_time`: a finding on host B within minutes after a reconnaissance-stage member of a campaign
  on another host A, with a different rule (a scan of the DNS server, then the web attack on the
  intranet server): weighed by the chance that unrelated unusual activity falls that close on some
  other host (the estate's summed rate), capped at `edge_weight`, and divided by the number of other
  hosts with staged findings in that window; none when the finding's own rule fired on another host
  in that window: a sweep or a fleet-wide deployment links nobody.

Ids are stable: a campaign's id derives from its seed finding's id, and when campaigns merge the
one whose seed is earliest (time, then id) survives, so the same input gives the same ids however
it is cut into runs (up to late-arriving data, which never renames a campaign).
"""

from __future__ import annotations

import bisect
import hashlib
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from aptwatch.correlate.entities import CROSS_HOST, GLOBAL, INSTANCE, LinkKey
from aptwatch.correlate.settings import CorrelateSettings
from aptwatch.model.killchain import STAGE_INDEX, Stage

#: stages a progression link can lead to: the steps an intruder takes *on* a host it works on. Lateral
#: movement and exfiltration are left out: a host shows lateral movement when someone arrives on it (an
#: administrator's PsExec lands as a service install), which starts a chain there rather than advancing
#: one, and collection / exfiltration findings (an archive, a copy) are everyday administration too.
#: Evasion and impact (maintain_presence) accompany every step and say nothing about progression.
PROGRESSION_TO = frozenset(s.value for s in (Stage.INITIAL_COMPROMISE, Stage.ESTABLISH_FOOTHOLD,
                                             Stage.ESCALATE_PRIVILEGES, Stage.INTERNAL_RECON))
#: estate_time: the stage of the earlier finding on the other host, and of the later one. Reconnaissance is the
#: step whose cross-host trace is time alone (the scan comes from outside, before any foothold); the later
#: cross-host steps (lateral movement, use of stolen credentials) leave connections, logons and accounts,
#: which `edge`, `credential_use` and `entity` follow with their own evidence
ESTATE_FROM = frozenset({Stage.RECONNAISSANCE.value})
ESTATE_TO = frozenset(s.value for s in Stage if s not in (Stage.MAINTAIN_PRESENCE, Stage.RECONNAISSANCE))
#: the earlier stages a progression can come from
PROGRESSION_FROM = tuple(s.value for s in (Stage.RECONNAISSANCE, Stage.INITIAL_COMPROMISE, Stage.ESTABLISH_FOOTHOLD,
                                           Stage.ESCALATE_PRIVILEGES))

MEMBER = "member"
ROUTINE = "routine"
SUPPRESSED = "suppressed"


def campaign_id_for(seed_finding_id: str) -> str:
    """Campaign id derived from the seed finding: same input, same id."""
    return "c-" + hashlib.sha256(seed_finding_id.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Edge:
    """An internal address a finding names, resolved to a host, with its weight."""

    address: str
    host: str
    weight: float


@dataclass
class Item:
    """One finding, as correlation sees it. Times are epoch seconds."""

    id: str
    time: float
    hosts: list[str]
    keys: list[LinkKey]
    rarity: dict[LinkKey, float]
    edges: list[Edge] = field(default_factory=list)
    routine: bool = False
    suppressed: bool = False
    credential_access: bool = False
    #: last event time (a finding that groups alerts spans [time, time_last]); None = time
    time_last: float | None = None
    #: detector:rule, and the distinct earlier hours the rule fired in on the finding's host
    rule: str = ""
    rule_hours: int = 0
    #: the finding's kill-chain stage (None: unstaged)
    stage: str | None = None
    #: why the finding is routine when not by its rule's history (routine administration, admin.py)
    routine_why: str | None = None

    @property
    def end(self) -> float:
        return self.time if self.time_last is None or self.time_last < self.time else self.time_last


@dataclass(frozen=True)
class EntityRow:
    """A key of an earlier member: its campaign, host and time range."""

    kind: str
    value: str
    campaign: str
    host: str
    first: float
    last: float
    finding: str


@dataclass(frozen=True)
class HostRow:
    """An earlier member on a host (kind 'host'), or an earlier member that named the host ('touch')."""

    host: str
    campaign: str
    time: float
    finding: str
    weight: float = 1.0
    end: float | None = None
    rule: str = ""
    #: the member's first event time (a span's start; `time` may be its end)
    start: float | None = None
    #: the member's kill-chain stage
    stage: str | None = None


@dataclass(frozen=True)
class CampaignInfo:
    anchor_time: float
    anchor_finding: str
    credential_time: float | None = None


@dataclass
class Neighbourhood:
    """Earlier state touching the chunk (loaded by the store layer)."""

    entities: list[EntityRow] = field(default_factory=list)
    hosts: list[HostRow] = field(default_factory=list)
    touches: list[HostRow] = field(default_factory=list)
    campaigns: dict[str, CampaignInfo] = field(default_factory=dict)
    #: host -> [first seen, last seen, findings, active hours, start of the last active hour] (epoch s)
    host_stats: dict[str, list[float]] = field(default_factory=dict)
    #: over every host known before the chunk: (active hours, seconds watched)
    estate: tuple[float, float] = (0.0, 0.0)
    #: (host, stage) -> [distinct hours with non-routine findings of the stage, start of the last one]
    stage_stats: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    #: hosts correlation knows (the estate size: the summed rate of cross-host proximity)
    known_hosts: int = 0
    #: (host, rule) -> starts of the first distinct hours the rule fired in there (epoch s, sorted, capped)
    rule_hours: dict[tuple[str, str], list[float]] = field(default_factory=dict)


class LinkEvidence(NamedTuple):
    link: str
    via: str
    entity: str
    weight: float
    campaign: str
    #: temporal links on the same host share a scope ('host:<key>') and count once, at the strongest
    scope: str = ""

    def to_json(self) -> dict[str, object]:
        return {"link": self.link, "via": self.via, "entity": self.entity, "weight": round(self.weight, 4)}


@dataclass
class Decision:
    """What became of one finding."""

    finding: str
    disposition: str
    campaign: str | None
    link: str
    via: str | None
    link_weight: float
    why: list[LinkEvidence]


@dataclass
class LinkResult:
    decisions: list[Decision]
    #: absorbed campaign id -> surviving campaign id (ids that existed before this chunk, and new ones)
    merged: dict[str, str]
    #: campaigns that gained members or absorbed others
    touched: set[str]
    #: campaign -> (anchor time, anchor finding) for campaigns created in this chunk
    created: dict[str, tuple[float, str]]
    #: host -> [first seen, last seen, findings, active hours, last active hour] after the chunk
    host_stats: dict[str, list[float]] = field(default_factory=dict)
    #: (host, stage) -> [hours, last hour] after the chunk (those the chunk changed)
    stage_stats: dict[tuple[str, str], list[float]] = field(default_factory=dict)


class _TimeIndex:
    """Per key: campaign -> sorted times (with the finding and weight at each), merged eagerly."""

    def __init__(self, keep: float) -> None:
        self.by_key: dict[str, dict[str, tuple[list[float], list[tuple[str, float, float]]]]] = {}
        self.keys_of: dict[str, set[str]] = {}
        #: findings come in time order: campaigns whose last member on a key is older than this
        #: before the current finding can no longer be reached and are dropped from the key
        self.keep = keep
        #: when each key was last pruned (pruning scans the key's campaigns: once per quarter `keep`)
        self.pruned: dict[str, float] = {}
        #: finding -> (first, last) event time of the member (a span is indexed at both ends)
        self.spans: dict[str, tuple[float, float]] = {}

    def add(self, key: str, campaign: str, t: float, finding: str, weight: float = 1.0, end: float | None = None,
            start: float | None = None) -> None:
        """A member at t (spanning from `start` to `end` when it groups events over a range)."""
        lo, hi = min(t, start if start is not None else t), max(t, end if end is not None else t)
        old = self.spans.get(finding)
        self.spans[finding] = (lo, hi) if old is None else (min(lo, old[0]), max(hi, old[1]))
        per = self.by_key.setdefault(key, {})
        times, payload = per.setdefault(campaign, ([], []))
        i = bisect.bisect_right(times, t)
        times.insert(i, t)
        payload.insert(i, (finding, weight, t if end is None or end < t else end))
        self.keys_of.setdefault(campaign, set()).add(key)

    def nearest(self, key: str, t: float, before: float, after: float, t_end: float | None = None
                ) -> Iterable[tuple[str, float, str, float]]:
        """(campaign, gap, finding, weight) of each campaign's member nearest to the span [t, t_end] within
        `before` ahead of it and `after` behind it (gap 0 when a member falls inside the span)."""
        per = self.by_key.get(key)
        if not per:
            return
        end = t if t_end is None or t_end < t else t_end
        if t - self.pruned.get(key, -math.inf) > self.keep / 4:
            self.pruned[key] = t
            for c in [c for c, (times, _) in per.items() if times[-1] < t - self.keep]:
                del per[c]
        for campaign, (times, payload) in per.items():
            i = bisect.bisect_left(times, t)
            best: tuple[float, int] | None = None
            if i < len(times) and times[i] <= end:
                best = (0.0, i)
            else:
                if i > 0:  # the member starting just before: its own span may reach us
                    gap = max(0.0, t - payload[i - 1][2])
                    if gap <= before:
                        best = (gap, i - 1)
                k = bisect.bisect_right(times, end)
                if k < len(times) and times[k] - end <= after and (best is None or times[k] - end < best[0]):
                    best = (times[k] - end, k)
            if best is not None:
                finding, weight, _ = payload[best[1]]
                yield campaign, best[0], finding, weight

    def span(self, finding: str) -> float:
        """How long the member's events last beyond the hour the host's rate counts them as (see `excess`)."""
        lo, hi = self.spans.get(finding, (0.0, 0.0))
        return excess(hi - lo)

    def merge(self, absorbed: str, survivor: str) -> None:
        for key in self.keys_of.pop(absorbed, set()):
            per = self.by_key[key]
            if absorbed not in per:
                continue
            a_times, a_pay = per.pop(absorbed)
            s_times, s_pay = per.setdefault(survivor, ([], []))
            merged = sorted(zip(s_times + a_times, s_pay + a_pay, strict=True), key=lambda x: x[0])
            per[survivor] = ([m[0] for m in merged], [m[1] for m in merged])
            self.keys_of.setdefault(survivor, set()).add(key)


@dataclass
class _EntityEntry:
    hosts: set[str]
    first: float
    last: float
    finding: str


class _EntityIndex:
    def __init__(self) -> None:
        self.by_key: dict[tuple[str, str], dict[str, _EntityEntry]] = {}
        self.keys_of: dict[str, set[tuple[str, str]]] = {}

    def add(self, key: tuple[str, str], campaign: str, host: str, first: float, last: float, finding: str) -> None:
        per = self.by_key.setdefault(key, {})
        e = per.get(campaign)
        if e is None:
            per[campaign] = _EntityEntry({host}, first, last, finding)
        else:
            e.hosts.add(host)
            if last >= e.last:
                e.finding = finding
            e.first = min(e.first, first)
            e.last = max(e.last, last)
        self.keys_of.setdefault(campaign, set()).add(key)

    def merge(self, absorbed: str, survivor: str) -> None:
        for key in self.keys_of.pop(absorbed, set()):
            per = self.by_key[key]
            a = per.pop(absorbed, None)
            if a is None:
                continue
            s = per.get(survivor)
            if s is None:
                per[survivor] = a
            else:
                s.hosts |= a.hosts
                if a.last > s.last:
                    s.finding = a.finding
                s.first = min(s.first, a.first)
                s.last = max(s.last, a.last)
            self.keys_of.setdefault(survivor, set()).add(key)


class Linker:
    """Links one chunk of findings against earlier state. Create one per chunk."""

    def __init__(self, settings: CorrelateSettings, hood: Neighbourhood) -> None:
        self.s = settings
        self.parent: dict[str, str] = {}
        self.anchor: dict[str, tuple[float, str]] = {}
        self.cred: dict[str, float] = {}
        keep = max(settings.edge_window, settings.host_window).total_seconds()
        self.hosts = _TimeIndex(keep)
        self.touches = _TimeIndex(keep)
        #: members per (host, rule): the same unusual signal recurring
        self.recur = _TimeIndex(keep)
        #: members per (host, stage): the kill chain progressing on a host
        self.staged = _TimeIndex(keep)
        #: staged members of every host in time order: (time, end, host, campaign, finding, rule, stage)
        self.timeline: list[tuple[float, float, str, str, str, str, str]] = []
        self.known_hosts = hood.known_hosts
        self.rule_hours = hood.rule_hours
        #: campaign -> host -> rule -> its last member there: the signals a recurrence could repeat
        self.rules_on: dict[str, dict[str, dict[str, float]]] = {}
        self.entities = _EntityIndex()
        self.host_window = settings.host_window.total_seconds()
        self.k = math.log(2.0) / -math.log(1.0 - settings.host_coincidence)
        self.prior_seconds = settings.host_prior_hours * 3600.0
        self.hstat: dict[str, list[float]] = {h: list(v) for h, v in hood.host_stats.items()}
        self.hstat_touched: set[str] = set()
        self.sstat: dict[tuple[str, str], list[float]] = {k: list(v) for k, v in hood.stage_stats.items()}
        self.sstat_touched: set[tuple[str, str]] = set()
        # the estate average: hosts loaded here are already in hood.estate, so only growth is added
        self.estate_active, self.estate_watched = hood.estate
        self.edge_window = settings.edge_window.total_seconds()
        self.horizon = settings.horizon.total_seconds()
        self.merged: dict[str, str] = {}
        self.touched: set[str] = set()
        self.created: dict[str, tuple[float, str]] = {}
        for cid, info in hood.campaigns.items():
            self.anchor[cid] = (info.anchor_time, info.anchor_finding)
            if info.credential_time is not None:
                self.cred[cid] = info.credential_time
        for r in hood.hosts:
            self._known(r.campaign)
            self.hosts.add(r.host, r.campaign, r.time, r.finding, end=r.end, start=r.start)
            if r.rule:
                self.recur.add(f"{r.host}\x1f{r.rule}", r.campaign, r.time, r.finding, end=r.end, start=r.start)
                self._signal(r.campaign, r.host, r.rule, r.time)
            if r.stage in STAGE_INDEX:
                self.staged.add(f"{r.host}\x1f{r.stage}", r.campaign, r.time, r.finding, end=r.end, start=r.start)
                if r.start is None or r.time <= r.start:  # a span is indexed at both ends: once is enough here
                    self.timeline.append((r.time, r.end if r.end is not None else r.time, r.host, r.campaign,
                                          r.finding, r.rule, r.stage))
        self.timeline.sort()
        for r in hood.touches:
            self._known(r.campaign)
            self.touches.add(r.host, r.campaign, r.time, r.finding, r.weight, end=r.end)
        for e in hood.entities:
            self._known(e.campaign)
            self.entities.add((e.kind, e.value), e.campaign, e.host, e.first, e.last, e.finding)

    # -- union-find ---------------------------------------------------------------------
    def _known(self, cid: str) -> None:
        if cid not in self.parent:
            self.parent[cid] = cid
            self.anchor.setdefault(cid, (math.inf, cid))

    def find(self, cid: str) -> str:
        root = cid
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[cid] != root:  # path compression
            self.parent[cid], cid = root, self.parent[cid]
        return root

    def _union(self, a: str, b: str) -> str:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return ra
        survivor, absorbed = (ra, rb) if self.anchor[ra] <= self.anchor[rb] else (rb, ra)
        self.parent[absorbed] = survivor
        self.merged[absorbed] = survivor
        self.touched.discard(absorbed)
        self.touched.add(survivor)
        if absorbed in self.cred:
            t = self.cred.pop(absorbed)
            self.cred[survivor] = min(t, self.cred.get(survivor, t))
        self.hosts.merge(absorbed, survivor)
        self.touches.merge(absorbed, survivor)
        self.recur.merge(absorbed, survivor)
        self.staged.merge(absorbed, survivor)
        self.entities.merge(absorbed, survivor)
        for h, rules in self.rules_on.pop(absorbed, {}).items():
            for rule, t in rules.items():
                self._signal(survivor, h, rule, t)
        return survivor

    def _signal(self, cid: str, host: str, rule: str, t: float) -> None:
        per = self.rules_on.setdefault(cid, {}).setdefault(host, {})
        per[rule] = max(t, per.get(rule, t))

    # -- links ----------------------------------------------------------------------------
    def _links(self, it: Item) -> dict[str, list[LinkEvidence]]:
        found: dict[str, dict[tuple[str, str], LinkEvidence]] = {}

        def offer(cid: str, ev: LinkEvidence) -> None:
            root = self.find(cid)
            per = found.setdefault(root, {})
            k = (ev.link, ev.entity)
            if k not in per or per[k].weight < ev.weight:
                per[k] = LinkEvidence(ev.link, ev.via, ev.entity, ev.weight, root, ev.scope)

        own = set(it.hosts)
        own_span = excess(it.end - it.time)
        if not it.routine:
            # a finding on n hosts meets unrelated activity on any of them: their rates add up
            rates = {h: self.rate(h, it.time) for h in it.hosts}
            total_rate = sum(rates.values())
            for h in it.hosts:
                rate = total_rate
                # beyond this gap the weight is below min_link_weight
                window = min(self.host_window, math.log(1.0 / self.s.min_link_weight) / (self.k * rate))
                for cid, gap, fid, _ in self.hosts.nearest(h, it.time, window, window, it.end):
                    # a span is a window for coincidence as wide as itself: unrelated activity falls
                    # inside a two-week beacon series as easily as into a two-week gap
                    gap += self.hosts.span(fid) + own_span
                    w = self.proximity(gap, rate)
                    offer(cid, LinkEvidence("host_time", fid, f"host:{h} ({_gap(gap)} apart; unusual activity "
                                                              f"there about once every {_gap(1.0 / rate)})", w, cid,
                                            f"host:{h}"))
                if it.rule:
                    # the same unusual signal again: the rate of the campaign's own signals on this host sets
                    # the chance of a coincidence, not the host's rate for any unusual signal
                    rrate = self.rule_rate(h, it)
                    rwindow = min(self.host_window, math.log(1.0 / self.s.min_link_weight) / (self.k * rrate))
                    for cid, gap, fid, _ in self.recur.nearest(f"{h}\x1f{it.rule}", it.time, rwindow, rwindow,
                                                               it.end):
                        gap += self.recur.span(fid) + own_span
                        frate, n = self.signals_rate(cid, h, it, rrate, rate)
                        w = self.proximity(gap, frate)
                        offer(cid, LinkEvidence("recurrence", fid, f"rule:{it.rule} on host:{h} again "
                                                f"({_gap(gap)} apart; one of the campaign's {n} signal(s) there "
                                                f"recurs about once every {_gap(1.0 / frate)})", w, cid,
                                            f"host:{h}"))
                if it.stage in PROGRESSION_TO:
                    self._progression(it, h, own_span, offer)
                # an earlier member named this host (it connected here / logged on here); a finding on
                # n hosts meets such a touch on any of them n times as easily
                for cid, gap, fid, w in self.touches.nearest(h, it.time, self.edge_window, self.host_window, it.end):
                    # as for proximity, a span is a window as wide as itself: a first-seen connection that went
                    # on for three weeks names its destination for three weeks, not at one moment
                    gap += self.touches.span(fid) + own_span
                    if gap > self.edge_window:
                        continue
                    # the arrival on this host, then this finding: unless unrelated unusual activity on the host
                    # filled the gap (on a domain controller busy twice a day a touch 20 h before says little)
                    w *= self.arrival(gap, rate)
                    offer(cid, LinkEvidence("edge", fid, f"host:{h} (named {_gap(gap)} apart; unusual activity "
                                                         f"there about once every {_gap(1.0 / rate)})",
                                            w / len(rates), cid))
            for e in it.edges:
                if e.host in own:
                    continue
                for cid, gap, fid, _ in self.hosts.nearest(e.host, it.time, self.edge_window, self.host_window,
                                                           it.end):
                    gap += self.hosts.span(fid) + own_span
                    if gap > self.edge_window:
                        continue
                    erate = self.rate(e.host, it.time)
                    offer(cid, LinkEvidence("edge", fid, f"addr:{e.address} -> host:{e.host} ({_gap(gap)} apart; "
                                            f"unusual activity there about once every {_gap(1.0 / erate)})",
                                            e.weight * self.arrival(gap, erate), cid))
            if self.s.estate_proximity and it.stage in STAGE_INDEX and it.hosts:
                # an edge is the specific evidence of a connection between the two hosts, already weighed
                # against hubs (an administrator's workstation reaching many servers): closeness in time adds
                # nothing independent to it
                edged = {c for c, per in found.items() if any(k[0] == "edge" for k in per)}
                self._estate_time(it, own, offer, edged)
        for key in it.keys:
            entries = self.entities.by_key.get((key.kind, key.value))
            if not entries:
                continue
            base = it.rarity.get(key, 0.0) if key.scope != INSTANCE else self.s.instance_weight
            if base <= 0.0:
                continue
            # an internal address is the estate's infrastructure, not an attacker's artifact: it links
            # within the edge window, as edges do; external indicators link across the horizon
            reach = self.edge_window if key.kind == "addr" else self.horizon
            for cid, ent in list(entries.items()):
                if it.time - ent.last > reach or ent.first - it.time > reach:
                    continue
                if key.scope == CROSS_HOST and not (ent.hosts - own):
                    continue  # a user or program on its own host is context, not a link
                link = "entity" if key.scope in (GLOBAL, CROSS_HOST) else ("process" if key.kind == "proc" else
                                                                           "session")
                w = base
                if key.kind == "user" and key.scope == CROSS_HOST:
                    ct = self.cred.get(self.find(cid))
                    if ct is not None and ct < it.time:
                        link, w = "credential_use", min(1.0, 2.0 * base)
                offer(cid, LinkEvidence(link, ent.finding, key.label, w, cid))
        return {cid: sorted(v.values(), key=lambda x: -x.weight) for cid, v in found.items()}

    def _progression(self, it: Item, host: str, own_span: float,
                     offer: Callable[[str, LinkEvidence], None]) -> None:
        """The kill chain progressing on one host: an earlier stage of a campaign there, then this finding's
        later stage. The chance of a coincidence is that of *this stage* appearing on the host in the gap,
        not of any unusual finding: exploitation then privilege escalation 40 minutes later on a host that
        shows escalation-stage findings twice a week is not a coincidence, though the host is noisy."""
        assert it.stage is not None
        srate = self.stage_rate(host, it.stage, it.time)
        window = min(self.s.progression_window.total_seconds(),
                     math.log(1.0 / self.s.min_link_weight) / (self.k * srate))
        mine = STAGE_INDEX[it.stage]
        for earlier in PROGRESSION_FROM:
            if STAGE_INDEX[earlier] >= mine:
                break
            # only what came before: the chain runs forwards
            for cid, gap, fid, _ in self.staged.nearest(f"{host}\x1f{earlier}", it.time, window, 0.0, it.time):
                gap += self.staged.span(fid) + own_span
                w = self.proximity(gap, srate)
                offer(cid, LinkEvidence("progression", fid, f"host:{host}: {earlier} then {it.stage} ({_gap(gap)} "
                                        f"apart; {it.stage} there about once every {_gap(1.0 / srate)})", w, cid,
                                        f"host:{host}"))

    def _estate_time(self, it: Item, own: set[str], offer: Callable[[str, LinkEvidence], None],
                     edged: set[str]) -> None:
        """Staged findings on other hosts within minutes: one actor moving through the estate, unless the
        estate is busy enough at that moment for it to be a coincidence (see settings.estate_proximity)."""
        n = max(1, self.known_hosts, len(self.hstat))
        total = self.estate_rate() * n
        window = min(self.s.estate_max_window.total_seconds(),
                     math.log(1.0 / self.s.min_link_weight) / (self.k * total))
        # a member starting an hour before the window can still reach it: spans count beyond their first hour
        lo = bisect.bisect_left(self.timeline, (it.time - window - 3600.0,))
        hi = bisect.bisect_right(self.timeline, (it.end + window, math.inf))
        best: dict[str, tuple[float, str, str, str]] = {}
        others: set[str] = set()
        own_span = excess(it.end - it.time)
        assert it.stage is not None
        mine = STAGE_INDEX[it.stage]
        for t, end, host, cid, fid, rule, stage in self.timeline[lo:hi]:
            if host in own:
                continue
            # as for host_time: a span is a window for coincidence as wide as itself
            gap = max(0.0, it.time - end, t - it.end) + excess(end - t) + own_span
            if gap > window:
                continue
            others.add(host)
            if rule == it.rule:
                # this signal on another host at the same moment: a sweep or a deployment, not a chain
                return
            # the chain advances from host to host (reconnaissance of one, exploitation of the next): an earlier
            # stage on the other host, before this finding; evasion / impact say nothing about order
            if t > it.time or stage not in ESTATE_FROM or it.stage not in ESTATE_TO or STAGE_INDEX[stage] >= mine:
                continue
            root = self.find(cid)
            if root in edged:
                continue
            if root not in best or gap < best[root][0]:
                best[root] = (gap, fid, host, stage)
        if not best:
            return
        for cid, (gap, fid, host, stage) in best.items():
            w = min(self.s.edge_weight, math.exp(-self.k * total * gap)) / len(others)
            offer(cid, LinkEvidence("estate_time", fid, f"host:{host} {stage} -> host:{it.hosts[0]} {it.stage} "
                                    f"({_gap(gap)} apart; "
                                    f"unusual activity somewhere among {n} hosts about once every "
                                    f"{_gap(1.0 / total)}; {len(others)} other host(s) active then)", w, cid))

    def stage_rate(self, host: str, stage: str, t: float) -> float:
        """How often (per second) findings of a kill-chain stage appear on the host: distinct earlier hours with
        non-routine findings of that stage over the time watched, with one pseudo-hour spread over
        `host_prior_hours` (never above the host's rate for any unusual finding)."""
        st = self.hstat.get(host)
        watched = max(0.0, t - st[0]) if st else 0.0
        hours = self.sstat.get((host, stage), [0.0, -1.0])[0]
        return min((hours + 1.0) / (watched + self.prior_seconds), self.rate(host, t))

    def estate_rate(self) -> float:
        """Unusual hours per second watched over all hosts (the prior for each host's own rate)."""
        pseudo = self.s.host_prior_hours  # hours of pseudo-observation at the prior rate
        return (self.estate_active + self.s.host_prior_rate * pseudo) / (self.estate_watched + pseudo * 3600.0)

    def rate(self, host: str, t: float) -> float:
        """How often (per second) the host shows unusual activity, as known at time t: distinct hours with
        non-routine findings over time watched, smoothed towards the estate average with the weight of
        `host_prior_hours`. Counted in hours, not in campaigns, so it does not depend on the joins it weighs."""
        prior = self.estate_rate()
        st = self.hstat.get(host)
        if st is None:
            return prior
        return (st[3] + prior * self.prior_seconds) / (max(0.0, t - st[0]) + self.prior_seconds)

    def rule_rate(self, host: str, it: Item) -> float:
        """How often (per second) this rule fires on the host: its distinct earlier hours there over the time
        the host has been watched, with one pseudo-hour spread over `host_prior_hours` (never above the
        host's rate for any unusual signal)."""
        st = self.hstat.get(host)
        watched = max(0.0, it.time - st[0]) if st else 0.0
        own = (it.rule_hours + 1.0) / (watched + self.prior_seconds)
        return min(own, self.rate(host, it.time))

    def signals_rate(self, cid: str, host: str, it: Item, own: float, cap: float) -> tuple[float, int]:
        """How often (per second) *one of* the campaign's signals on the host recurs by chance: the sum of
        the rates of the distinct rules it showed there (each as `rule_rate`), never above `cap` (the
        host's rate for any unusual finding), and the number of those rules.

        Recurrence is a test of every signal the campaign left on the host: an SSH login that raises nine
        login anomalies four hours after an intrusion that raised twenty-seven offers nine chances for one
        of them to repeat one of the twenty-seven, each below the 10 % coincidence bound on its own. The
        family-wise chance is what the link must weigh (the rule applied to hosts, where a finding on `n`
        hosts weighs proximity with their summed rates)."""
        if not self.s.recurrence_family:
            return own, 1
        rules = self.rules_on.get(self.find(cid), {}).get(host, {})
        st = self.hstat.get(host)
        watched = max(0.0, it.time - st[0]) if st else 0.0
        hour = (it.time // 3600.0) * 3600.0
        total = own
        n = 1
        for rule in rules:
            if rule == it.rule:
                continue
            hours = bisect.bisect_left(self.rule_hours.get((host, rule), ()), hour)
            total += (hours + 1.0) / (watched + self.prior_seconds)
            n += 1
        return min(total, max(cap, own)), n

    def arrival(self, gap: float, rate: float) -> float:
        """The chance that no unrelated unusual activity fell on a host (at `rate`) within `gap`: how much of an
        edge's weight carries from a connection to what happens at its other end `gap` later."""
        return math.exp(-rate * gap)

    def proximity(self, gap: float, rate: float) -> float:
        return min(self.s.host_weight, math.exp(-self.k * rate * gap))

    def _observe(self, it: Item) -> None:
        for h in it.hosts:
            st = self.hstat.get(h)
            if st is None:
                st = self.hstat[h] = [it.time, it.time, 0.0, 0.0, -1.0]
            if it.time > st[1]:
                self.estate_watched += it.time - st[1]
            st[0] = min(st[0], it.time)
            st[1] = max(st[1], it.time)
            st[2] += 1
            self.hstat_touched.add(h)

    def _active(self, it: Item) -> None:
        """Count the finding's hour as unusual activity on its hosts (after its own links were weighed)."""
        hour = (it.time // 3600.0) * 3600.0
        for h in it.hosts:
            if it.stage in STAGE_INDEX:
                ss = self.sstat.setdefault((h, it.stage), [0.0, -1.0])
                if hour != ss[1]:
                    ss[0] += 1
                    ss[1] = hour
                    self.sstat_touched.add((h, it.stage))
            st = self.hstat[h]
            if hour != st[4]:
                st[3] += 1
                st[4] = hour
                self.estate_active += 1

    # -- main -------------------------------------------------------------------------------
    def run(self, items: Sequence[Item]) -> LinkResult:
        decisions: list[Decision] = []
        for it in sorted(items, key=lambda x: (x.time, x.id)):
            if it.suppressed:
                decisions.append(Decision(it.id, SUPPRESSED, None, "suppressed", None, 0.0, []))
                continue
            self._observe(it)
            links = self._links(it)
            joined: list[tuple[str, float, list[LinkEvidence]]] = []
            for cid, evs in links.items():
                p = combine(evs)
                if p >= self.s.join_threshold:
                    joined.append((cid, p, evs))
            if not joined:
                if it.routine:
                    decisions.append(Decision(it.id, ROUTINE, None, "routine", it.routine_why, 0.0, []))
                    continue
                cid = campaign_id_for(it.id)
                self.parent[cid] = cid
                self.anchor[cid] = (it.time, it.id)
                self.created[cid] = (it.time, it.id)
                root = cid
                decision = Decision(it.id, MEMBER, cid, "seed", None, 1.0, [])
            else:
                joined.sort(key=lambda j: (-j[1], self.anchor[j[0]]))
                root = joined[0][0]
                # the finding joins its strongest campaign; another one it reaches is merged into it only
                # on the evidence of a merge (see `merge_threshold`), else the link is kept as an explanation
                for cid, p, _ in joined[1:]:
                    if p >= self.s.merge_threshold:
                        root = self._union(root, cid)
                best = joined[0][2][0]
                why = [e for _, _, evs in joined for e in evs]
                decision = Decision(it.id, MEMBER, root, best.link, best.via, joined[0][1], why)
            self.touched.add(root)
            self._index(it, root)
            if not it.routine:
                self._active(it)
            decisions.append(decision)
        for d in decisions:
            if d.campaign is not None:
                d.campaign = self.find(d.campaign)
        merged = {a: self.find(a) for a in self.merged}
        touched = {self.find(c) for c in self.touched}
        return LinkResult(decisions, merged, touched, {c: a for c, a in self.created.items() if c not in merged},
                          {h: self.hstat[h] for h in self.hstat_touched},
                          {k: self.sstat[k] for k in self.sstat_touched})

    def _index(self, it: Item, root: str) -> None:
        host = it.hosts[0] if it.hosts else ""
        ends = (it.time, it.end) if it.end > it.time else (it.time,)
        for t in ends:  # a span is indexed by both ends
            for h in it.hosts:
                self.hosts.add(h, root, t, it.id, end=it.end, start=it.time)
                if it.rule:
                    self.recur.add(f"{h}\x1f{it.rule}", root, t, it.id, end=it.end, start=it.time)
                    self._signal(root, h, it.rule, t)
                if it.stage in STAGE_INDEX:
                    self.staged.add(f"{h}\x1f{it.stage}", root, t, it.id, end=it.end, start=it.time)
            for e in it.edges:
                if e.host not in it.hosts:
                    self.touches.add(e.host, root, t, it.id, e.weight, end=it.end)
        if it.stage in STAGE_INDEX and not it.routine:
            for h in it.hosts:
                bisect.insort(self.timeline, (it.time, it.end, h, root, it.id, it.rule, it.stage))
        for key in it.keys:
            self.entities.add((key.kind, key.value), root, host, it.time, it.end, it.id)
        if it.credential_access:
            self.cred[root] = min(it.time, self.cred.get(root, it.time))


def excess(span: float) -> float:
    """The part of a finding's span that widens proximity gaps: what lies beyond one hour. A host's
    rate counts unusual *hours*, so activity within an hour (an hour of grouped alerts) is one unit
    of it already; a two-week beacon series covers 335 hours more than it was counted as."""
    return max(0.0, span - 3600.0)


def combine(evs: Iterable[LinkEvidence]) -> float:
    """Join probability of a finding's links to one campaign: a noisy-OR over independent links, where
    the shared entities count as one link at the weight of the rarest. The user, source address, tool
    and service name of one action describe the same actor doing the same thing (an administrator's
    routine carries all four every time): they are not independent evidence, so four common ones must
    not add up to a rare one."""
    rest = 1.0
    shared = 0.0
    #: per host: (noisy-OR of its host_time links, strongest progression / recurrence link)
    near: dict[str, list[float]] = {}
    for e in evs:
        if e.link == "entity":
            shared = max(shared, e.weight)
        elif e.link == "host_time" and e.scope:
            n = near.setdefault(e.scope, [1.0, 0.0])
            n[0] *= 1.0 - e.weight
        elif e.link in ("progression", "recurrence") and e.scope:
            n = near.setdefault(e.scope, [1.0, 0.0])
            n[1] = max(n[1], e.weight)
        else:
            rest *= 1.0 - e.weight
    for miss, prog in near.values():
        # proximity on a host, progression and recurrence on it weigh the same gap: the stronger reading
        # counts (the same signal again, or the next stage, is a narrower reading of "something unusual
        # again", not independent evidence)
        rest *= min(miss, 1.0 - prog)
    return 1.0 - rest * (1.0 - shared)


def _gap(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f}s"
    if seconds < 5400:
        return f"{seconds / 60:.0f}min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"
