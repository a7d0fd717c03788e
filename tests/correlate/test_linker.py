"""The pure linker: which findings join, which do not, and stable ids."""

from __future__ import annotations

import random
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from aptwatch.correlate.entities import CROSS_HOST, GLOBAL, INSTANCE, LinkKey
from aptwatch.correlate.linker import (
    MEMBER,
    ROUTINE,
    Edge,
    Item,
    Linker,
    LinkEvidence,
    LinkResult,
    Neighbourhood,
    campaign_id_for,
    combine,
)
from aptwatch.correlate.settings import CorrelateSettings

S = CorrelateSettings()
H = 3600.0
D = 86400.0


def item(fid: str, t: float, hosts: list[str], keys: list[LinkKey] = (), rarity: float = 1.0,  # type: ignore[assignment]
         **kw: object) -> Item:
    return Item(fid, t, hosts, list(keys), {k: rarity for k in keys}, **kw)  # type: ignore[arg-type]


def campaigns(items: list[Item]) -> dict[str, str | None]:
    res = Linker(S, Neighbourhood()).run(items)
    return {d.finding: d.campaign for d in res.decisions}


def test_proximity_on_a_new_host_joins_within_hours_not_half_a_day() -> None:
    c = campaigns([item("a", 0, ["ws01"]), item("b", 20 * 60, ["ws01"]), item("c", 20 * 60 + 12 * H, ["ws01"]),
                   item("d", 21 * 60, ["ws02"])])
    assert c["a"] == c["b"] and c["c"] != c["a"] and c["d"] != c["a"]


def test_proximity_stretches_on_a_quiet_host() -> None:
    # a host watched for 30 days that showed unusual activity in only two hours: half a day apart still links
    hood = Neighbourhood(host_stats={"srv9": [0.0, 30 * D, 40.0, 2.0, -1.0]})
    res = Linker(S, hood).run([item("a", 30 * D, ["srv9"]), item("b", 30 * D + 12 * H, ["srv9"])])
    assert res.decisions[0].campaign == res.decisions[1].campaign
    assert res.decisions[1].link == "host_time" and "about once every" in res.decisions[1].why[0].entity
    # unusual activity in every hour for two days: 50 minutes apart is not enough
    noisy = Neighbourhood(host_stats={"dc01": [0.0, 2 * D, 900.0, 48.0, -1.0]})
    res = Linker(S, noisy).run([item("a", 2 * D, ["dc01"]), item("b", 2 * D + 50 * 60, ["dc01"])])
    assert res.decisions[0].campaign != res.decisions[1].campaign
    res = Linker(S, hood).run([item("a", 30 * D, ["srv9"]), item("b", 30 * D + 50 * 60, ["srv9"])])
    assert res.decisions[0].campaign == res.decisions[1].campaign


def test_rare_external_artifact_links_across_a_year_common_one_does_not() -> None:
    c2 = LinkKey("domain", "evil.example", GLOBAL)
    cdn = LinkKey("domain", "cdn.example", GLOBAL)
    c = campaigns([item("march", 0, ["ws01"], [c2]), item("may", 300 * D, ["ws01"], [c2]),
                   item("x", 0, ["ws05"], [cdn], rarity=0.02), item("y", 10 * D, ["ws06"], [cdn], rarity=0.02),
                   item("too_late", 700 * D, ["ws01"], [c2])])
    assert c["march"] == c["may"]
    assert c["x"] != c["y"]  # a domain on 100 hosts weighs 0.02: it does not glue
    assert c["too_late"] != c["march"]  # more than 365 days after the last sighting


def test_user_links_across_hosts_only() -> None:
    bob = LinkKey("user", "bob", CROSS_HOST)
    c = campaigns([item("a", 0, ["ws01"], [bob]), item("b", 5 * D, ["ws01"], [bob])])
    assert c["a"] != c["b"]  # on its own host a user is context
    c = campaigns([item("a", 0, ["ws01"], [bob]), item("c", 6 * D, ["srv2"], [bob])])
    assert c["c"] == c["a"]  # the same account acting on another machine


