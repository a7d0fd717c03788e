"""Slow exfiltration: multi-day uploads to a rare destination, cloud storage, and what is not exfiltration."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from aptwatch.store import Store
from tests.analytics.lake import detect, write

DAY = 86400.0
T0 = 1709251200.0


@pytest.fixture
def store(store_dir: Path) -> Store:
    return Store.open(store_dir, create=True)


def flow(t: float, src: str, dst: str, out: int, inb: int, port: int = 443) -> dict:
    return {"time": t, "src_ip": src, "src_port": 50000, "dst_ip": dst, "dst_port": port, "protocol": "tcp",
            "bytes_out": out, "bytes_in": inb, "duration": 3.0, "conn_state": "SF"}


def fleet(days: int, seed: int = 3) -> list[dict]:
    """20 hosts browsing and downloading for `days` days (in >> out), a few shared SaaS destinations."""
    rnd = random.Random(seed)
    out = []
    shared = [f"151.101.{i}.10" for i in range(6)]
    for d in range(days):
        for h in range(20):
            for _ in range(rnd.randint(20, 40)):
                dst = rnd.choice(shared) if rnd.random() < 0.6 else \
                    f"93.184.{rnd.randint(0, 200)}.{rnd.randint(1, 250)}"
                out.append(flow(T0 + d * DAY + rnd.uniform(0, DAY), f"10.0.0.{h + 10}", dst,
                                rnd.randint(500, 60_000), rnd.randint(20_000, 5_000_000)))
    return out


def test_slow_upload_to_rare_destination_found_browsing_not(store: Store) -> None:
    rnd = random.Random(1)
    trickle = [flow(T0 + d * DAY + k * 3000 + rnd.uniform(0, 600), "10.0.0.12", "185.220.101.33",
                    rnd.randint(180_000, 260_000), rnd.randint(300, 900), port=8443)
               for d in range(10) for k in range(12)]
    write(store, {"network": fleet(10) + trickle})
    findings, _ = detect(store, ["exfil"])
    assert [(f.entities["src_ip"], f.entities["dst_ip"]) for f in findings] == [(("10.0.0.12",), ("185.220.101.33",))]
    f = findings[0]
    assert f.extra["days"] == 10 and f.extra["ratio"] > 100 and f.extra["destination_sources"] == 1
    assert f.tactics == ("TA0010",) and "T1030" in f.techniques and f.stage == "data_exfiltration"
    assert f.extra["own_z"] > 3


def test_upload_to_cloud_storage_named_by_dns(store: Store) -> None:
    rnd = random.Random(2)
    up = [flow(T0 + d * DAY + k * 1800, "10.0.0.15", "162.125.66.18", rnd.randint(900_000, 1_100_000), 40_000)
          for d in range(3) for k in range(10)]
    dns = [{"time": T0 - 10, "src_ip": "10.0.0.15", "query": "content.dropboxapi.com", "query_type": "A",
            "answers": "edge-block-api.dropbox-dns.com;162.125.66.18", "rcode": "NOERROR"}]
    write(store, {"network": fleet(3) + up, "dns": dns})
    findings, _ = detect(store, ["exfil"])
    assert len(findings) == 1
    f = findings[0]
    assert f.extra["cloud_storage"] == "dropboxapi.com" and "T1567.002" in f.techniques
    assert "content.dropboxapi.com" in f.entities["domain"]


def test_single_burst_and_download_heavy_transfers_are_not_slow_exfiltration(store: Store) -> None:
    burst = [flow(T0 + 5000, "10.0.0.11", "203.0.113.9", 80_000_000, 20_000)]  # one connection, one day
    backup_restore = [flow(T0 + d * DAY + 100, "10.0.0.13", "203.0.113.10", 9_000_000, 90_000_000)
                      for d in range(5)]  # large but download-heavy
    write(store, {"network": fleet(5) + burst + backup_restore})
    findings, _ = detect(store, ["exfil"])
    assert findings == []
