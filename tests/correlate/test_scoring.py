"""Kill-chain assembly and the campaign score."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from aptwatch.correlate.scoring import MemberRow, assemble, crossing, evidence_weight, rule_novelty, score_members
from aptwatch.correlate.settings import CorrelateSettings

S = CorrelateSettings()


def m(fid: str, t: float, rule: str, stage: str | None, tactics: tuple[str, ...] = (), w: float = 0.5,
      host: str = "ws01", suppressed: bool = False) -> MemberRow:
    return MemberRow(fid, t, host, rule, stage, tactics, w, suppressed)


def test_copies_of_one_noisy_finding_cannot_make_a_campaign() -> None:
    copies = [m(f"f{i}", i, "sigma:noisy", "lateral_movement", ("TA0008",), 1.0, host=f"h{i % 50}")
              for i in range(5000)]
    sc = score_members(copies, S)
    assert sc.total == 1.25 and sc.spread == 0.0  # the stage's value, once; spread needs >= 2 rules in >= 2 stages
    assert not sc.detected(S)
    assert crossing(copies, S) is None


def test_score_rises_with_progression() -> None:
    chain = [("initial_compromise", "TA0001"), ("establish_foothold", "TA0002"), ("escalate_privileges", "TA0006"),
             ("lateral_movement", "TA0008"), ("data_exfiltration", "TA0010")]
    scores = []
    for n in range(1, len(chain) + 1):
        rows = [m(f"f{i}", i, f"r{i}", st, (ta,)) for i, (st, ta) in enumerate(chain[:n])]
        scores.append(score_members(rows, S).total)
    assert scores == sorted(scores) and len(set(scores)) == len(scores)
    assert not score_members([m("a", 0, "r0", "initial_compromise")], S).detected(S)
    assert score_members([m(f"f{i}", i, f"r{i}", st, (ta,)) for i, (st, ta) in enumerate(chain[:3])], S).detected(S)


def test_spread_rewards_hosts_only_with_progression() -> None:
    one_host = [m("a", 0, "r1", "escalate_privileges", w=0.5), m("b", 1, "r2", "lateral_movement", w=0.5)]
    four_hosts = one_host + [m(f"c{i}", 2 + i, "r2", "lateral_movement", w=0.5, host=f"srv{i}") for i in range(3)]
    assert score_members(four_hosts, S).total - score_members(one_host, S).total == 0.75


def test_recurring_persistence_after_later_stages_is_maintain_presence() -> None:
    rows = [m("a", 0, "task", "establish_foothold", ("TA0003",)),
            m("b", 10, "psexec", "lateral_movement", ("TA0008",)),
            m("c", 20, "task", "establish_foothold", ("TA0003",)),
            m("d", 30, "exec", "establish_foothold", ("TA0002",))]
    stages, later = assemble(rows)
    assert later == 10
    assert stages == {"a": "establish_foothold", "b": "lateral_movement", "c": "maintain_presence",
                      "d": "establish_foothold"}  # execution alone is not persistence


def test_crossing_is_the_finding_that_lifted_the_score() -> None:
    rows = [m("a", 0, "r1", "initial_compromise"), m("b", 5, "r1", "initial_compromise"),
            m("c", 9, "r2", "establish_foothold"), m("d", 20, "r3", "escalate_privileges"),
            m("e", 30, "r4", "lateral_movement")]
    hit = crossing(rows, S)
    assert hit is not None and hit.finding == "d"  # 0.5 + 0.5 + 0.5 = 1.5
    assert crossing([*rows[:3], m("d", 20, "r3", "escalate_privileges", suppressed=True)], S) is None


def test_rule_novelty_and_weights() -> None:
    assert rule_novelty(1, S) == 1.0 and rule_novelty(3, S) == 1.0
    assert round(rule_novelty(300, S), 3) == 0.1
    assert evidence_weight("critical", 1, S) == 1.0 and evidence_weight("informational", 1, S) == 0.1
    assert evidence_weight("bogus", 1, S) == 0.1


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["r1", "r2", "r3", "r4"]),
                          st.sampled_from([None, "reconnaissance", "establish_foothold", "escalate_privileges",
                                           "lateral_movement", "maintain_presence"]),
                          st.floats(0, 1), st.sampled_from(["a", "b", "c"])), min_size=1, max_size=30))
def test_score_is_monotone_and_bounded(rows: list[tuple[str, str | None, float, str]]) -> None:
    members = [m(f"f{i}", i, r, stg, ("TA0003",) if stg == "establish_foothold" else (), w, host)
               for i, (r, stg, w, host) in enumerate(rows)]
    prev = 0.0
    for n in range(1, len(members) + 1):
        total = score_members(members[:n], S).total
        assert total >= prev - 1e-9  # adding evidence never lowers the score
        prev = total
    assert prev <= sum(S.stage_value.values()) + 0.5 + S.spread_cap
    hit = crossing(members, S)
    assert (hit is not None) == score_members(members, S).detected(S)


def test_ordered_progression_counts_stages_in_kill_chain_order() -> None:
    ordered = [m("a", 0, "scan", "reconnaissance"), m("b", 10, "exploit", "initial_compromise"),
               m("c", 20, "sudo", "escalate_privileges"), m("d", 30, "psexec", "lateral_movement")]
    reversed_ = [m("a", 30, "scan", "reconnaissance"), m("b", 20, "exploit", "initial_compromise"),
                 m("c", 10, "sudo", "escalate_privileges"), m("d", 0, "psexec", "lateral_movement")]
    o = score_members(ordered, S)
    r = score_members(reversed_, S)
    assert o.chain == ("reconnaissance", "initial_compromise", "escalate_privileges", "lateral_movement")
    assert o.order == 0.75 and r.order == 0.0 and o.total - r.total == 0.75
    assert score_members([m("a", 0, "x", "maintain_presence"), m("b", 1, "y", None)], S).order == 0.0
