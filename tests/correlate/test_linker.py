"""The pure linker: which findings join, which do not, and stable ids."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from aptwatch.correlate.entities import CROSS_HOST, GLOBAL, INSTANCE, LinkKey
from aptwatch.correlate.linker import MEMBER, ROUTINE, Edge, Item, Linker, Neighbourhood, campaign_id_for
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
