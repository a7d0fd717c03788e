"""Kill-chain assembly and the campaign score (pure functions).

**Stages.** A member's stage is the one its detector gave (model/killchain.py: the furthest
tactic along the lifecycle). Correlation, which knows the history, re-stages persistence and
command-and-control (`establish_foothold` findings carrying TA0003 or TA0011) that come *after*
the campaign has reached a later stage (escalation, internal recon, lateral movement,
exfiltration) to `maintain_presence`: a second scheduled task after lateral movement is the
attacker keeping the door open, not a new foothold. Findings without any tactic are `unstaged`.

**Score** (docs/campaigns.md):

    evidence weight of a finding   w = severity weight x rule novelty
    rule novelty                   min(1, sqrt(3 / hosts the rule fired on))
    stage evidence                 E_s = 1 - prod over distinct rules r in s of (1 - w_r),  w_r = max w of r's findings
    progression                    P = sum over stages of value(s) x E_s       (value rises along the kill chain)
    order                          O = 0.25 x (L - 1), L = the longest chain of stages whose first
                                       evidence follows kill-chain order (maintain_presence and unstaged
                                       evidence are not steps)
    spread                         H = min(1, 0.25 x (hosts - 1)), only with >= 2 rules in >= 2 stages
    score                          S = P + O + H;   detected when S >= 1.5

Many copies of one finding count once (a rule contributes its strongest finding only), a stage
contributes at most its value, and spread never substitutes for progression: one noisy rule
firing everywhere scores at most 1.25, below the threshold.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aptwatch.correlate.settings import UNSTAGED, UNSTAGED_VALUE, CorrelateSettings
from aptwatch.model.killchain import STAGE_INDEX, Stage

FOOTHOLD = Stage.ESTABLISH_FOOTHOLD.value
MAINTAIN = Stage.MAINTAIN_PRESENCE.value
#: stages after which recurring persistence / C2 is re-staged to maintain_presence
LATER_STAGES = frozenset({Stage.ESCALATE_PRIVILEGES.value, Stage.INTERNAL_RECON.value,
                          Stage.LATERAL_MOVEMENT.value, Stage.DATA_EXFILTRATION.value})
RECURRING_TACTICS = frozenset({"TA0003", "TA0011"})
#: ordering for display: kill-chain order, unstaged last
STAGE_ORDER_KEY = {**STAGE_INDEX, UNSTAGED: len(STAGE_INDEX)}


def rule_novelty(rule_hosts: int, settings: CorrelateSettings) -> float:
    """min(1, sqrt(k / hosts the rule fired on)): a rule firing across the fleet carries less."""
    if rule_hosts <= 0:
        return 1.0
    return min(1.0, math.sqrt(settings.rule_novel_hosts / rule_hosts))


def evidence_weight(severity: str, rule_hosts: int, settings: CorrelateSettings) -> float:
    return settings.severity_weight.get(severity, settings.severity_weight["informational"]) * rule_novelty(
        rule_hosts, settings)


def effective_stage(stage: str | None, tactics: Iterable[str], time: float, later_since: float | None) -> str:
    """The member's stage in its campaign (re-staging of recurring persistence / C2)."""
    if stage is None:
        return UNSTAGED
    if stage == FOOTHOLD and later_since is not None and time > later_since and RECURRING_TACTICS & set(tactics):
        return MAINTAIN
    return stage


@dataclass(frozen=True)
class Score:
    total: float
    progression: float
    spread: float
    hosts: int
    stages: dict[str, float]
    #: stage -> rule -> weight (strongest finding of the rule in that stage)
    rules: dict[str, dict[str, float]]
    order: float = 0.0
    #: the longest chain of stages in kill-chain order by first evidence
    chain: tuple[str, ...] = ()

    def detected(self, settings: CorrelateSettings) -> bool:
        return self.total >= settings.detect_threshold - 1e-9

    def explain(self, settings: CorrelateSettings, top_rules: int = 5) -> dict[str, Any]:
        prog = []
        for stage in sorted(self.rules, key=lambda s: STAGE_ORDER_KEY.get(s, 99)):
            rules = sorted(self.rules[stage].items(), key=lambda kv: (-kv[1], kv[0]))
            value = stage_value(stage, settings)
            prog.append({
                "stage": stage, "value": value, "evidence": round(self.stages[stage], 4),
                "points": round(value * self.stages[stage], 4),
                "rules": [{"rule": r, "weight": round(w, 4)} for r, w in rules[:top_rules]],
                "rules_total": len(rules),
            })
        return {
            "total": round(self.total, 4), "threshold": settings.detect_threshold,
            "detected": self.detected(settings), "progression": round(self.progression, 4),
            "stages": prog,
            "order": {"chain": list(self.chain), "points": round(self.order, 4)},
            "spread": {"hosts": self.hosts, "points": round(self.spread, 4),
                       "applies": self.spread > 0 or self.hosts <= 1},
            "rule": "score = sum(stage value x stage evidence) + order + spread; stage evidence = noisy-OR over "
                    "distinct rules of their strongest finding (copies count once); order = 0.25 per step of the "
                    "longest chain of stages first seen in kill-chain order; spread = 0.25 per extra host "
                    "(max 1), only with >= 2 rules in >= 2 stages",
        }