def test_credential_access_then_use_elsewhere() -> None:
    adm = LinkKey("user", "adm", CROSS_HOST)
    plain = [item("dump", 0, ["ws01"], [adm], rarity=0.3), item("use", 2 * D, ["srv2"], [adm], rarity=0.3)]
    assert len(set(campaigns(plain).values())) == 2  # a moderately common user alone does not join
    res = Linker(S, Neighbourhood()).run([item("dump", 0, ["ws01"], [adm], rarity=0.3, credential_access=True),
                                          item("use", 2 * D, ["srv2"], [adm], rarity=0.3)])
    assert res.decisions[1].campaign == res.decisions[0].campaign and res.decisions[1].link == "credential_use"


def test_process_tree_and_logon_session() -> None:
    p = LinkKey("proc", "guid-1", INSTANCE)
    s = LinkKey("session", "ws01:0x9", INSTANCE)
    c = campaigns([item("a", 0, ["ws01"], [p]), item("b", 3 * D, ["ws01"], [p]),
                   item("c", 0, ["ws02"], [s]), item("d", 2 * D, ["ws02"], [s])])
    assert c["a"] == c["b"] and c["c"] == c["d"]


def test_edges_follow_the_attacker_between_hosts() -> None:
    c = campaigns([item("foothold", 0, ["ws01"]),
                   item("conn", 10 * 60, ["ws01"], edges=[Edge("10.0.0.7", "srv2", 0.8)]),
                   item("on_srv2", 5 * H, ["srv2"]), item("unrelated", 5 * H, ["srv3"])])
    assert c["foothold"] == c["conn"] == c["on_srv2"] and c["unrelated"] != c["foothold"]
    c = campaigns([item("on_ws01", 0, ["ws01"]), item("logon_from_ws01", 2 * H, ["srv2"],
                                                        edges=[Edge("10.0.0.5", "ws01", 0.8)])])
    assert c["on_ws01"] == c["logon_from_ws01"]


def test_routine_findings_never_start_or_extend_by_proximity() -> None:
    res = Linker(S, Neighbourhood()).run([item("a", 0, ["ws01"]), item("r", 60, ["ws01"], routine=True),
                                          item("r2", 120, ["ws09"], routine=True)])
    assert [d.disposition for d in res.decisions] == [MEMBER, ROUTINE, ROUTINE]
    c2 = LinkKey("ip", "198.18.0.1", GLOBAL)
    res = Linker(S, Neighbourhood()).run([item("a", 0, ["ws01"], [c2]), item("beacon", 9 * D, ["ws01"], [c2],
                                                                             routine=True)])
    assert res.decisions[1].disposition == MEMBER  # a shared artifact still brings a routine finding in


def test_merge_keeps_the_earliest_seed_id() -> None:
    k = LinkKey("hash", "h" * 32, GLOBAL)
    res = Linker(S, Neighbourhood()).run([item("late", 10 * D, ["srv2"]), item("early", 2 * D, ["ws01"], [k]),
                                          item("bridge", 10 * D + 60, ["srv2"], [k])])
    ids = {d.finding: d.campaign for d in res.decisions}
    assert ids["late"] == ids["early"] == ids["bridge"] == campaign_id_for("early")
    assert res.merged == {campaign_id_for("late"): campaign_id_for("early")}


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10_000))
def test_same_input_in_any_order_gives_the_same_campaigns(seed: int) -> None:
    rnd = random.Random(seed)
    keys = [LinkKey("domain", f"d{i}.example", GLOBAL) for i in range(4)]
    items = [item(f"f{i}", rnd.randrange(0, 20 * 86400), [f"h{rnd.randrange(6)}"],
                  rnd.sample(keys, rnd.randrange(0, 2)), rarity=rnd.choice([1.0, 0.3])) for i in range(40)]
    a = campaigns(items)
    rnd.shuffle(items)
    assert campaigns(items) == a


