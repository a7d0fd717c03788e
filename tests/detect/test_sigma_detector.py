"""The sigma detector end to end: findings, incremental retro-hunt, suppressions, correlations, rules check."""

from __future__ import annotations

import textwrap
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from aptwatch.cli.main import app
from aptwatch.detect.base import DetectSettings
from aptwatch.detect.runner import run_detectors
from aptwatch.detect.sigma import ir
from aptwatch.detect.sigma.compiler import compile_rules
from aptwatch.detect.sigma.engine import Evaluator
from aptwatch.detect.sigma.loader import load_rules
from aptwatch.model.finding import Finding, Severity
from aptwatch.model.schema import EVENTS
from aptwatch.store import Store
from aptwatch.store.read import load_findings
from tests.detect.sigma_store import T0, add_source, batch, make_store

WHOAMI = textwrap.dedent("""
    title: Whoami
    id: 11111111-1111-1111-1111-111111111111
    logsource: {category: process_creation, product: windows}
    detection:
      sel:
        Image|endswith: '\\whoami.exe'
      filter:
        ParentImage|endswith: '\\explorer.exe'
      condition: sel and not filter
    level: medium
    tags: [attack.discovery, attack.t1033, attack.stealth]
""")
LOGON = textwrap.dedent("""
    title: Network logon
    id: 22222222-2222-2222-2222-222222222222
    name: net_logon
    logsource: {product: windows, service: security}
    detection:
      sel:
        EventID: 4625
        LogonType: 3
      condition: sel
    level: low
""")
BRUTE = textwrap.dedent("""
    title: Many failed logons from one address
    id: 33333333-3333-3333-3333-333333333333
    correlation:
      type: event_count
      rules: [net_logon]
      group-by: [IpAddress]
      timespan: 5m
      condition: {gte: 3}
    level: high
    tags: [attack.credential-access, attack.t1110]
""")


def _settings(rules: Path, **kw: object) -> DetectSettings:
    return DetectSettings(rule_paths=(rules,), options={"sigma_builtin": False}, **kw)  # type: ignore[arg-type]


def _findings(store: Store) -> list[Finding]:
    with store.session(with_state=True) as s:
        return load_findings(s)


def _proc(path: str, host: str = "ws1", parent: str = "C:\\Windows\\System32\\cmd.exe", **kw: object) -> dict:
    return {"action": "start", "process_path": path, "parent_path": parent, "host": host, **kw}


def test_findings_group_per_rule_host_day_and_incremental_runs(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "whoami.yml").write_text(WHOAMI)
    store = make_store(tmp_path / "s", {"process": [
        _proc("C:\\Windows\\System32\\whoami.exe", user="CORP\\eve", command_line="whoami /all"),
        _proc("C:\\Windows\\System32\\WHOAMI.EXE"),
        _proc("C:\\Windows\\System32\\whoami.exe", parent="C:\\Windows\\explorer.exe"),  # filtered
        _proc("C:\\Windows\\System32\\whoami.exe", host="ws2"),
        _proc("C:\\Windows\\System32\\cmd.exe")]})
    r1 = run_detectors(store, _settings(rules))
    assert not r1.errors and not r1.failed
    found = _findings(store)
    assert sorted((f.entities["host"][0], f.extra["count"]) for f in found) == [("ws1", 2), ("ws2", 1)]
    f = next(f for f in found if f.entities["host"] == ("ws1",))
    assert f.tactics == ("TA0007", "TA0005") and f.techniques == ("T1033",) and f.severity.value == "medium"
    assert f.entities["user"] == ("CORP\\eve",) and len(f.evidence) == 2
    assert {e.table for e in f.evidence} == {"process"} and all(e.event_id for e in f.evidence)
    ids = {f.id for f in found}

    # nothing new: nothing evaluated, same findings
    r2 = run_detectors(store, _settings(rules))
    assert r2.stats["sigma"]["work_units"] == 0 and {f.id for f in _findings(store)} == ids

    # new events: only they are evaluated, and the same finding grows
    add_source(store, "more.evtx", [batch("process", [_proc("C:\\x\\whoami.exe", time=T0 + timedelta(minutes=5))])])
    r3 = run_detectors(store, _settings(rules))
    assert r3.stats["sigma"]["matches"] == 1
    after = {f.entities["host"][0]: f.extra["count"] for f in _findings(store)}
    assert after == {"ws1": 3, "ws2": 1} and {f.id for f in _findings(store)} == ids

    # a new rule runs over the old events only once, the old rule is not re-run
    (rules / "cmd.yml").write_text(WHOAMI.replace("11111111-1111-1111-1111-111111111111",
                                                  "44444444-4444-4444-4444-444444444444")
                                   .replace("whoami.exe", "cmd.exe").replace("title: Whoami", "title: Cmd"))
    r4 = run_detectors(store, _settings(rules))
    assert r4.stats["sigma"]["matches"] == 1  # the one cmd.exe start (its parent is cmd.exe, not explorer)
    assert {f.title for f in _findings(store)} == {"Whoami", "Cmd"}


