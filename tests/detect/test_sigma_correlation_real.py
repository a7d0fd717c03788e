"""Sigma v2 correlation rules over real recordings, referencing SigmaHQ's own detection rules.

The pinned SigmaHQ copy holds no correlation rule, so the correlations here are written in the
shape of the Sigma correlation specification's examples (value_count of accounts per source,
an ordered pair of detections, chained correlations, field aliases) over real events:

- `LM_wmiexec_impacket_sysmon_whoami.evtx` (evtx-attack-samples): impacket's wmiexec runs
  `cmd.exe /Q /c ...` three times from WmiPrvSE, the third `whoami /all`; SigmaHQ's "WmiPrvSE
  Spawned A Process" fires on the three cmd.exe, "Enumerate All Information With Whoami.EXE"
  on whoami.exe, whose ParentProcessGuid is the third cmd.exe's ProcessGuid;
- `kerberos_pwd_spray_4771.evtx`: one address asks the KDC for TGTs of many accounts (4768,
  4771) within a second.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from aptwatch.detect.base import DetectSettings
from aptwatch.detect.runner import run_detectors
from aptwatch.ingest import ingest
from aptwatch.model.finding import Finding, Severity
from aptwatch.store import Store
from aptwatch.store.read import load_findings
from tests.conftest import shared_path

pytestmark = [pytest.mark.shared]

WMI = "d21374ff-f574-44a7-9998-4a8c8bf33d7d"  # SigmaHQ: WmiPrvSE Spawned A Process
WHOAMI = "c248c896-e412-4279-8c15-1c558067b6fa"  # SigmaHQ: Enumerate All Information With Whoami.EXE
CORR_ID = "0b7c2a51-5f8e-4d0e-9a57-5c1f7d3e9a01"


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    samples = shared_path("evtx-attack-samples")
    files = [samples / "Lateral Movement" / "LM_wmiexec_impacket_sysmon_whoami.evtx",
             samples / "Credential Access" / "kerberos_pwd_spray_4771.evtx"]
    rules = shared_path("sigma", "rules", "windows", "process_creation")
    return tmp_path_factory.mktemp("corr"), [*files, rules / "proc_creation_win_wmiprvse_spawning_process.yml",
                                             rules / "proc_creation_win_whoami_all_execution.yml"]


def _run(base: Path, inputs: list[Path], name: str, correlation: str) -> list[Finding]:
    store = Store.open(base / name, create=True)
    ingest(store, inputs[:2], workers=1)
    rule = base / f"{name}.yml"
    rule.write_text(textwrap.dedent(correlation))
    rep = run_detectors(store, DetectSettings(rule_paths=(*inputs[2:], rule), min_severity=Severity.INFORMATIONAL,
                                              only=("sigma",), options={"sigma_builtin": False}))
    assert not [e for e in rep.errors if e.rule == CORR_ID], rep.errors
    with store.session(with_state=True) as s:
        return [f for f in load_findings(s) if f.rule_id == CORR_ID]


def _ordered(group_by: str, rules: tuple[str, str], aliases: str = "") -> str:
    return f"""
        title: Command shell from WMI followed by whoami /all
        id: {CORR_ID}
        correlation:
          type: temporal_ordered
          rules: [{rules[0]}, {rules[1]}]
          group-by: [{group_by}]
          timespan: 1m
          {aliases}
        level: high
        tags: [attack.lateral-movement, attack.t1047]
    """


def test_temporal_ordered_over_sigmahq_rules(recordings: tuple[Path, list[Path]]) -> None:
    base, inputs = recordings
    found = _run(base, inputs, "ordered", _ordered("Computer", (WMI, WHOAMI)))
    assert len(found) == 1
    f = found[0]
    assert f.extra["correlation"]["group"] == {"Computer": "iewin7"}
    assert set(f.extra["rules_matched"]) == {WMI, WHOAMI}
    assert list(f.entities["host"]) == ["iewin7"] and "TA0008" in f.tactics
    # the other order never happened: whoami.exe ran after the last WmiPrvSE child
    assert _run(base, inputs, "reversed", _ordered("Computer", (WHOAMI, WMI))) == []


def test_aliases_link_parent_and_child_process(recordings: tuple[Path, list[Path]]) -> None:
    """An alias names the cmd.exe's ProcessGuid in one rule and whoami's ParentProcessGuid in the other."""
    base, inputs = recordings
    aliases = f"aliases: {{proc: {{{WMI}: ProcessGuid, {WHOAMI}: ParentProcessGuid}}}}"
    found = _run(base, inputs, "alias", _ordered("proc", (WMI, WHOAMI), aliases))
    assert [f.extra["correlation"]["group"] for f in found] == [{"proc": "{365abb72-b0f3-5cc8-0000-0010c43a1d00}"}]
    assert found[0].extra["count"] == 2  # the one cmd.exe and its whoami.exe, not the two other shells
    # without the alias, the same field in both rules never holds the same process
    assert _run(base, inputs, "noalias", _ordered("ProcessGuid", (WMI, WHOAMI))) == []


CHAINED = """
    title: Burst of WMI shells followed by whoami /all
    id: {corr}
    correlation:
      type: temporal_ordered
      rules: [wmi_shell_burst, {whoami}]
      group-by: [Computer]
      timespan: 1m
    level: high
    ---
    title: WMI shell burst
    id: 7d1e7c55-0a61-4f7b-8d8a-2f6b5e0c4b11
    name: wmi_shell_burst
    correlation:
      type: event_count
      rules: [{wmi}]
      group-by: [Computer]
      timespan: 1m
      condition: {{gte: {n}}}