def test_grouped_findings_are_spans() -> None:
    # an import finding grouping an hour of alerts (03:00-03:55) and a finding 20 min after its last alert
    c = campaigns([item("group", 3 * H, ["web1"], time_last=3 * H + 55 * 60), item("next", 4 * H + 15 * 60, ["web1"]),
                   item("inside", 3 * H + 30 * 60, ["web2"]), item("span2", 3 * H, ["web2"], time_last=4 * H)])
    assert c["group"] == c["next"]  # 20 min from the span's end, not 75 from its start
    assert c["inside"] == c["span2"]  # a finding inside another's span is 0 s away


def test_a_long_span_is_a_window_for_coincidence_not_a_zero_gap() -> None:
    # a two-week beacon series on ws01: a finding in its middle is not "0 s away" from it
    c = campaigns([item("beacon", 0, ["ws01"], time_last=14 * D), item("mid", 7 * D, ["ws01"]),
                   item("burst", 7 * D + 60, ["ws01"])])
    assert c["mid"] != c["beacon"] and c["mid"] == c["burst"]
    # the same series still joins what shares its C2 address, whenever it happens
    c2 = LinkKey("ip", "203.0.113.9", GLOBAL)
    c = campaigns([item("beacon", 0, ["ws01"], [c2], time_last=14 * D), item("egress", 7 * D, ["ws01"], [c2])])
    assert c["beacon"] == c["egress"]


def test_shared_entities_count_once_at_the_rarest() -> None:
    # an administrator's PsExec on two servers days apart: user, source address, tool and service name,
    # each seen on seven hosts (rarity 2/7), do not add up to a join; one rare artifact does
    common = [LinkKey("user", "adm-x", CROSS_HOST), LinkKey("addr", "10.0.0.20", GLOBAL),
              LinkKey("file", "psexesvc.exe", CROSS_HOST), LinkKey("service", "psexesvc", CROSS_HOST)]
    c = campaigns([item("a", 0, ["srv1"], common, rarity=2 / 7), item("b", 2 * D, ["srv2"], common, rarity=2 / 7)])
    assert c["a"] != c["b"]
    rare = LinkKey("hash", "ab" * 32, GLOBAL)
    c = campaigns([item("a", 0, ["srv1"], [*common, rare], rarity=2 / 7),
                   Item("b", 2 * D, ["srv2"], [*common, rare], {**{k: 2 / 7 for k in common}, rare: 1.0})])
    assert c["a"] == c["b"]


def test_a_finding_on_many_hosts_meets_coincidences_on_all_of_them() -> None:
    # a software update installing a service on ten workstations at once, 25 min after an unrelated
    # finding on one of them: one host's proximity would join, ten hosts' combined rate does not
    fleet = [f"ws{i:02d}" for i in range(10)]
    c = campaigns([item("x", 0, ["ws03"]), item("update", 25 * 60, fleet)])
    assert c["x"] != c["update"]
    c = campaigns([item("x", 0, ["ws03"]), item("one", 25 * 60, ["ws03"])])
    assert c["x"] == c["one"]


def test_an_internal_address_links_within_the_edge_window_an_external_one_across_the_horizon() -> None:
    srv = LinkKey("addr", "10.20.1.24", GLOBAL)  # the management server both sessions reached
    c = campaigns([item("a", 0, ["ws01"], [srv]), item("week", 7 * D, ["ws02"], [srv]),
                   item("hour", 2 * H, ["ws03"], [srv])])
    assert c["a"] == c["hour"] and c["week"] != c["a"]
    c2 = LinkKey("ip", "203.0.113.9", GLOBAL)
    c = campaigns([item("a", 0, ["ws01"], [c2]), item("week", 7 * D, ["ws02"], [c2])])
    assert c["a"] == c["week"]


# -- progression: the kill chain advancing on one host ------------------------------------------------------
#: a host with unusual findings in every hour for two days (host_time alone joins only minutes apart) that
#: showed escalation-stage findings in two of those hours
NOISY_WEB = Neighbourhood(host_stats={"web1": [0.0, 2 * D, 900.0, 48.0, -1.0]},
                          stage_stats={("web1", "escalate_privileges"): [2.0, 1 * D]})