def test_prevalence_ranks_everywhere_below_rare(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "whoami.yml").write_text(WHOAMI)
    (rules / "rare.yml").write_text(WHOAMI.replace("11111111-1111-1111-1111-111111111111",
                                                   "55555555-5555-5555-5555-555555555555")
                                    .replace("whoami.exe", "rare.exe").replace("title: Whoami", "title: Rare"))
    rows = [_proc("C:\\w\\whoami.exe", host=f"h{h}", time=T0 + timedelta(days=d)) for h in range(4) for d in range(3)]
    rows.append(_proc("C:\\w\\rare.exe", host="h0"))
    store = make_store(tmp_path / "s", {"process": rows})
    run_detectors(store, _settings(rules))
    found = _findings(store)
    rare = next(f for f in found if f.title == "Rare")
    common = [f for f in found if f.title == "Whoami"]
    assert len(common) == 12 and rare.score > max(f.score for f in common)
    assert common[0].extra["prevalence"]["hosts"] == 4 and common[0].extra["prevalence"]["days"] == 3


def test_suppression_applied_in_store_and_expiry(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "whoami.yml").write_text(WHOAMI)
    store = make_store(tmp_path / "s", {"process": [
        _proc("C:\\w\\whoami.exe", host="backup01", command_line="whoami /veeam"),
        _proc("C:\\w\\whoami.exe", host="ws1", command_line="whoami")]})
    run_detectors(store, _settings(rules))
    assert {f.entities["host"][0] for f in _findings(store)} == {"backup01", "ws1"}
    sup = tmp_path / "sup.yml"
    sup.write_text(textwrap.dedent("""
        suppressions:
          - rule: 11111111-1111-1111-1111-111111111111
            where:
              host: backup01
              CommandLine|contains: VEEAM
            reason: backup agent
    """))
    res = CliRunner().invoke(app, ["rules", "suppress", str(sup), "--store", str(store.root)])
    assert res.exit_code == 0, res.output
    run_detectors(store, _settings(rules))
    assert {f.entities["host"][0] for f in _findings(store)} == {"ws1"}  # the stale finding is gone
    # an expired suppression no longer applies: the rule is re-evaluated and the finding returns
    sup.write_text(sup.read_text().replace("reason: backup agent", "reason: backup agent\n    expires: 2001-01-01"))
    assert CliRunner().invoke(app, ["rules", "suppress", str(sup), "--store", str(store.root)]).exit_code == 0
    run_detectors(store, _settings(rules))
    assert {f.entities["host"][0] for f in _findings(store)} == {"backup01", "ws1"}


def test_bad_suppression_file_is_a_rule_error(tmp_path: Path) -> None:
    store = make_store(tmp_path / "s", {"process": [_proc("C:\\a.exe")]})
    sup = tmp_path / "sup.yml"
    sup.write_text("suppressions:\n  - rule: '*'\n    where: {host: x}\n")  # no reason
    res = CliRunner().invoke(app, ["rules", "suppress", str(sup), "--store", str(store.root)])
    assert res.exit_code == 7 and "reason" in res.output


def test_event_count_correlation_with_group_by(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "logon.yml").write_text(LOGON)
    (rules / "brute.yml").write_text(BRUTE)

    def fail(i: int, ip: str, minutes: float) -> dict:
        return {"channel": "Security", "event_code": 4625, "logon_type": 3, "src_ip": ip, "host": "dc1",
                "target_user": "admin", "time": T0 + timedelta(minutes=minutes), "record": i}

    rows = [fail(1, "10.0.0.5", 0), fail(2, "10.0.0.5", 1), fail(3, "10.0.0.5", 2),  # 3 in 2 min: fires
            fail(4, "10.0.0.6", 0), fail(5, "10.0.0.6", 10), fail(6, "10.0.0.6", 20)]  # spread out: not
    store = make_store(tmp_path / "s", {"auth": rows})
    rep = run_detectors(store, _settings(rules))
    assert not rep.errors
    found = _findings(store)
    # the referenced rule has generate: false (default): only the correlation makes findings
    assert [f.title for f in found] == ["Many failed logons from one address"]
    f = found[0]
    assert f.extra["correlation"]["group"] == {"IpAddress": "10.0.0.5"} and f.extra["count"] == 3
    assert f.tactics == ("TA0006",) and len(f.evidence) == 3


