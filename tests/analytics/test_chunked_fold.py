"""Folding a backlog in bounded chunks gives the same `pair_days` rows and the same findings as one pass, and a
fold killed between chunks resumes without folding anything twice."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from aptwatch.store import Store
from aptwatch.store.writer import StoreWriter
from tests.analytics.lake import detect, write
from tests.analytics.test_beacon import T0, background, conns, periodic

SMALL = {"pairs.chunk_rows": 800, "beacon.score_chunk_conns": 800}


def backlog(store: Store, parts: tuple[int, ...] = (1, 2, 3)) -> None:
    """Three days of beacons, browsing and an upload, from eight sources, in three ingests; the upload's
    first day arrives in ingests 2 and 3 (folded in different runs, a stored day row is merged)."""
    day = 86400.0
    first = []
    for i in range(8):
        first += conns(f"10.0.0.{i + 1}", "203.0.113.10", periodic(600 + 60 * i, 140, jitter=0.02, seed=i))
    first += background() + [dict(r, time=r["time"] + day) for r in background(seed=6)]
    late = conns("10.0.0.3", "198.51.100.7", periodic(1500, 100, start=T0 + 3600, seed=9), size=900_000)
    if 1 in parts:
        write(store, {"network": first}, source="backlog-1.log")  # same names: same event ids in both stores
    if 2 in parts:
        write(store, {"network": late[:50]}, source="backlog-2.log")
    if 3 in parts:
        write(store, {"network": late[50:] + [dict(r, time=r["time"] + 2 * day) for r in background(seed=7)],
                      "tls": [{"time": t, "src_ip": "10.0.0.9", "dst_ip": "192.0.2.80", "dst_port": 443,
                               "server_name": "cdn-update.evil.example"} for t in periodic(900, 200, seed=3)]},
              source="backlog-3.log")


def pair_days(store: Store) -> list[tuple[Any, ...]]:
    with store.state.connect() as con:
        # float sums depend on the order DuckDB adds them in, chunked or not: compared rounded
        return con.execute("""SELECT kind, src, dst, day, host, ts, list_sort(sizes), conns, bytes_out, bytes_in,
                                     round(duration, 6), ports, list_sort(events)
                              FROM pair_days ORDER BY ALL""").fetchall()


def summary(findings: list) -> list[tuple[Any, ...]]:
    return sorted((f.id, f.rule_id, round(f.score, 6), f.title, f.time_last) for f in findings)


def two_stores(tmp_path: Path, parts: tuple[int, ...]) -> tuple[Store, Store]:
    a = Store.open(tmp_path / "a", create=True)
    b = Store.open(tmp_path / "b", create=True)
    backlog(a, parts)
    backlog(b, parts)
    return a, b


def test_chunked_fold_and_scoring_equal_one_pass(tmp_path: Path) -> None:
    one, chunked = two_stores(tmp_path, (1, 2))
    f1, r1 = detect(one, ["beacon", "exfil"])
    f2, r2 = detect(chunked, ["beacon", "exfil"], **SMALL)
    assert r1.stats["beacon"]["fold_chunks"] == 1 and r1.stats["beacon"]["score_chunks"] == 1
    assert r2.stats["beacon"]["fold_chunks"] > 2  # days packed, the busy day split by source ranges
    assert r2.stats["beacon"]["score_chunks"] > 2
    assert summary(f1) == summary(f2)
    backlog(one, (3,))
    backlog(chunked, (3,))
    f1, r1 = detect(one, ["beacon", "exfil"])
    f2, r2 = detect(chunked, ["beacon", "exfil"], **SMALL)
    assert r1.stats["beacon"]["folded_events"] == r2.stats["beacon"]["folded_events"] > 0
    assert pair_days(one) == pair_days(chunked)
    assert {f.rule_id for f in f1} >= {"beacon.periodic", "exfil.slow"}
    assert summary(f1) == summary(f2)
    with chunked.state.connect() as con:  # a finished plan leaves nothing behind
        assert con.execute("SELECT count(*) FROM baselines WHERE key = '__plan__'").fetchone()[0] == 0


def test_fold_killed_between_chunks_resumes_without_double_folding(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    one, crashed = two_stores(tmp_path, (1, 2, 3))
    detect(one, ["beacon"])
    real = StoreWriter.write_state
    calls = {"n": 0}

    def dies_on_third_commit(self: StoreWriter, *a: Any, **k: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("killed")
        real(self, *a, **k)

    monkeypatch.setattr(StoreWriter, "write_state", dies_on_third_commit)
    with pytest.raises(KeyboardInterrupt):
        detect(crashed, ["beacon"], **SMALL)
    monkeypatch.setattr(StoreWriter, "write_state", real)
    with crashed.state.connect() as con:
        plan = con.execute("SELECT value FROM baselines WHERE key = '__plan__'").fetchone()
        assert plan is not None and '"done":2' in plan[0]  # two chunks committed, their progress stored
        assert con.execute("SELECT count(*) FROM analytic_ingests").fetchone()[0] == 0
    # another run (default settings: the stored plan is finished as planned, then nothing is left)
    _, rep = detect(crashed, ["beacon"])
    assert rep.stats["beacon"]["fold_chunks"] > 1
    assert pair_days(one) == pair_days(crashed)
    with crashed.state.connect() as con:
        assert con.execute("SELECT count(*) FROM baselines WHERE key = '__plan__'").fetchone()[0] == 0
    _, again = detect(crashed, ["beacon"])
    assert again.stats["beacon"]["folded_events"] == 0