def test_progression_joins_escalation_after_exploitation_on_a_noisy_host() -> None:
    res = Linker(S, NOISY_WEB).run([item("exploit", 2 * D, ["web1"], stage="initial_compromise"),
                                    item("sudo", 2 * D + 40 * 60, ["web1"], stage="escalate_privileges")])
    a, b = res.decisions
    assert b.campaign == a.campaign and b.link == "progression"
    why = b.why[0]
    assert why.via == "exploit" and "initial_compromise then escalate_privileges" in why.entity
    assert "escalate_privileges there about once every" in why.entity
    # the same gap without a kill-chain reading is only host proximity on a noisy host: no join
    res = Linker(S, NOISY_WEB).run([item("exploit", 2 * D, ["web1"]), item("sudo", 2 * D + 40 * 60, ["web1"])])
    assert res.decisions[0].campaign != res.decisions[1].campaign


def test_progression_runs_forwards_only() -> None:
    # escalation first, exploitation 40 minutes later: not a kill chain progressing
    res = Linker(S, NOISY_WEB).run([item("sudo", 2 * D, ["web1"], stage="escalate_privileges"),
                                    item("exploit", 2 * D + 40 * 60, ["web1"], stage="initial_compromise")])
    assert res.decisions[0].campaign != res.decisions[1].campaign


def test_progression_needs_a_later_stage_on_the_same_host() -> None:
    same = [item("x1", 2 * D, ["web1"], stage="initial_compromise"),
            item("x2", 2 * D + 40 * 60, ["web1"], stage="initial_compromise")]
    other_host = [item("x1", 2 * D, ["web2"], stage="initial_compromise"),
                  item("x2", 2 * D + 40 * 60, ["web1"], stage="escalate_privileges")]
    evasion = [item("x1", 2 * D, ["web1"], stage="initial_compromise"),
               item("x2", 2 * D + 40 * 60, ["web1"], stage="maintain_presence")]
    inbound = [item("x1", 2 * D, ["web1"], stage="establish_foothold"),
               item("x2", 2 * D + 40 * 60, ["web1"], stage="lateral_movement")]  # someone arriving on web1
    for case in (same, other_host, evasion, inbound):
        res = Linker(S, NOISY_WEB).run(case)
        assert res.decisions[0].campaign != res.decisions[1].campaign
        assert all(w.link != "progression" for d in res.decisions for w in d.why)


def test_progression_is_weighed_by_how_often_the_stage_appears_on_the_host() -> None:
    # escalation-stage findings in 40 of the last 48 hours (an admin host): 40 minutes apart is a coincidence
    sudo_host = Neighbourhood(host_stats={"web1": [0.0, 2 * D, 900.0, 48.0, -1.0]},
                              stage_stats={("web1", "escalate_privileges"): [40.0, 2 * D - H]})
    res = Linker(S, sudo_host).run([item("exploit", 2 * D, ["web1"], stage="initial_compromise"),
                                    item("sudo", 2 * D + 40 * 60, ["web1"], stage="escalate_privileges")])
    assert res.decisions[0].campaign != res.decisions[1].campaign
    # ... and a day later on the quiet-stage host is beyond the 10 % coincidence bound too
    res = Linker(S, NOISY_WEB).run([item("exploit", 2 * D, ["web1"], stage="initial_compromise"),
                                    item("sudo", 3 * D, ["web1"], stage="escalate_privileges")])
    assert res.decisions[0].campaign != res.decisions[1].campaign


def test_progression_counts_stage_hours_for_the_next_chunk() -> None:
    res = Linker(S, NOISY_WEB).run([item("a", 2 * D, ["web1"], stage="escalate_privileges"),
                                    item("b", 2 * D + 60, ["web1"], stage="escalate_privileges"),
                                    item("c", 2 * D + 2 * H, ["web1"], stage="escalate_privileges"),
                                    item("r", 2 * D + 3 * H, ["web1"], stage="escalate_privileges", routine=True)])
    # two new distinct hours (a and b share one; routine findings are not unusual activity)
    assert res.stage_stats[("web1", "escalate_privileges")][0] == 4.0


