"""Sigma v2 correlations: temporal conditions, chained correlations, correlations added later, stale episodes."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path

from typer.testing import CliRunner

from aptwatch.cli.main import app
from aptwatch.detect.base import DetectSettings
from aptwatch.detect.runner import run_detectors
from aptwatch.detect.sigma.compiler import compile_rules
from aptwatch.detect.sigma.loader import load_rules
from aptwatch.model.finding import Finding
from aptwatch.store import Store
from aptwatch.store.read import load_findings
from tests.detect.sigma_store import T0, make_store

FAILED = textwrap.dedent("""
    title: Failed logon
    id: 53ba33fd-3a50-4468-a5ef-c583635cfa92
    name: failed_login
    logsource: {product: windows, service: security}
    detection:
      selection:
        EventID: [529, 4625]
      condition: selection
""")
SUCCESS = textwrap.dedent("""
    title: Successful logon
    id: 4d0a2c83-c62c-4ed4-b475-c7e23a9269b8
    name: successful_login
    logsource: {product: windows, service: security}
    detection:
      selection:
        EventID: [528, 4624]
      condition: selection
""")
#: the Sigma correlation specification's closing example: a correlation over a correlation
CHAIN = textwrap.dedent("""
    title: Correlation - Multiple Failed Logins Followed by Successful Login
    id: b180ead8-d58f-40b2-ae54-c8940995b9b6
    correlation:
      type: temporal_ordered
      rules: [multiple_failed_login, successful_login]
      group-by: [User]
      timespan: 10m
    level: high
    ---
    title: Multiple failed logons
    id: a8418a5a-5fc4-46b5-b23b-6c73beb19d41
    name: multiple_failed_login
    correlation:
      type: event_count
      rules: [failed_login]
      group-by: [User]
      timespan: 10m
      condition: {gte: 3}
