"""Sigma fields that name Windows `System` elements no column or `data` key holds (Level, Keywords,
Execution_ProcessID ...): read from the raw record of EVTX events, on a real recording."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from aptwatch.detect.base import DetectSettings
from aptwatch.detect.runner import run_detectors
from aptwatch.ingest import ingest
from aptwatch.model.finding import Severity
from aptwatch.store import Store
from aptwatch.store.read import load_findings
from tests.conftest import shared_path

pytestmark = [pytest.mark.shared]

#: MSSQL_15281_xp_cmdshell_exec_failed_attempt.evtx holds one Application event of provider
#: MSSQL$SQLEXPRESS, EventID 15281, System Level 4 (information), Task 2, Keywords 0x80000000000000,
#: Security UserID S-1-5-21-...-1001, no Execution element
CASES = [
    ("level", "Level: 4", True),
    ("level_other", "Level: 2", False),
    ("keywords", "Keywords: '0x80000000000000'", True),
    ("task", "Task: 2", True),
    ("user_sid", "Security_UserID|endswith: '-1001'", True),
    ("no_execution", "Execution_ProcessID|exists: true", False),
    ("not_level", "Level: 2\n      condition_not: true", True),
]


def test_system_elements_are_read_from_raw(tmp_path: Path) -> None:
    src = shared_path("evtx-attack-samples", "Lateral Movement", "MSSQL_15281_xp_cmdshell_exec_failed_attempt.evtx")
    store = Store.open(tmp_path / "s", create=True)
    ingest(store, [src], workers=1)
    rules = tmp_path / "rules"
    rules.mkdir()
    expected = {}
    for i, (name, sel, fires) in enumerate(CASES):
        negate = "condition_not" in sel
        sel = sel.split("\n")[0]
        rid = f"00000000-0000-4000-8000-0000000000{i:02d}"
        (rules / f"{name}.yml").write_text(textwrap.dedent(f"""
            title: {name}
            id: {rid}
            logsource: {{product: windows, service: application}}
            detection:
              base:
                Provider_Name: MSSQL$SQLEXPRESS
                EventID: 15281
              sel:
                {sel}
              condition: base and {'not ' if negate else ''}sel
            level: low
        """))
        expected[rid] = fires
    rep = run_detectors(store, DetectSettings(rule_paths=(rules,), min_severity=Severity.INFORMATIONAL,
                                              only=("sigma",), options={"sigma_builtin": False}))
    assert not rep.errors
    with store.session(with_state=True) as s:
        fired = {f.rule_id for f in load_findings(s)}
    assert {rid for rid, fires in expected.items() if fires} == fired
