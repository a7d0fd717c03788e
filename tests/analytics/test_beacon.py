"""Beaconing: RITA v5 scoring, jitter, growing intervals, allowlist, prevalence, incremental folding."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from aptwatch.store import Store
from tests.analytics.lake import detect, write

T0 = 1709251200.0  # 2024-03-01T00:00:00Z


def conns(src: str, dst: str, times: list[float], *, size: int | None = 320, jitter_bytes: int = 0,
          seed: int = 0, port: int = 443) -> list[dict]:
    rnd = random.Random(seed)
    return [{"time": t, "src_ip": src, "src_port": 40000 + i % 20000, "dst_ip": dst, "dst_port": port,
             "protocol": "tcp", "duration": 0.4,
             "bytes_out": None if size is None else size + rnd.randint(0, jitter_bytes),
             "bytes_in": 1200, "conn_state": "SF"} for i, t in enumerate(times)]


def periodic(period: float, n: int, *, jitter: float = 0.0, start: float = T0, seed: int = 1) -> list[float]:
    rnd = random.Random(seed)
    return [start + i * period + rnd.uniform(-jitter, jitter) * period for i in range(n)]


def noise(n: int, span: float, seed: int, start: float = T0) -> list[float]:
    rnd = random.Random(seed)
    return sorted(start + rnd.uniform(0, span) ** 1.0 for _ in range(n))


def background(seed: int = 5) -> list[dict]:
    """Irregular, bursty browsing from other hosts: what a real network mostly looks like."""
    rnd = random.Random(seed)
    out: list[dict] = []
    for h in range(12):
        for s in range(30):
            burst = T0 + rnd.uniform(0, 86400)
            for k in range(rnd.randint(1, 6)):
                out.append({"time": burst + k * rnd.uniform(0.1, 3), "src_ip": f"10.0.1.{h + 10}",
                            "src_port": 50000 + s,
                            "dst_ip": f"93.184.{rnd.randint(0, 50)}.{rnd.randint(1, 254)}", "dst_port": 443,
                            "protocol": "tcp", "bytes_out": rnd.randint(200, 90000),
                            "bytes_in": rnd.randint(500, 2_000_000)})
    return out


@pytest.fixture
def store(store_dir: Path) -> Store:
    return Store.open(store_dir, create=True)


def by_pair(findings: list) -> dict[tuple[str, str], object]:
    return {(f.entities.get("src_ip", ("",))[0], (f.entities.get("dst_ip") or f.entities.get("domain"))[0]): f
            for f in findings}


def test_periodic_jittered_and_daily_beacons_found_random_traffic_not(store: Store) -> None:
    net = background()
    net += conns("10.0.0.5", "203.0.113.10", periodic(60, 1440))                 # 1 min, exact
    net += conns("10.0.0.6", "203.0.113.11", periodic(300, 288, jitter=0.3), jitter_bytes=40)  # 5 min +-30%
    net += conns("10.0.0.7", "198.51.100.7", noise(300, 86400, seed=3), jitter_bytes=60000)   # random times
    write(store, {"network": net})
    findings, _report = detect(store, ["beacon"])
    got = by_pair(findings)
    assert ("10.0.0.5", "203.0.113.10") in got
    assert ("10.0.0.6", "203.0.113.11") in got
    assert ("10.0.0.7", "198.51.100.7") not in got
    f = got[("10.0.0.5", "203.0.113.10")]
    assert f.rule_id == "beacon.periodic" and f.tactics == ("TA0011",) and "T1071" in f.techniques
    assert f.score >= 0.9 and f.evidence and f.evidence[0].table == "network"
    assert f.extra["scores"]["ts_score"] == pytest.approx(1.0)
    # no background pair (bursty browsing) is reported
    assert not [k for k in got if k[0].startswith("10.0.1.")], [got[k].title for k in got if k[0].startswith("10.0.1.")]


def test_multi_day_daily_callback(store: Store) -> None:
    net = conns("10.0.0.8", "192.0.2.44", periodic(86400, 14, jitter=0.02, seed=4), port=8443)
    net += background()
    write(store, {"network": net})
    findings, _ = detect(store, ["beacon"])
    f = by_pair(findings).get(("10.0.0.8", "192.0.2.44"))
    assert f is not None, [x.title for x in findings]
    assert f.extra["scores"]["median_interval"] == pytest.approx(86400, rel=0.03)


def test_growing_interval_backoff_is_caught_where_rita_score_is_low(store: Store) -> None:
    rnd = random.Random(9)
    t, times, d = T0, [], 20.0
    for _ in range(14):
        times.append(t)
        t += d * rnd.uniform(0.9, 1.1)
        d *= 1.8
    net = conns("10.0.0.9", "198.51.100.99", times) + background()
    write(store, {"network": net})
    findings, _ = detect(store, ["beacon"])
    f = by_pair(findings).get(("10.0.0.9", "198.51.100.99"))
    assert f is not None
    assert f.rule_id == "beacon.growing"
    assert f.extra["scores"]["growth_score"] >= 0.8
    assert f.extra["scores"]["ts_score"] < 0.7


def test_allowlisted_update_service_by_name_and_by_dns_answer(store: Store) -> None:
    net = conns("10.0.0.5", "13.107.4.50", periodic(600, 144))
    dns = [{"time": T0 - 5, "src_ip": "10.0.0.5", "query": "ctldl.windowsupdate.com", "query_type": "A",
            "answers": "ctldl.windowsupdate.com.edgesuite.net;13.107.4.50", "rcode": "NOERROR"}]
    tls = [{"time": t, "src_ip": "10.0.0.5", "dst_ip": "13.107.4.51", "dst_port": 443,
            "server_name": "settings-win.data.microsoft.com"} for t in periodic(900, 96)]
    write(store, {"network": net, "dns": dns, "tls": tls})
    findings, report = detect(store, ["beacon"])
    assert findings == []
    assert report.stats["beacon"]["scored_pairs"] >= 2  # scored, then suppressed by the allowlist


def test_sni_beacon_and_prevalence_modifier(store: Store) -> None:
    tls = []
    for h in range(8):  # 8 of 9 hosts poll the same service: prevalent
        tls += [{"time": t, "src_ip": f"10.0.2.{h}", "dst_ip": "192.0.2.1", "dst_port": 443,
                 "server_name": "telemetry.vendor.example"} for t in periodic(300, 288, seed=h)]
    tls += [{"time": t, "src_ip": "10.0.2.100", "dst_ip": "192.0.2.77", "dst_port": 443,
             "server_name": "cdn-update.evil.example"} for t in periodic(120, 720, jitter=0.1, seed=50)]
    write(store, {"tls": tls})
    findings, _ = detect(store, ["beacon"])
    got = {f.entities["src_ip"][0]: f for f in findings}
    evil = got["10.0.2.100"]
    assert evil.entities["domain"] == ("cdn-update.evil.example",)
    prevalent = [f for f in findings if f.entities["domain"] == ("telemetry.vendor.example",)]
    assert all(f.score < evil.score for f in prevalent)
    assert all(any("prevalent" in m for m in f.extra["modifiers"]) for f in prevalent)


def test_incremental_fold_reads_only_new_ingests_and_ids_are_stable(store: Store) -> None:
    times = periodic(60, 1440)
    write(store, {"network": conns("10.0.0.5", "203.0.113.10", times[:700]) + background()})
    first, _r1 = detect(store, ["beacon"])
    write(store, {"network": conns("10.0.0.5", "203.0.113.10", times[700:])})
    second, r2 = detect(store, ["beacon"])
    assert r2.stats["beacon"]["folded_events"] == 740  # only the new ingest was read
    f1 = by_pair(first)[("10.0.0.5", "203.0.113.10")]
    f2 = by_pair(second)[("10.0.0.5", "203.0.113.10")]
    assert f1.id == f2.id and f2.extra["scores"]["score"] >= f1.extra["scores"]["score"] - 0.01
    assert f2.time_last > f1.time_last
    third, r3 = detect(store, ["beacon"])  # nothing new: nothing folded, nothing re-scored
    assert r3.stats["beacon"]["folded_events"] == 0 and third == []
    with store.state.connect() as con:
        n = con.execute("SELECT sum(len(ts)) FROM pair_days WHERE src = '10.0.0.5'").fetchone()[0]
    assert n == 1440


def test_compacted_lake_files_are_still_folded_once(store: Store) -> None:
    from aptwatch.store.compact import compact

    times = periodic(60, 1200)
    for k in range(4):  # four small ingests of one day: compaction merges them under its own run id
        write(store, {"network": conns("10.0.0.5", "203.0.113.10", times[k * 300:(k + 1) * 300])})
    with store.writer("test"), store.state.connect(read_only=False) as con:
        report = compact(store.root, con)
    assert report.files_in >= 4
    findings, rep = detect(store, ["beacon"])
    assert rep.stats["beacon"]["folded_events"] == 1200
    assert ("10.0.0.5", "203.0.113.10") in by_pair(findings)
    _, again = detect(store, ["beacon"])
    assert again.stats["beacon"]["folded_events"] == 0


def test_source_host_named_from_address_context(store: Store) -> None:
    """Network findings carry the host key of their source when the address context knows it (here from a
    logon event naming the workstation behind 10.0.0.5)."""
    auth = [{"time": T0, "host": "dc1", "event_code": 4624, "action": "logon", "outcome": "success",
             "target_user": "alice", "logon_type": 3, "src_ip": "10.0.0.5", "workstation": "WS05"}]
    write(store, {"network": conns("10.0.0.5", "203.0.113.10", periodic(60, 600)), "auth": auth})
    findings, _ = detect(store, ["beacon"])
    assert findings[0].entities["host"] == ("ws05",) and findings[0].entities["src_ip"] == ("10.0.0.5",)