""")


def _settings(rules: Path) -> DetectSettings:
    return DetectSettings(rule_paths=(rules,), only=("sigma",), options={"sigma_builtin": False})


def _findings(store: Store) -> list[Finding]:
    with store.session(with_state=True) as s:
        return load_findings(s)


def _logon(code: int, user: str, minutes: float, record: int, ip: str = "10.0.0.9") -> dict:
    return {"channel": "Security", "event_code": code, "target_user": user, "user": user, "src_ip": ip,
            "host": "dc1", "time": T0 + timedelta(minutes=minutes), "record": record}


def _rules(tmp_path: Path, **files: str) -> Path:
    rules = tmp_path / "rules"
    rules.mkdir(exist_ok=True)
    for name, text in files.items():
        (rules / f"{name}.yml").write_text(text)
    return rules


def test_chained_correlation_from_the_specification(tmp_path: Path) -> None:
    rules = _rules(tmp_path, failed=FAILED, success=SUCCESS, chain=CHAIN)
    rows = [
        # u1: three failures, then a success: fires
        _logon(4625, "u1", 0, 1), _logon(4625, "u1", 1, 2), _logon(4625, "u1", 2, 3), _logon(4624, "u1", 4, 4),
        # u2: a success before the failures only: the order is wrong
        _logon(4624, "u2", 0, 5), _logon(4625, "u2", 1, 6), _logon(4625, "u2", 2, 7), _logon(4625, "u2", 3, 8),
        # u3: two failures (the inner correlation does not fire), then a success
        _logon(4625, "u3", 0, 9), _logon(4625, "u3", 1, 10), _logon(4624, "u3", 2, 11),
        # u4: three failures, the success 30 minutes later: outside the 10 minutes
        _logon(4625, "u4", 0, 12), _logon(4625, "u4", 1, 13), _logon(4625, "u4", 2, 14), _logon(4624, "u4", 32, 15),
    ]
    store = make_store(tmp_path / "s", {"auth": rows})
    rep = run_detectors(store, _settings(rules))
    assert not rep.errors
    found = _findings(store)
    # only the outermost correlation makes findings (the inner one and the base rules feed it)
    assert {f.rule_id for f in found} == {"b180ead8-d58f-40b2-ae54-c8940995b9b6"}
    assert [f.extra["correlation"]["group"] for f in found] == [{"User": "u1"}]
    f = found[0]
    # evidence: the failure that completed the inner count and the success
    assert [e.record for e in f.evidence] == [3, 4] and f.severity.value == "high"


def test_chain_order_and_cycles_are_compile_time_problems(tmp_path: Path) -> None:
    rules = _rules(tmp_path, failed=FAILED, success=SUCCESS, chain=CHAIN, loop=textwrap.dedent("""
        title: loop a
        id: 00000000-0000-4000-8000-00000000000a
        name: loop_a
        correlation: {type: temporal, rules: [loop_b, failed_login], group-by: [User], timespan: 1m}
        ---
        title: loop b
        id: 00000000-0000-4000-8000-00000000000b
        name: loop_b
        correlation: {type: temporal, rules: [loop_a, failed_login], group-by: [User], timespan: 1m}
    """))
    compiled = compile_rules(load_rules([rules]))
    order = [c.meta.uid for c in compiled.correlations]
    # the inner correlation is compiled (and evaluated) before the one that references it
    assert order == ["a8418a5a-5fc4-46b5-b23b-6c73beb19d41", "b180ead8-d58f-40b2-ae54-c8940995b9b6"]
    outer = compiled.correlations[1]
    assert outer.chained == ("a8418a5a-5fc4-46b5-b23b-6c73beb19d41",) and outer.output
    assert not compiled.correlations[0].output  # generate: false (default) on the referencing side
    cyc = [p for p in compiled.problems if p.rule_id and p.rule_id.startswith("00000000")]
    assert len(cyc) == 2 and all("cycle" in p.reason for p in cyc)


def test_temporal_condition_counts_distinct_rules(tmp_path: Path) -> None:
    """`condition: {gte: 2}` on a temporal correlation of three rules: any two of them suffice."""
    base = {n: textwrap.dedent(f"""
        title: {n}
        id: 7777777{i}-7777-4777-8777-777777777777
        name: {n}
        logsource: {{category: process_creation, product: windows}}
        detection: {{sel: {{Image|endswith: '\\{n}.exe'}}, condition: sel}}
    """) for i, n in enumerate(("whoami", "ipconfig", "systeminfo"))}
    corr = textwrap.dedent("""
        title: Two of three discovery commands
        id: 7777777f-7777-4777-8777-777777777777
        correlation:
          type: temporal
          rules: [whoami, ipconfig, systeminfo]
          group-by: [Computer]
          timespan: 5m
          condition: {gte: 2}
        level: medium
    """)
    rules = _rules(tmp_path, **base, corr=corr)

    def proc(name: str, host: str, minutes: float) -> dict:
        return {"action": "start", "process_path": f"C:\\Windows\\System32\\{name}.exe", "host": host,
                "time": T0 + timedelta(minutes=minutes)}

    rows = [proc("whoami", "ws1", 0), proc("systeminfo", "ws1", 2),   # two of three: fires
            proc("whoami", "ws2", 0), proc("whoami", "ws2", 1),       # the same rule twice: does not
            proc("ipconfig", "ws3", 0), proc("systeminfo", "ws3", 9)]  # too far apart: does not
    store = make_store(tmp_path / "s", {"process": rows})
    assert not run_detectors(store, _settings(rules)).errors
    assert [f.extra["correlation"]["group"] for f in _findings(store)] == [{"Computer": "ws1"}]


def test_correlation_added_later_regroups_stored_matches_and_stale_episodes_go(tmp_path: Path) -> None:
    """Matches stored before a correlation existed carry no group-by fields: adding the correlation makes
    the rule a new version, re-evaluated so its matches carry them. A suppression that removes the
    events of an episode removes the correlation's finding."""
    rules = _rules(tmp_path, failed=FAILED.replace("name: failed_login", "name: failed_login\nlevel: low"))
    rows = [_logon(4625, "u1", i, i + 1, ip="10.0.0.5") for i in range(3)] + \
        [_logon(4625, f"x{i}", i, i + 10, ip="10.0.0.6") for i in range(3)]
    store = make_store(tmp_path / "s", {"auth": rows})
    run_detectors(store, _settings(rules))
    assert {f.rule_id for f in _findings(store)} == {"53ba33fd-3a50-4468-a5ef-c583635cfa92"}
    (rules / "brute.yml").write_text(textwrap.dedent("""
        title: Three failed logons from one address
        id: 33333333-3333-4333-8333-333333333333
        correlation:
          type: event_count
          rules: [failed_login]
          group-by: [IpAddress]
          timespan: 5m
          condition: {gte: 3}
        level: high
    """))
    assert not run_detectors(store, _settings(rules)).errors
    corr = [f for f in _findings(store) if f.rule_id.startswith("33333333")]
    assert sorted(f.extra["correlation"]["group"]["IpAddress"] for f in corr) == ["10.0.0.5", "10.0.0.6"]
    sup = tmp_path / "sup.yml"
    sup.write_text(textwrap.dedent("""
        suppressions:
          - rule: 53ba33fd-3a50-4468-a5ef-c583635cfa92
            where: {IpAddress: 10.0.0.6}
            reason: vulnerability scanner
    """))
    assert CliRunner().invoke(app, ["rules", "suppress", str(sup), "--store", str(store.root)]).exit_code == 0
    run_detectors(store, _settings(rules))
    corr = [f for f in _findings(store) if f.rule_id.startswith("33333333")]
    assert [f.extra["correlation"]["group"]["IpAddress"] for f in corr] == ["10.0.0.5"]