def test_temporal_ordered_correlation(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    for i, (name, img) in enumerate([("first", "a.exe"), ("second", "b.exe")], 1):
        (rules / f"{name}.yml").write_text(textwrap.dedent(f"""
            title: {name}
            id: 6666666{i}-6666-6666-6666-666666666666
            name: {name}
            logsource: {{category: process_creation, product: windows}}
            detection:
              sel:
                Image|endswith: '\\{img}'
              condition: sel
            level: low
        """))
    (rules / "seq.yml").write_text(textwrap.dedent("""
        title: a then b
        id: 77777777-7777-7777-7777-777777777777
        correlation:
          type: temporal_ordered
          rules: [first, second]
          group-by: [Computer]
          aliases:
            Computer: {first: User, second: User}
          timespan: 10m
        level: high
    """))
    rows = [_proc("C:\\a.exe", user="u1", time=T0), _proc("C:\\b.exe", user="u1", time=T0 + timedelta(minutes=3)),
            # wrong order for u2, and too far apart for u3
            _proc("C:\\b.exe", user="u2", time=T0), _proc("C:\\a.exe", user="u2", time=T0 + timedelta(minutes=1)),
            _proc("C:\\a.exe", user="u3", time=T0), _proc("C:\\b.exe", user="u3", time=T0 + timedelta(hours=1))]
    store = make_store(tmp_path / "s", {"process": rows})
    rep = run_detectors(store, _settings(rules))
    assert not rep.errors
    found = [f for f in _findings(store) if f.title == "a then b"]
    assert [f.extra["correlation"]["group"] for f in found] == [{"Computer": "u1"}]


def test_rule_failing_at_run_time_is_an_error_and_the_others_run(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "whoami.yml").write_text(WHOAMI)
    store = make_store(tmp_path / "s", {"process": [_proc("C:\\w\\whoami.exe", command_line="x")]})
    good = compile_rules(load_rules([rules])).rules
    # a pattern DuckDB refuses at run time (pySigma's RE2 check would have caught it at load)
    bad = [replace(good[0], meta=replace(good[0].meta, uid=f"bad{i}"), node=ir.Re("CommandLine", "(a)\\1"),
                   anchors=None) for i in range(3)]
    with store.session() as s:
        res = Evaluator(s, EVENTS["process"]).run([bad[0], *good, *bad[1:]])
    assert sorted(e.rule for e in res.errors) == ["bad0", "bad1", "bad2"]
    assert all("run-time error" in e.reason for e in res.errors)
    assert [t.column("rule").to_pylist() for t in res.matches if t.num_rows] == [[good[0].uid]]


def test_timeout_interrupts_and_is_reported(tmp_path: Path) -> None:
    store = make_store(tmp_path / "s", {"process": [_proc(f"C:\\w\\{i}.exe") for i in range(50)]})
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "whoami.yml").write_text(WHOAMI)
    rule = compile_rules(load_rules([rules])).rules[0]
    with store.session() as s:
        ev = Evaluator(s, EVENTS["process"], timeout=0.05)
        # a deliberately slow scope: a large cross join the engine has to be interrupted in
        ev.scope = "(SELECT count(*) FROM range(100000) a, range(100000) b WHERE a.range + b.range = -1) = 0"
        res = ev.run([rule])
    assert len(res.errors) == 1 and "interrupted" in res.errors[0].reason


def test_rules_check_lists_every_rule(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "whoami.yml").write_text(WHOAMI)
    (rules / "broken.yml").write_text("title: x\ndetection: [\n")
    (rules / "aws.yml").write_text("title: aws\nlogsource: {product: aws, service: cloudtrail}\n"
                                   "detection: {sel: {eventName: x}, condition: sel}\n")
    res = CliRunner().invoke(app, ["rules", "check", str(rules), "--format", "jsonl", "--sql"])
    assert res.exit_code == 0, res.output
    rows = [orjson.loads(line) for line in res.stdout.splitlines() if line.startswith("{")]
    assert sorted(r["status"] for r in rows) == ["ok", "parse", "route"]
    ok = next(r for r in rows if r["status"] == "ok")
    assert "ends_with" in ok["sql"] and ok["tables"] == "process"
    assert CliRunner().invoke(app, ["rules", "check", str(rules), "--strict"]).exit_code == 7


