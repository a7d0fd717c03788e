"""aptwatch's own Sigma rules on real recordings (../shared/data/evtx-attack-samples).

Positive files include recordings no own rule was written against (their descriptions name the
files they were checked on): the reflective-injection, UACME 34, CompMgmtLauncher and PPLdump
recordings test that the rules generalise. Negative files are attack recordings of other
techniques with the same event types (Sysmon process, registry, network and process-access
events), on which no own rule may fire.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from aptwatch.detect.base import DetectSettings
from aptwatch.detect.runner import run_detectors
from aptwatch.detect.sigma.loader import BUILTIN_RULES
from aptwatch.ingest import ingest
from aptwatch.store import Store
from aptwatch.store.read import load_findings
from tests.conftest import shared_path

pytestmark = pytest.mark.shared

#: file under evtx-attack-samples -> titles of the own rules whose findings it must produce (exactly)
EXPECT: dict[str, set[str]] = {
    # not named by any own rule: generalisation
    "Execution/Sysmon_meterpreter_ReflectivePEInjection_to_notepad_.evtx": {
        "Remote Thread Started Outside Any Loaded Module"},
    "Privilege Escalation/Sysmon_UACME_34.evtx": {"System Folder Variable Overridden In The User Environment"},
    "Privilege Escalation/sysmon_13_1_compmgmtlauncherUACBypass.evtx": {
        "Open Command Registered For A ProgID That Auto-Elevating Binaries Launch"},
    "Credential Access/ppl_bypass_ppldump_knowdll_hijack_sysmon_security.evtx": {
        "NTFS Transaction Used By A Process Outside System Folders"},
    "Lateral Movement/LM_impacket_docmexec_mmc_sysmon_01.evtx": {
        "Inbound Network Connection To A DCOM Lateral Movement Host Process",
        "Script Host Or Management Console Started As A DCOM Server"},
    # named by the rule (checked against)
    "Command and Control/tunna_iis_rdp_smb_tunneling_sysmon_3.evtx": {
        "Web Server Process Connecting To A Remote Administration Port"},
    "Discovery/discovery_meterpreter_ps_cmd_process_listing_sysmon_10.evtx": {"Many Processes Queried By One Process"},
    "Persistence/Persistence_Winsock_Catalog Change EventId_1.evtx": {"Winsock Layered Service Provider Installed"},
    "Persistence/persistence_accessibility_features_osk_sysmon1.evtx": {"Accessibility Program Replaced By A Shell"},
    # negatives
    "Defense Evasion/DE_EventLog_Service_Crashed.evtx": set(),
    "Credential Access/CA_4624_4625_LogonType2_LogonProc_chrome.evtx": set(),
    # the real osk.exe started by Utilman (the accessibility rule must not fire)
    "Execution/sysmon_lolbin_bohops_vshadow_exec.evtx": set(),
}


@pytest.fixture(scope="module")
def own_findings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[str]]:
    root = shared_path("evtx-attack-samples")
    own = {str(d["id"]) for f in sorted(BUILTIN_RULES.rglob("*.yml")) for d in yaml.safe_load_all(f.read_text())
           if isinstance(d, dict) and d.get("id")}
    store = Store.open(tmp_path_factory.mktemp("own-real") / "s", create=True)
    ingest(store, [str(root / rel) for rel in EXPECT])
    rep = run_detectors(store, DetectSettings(only=("sigma",), options={"sigma_builtin": True}))
    assert not rep.failed and not rep.errors
    got: dict[str, set[str]] = {rel: set() for rel in EXPECT}
    with store.session(with_state=True) as s:
        for f in load_findings(s):
            if f.detector != "sigma" or f.rule_id not in own:
                continue
            for e in f.evidence:
                rel = Path(e.source).relative_to(root).as_posix()
                got[rel].add(f.title)
    return got


@pytest.mark.parametrize("rel", list(EXPECT))
def test_own_rules_on_real_recordings(own_findings: dict[str, set[str]], rel: str) -> None:
    assert own_findings[rel] == EXPECT[rel]