def test_host_time_and_progression_on_one_host_count_once() -> None:
    from aptwatch.correlate.linker import LinkEvidence, combine

    near = LinkEvidence("host_time", "f", "host:web1 (40min apart)", 0.4, "c", "host:web1")
    prog = LinkEvidence("progression", "f", "host:web1: initial_compromise then ...", 0.3, "c", "host:web1")
    assert combine([near, prog]) == 0.4
    assert combine([near, prog._replace(weight=0.7)]) == 0.7
    # on two hosts they are two readings
    other = prog._replace(scope="host:web2")
    assert abs(combine([near, other]) - (1 - 0.6 * 0.7)) < 1e-9


# -- estate_time: staged findings on two hosts within moments ------------------------------------------------
#: twelve hosts, each with unusual findings about once every four hours (the estate: about three an hour)
ESTATE = Neighbourhood(host_stats={f"h{i}": [0.0, 4 * D, 100.0, 24.0, -1.0] for i in range(12)},
                       estate=(12 * 24.0, 12 * 4 * D), known_hosts=12)


def test_estate_time_joins_a_scan_and_the_attack_on_another_host_seconds_later() -> None:
    res = Linker(S, ESTATE).run([item("scan", 4 * D, ["h1"], stage="reconnaissance", rule="ssh_scan"),
                                 item("exploit", 4 * D + 20, ["h2"], stage="initial_compromise", rule="web_attack")])
    a, b = res.decisions
    assert b.campaign == a.campaign and b.link == "estate_time"
    assert b.why[0].via == "scan"
    assert "host:h1 reconnaissance -> host:h2 initial_compromise (20s apart" in b.why[0].entity
    assert "among 12 hosts" in b.why[0].entity and "1 other host(s)" in b.why[0].entity


def test_estate_time_negative_cases() -> None:
    far = [item("scan", 4 * D, ["h1"], stage="reconnaissance", rule="ssh_scan"),
           item("exploit", 4 * D + 30 * 60, ["h2"], stage="initial_compromise", rule="web_attack")]
    unstaged = [item("scan", 4 * D, ["h1"], rule="odd_dns"),
                item("exploit", 4 * D + 20, ["h2"], stage="initial_compromise", rule="web_attack")]
    same_rule = [item("scan1", 4 * D, ["h1"], stage="reconnaissance", rule="ssh_scan"),
                 item("scan2", 4 * D + 5, ["h2"], stage="reconnaissance", rule="ssh_scan")]
    routine = [item("scan", 4 * D, ["h1"], stage="reconnaissance", rule="ssh_scan"),
               item("exploit", 4 * D + 20, ["h2"], stage="initial_compromise", rule="web_attack", routine=True)]
    # an edge already joins the two hosts (the source of a PsExec and its destination): weighed as an edge,
    # against hubs, not again as closeness in time
    edged = [item("src", 4 * D, ["h1"], stage="lateral_movement", rule="new_edge",
                  edges=[Edge("10.0.0.2", "h2", 0.1)]),
             item("dst", 4 * D + 2, ["h2"], stage="lateral_movement", rule="service_install")]
    # the chain runs forwards, from reconnaissance (the step whose only cross-host trace is time): not the
    # attack first and the scan after, not two exploitation-stage findings, not two scans
    backwards = [item("exploit", 4 * D, ["h2"], stage="initial_compromise", rule="web_attack"),
                 item("scan", 4 * D + 20, ["h1"], stage="reconnaissance", rule="ssh_scan")]
    not_recon = [item("a", 4 * D, ["h1"], stage="initial_compromise", rule="r1"),
                 item("b", 4 * D + 20, ["h2"], stage="escalate_privileges", rule="r2")]
    two_scans = [item("a", 4 * D, ["h1"], stage="reconnaissance", rule="r1"),
                 item("b", 4 * D + 20, ["h2"], stage="reconnaissance", rule="r2")]
    for case in (far, unstaged, same_rule, routine, edged, backwards, not_recon, two_scans):
        res = Linker(S, ESTATE).run(case)
        assert len({d.campaign for d in res.decisions}) == len(case) or res.decisions[-1].campaign is None
        assert all(w.link != "estate_time" for d in res.decisions for w in d.why)
    # switched off
    from dataclasses import replace

    res = Linker(replace(S, estate_proximity=False), ESTATE).run(
        [item("scan", 4 * D, ["h1"], stage="reconnaissance", rule="ssh_scan"),
         item("exploit", 4 * D + 20, ["h2"], stage="initial_compromise", rule="web_attack")])
    assert res.decisions[0].campaign != res.decisions[1].campaign