def _ranged(kind: str, condition: str, uid: str = "44444444-4444-4444-8444-444444444444") -> str:
    return textwrap.dedent(f"""
        title: Failed logons in a range
        id: {uid}
        correlation:
          type: {kind}
          rules: [failed_login]
          group-by: [IpAddress]
          timespan: 5m
          condition: {condition}
        level: high
    """)


def test_range_condition_needs_both_bounds(tmp_path: Path) -> None:
    """`condition: {gte: 3, lte: 5}` (the specification's conjunction in the mapping): a burst of 3 to 5
    failures within 5 minutes fires; 2 do not, and neither do 8 within 5 minutes -- the upper bound is on
    the burst's peak, not on the windows it passes through as it builds up."""
    rules = _rules(tmp_path, failed=FAILED, corr=_ranged("event_count", "{gte: 3, lte: 5}"))
    rows: list[dict] = []

    def burst(ip: str, n: int, start: float, step: float = 0.5) -> None:
        rows.extend(_logon(4625, f"u{len(rows)}", start + i * step, len(rows) + 1, ip=ip) for i in range(n))

    burst("10.0.0.2", 2, 0)                       # below the range
    burst("10.0.0.3", 3, 0)                       # fires
    burst("10.0.0.5", 5, 0)                       # fires (the bound is inclusive)
    burst("10.0.0.8", 8, 0)                       # above the range: does not fire
    burst("10.0.0.9", 9, 0, step=4)               # one every 4 minutes: never 3 within 5 minutes
    burst("10.0.0.10", 4, 0)                      # fires ...
    burst("10.0.0.10", 12, 30)                    # ... but not its second burst, 25 minutes later
    store = make_store(tmp_path / "s", {"auth": rows})
    assert not run_detectors(store, _settings(rules)).errors
    found = sorted((f.extra["correlation"]["group"]["IpAddress"], f.extra["count"]) for f in _findings(store)
                   if f.rule_id.startswith("44444444"))
    assert found == [("10.0.0.10", 4), ("10.0.0.3", 3), ("10.0.0.5", 5)]
    f = next(f for f in _findings(store) if f.rule_id.startswith("44444444"))
    assert f.extra["correlation"]["condition"]["all"] == [[">=", 3.0], ["<=", 5.0]]


def test_range_condition_on_distinct_values_and_a_single_upper_bound(tmp_path: Path) -> None:
    """value_count with `{field: TargetUserName, gt: 2, lt: 5}`: 3 or 4 accounts from one address fire, 2
    and 6 do not; a lone `lte: 2` fires only where the burst never exceeds two accounts."""
    rows: list[dict] = []
    for ip, n in (("10.0.0.2", 2), ("10.0.0.3", 3), ("10.0.0.4", 4), ("10.0.0.6", 6)):
        rows.extend(_logon(4625, f"{ip}-u{i}", i * 0.5, len(rows) + 1, ip=ip) for i in range(n))
    rules = _rules(tmp_path, failed=FAILED,
                   corr=_ranged("value_count", "{field: TargetUserName, gt: 2, lt: 5}"),
                   upper=_ranged("value_count", "{field: TargetUserName, lte: 2}",
                                 uid="55555555-5555-4555-8555-555555555555"))
    store = make_store(tmp_path / "s", {"auth": rows})
    assert not run_detectors(store, _settings(rules)).errors

    def groups(prefix: str) -> list[str]:
        return sorted(f.extra["correlation"]["group"]["IpAddress"] for f in _findings(store)
                      if f.rule_id.startswith(prefix))

    assert groups("44444444") == ["10.0.0.3", "10.0.0.4"]
    assert groups("55555555") == ["10.0.0.2"]


def test_bad_ranges_are_compile_time_problems(tmp_path: Path) -> None:
    rules = _rules(tmp_path, failed=FAILED,
                   empty=_ranged("event_count", "{gt: 5, lt: 3}", uid="66666666-6666-4666-8666-666666666666"),
                   point=_ranged("event_count", "{gt: 3, lte: 3}", uid="77777777-6666-4666-8666-666666666666"),
                   word=_ranged("event_count", "{gte: 3, lte: many}", uid="88888888-6666-4666-8666-666666666666"),
                   good=_ranged("event_count", "{gte: 3, lte: 3}", uid="99999999-6666-4666-8666-666666666666"))
    compiled = compile_rules(load_rules([rules]))
    reasons = {p.rule_id: p.reason for p in compiled.problems}
    assert "never hold" in reasons["66666666-6666-4666-8666-666666666666"]
    assert "never hold" in reasons["77777777-6666-4666-8666-666666666666"]
    assert "no number" in reasons["88888888-6666-4666-8666-666666666666"]
    (good,) = compiled.correlations
    assert good.meta.uid.startswith("99999999") and good.comparisons == ((">=", 3.0), ("<=", 3.0))