"""


@pytest.mark.parametrize(("n", "fires"), [(3, True), (4, False)])
def test_chained_correlation(recordings: tuple[Path, list[Path]], n: int, fires: bool) -> None:
    """The specification's 'failed logins followed by a successful login' shape: an event_count
    correlation referenced by a temporal_ordered one (three WMI shells happened, not four)."""
    base, inputs = recordings
    found = _run(base, inputs, f"chained{n}", CHAINED.format(corr=CORR_ID, whoami=WHOAMI, wmi=WMI, n=n))
    assert len(found) == (1 if fires else 0)
    if fires:
        assert set(found[0].extra["rules_matched"]) == {"7d1e7c55-0a61-4f7b-8d8a-2f6b5e0c4b11", WHOAMI}
        assert found[0].extra["correlation"]["group"] == {"Computer": "iewin7"}


SPRAY = """
    title: Kerberos AS requests for many accounts from one address
    id: {corr}
    correlation:
      type: value_count
      rules: [kerberos_as_request]
      group-by: [IpAddress]
      timespan: 1m
      condition: {{field: TargetUserName, gte: {n}}}
    level: medium
    tags: [attack.credential-access, attack.t1110.003]
    ---
    title: Kerberos AS request
    id: 5c0d3b8e-2f0a-4d8c-9d51-3b7a2c6e1f22
    name: kerberos_as_request
    logsource: {{product: windows, service: security}}
    detection:
      selection:
        EventID: [4768, 4771]
      condition: selection
"""


@pytest.mark.parametrize(("n", "fires"), [(10, True), (11, False)])
def test_value_count_distinct_accounts_per_address(recordings: tuple[Path, list[Path]], n: int,
                                                    fires: bool) -> None:
    """Ten accounts from 172.16.66.1 within a second (HD01, admin, svc-02, HD02, svc-01, bob, admin02,
    Administrator, backdoor, normal; `normal` is asked once more from ::ffff:172.16.66.1, another group)."""
    base, inputs = recordings
    found = _run(base, inputs, f"spray{n}", SPRAY.format(corr=CORR_ID, n=n))
    if not fires:
        assert found == []
        return
    assert [f.extra["correlation"]["group"] for f in found] == [{"IpAddress": "172.16.66.1"}]
    assert list(found[0].entities["src_ip"]) == ["172.16.66.1"]


@pytest.mark.parametrize(("bounds", "fires"), [("gte: 5, lte: 10", True), ("gte: 5, lte: 9", False),
                                               ("gt: 10, lte: 20", False)])
def test_value_count_range_on_the_spray(recordings: tuple[Path, list[Path]], bounds: str, fires: bool) -> None:
    """A range condition (both bounds) on the same spray: its ten accounts lie in 5..10; 5..9 does not fire
    although the count passes through 5..9 on its way to ten (the upper bound is on the burst's peak), and
    11..20 does not either."""
    base, inputs = recordings
    corr = SPRAY.format(corr=CORR_ID, n=0).replace("gte: 0", bounds)
    found = _run(base, inputs, f"range{bounds.replace(' ', '').replace(',', '_').replace(':', '')}", corr)
    assert [f.extra["correlation"]["group"] for f in found] == ([{"IpAddress": "172.16.66.1"}] if fires else [])