def stage_value(stage: str, settings: CorrelateSettings) -> float:
    return UNSTAGED_VALUE if stage == UNSTAGED else settings.stage_value.get(stage, 0.0)


def ordered_chain(stage_first: Mapping[str, float]) -> tuple[str, ...]:
    """The longest chain of kill-chain stages whose first evidence times follow kill-chain order."""
    steps = sorted(((t, STAGE_INDEX[s], s) for s, t in stage_first.items()
                    if s in STAGE_INDEX and s != MAINTAIN), key=lambda x: (x[0], x[1]))
    best: list[tuple[str, ...]] = []
    for i, (_, idx, s) in enumerate(steps):  # longest increasing subsequence (a handful of stages)
        chain: tuple[str, ...] = (s,)
        for j in range(i):
            if STAGE_INDEX[steps[j][2]] < idx and len(best[j]) + 1 > len(chain):
                chain = (*best[j], s)
        best.append(chain)
    return max(best, key=len, default=())


def score(rules: Mapping[str, Mapping[str, float]], hosts: int, settings: CorrelateSettings,
          stage_first: Mapping[str, float] | None = None) -> Score:
    """Score from stage -> rule -> strongest weight, the number of hosts, and each stage's first evidence."""
    stages: dict[str, float] = {}
    progression = 0.0
    distinct_rules: set[str] = set()
    for stage, per_rule in rules.items():
        ev = 1.0 - math.prod(1.0 - min(1.0, max(0.0, w)) for w in per_rule.values())
        stages[stage] = ev
        progression += stage_value(stage, settings) * ev
        distinct_rules.update(per_rule)
    active = [s for s, e in stages.items() if e > 0]
    spread = 0.0
    if len(active) >= 2 and len(distinct_rules) >= 2 and hosts > 1:
        spread = min(settings.spread_cap, settings.spread_per_host * (hosts - 1))
    chain = ordered_chain({s: t for s, t in (stage_first or {}).items() if stages.get(s, 0.0) > 0})
    order = settings.order_step * max(0, len(chain) - 1)
    return Score(progression + order + spread, progression, spread, hosts, stages,
                 {s: dict(r) for s, r in rules.items()}, order, chain)


@dataclass(frozen=True)
class MemberRow:
    """A member as scoring needs it (times in epoch seconds)."""

    finding: str
    time: float
    host: str | None
    rule: str
    stage: str | None
    tactics: tuple[str, ...]
    weight: float
    suppressed: bool = False


def assemble(members: Sequence[MemberRow]) -> tuple[dict[str, str], float | None]:
    """Effective stage of every member, and when the campaign first reached a later stage."""
    later = [m.time for m in members if not m.suppressed and m.stage in LATER_STAGES]
    later_since = min(later) if later else None
    return {m.finding: effective_stage(m.stage, m.tactics, m.time, later_since) for m in members}, later_since


def score_members(members: Sequence[MemberRow], settings: CorrelateSettings) -> Score:
    """Score of a campaign from its (non-suppressed) members."""
    live = [m for m in members if not m.suppressed]
    stages, _ = assemble(live)
    rules: dict[str, dict[str, float]] = {}
    first: dict[str, float] = {}
    for m in live:
        st = stages[m.finding]
        per = rules.setdefault(st, {})
        per[m.rule] = max(per.get(m.rule, 0.0), m.weight)
        first[st] = min(first.get(st, m.time), m.time)
    return score(rules, len({m.host for m in live if m.host}), settings, first)


def crossing(members: Sequence[MemberRow], settings: CorrelateSettings) -> MemberRow | None:
    """The member whose arrival (in event time) first lifted the score to the threshold, if any.

    Incremental in event time: at each member, stages are assembled from what came before it
    (so a persistence finding is re-staged only if a later stage preceded it), and the score is
    what an analyst would have seen at that moment had the campaign been assembled then.
    """
    rules: dict[str, dict[str, float]] = {}
    hosts: set[str] = set()
    first: dict[str, float] = {}
    later_since: float | None = None
    for m in sorted((m for m in members if not m.suppressed), key=lambda m: (m.time, m.finding)):
        if m.stage in LATER_STAGES and later_since is None:
            later_since = m.time
        st = effective_stage(m.stage, m.tactics, m.time, later_since)
        per = rules.setdefault(st, {})
        if m.weight <= per.get(m.rule, -1.0) and (not m.host or m.host in hosts) and st in first:
            continue  # a copy: nothing changes
        per[m.rule] = max(per.get(m.rule, 0.0), m.weight)
        first.setdefault(st, m.time)
        if m.host:
            hosts.add(m.host)
        if score(rules, len(hosts), settings, first).detected(settings):
            return m
    return None