def test_work_is_chunked_by_ingest_runs_and_results_are_the_same(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "whoami.yml").write_text(WHOAMI)
    store = make_store(tmp_path / "s", {"process": [_proc("C:\\w\\whoami.exe", host="a")]})
    for i in range(3):
        add_source(store, f"more{i}.evtx", [batch("process", [_proc("C:\\w\\whoami.exe", host="a")] * 2)])
    rep = run_detectors(store, DetectSettings(rule_paths=(rules,), options={"sigma_builtin": False,
                                                                           "sigma_chunk_rows": 2}))
    assert rep.stats["sigma"]["work_units"] == 4 and rep.stats["sigma"]["matches"] == 7
    assert [f.extra["count"] for f in _findings(store)] == [7]


def test_since_bounds_the_retro_hunt_and_a_wider_run_covers_the_rest(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "whoami.yml").write_text(WHOAMI)
    old, new = T0 - timedelta(days=200), T0 - timedelta(days=2)
    store = make_store(tmp_path / "s", {"process": [
        _proc("C:\\w\\whoami.exe", host="old", time=old), _proc("C:\\w\\whoami.exe", host="new", time=new)]})
    # --since 180d before T0: only the recent event is hunted
    r1 = run_detectors(store, _settings(rules, since=T0 - timedelta(days=180)))
    assert not r1.errors and r1.stats["sigma"]["matches"] == 1
    assert {f.entities["host"] for f in _findings(store)} == {("new",)}
    # the same window again: nothing left to evaluate
    r2 = run_detectors(store, _settings(rules, since=T0 - timedelta(days=180)))
    assert r2.stats["sigma"]["work_units"] == 0
    # no bound: the old event is found now (the ingest run, only partly covered, is evaluated
    # again in full) and the recent one is not counted twice
    r3 = run_detectors(store, _settings(rules))
    assert not r3.errors
    assert sorted((f.entities["host"][0], f.extra["count"]) for f in _findings(store)) == [("new", 1), ("old", 1)]