def test_estate_time_does_not_glue_a_sweep_or_a_fleet_deployment() -> None:
    # a sweep touches eight hosts at once, then the attack on h9: eight other hosts were active, no link
    sweep = [item(f"scan{i}", 4 * D + i, [f"h{i}"], stage="reconnaissance", rule="ssh_scan") for i in range(8)]
    res = Linker(S, ESTATE).run([*sweep, item("exploit", 4 * D + 20, ["h9"], stage="initial_compromise",
                                              rule="web_attack")])
    assert len({d.campaign for d in res.decisions}) == 9
    # a deployment: the same two rules on every host in the same minute
    fleet = [item(f"{r}{i}", 4 * D + i, [f"h{i}"], stage=st, rule=r) for i in range(10)
             for r, st in (("svc_install", "establish_foothold"), ("inventory_scan", "reconnaissance"))]
    res = Linker(S, ESTATE).run(fleet)
    assert all(w.link != "estate_time" or w.weight < 0.2 for d in res.decisions for w in d.why)
    assert len({d.campaign for d in res.decisions}) == 10  # one per host: the two findings of a host join there


def test_a_weak_second_link_attaches_the_finding_but_does_not_merge_campaigns() -> None:
    adm = LinkKey("user", "adm", CROSS_HOST)

    def run(rarity: float) -> dict[str, str | None]:
        # campaign A on ws01 names the account; campaign B starts on srv2 ten days later; the bridge sits next
        # to B (0 s apart, 0.95) and shares the account with A (an entity link of `rarity`)
        items = [item("a", 0, ["ws01"], [adm], rarity=rarity), item("b", 10 * D, ["srv2"]),
                 item("bridge", 10 * D + 1, ["srv2"], [adm], rarity=rarity)]
        res = Linker(S, Neighbourhood()).run(items)
        out = {d.finding: d.campaign for d in res.decisions}
        bridge = res.decisions[-1]
        assert {e.link for e in bridge.why} >= {"host_time", "entity"}  # both links are explained
        return out

    weak = run(0.6)  # enough to join a finding (>= 0.5), not to merge two campaigns (< 0.75)
    assert weak["bridge"] == weak["b"] != weak["a"]
    strong = run(0.9)  # a link as strong as two independent threshold links merges, as before
    assert strong["bridge"] == strong["b"] == strong["a"]
    # the weak link alone (no competing campaign) still joins the finding
    alone = campaigns([item("a", 0, ["ws01"], [adm], rarity=0.6), item("c", 10 * D, ["srv2"], [adm], rarity=0.6)])
    assert alone["c"] == alone["a"]


