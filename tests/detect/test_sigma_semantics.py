"""Sigma semantics, case by case, positive and negative: each rule must match exactly the events listed.

Every case runs twice: batched with all the others (one query per table, anchors and shared
projections) and alone as the standalone SQL `rules check --sql` prints. Both must agree with
the expected set, so sharing work between rules cannot change what a rule means.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from aptwatch.detect.sigma.compiler import CompiledSet, compile_rules, validate
from aptwatch.detect.sigma.engine import Evaluator
from aptwatch.detect.sigma.loader import load_rules
from aptwatch.detect.sigma.sql import rule_sql
from aptwatch.model.schema import EVENTS
from aptwatch.store import Store
from tests.detect.sigma_store import make_store

SYS = "C:\\Windows\\System32\\"
EVENTS_ROWS: list[dict[str, Any]] = [
    {"record": 1, "process_path": SYS + "WhoAmI.exe", "command_line": "whoami /all",
     "parent_path": "C:\\Windows\\explorer.exe", "user": "CORP\\alice", "terminal_session_id": 1, "event_code": 1,
     "data": {"CustomField": "Hello World", "Num": "42", "MultiLine": "first\nsecond"}},
    {"record": 2, "process_path": "C:\\Tools\\a_b%c.exe", "command_line": "run 50% done_now", "event_code": 1,
     "data": {}},
    {"record": 3, "process_path": "C:\\Tools\\star.exe", "command_line": "echo *literal* and ?q", "event_code": 1},
    {"record": 4, "process_path": "/usr/bin/cmd", "command_line": None, "event_code": 1,
     "data": {"CustomField": "hello world"}},
    {"record": 5, "process_path": SYS + "WindowsPowerShell\\v1.0\\powershell.exe",
     "command_line": "powershell -enc SQBFAFgA", "event_code": 1, "data": {"IpAddress": "10.1.2.3"}},
    {"record": 6, "process_path": SYS + "net.exe", "command_line": "net user bob \u2013add", "event_code": 1},
    {"record": 7, "process_path": SYS + "cmd.exe", "command_line": "cmd.exe /c echo hi", "event_code": 1,
     "integrity_level": "High"},
    {"record": 8, "process_path": "C:\\Tools\\aXbYc.exe", "command_line": "run 50X doneXnow", "event_code": 1},
    {"record": 9, "process_path": SYS + "svchost.exe", "command_line": "svchost -k", "event_code": 1,
     "data": {"A": "Same", "B": "same", "C": "Sam", "Threat Name": "Tool:Win32/EICAR", "Q": "a\"b c\": d"}},
    {"record": 10, "process_path": "C:\\p\\z.exe", "command_line": "zzz", "event_code": 1,
     "parent_path": "C:\\p\\x.exe", "data": {"ParentProcessName": "C:\\q\\y.exe"}},
    # 'IEX' in UTF-16BE and in UTF-16 with its byte-order mark, base64-encoded
    {"record": 11, "process_path": SYS + "WindowsPowerShell\\v1.0\\powershell.exe",
     "command_line": "powershell -enc AEkARQBY", "event_code": 1, "data": {"When": "2024-03-01T22:15:00Z"}},
    {"record": 12, "process_path": SYS + "WindowsPowerShell\\v1.0\\powershell.exe",
     "command_line": "powershell -enc //5JAEUAWAA=", "event_code": 1},
    # a backtracking regex engine takes exponential time on this value with '^(a+)+$'
    {"record": 13, "process_path": "C:\\x\\p.exe", "command_line": "a" * 5000 + "!", "event_code": 1},
]

# (name, detection YAML body, expected records)
CASES: list[tuple[str, str, set[int]]] = [
    ("eq is case-insensitive", "sel:\n  Image: 'c:\\windows\\system32\\WHOAMI.EXE'\ncondition: sel", {1}),
    ("eq needs the whole value", "sel:\n  Image: 'whoami.exe'\ncondition: sel", set()),
    ("cased eq, wrong case", "sel:\n  Image|cased: 'C:\\Windows\\System32\\whoami.exe'\ncondition: sel", set()),
    ("cased eq, right case", "sel:\n  Image|cased: 'C:\\Windows\\System32\\WhoAmI.exe'\ncondition: sel", {1}),
    ("cased contains", "sel:\n  CommandLine|cased|contains: 'WHOAMI'\ncondition: sel", set()),
    ("endswith", "sel:\n  Image|endswith: '\\WHOAMI.EXE'\ncondition: sel", {1}),
    ("startswith", "sel:\n  CommandLine|startswith: 'POWERSHELL -'\ncondition: sel", {5, 11, 12}),
    ("contains", "sel:\n  CommandLine|contains: ' /C '\ncondition: sel", {7}),
    ("percent is literal", "sel:\n  CommandLine|contains: '50%'\ncondition: sel", {2}),
    ("underscore is literal", "sel:\n  CommandLine|contains: 'done_now'\ncondition: sel", {2}),
    ("% and _ in eq are literal", "sel:\n  Image|endswith: '\\a_b%c.exe'\ncondition: sel", {2}),
    ("star wildcard", "sel:\n  Image: 'c:\\tools\\a*c.exe'\ncondition: sel", {2, 8}),
    ("question mark wildcard", "sel:\n  Image|endswith: '\\whoam?.exe'\ncondition: sel", {1}),
    ("question mark is one char", "sel:\n  Image|endswith: '\\who?.exe'\ncondition: sel", set()),
    ("escaped star is literal", "sel:\n  CommandLine|contains: '\\*literal\\*'\ncondition: sel", {3}),
    ("escaped question mark is literal", "sel:\n  CommandLine|contains: '\\?q'\ncondition: sel", {3}),
    ("escaped star does not match other text", "sel:\n  CommandLine|contains: 'run\\*'\ncondition: sel", set()),
    ("NOT over a missing field is true",
     "sel:\n  Image|endswith: '/cmd'\nfilter:\n  CommandLine|contains: 'x'\ncondition: sel and not filter", {4}),
    ("NOT over a missing data field is true",
     "sel:\n  Image|endswith: '.exe'\nfilter:\n  NoSuchField: 'x'\ncondition: sel and not filter",
     {1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13}),
    ("nested NOT", "sel:\n  EventID: 1\nf1:\n  CommandLine|contains: 'a'\nf2:\n  Nope: 1\n"
                   "condition: sel and not (f1 and not f2)", {2, 4, 7, 8, 9, 10}),
    ("null matches missing", "sel:\n  CommandLine: null\ncondition: sel", {4}),
    ("exists false", "sel:\n  CommandLine|exists: false\ncondition: sel", {4}),
    ("exists true on data", "sel:\n  CustomField|exists: true\ncondition: sel", {1, 4}),
    ("unmapped field from data, case-insensitive", "sel:\n  CustomField: 'HELLO WORLD'\ncondition: sel", {1, 4}),
    ("unmapped field cased", "sel:\n  CustomField|cased: 'Hello World'\ncondition: sel", {1}),
    ("re searches", "sel:\n  CommandLine|re: 'whoami\\s+/all'\ncondition: sel", {1}),
    ("re is case-sensitive", "sel:\n  CommandLine|re: 'WHOAMI'\ncondition: sel", set()),
    ("re|i", "sel:\n  CommandLine|re|i: 'WHOAMI'\ncondition: sel", {1}),
    ("re|m", "sel:\n  MultiLine|re|m: '^second$'\ncondition: sel", {1}),
    ("re without m", "sel:\n  MultiLine|re: '^second$'\ncondition: sel", set()),
    ("re|s", "sel:\n  MultiLine|re|s: 'first.second'\ncondition: sel", {1}),
    ("re without s", "sel:\n  MultiLine|re: 'first.second'\ncondition: sel", set()),
    # 12 too: after its byte-order mark, record 12 holds the UTF-16LE bytes at an offset base64offset covers
    ("wide base64offset", "sel:\n  CommandLine|wide|base64offset|contains: 'IEX'\ncondition: sel", {5, 12}),
    ("base64offset negative", "sel:\n  CommandLine|wide|base64offset|contains: 'EVIL'\ncondition: sel", set()),
    ("base64", "sel:\n  CommandLine|base64|contains: 'whoami'\ncondition: sel", set()),
    ("utf16be base64offset", "sel:\n  CommandLine|utf16be|base64offset|contains: 'IEX'\ncondition: sel", {11}),
    ("utf16 (with BOM) base64", "sel:\n  CommandLine|utf16|base64|contains: 'IEX'\ncondition: sel", {12}),
    ("pathological regex, no match, linear time", "sel:\n  CommandLine|re: '^(a+)+$'\ncondition: sel", set()),
    ("pathological regex, match", "sel:\n  CommandLine|re: '^(a+)+!$'\ncondition: sel", {13}),
    ("neq is case-insensitive", "sel:\n  Image|endswith: 'powershell.exe'\n"
     "  CommandLine|neq: 'POWERSHELL -ENC SQBFAFGA'\ncondition: sel", {11, 12}),
    ("timestamp part hour", "sel:\n  When|hour: 22\ncondition: sel", {11}),
    ("timestamp part hour negative", "sel:\n  When|hour: 21\ncondition: sel", set()),
    ("timestamp part minute", "sel:\n  When|minute: 15\ncondition: sel", {11}),
    ("timestamp part day", "sel:\n  When|day: 1\ncondition: sel", {11}),
    ("timestamp part week", "sel:\n  When|week: 9\ncondition: sel", {11}),
    ("timestamp part month", "sel:\n  When|month: 3\ncondition: sel", {11}),
    ("timestamp part year", "sel:\n  When|year: 2024\ncondition: sel", {11}),
    ("timestamp part year negative", "sel:\n  When|year: 2023\ncondition: sel", set()),
    ("re|ignorecase (long form)", "sel:\n  CommandLine|re|ignorecase: 'WHOAMI'\ncondition: sel", {1}),
    ("re|multiline (long form)", "sel:\n  MultiLine|re|multiline: '^second$'\ncondition: sel", {1}),
    ("re|dotall (long form)", "sel:\n  MultiLine|re|dotall: 'first.second'\ncondition: sel", {1}),
    ("windash matches en dash", "sel:\n  CommandLine|windash|contains: ' -add'\ncondition: sel", {6}),
    ("windash negative", "sel:\n  CommandLine|windash|contains: ' -del'\ncondition: sel", set()),
    ("cidr", "sel:\n  IpAddress|cidr: '10.0.0.0/8'\ncondition: sel", {5}),
    ("cidr negative", "sel:\n  IpAddress|cidr: '192.168.0.0/16'\ncondition: sel", set()),
    ("all", "sel:\n  CommandLine|contains|all:\n    - 'whoami'\n    - '/all'\ncondition: sel", {1}),
    ("all negative", "sel:\n  CommandLine|contains|all:\n    - 'whoami'\n    - '/x'\ncondition: sel", set()),
    ("list is OR", "sel:\n  CommandLine|contains:\n    - 'whoami'\n    - 'svchost'\ncondition: sel", {1, 9}),
    ("fieldref ignores case", "sel:\n  A|fieldref: B\ncondition: sel", {9}),
    ("fieldref negative", "sel:\n  A|fieldref: C\ncondition: sel", set()),
    ("fieldref startswith", "sel:\n  A|fieldref|startswith: C\ncondition: sel", {9}),
    ("gt on text field", "sel:\n  Num|gt: 41\ncondition: sel", {1}),
    ("lt negative", "sel:\n  Num|lt: 42\ncondition: sel", set()),
    ("lte", "sel:\n  Num|lte: 42\ncondition: sel", {1}),
    ("gte on integer column", "sel:\n  TerminalSessionId|gte: 1\ncondition: sel", {1}),
    ("number eq on integer column", "sel:\n  EventID: 1\n  Image|endswith: 'star.exe'\ncondition: sel", {3}),
    ("keyword anywhere", "keywords:\n  - 'hello world'\ncondition: keywords", {1, 4}),
    ("keyword negative", "keywords:\n  - 'goodbye'\ncondition: keywords", set()),
    ("1 of selection*", "selection_a:\n  CommandLine|contains: 'whoami'\nselection_b:\n  CommandLine|contains: 'net '\n"
                        "condition: 1 of selection*", {1, 6}),
    ("all of selection*", "selection_a:\n  CommandLine|contains: 'whoami'\nselection_b:\n  Image|endswith: '.exe'\n"
                          "condition: all of selection*", {1}),
    ("field named without its spaces", "sel:\n  ThreatName|endswith: 'eicar'\ncondition: sel", {9}),
    ("field named with its spaces", "sel:\n  Threat Name|endswith: 'eicar'\ncondition: sel", {9}),
    ("quotes in values are not keys", "sel:\n  Q|contains: 'c\": d'\ncondition: sel", {9}),
    ("a column of several fields reads the event's own field", "sel:\n  ParentProcessName|endswith: '\\y.exe'"
     "\ncondition: sel", {10}),
    ("... and the column otherwise", "sel:\n  ParentImage|endswith: '\\x.exe'\ncondition: sel", {10}),
    ("empty value", "sel:\n  IntegrityLevel: ''\ncondition: sel", set()),
    ("star matches any present value", "sel:\n  IntegrityLevel: '*'\ncondition: sel", {7}),
]


def _rule(i: int, name: str, body: str, category: str = "process_creation") -> str:
    det = textwrap.indent(body, "  ")
    return (f"title: {name!r}\nid: 00000000-0000-0000-0000-{i:012d}\nlevel: high\n"
            f"logsource:\n  category: {category}\n  product: windows\ndetection:\n{det}\n")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, CompiledSet, dict[str, set[int]]]:
    d = tmp_path_factory.mktemp("sem")
    rules = d / "rules"
    rules.mkdir()
    expected: dict[str, set[int]] = {}
    for i, (name, body, want) in enumerate(CASES, 1):
        (rules / f"r{i:03d}.yml").write_text(_rule(i, name, body))
        expected[f"00000000-0000-0000-0000-{i:012d}"] = want
    rows = [{**r, "action": "start", "host": "ws1"} for r in EVENTS_ROWS]
    store = make_store(d / "store", {"process": rows})
    compiled = compile_rules(load_rules([rules]))
    validate(compiled)
    assert not compiled.problems, compiled.problems
    return store, compiled, expected


def _records(store: Store, table: str, sql: str) -> set[int]:
    with store.session() as s:
        return set(s.sql(f"SELECT record FROM ({sql})").column("record").to_pylist())


def test_batched_evaluation_matches_expected(world: tuple[Store, CompiledSet, dict[str, set[int]]]) -> None:
    store, compiled, expected = world
    with store.session() as s:
        res = Evaluator(s, EVENTS["process"], batch=17).run(compiled.rules)
    assert not res.errors
    got: dict[str, set[int]] = {u: set() for u in expected}
    for t in res.matches:
        for rule, rec in zip(t.column("rule").to_pylist(), t.column("record").to_pylist(), strict=True):
            got[rule].add(rec)
    names = {r.uid: r.meta.title for r in compiled.rules}
    wrong = {names[u]: (sorted(got[u]), sorted(expected[u])) for u in expected if got[u] != expected[u]}
    assert not wrong, f"rule: (got, expected): {wrong}"


@pytest.mark.parametrize("idx", range(len(CASES)), ids=[c[0] for c in CASES])
def test_standalone_sql_matches_expected(world: tuple[Store, CompiledSet, dict[str, set[int]]], idx: int) -> None:
    store, compiled, expected = world
    uid = f"00000000-0000-0000-0000-{idx + 1:012d}"
    rule = next(r for r in compiled.rules if r.uid == uid)
    assert _records(store, "process", rule_sql(rule.node, EVENTS["process"])) == expected[uid]


def test_placeholders_expand_and_unresolved_is_a_problem(tmp_path: Path) -> None:
    (tmp_path / "p.yml").write_text(_rule(1, "placeholder", "sel:\n  Image|expand: '%admin_tools%'\ncondition: sel"))
    missing = compile_rules(load_rules([tmp_path]))
    assert not missing.rules and "admin_tools" in missing.problems[0].reason
    given = compile_rules(load_rules([tmp_path]), {"admin_tools": ["*\\whoami.exe"]})
    assert len(given.rules) == 1 and not given.problems


def test_regex_re2_cannot_compile_is_reported(tmp_path: Path) -> None:
    (tmp_path / "bad.yml").write_text(_rule(1, "backref", "sel:\n  CommandLine|re: '(a)\\1'\ncondition: sel"))
    (tmp_path / "look.yml").write_text(_rule(2, "lookbehind", "sel:\n  CommandLine|re: '(?<=a)b'\ncondition: sel"))
    (tmp_path / "ok.yml").write_text(_rule(3, "fine", "sel:\n  CommandLine|re: 'a+b'\ncondition: sel"))
    c = compile_rules(load_rules([tmp_path]))
    validate(c)
    assert [r.meta.title for r in c.rules] == ["fine"]
    assert len(c.problems) == 2 and all(p.reason for p in c.problems)


def test_category_filter_keeps_rules_to_their_events(tmp_path: Path) -> None:
    (tmp_path / "end.yml").write_text(_rule(1, "term", "sel:\n  Image|endswith: '\\x.exe'\ncondition: sel",
                                            category="process_termination"))
    (tmp_path / "start.yml").write_text(_rule(2, "start", "sel:\n  Image|endswith: '\\x.exe'\ncondition: sel"))
    store = make_store(tmp_path / "s", {"process": [
        {"action": "start", "process_path": "C:\\x.exe", "record": 1},
        {"action": "end", "process_path": "C:\\x.exe", "record": 2}]})
    c = compile_rules(load_rules([tmp_path]))
    with store.session() as s:
        res = Evaluator(s, EVENTS["process"]).run(c.rules)
    got = {(r, rec) for t in res.matches for r, rec in zip(t.column("rule").to_pylist(),
                                                           t.column("record").to_pylist(), strict=True)}
    assert got == {("00000000-0000-0000-0000-000000000001", 2), ("00000000-0000-0000-0000-000000000002", 1)}