def test_temporal_correlation_in_any_order(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    for i, (name, img) in enumerate([("first", "a.exe"), ("second", "b.exe")], 1):
        (rules / f"{name}.yml").write_text(textwrap.dedent(f"""
            title: {name}
            id: 8888888{i}-8888-8888-8888-888888888888
            name: {name}
            logsource: {{category: process_creation, product: windows}}
            detection:
              sel:
                Image|endswith: '\\{img}'
              condition: sel
            level: low
        """))
    (rules / "both.yml").write_text(textwrap.dedent("""
        title: a and b
        id: 99999999-9999-9999-9999-999999999999
        correlation:
          type: temporal
          rules: [first, second]
          group-by: [User]
          timespan: 10m
        level: high
    """))
    rows = [_proc("C:\\a.exe", user="u1", time=T0), _proc("C:\\b.exe", user="u1", time=T0 + timedelta(minutes=3)),
            # reversed order still counts for temporal; too far apart (u3) or only one rule (u4) does not
            _proc("C:\\b.exe", user="u2", time=T0), _proc("C:\\a.exe", user="u2", time=T0 + timedelta(minutes=1)),
            _proc("C:\\a.exe", user="u3", time=T0), _proc("C:\\b.exe", user="u3", time=T0 + timedelta(hours=1)),
            _proc("C:\\a.exe", user="u4", time=T0), _proc("C:\\a.exe", user="u4", time=T0 + timedelta(minutes=1))]
    store = make_store(tmp_path / "s", {"process": rows})
    rep = run_detectors(store, _settings(rules))
    assert not rep.errors
    found = [f for f in _findings(store) if f.title == "a and b"]
    assert sorted(f.extra["correlation"]["group"]["User"] for f in found) == ["u1", "u2"]


def test_rule_folders_configured_in_the_store(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "whoami.yml").write_text(WHOAMI)
    store = make_store(tmp_path / "s", {"process": [_proc("C:\\w\\whoami.exe")]})
    runner = CliRunner()
    assert runner.invoke(app, ["rules", "add", str(rules), "--store", str(store.root)]).exit_code == 0
    assert runner.invoke(app, ["rules", "add", str(tmp_path / "nope"), "--store", str(store.root)]).exit_code != 0
    listed = runner.invoke(app, ["rules", "list", "--store", str(store.root)])
    assert listed.exit_code == 0 and listed.stdout.split() == [str(rules.resolve())]
    # no --rules: the configured folder runs
    rep = run_detectors(store, DetectSettings(options={"sigma_builtin": False}))
    assert not rep.errors and [f.title for f in _findings(store)] == ["Whoami"]
    assert runner.invoke(app, ["rules", "remove", str(rules), "--store", str(store.root)]).exit_code == 0
    assert runner.invoke(app, ["rules", "list", "--store", str(store.root)]).stdout.split() == []


def test_operating_system_product_keeps_rules_to_their_system(tmp_path: Path) -> None:
    """A macOS or Linux rule never matches Windows EVTX events, a Windows rule never auditd's;
    events of generic parsers (jsonl) stay open to every product's rules."""
    rules = tmp_path / "rules"
    rules.mkdir()
    for i, product in enumerate(["windows", "linux", "macos"], 1):
        (rules / f"{product}.yml").write_text(textwrap.dedent(f"""
            title: space at the end ({product})
            id: 5555555{i}-5555-5555-5555-555555555555
            logsource: {{category: process_creation, product: {product}}}
            detection:
              sel:
                CommandLine|endswith: ' '
              condition: sel
            level: low
        """))
    store = make_store(tmp_path / "s", {"process": [_proc("C:\\w\\a.exe", command_line="a ", host="win")]})
    add_source(store, "audit.log", [batch("process", [_proc("/usr/bin/a", command_line="a ", host="lnx")])],
               fmt="auditd")
    add_source(store, "events.jsonl", [batch("process", [_proc("/bin/a", command_line="a ", host="any")])],
               fmt="jsonl")
    add_source(store, "more.evtx", [batch("process", [_proc("C:\\w\\b.exe", command_line="b ", host="win2")])],
               fmt="evtx")
    rep = run_detectors(store, _settings(rules))
    assert not rep.errors
    got = sorted((f.title.split("(")[1].rstrip(")"), f.entities["host"][0]) for f in _findings(store))
    # make_store's own source has format "test" (no operating system): every rule may match it
    assert got == sorted([("windows", "win"), ("linux", "win"), ("macos", "win"), ("linux", "lnx"),
                          ("windows", "any"), ("linux", "any"), ("macos", "any"), ("windows", "win2")])


#: SigmaHQ's Zeek rules that matched Windows host events of the OTRF LSASS recordings before the product
#: scope (the condition is SigmaHQ's, trimmed): a negated condition matches any event without the field
ZEEK_ON_WINDOWS = {
    "rdp": ("auth", "id.orig_h|cidr: ['10.0.0.0/8', '192.168.0.0/16']", "not sel"),
    "dns": ("dns", "Z: 0", "not sel"),
    "smb_files": ("file", "name|endswith: ['.dmp', '.pst']", "sel"),
}


def test_zeek_and_appliance_rules_never_read_windows_or_linux_events(tmp_path: Path) -> None:
    """The findings the product scope removed from the OTRF LSASS recordings were wrong: Zeek `rdp` / `dns`
    rules with a negated condition matched every Windows logon and Sysmon DNS event, the Zeek `smb_files`
    rule a local Sysmon file creation. They stay on Zeek's events. A rule of a product no parser declares
    (SigmaHQ's Palo Alto GlobalProtect `file_event`) is no Windows or Linux rule either: it reads only
    events of formats without a product (jsonl)."""
    rules = tmp_path / "rules"
    rules.mkdir()
    for i, (service, (_, sel, cond)) in enumerate(ZEEK_ON_WINDOWS.items(), 1):
        (rules / f"zeek_{service}.yml").write_text(textwrap.dedent(f"""
            title: zeek {service}
            id: 6666666{i}-6666-6666-6666-666666666666
            logsource: {{product: zeek, service: {service}}}
            detection:
              sel:
                {sel}
              condition: {cond}
            level: medium
        """))
    (rules / "paloalto.yml").write_text(textwrap.dedent("""
        title: paloalto file_event
        id: 66666669-6666-6666-6666-666666666666
        logsource: {product: paloalto, service: globalprotect, category: file_event}
        detection:
          sel:
            TargetFilename|startswith: '/opt/panlogs/tmp/device_telemetry/'
          condition: sel
        level: medium
    """))
    store = Store.open(tmp_path / "s", create=True)
    add_source(store, "host.json", [  # OTRF: Security 4624, Sysmon 22 and 11 of MKT01
        batch("auth", [{"host": "mkt01", "event_code": 4624, "src_ip": "-", "channel": "Security"}]),
        batch("dns", [{"host": "mkt01", "event_code": 22, "query": "example.org"}]),
        batch("file", [{"host": "mkt01", "action": "create",
                        "path": "C:\\Windows\\Temp\\lsass_dump.dmp"}])], fmt="otrf")
    add_source(store, "audit.log", [batch("file", [
        {"host": "lnx", "action": "create", "path": "/opt/panlogs/tmp/device_telemetry/x$(curl)"}])], fmt="auditd")
    add_source(store, "zeek", [
        batch("auth", [{"host": "zeek", "src_ip": "203.0.113.9"}]),
        batch("dns", [{"host": "zeek", "query": "example.org", "data": {"Z": 1}}]),
        batch("file", [{"host": "zeek", "path": "\\\\fs01\\share\\backup.pst"}])], fmt="zeek_tsv")
    add_source(store, "pan.jsonl", [batch("file", [
        {"host": "pan", "action": "create", "path": "/opt/panlogs/tmp/device_telemetry/x$(curl)"}])], fmt="jsonl")
    rep = run_detectors(store, _settings(rules))
    assert not rep.errors
    got = sorted((f.title, f.entities["host"][0]) for f in _findings(store))
    assert got == [("paloalto file_event", "pan"), ("zeek dns", "zeek"), ("zeek rdp", "zeek"),
                   ("zeek smb_files", "zeek")]


def test_a_changed_product_scope_re_evaluates_stored_events(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The scope is part of a rule's version: when it changes (a source's declared product, the scoping
    itself), stored events are evaluated again, so a store keeps no match of the old scope and gains the
    new scope's. VMConnection rows come from Windows and Linux machines alike: Windows rules read them."""
    from aptwatch.sources.la_vmconnection import LogAnalyticsVMConnection

    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "rdp.yml").write_text(textwrap.dedent("""
        title: outbound RDP
        id: 77777777-7777-7777-7777-777777777777
        logsource: {category: network_connection, product: windows}
        detection:
          sel:
            DestinationPort: 3389
          condition: sel
        level: medium
    """))
    store = Store.open(tmp_path / "s", create=True)
    add_source(store, "vmconnection.json", [batch("network", [
        {"host": "winvm01", "src_ip": "10.0.0.4", "dst_ip": "10.0.0.9", "dst_port": 3389}])], fmt="la_vmconnection")
    with monkeypatch.context() as m:  # how it was declared before: a Linux-only format
        m.setattr(LogAnalyticsVMConnection, "product", "linux")
        assert not run_detectors(store, _settings(rules)).errors
        assert _findings(store) == []
    assert LogAnalyticsVMConnection.product is None
    assert not run_detectors(store, _settings(rules)).errors
    assert [(f.title, f.entities["host"][0]) for f in _findings(store)] == [("outbound RDP", "winvm01")]