def _recurring(signals: int, settings: CorrelateSettings = S) -> LinkResult:
    """A host watched for three days (12 unusual hours): a campaign there raising `signals` distinct rules in
    one minute, each fired there once before in its life (that hour); then rule r0 again four hours later."""
    t0 = 3 * D
    hour = (t0 // H) * H
    hood = Neighbourhood(host_stats={"web1": [0.0, t0 - H, 50.0, 12.0, -1.0]},
                         rule_hours={("web1", f"r{i}"): [hour] for i in range(signals)})
    items = [item(f"s{i}", t0 + i, ["web1"], rule=f"r{i}") for i in range(signals)]
    items.append(item("again", t0 + 4 * H, ["web1"], rule="r0", rule_hours=1))
    return Linker(settings, hood).run(items)


def test_recurrence_of_a_campaigns_one_signal_joins_hours_later() -> None:
    res = _recurring(1)
    again = res.decisions[-1]
    assert again.campaign == res.decisions[0].campaign and again.link == "recurrence"
    assert "one of the campaign's 1 signal(s)" in again.why[0].entity


def test_recurrence_weighs_every_signal_the_campaign_left_on_the_host() -> None:
    # twenty signals: one of them repeating four hours later is no rarer than any unusual finding there
    res = _recurring(20)
    assert res.decisions[-1].campaign != res.decisions[0].campaign
    # the first version weighed the one rule that repeated, and joined
    old = _recurring(20, replace(S, recurrence_family=False))
    assert old.decisions[-1].campaign == old.decisions[0].campaign and old.decisions[-1].link == "recurrence"


def test_recurrence_and_proximity_on_one_host_count_once() -> None:
    # two readings of the same gap on the same host, each just above the threshold: not 0.75 together
    a = LinkEvidence("host_time", "f1", "host:web1", 0.53, "c", "host:web1")
    b = LinkEvidence("recurrence", "f1", "rule:x on host:web1", 0.53, "c", "host:web1")
    assert abs(combine([a, b]) - 0.53) < 1e-9
    other = LinkEvidence("recurrence", "f2", "rule:x on host:web2", 0.53, "c", "host:web2")
    assert combine([a, other]) > 0.75  # different hosts are independent readings


def test_a_long_connection_names_its_destination_for_its_whole_span_not_at_one_moment() -> None:
    # a first-seen connection ws02 -> dc02 at 10:00 that goes on for three weeks, and a finding on dc02 two days
    # later: the span is a window for coincidence as wide as itself, far beyond the 24 h edge window
    edge = [Edge("10.20.0.11", "dc02", 0.8)]
    c = campaigns([item("conn", 0, ["ws02"], edges=edge, time_last=21 * D), item("on_dc02", 2 * D, ["dc02"])])
    assert c["on_dc02"] != c["conn"]
    # the same connection lasting minutes links the finding on dc02 a few hours later
    c = campaigns([item("conn", 0, ["ws02"], edges=edge, time_last=600), item("on_dc02", 3 * H, ["dc02"])])
    assert c["on_dc02"] == c["conn"]
    # and from the other side: a finding naming dc02 next to a long-running dc02 member does not link
    c = campaigns([item("dc", 0, ["dc02"], time_last=21 * D), item("conn", 2 * D, ["ws02"], edges=edge)])
    assert c["conn"] != c["dc"]
    c = campaigns([item("dc", 0, ["dc02"]), item("conn", 2 * H, ["ws02"], edges=edge)])
    assert c["conn"] == c["dc"]


def test_an_edge_carries_to_the_other_end_only_until_that_hosts_own_activity_explains_what_follows() -> None:
    # ws02 connects to dc01 at 10:00; dc01 shows unusual activity about twice a day, srv9 once a fortnight
    stats = {"dc01": [0.0, 10 * D, 500.0, 20.0, -1.0], "srv9": [0.0, 10 * D, 40.0, 0.0, -1.0]}

    def joined(dst: str, gap: float) -> bool:
        hood = Neighbourhood(host_stats={k: list(v) for k, v in stats.items()})
        edge = [Edge("10.20.0.10", dst, 0.8)]
        res = Linker(S, hood).run([item("conn", 10 * D, ["ws02"], edges=edge), item("then", 10 * D + gap, [dst])])
        return res.decisions[0].campaign == res.decisions[1].campaign

    assert joined("dc01", 10 * 60)  # minutes after the arrival: the arriving actor
    assert not joined("dc01", 20 * H)  # twenty hours later on a busy DC: its own unusual activity, likely
    assert joined("srv9", 20 * H)  # the same gap on a server that is almost never unusual
