"""Persistence rarity: first-seen artefacts after learning; suspicious rare ones at any time."""

from __future__ import annotations

from pathlib import Path

import pytest

from aptwatch.store import Store
from tests.analytics.lake import detect, write

T0 = 1709251200.0
DAY = 86400.0


@pytest.fixture
def store(store_dir: Path) -> Store:
    return Store.open(store_dir, create=True)


def svc(t: float, host: str, name: str, image: str) -> dict:
    return {"time": t, "host": host, "event_code": 7045, "action": "service_installed", "name": name,
            "image_path": image, "account": "LocalSystem"}


def run_key(t: float, host: str, value: str, data: str, sid: str = "S-1-5-21-1-2-3-1001") -> dict:
    return {"time": t, "host": host, "event_code": 13, "action": "set_value", "event_type": "SetValue",
            "target_object": f"HKU\\{sid}\\Software\\Microsoft\\Windows\\CurrentVersion\\Run\\{value}",
            "details": data, "process_path": "C:\\Windows\\explorer.exe"}


def test_fleet_software_learned_then_new_artefacts_reported(store: Store) -> None:
    base = []
    for d in range(8):
        for h in range(10):
            base.append(svc(T0 + d * DAY + h, f"ws{h}", "Google Update",
                            "\"C:\\Program Files\\Google\\Update\\GoogleUpdate.exe\" /svc"))
            base.append(run_key(T0 + d * DAY + h, f"ws{h}", "OneDrive",
                                f"\"C:\\Users\\user{h}\\AppData\\Local\\Microsoft\\OneDrive\\OneDrive.exe\" "
                                "/background",
                                sid=f"S-1-5-21-1-2-3-{1000 + h}"))
    write(store, {"persistence": [r for r in base if "name" in r],
                  "registry": [r for r in base if "target_object" in r]})
    first, _ = detect(store, ["persistence"])
    assert first == []  # per-user paths normalise to one artefact, seen on 10 hosts
    t = T0 + 9 * DAY
    later = [svc(t, "ws3", "Google Update", "\"C:\\Program Files\\Google\\Update\\GoogleUpdate.exe\" /svc"),
             svc(t, "ws3", "VendorAgent", "\"C:\\Program Files\\Vendor\\agent.exe\""),
             run_key(t, "ws4", "Updater", "C:\\Users\\user4\\AppData\\Roaming\\upd.exe")]
    write(store, {"persistence": [r for r in later if "name" in r],
                  "registry": [r for r in later if "target_object" in r]})
    second, _ = detect(store, ["persistence"])
    got = sorted((f.rule_id, f.entities["host"][0], f.entities["file"][0]) for f in second)
    assert got == [("persistence.first_seen", "ws3", "c:\\program files\\vendor\\agent.exe"),
                   ("persistence.suspicious_rare", "ws4", "c:\\users\\<user>\\appdata\\roaming\\upd.exe")]
    assert {f.techniques[0] for f in second} == {"T1543.003", "T1547.001"}


def test_wmi_consumer_and_encoded_powershell_task_in_cold_start(store: Store) -> None:
    ev = [{"time": T0, "host": "ws1", "event_code": 20, "action": "wmi_consumer", "name": "Updater",
           "consumer": "CommandLineEventConsumer", "image_path": "powershell.exe -nop -enc SQBFAFgA"},
          {"time": T0 + 5, "host": "ws1", "event_code": 4698, "action": "task_created", "name": "\\Microsoft\\Sync",
           "image_path": "powershell.exe -w hidden -enc SQBFAFgAIAAoAE4AZQB3AC0A"},
          {"time": T0 + 9, "host": "ws1", "event_code": 4698, "action": "task_created", "name": "\\Backup",
           "image_path": "C:\\Program Files\\Backup\\bk.exe --daily"}]
    write(store, {"persistence": ev})
    findings, _ = detect(store, ["persistence"])
    assert sorted((f.rule_id, f.techniques[0]) for f in findings) == [
        ("persistence.suspicious_rare", "T1053.005"), ("persistence.suspicious_rare", "T1546.003")]