def test_minimum_level_defaults_to_low(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "whoami.yml").write_text(WHOAMI.replace("level: medium", "level: informational"))
    (rules / "cmd.yml").write_text(WHOAMI.replace("11111111-1111-1111-1111-111111111111",
                                                  "12121212-1212-1212-1212-121212121212")
                                   .replace("whoami.exe", "cmd.exe").replace("title: Whoami", "title: Cmd")
                                   .replace("level: medium", "level: low"))
    store = make_store(tmp_path / "s", {"process": [_proc("C:\\w\\whoami.exe"), _proc("C:\\w\\cmd.exe")]})
    rep = run_detectors(store, _settings(rules))
    assert not rep.errors and [f.title for f in _findings(store)] == ["Cmd"]
    run_detectors(store, _settings(rules, min_severity=Severity.INFORMATIONAL))
    assert sorted(f.title for f in _findings(store)) == ["Cmd", "Whoami"]


def test_product_scope_comes_from_the_sources() -> None:
    """Each known product's rules are kept off exactly the formats whose sources declare another product."""
    from aptwatch.detect.sigma.pipeline import product_formats, product_scope
    from aptwatch.sources import SOURCES

    formats = product_formats()
    assert "evtx" in formats["windows"] and "auditd" in formats["linux"] and "zeek_tsv" in formats["zeek"]
    assert product_scope(None) is None and product_scope("") is None  # no product: no condition
    for product in ("macos", "aws", "Windows"):  # with or without a parser of that product
        scope = product_scope(product)
        assert scope is not None
        for s in SOURCES:
            assert (f"'{s.name}'" in scope) == (s.product not in (None, product.lower())), (product, s.name)
