"""The ingest fast path: hashing beside the parse, one state connection per burst of steps, and the
address-context pass skipped for runs that cannot hold address evidence. Each keeps the store's
guarantees: the same events and ids, idempotent re-ingest, duplicate content read once."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import orjson
import pytest

from aptwatch import ingest as ingest_module
from aptwatch.context.addresses import may_hold_evidence
from aptwatch.ingest import ingest
from aptwatch.store import Store
from aptwatch.store import state as state_module
from tests.fixtures import make_jsonl


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _ids(store: Store) -> list[str]:
    with store.session() as s:
        return s.sql("SELECT event_id FROM generic ORDER BY event_id").column("event_id").to_pylist()


@pytest.fixture
def defer_small(monkeypatch: pytest.MonkeyPatch) -> None:
    """Defer hashing for files of any size, so small fixtures take the large-file path."""
    monkeypatch.setattr(ingest_module, "DEFER_HASH_MIN_BYTES", 1)


def test_deferred_hash_gives_the_same_events_and_ids(tmp_path: Path, defer_small: None) -> None:
    f = make_jsonl(tmp_path / "a.jsonl", 3000, seed=1)
    fps = ingest_module._fingerprints([ingest_module.SourceRef(str(f))], defer=True)
    assert fps[0] == ("", f.stat().st_size, "jsonl")  # not hashed up front; sniffed
    store = Store.open(tmp_path / "s", create=True)
    r = ingest(store, [f])
    assert (r.events, r.sources, r.skipped) == (3000, 1, 0)
    ids = _ids(store)
    assert ids[0].startswith(_sha(f)[:16] + "-") and len(set(ids)) == 3000
    with store.state.connect() as con:
        assert con.execute("SELECT sha256, size FROM sources").fetchall() == [(_sha(f), f.stat().st_size)]
    files = list((store.root / "lake").rglob("*.parquet"))
    assert files and all(_sha(f)[:16] in p.name for p in files)
    # the same events as the up-front hash path
    ref_store = Store.open(tmp_path / "ref", create=True)
    ingest_module.DEFER_HASH_MIN_BYTES = 1 << 62  # monkeypatch restores it
    ingest(ref_store, [f])
    assert _ids(ref_store) == ids


def test_deferred_hash_keeps_reingest_and_duplicates_idempotent(tmp_path: Path, defer_small: None) -> None:
    a = make_jsonl(tmp_path / "a.jsonl", 2000, seed=1)
    copy = tmp_path / "copy-of-a.jsonl"
    shutil.copy(a, copy)
    b = make_jsonl(tmp_path / "b.jsonl", 1500, seed=2)
    store = Store.open(tmp_path / "s", create=True)
    r = ingest(store, [a, copy])  # equal content in one run: equal size, so hashed up front and read once
    assert (r.events, r.sources, r.skipped) == (2000, 1, 1)
    r = ingest(store, [a, b])  # a's size is in the ledger: hashed up front and skipped; b is new
    assert (r.events, r.sources, r.skipped) == (1500, 1, 1)
    # new content of a stored size is hashed up front, found new, and ingested
    same_size = tmp_path / "same-size.jsonl"
    data = bytearray(a.read_bytes())
    i = data.index(b"record 1 ") + len("record ")
    data[i:i + 1] = b"7"
    same_size.write_bytes(bytes(data))
    assert same_size.stat().st_size == a.stat().st_size
    r = ingest(store, [same_size])
    assert (r.events, r.skipped) == (2000, 0)
    assert len(_ids(store)) == 5500


def test_deferred_hash_of_a_vanished_file_is_a_warning_not_a_crash(tmp_path: Path, defer_small: None,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    f = make_jsonl(tmp_path / "a.jsonl", 500, seed=1)
    store = Store.open(tmp_path / "s", create=True)

    def broken(ref: ingest_module.SourceRef) -> tuple[str, int, bytes]:
        raise OSError("gone")

    monkeypatch.setattr(ingest_module, "fingerprint", broken)
    r = ingest(store, [f])
    assert (r.events, r.failed) == (0, 1)
    with store.state.connect() as con:
        assert con.execute("SELECT count(*) FROM sources").fetchone() == (0,)
        (detail,) = con.execute("SELECT detail FROM warnings WHERE reason = 'parser_error'").fetchone()
    assert "gone" in detail


def test_hold_opens_the_state_database_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store.open(tmp_path / "s", create=True)
    opens = []
    real = state_module.open_duckdb

    def counting(*args: object, **kwargs: object) -> object:
        opens.append(kwargs.get("read_only"))
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(state_module, "open_duckdb", counting)
    with store.state.hold():
        with store.state.connect(read_only=False) as con:
            con.execute("INSERT INTO meta VALUES ('k1', 'v1')")
            con.execute("SELECT 1")  # a result left unfetched: the next step has its own cursor
        with store.state.hold(), store.state.connect(read_only=True) as con:  # nested: still the same one
            con.register("t", con.sql("SELECT 'k1' AS key").to_arrow_table())
            assert con.execute("SELECT value FROM meta JOIN t USING (key)").fetchall() == [("v1",)]
        with store.state.connect(read_only=False) as con:
            con.execute("BEGIN")
            con.execute("INSERT INTO meta VALUES ('k2', 'v2')")
            con.execute("ROLLBACK")
    assert opens == [False]
    with store.state.connect() as con:  # released: a plain open again, and only the committed step stayed
        assert con.execute("SELECT key FROM meta WHERE key LIKE 'k%' ORDER BY key").fetchall() == [("k1",)]
    assert opens == [False, True]


def test_ingest_opens_the_state_database_a_few_times(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = make_jsonl(tmp_path / "a.jsonl", 1000, seed=1)
    store = Store.open(tmp_path / "s", create=True)
    opens = []
    real = state_module.open_duckdb

    def counting(*args: object, **kwargs: object) -> object:
        opens.append(kwargs.get("read_only"))
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(state_module, "open_duckdb", counting)
    assert ingest(store, [f]).events == 1000
    # writer set-up (init + recovery), ingest set-up, closing steps (commit, compaction, address context): was 12
    assert len(opens) == 3, opens


def _generic(tmp_path: Path, name: str, channel: str | None) -> Path:
    path = tmp_path / name
    rows = [{"ts": 1709287200 + i, "host": "ws1", **({"log_type": channel} if channel else {}),
             "assigned_addr": "10.0.0.5", "host_name": "kiosk", "lease_time": 3600} for i in range(50)]
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return path


def test_address_pass_decides_from_the_files_written(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s", create=True)
    plain = ingest(store, [_generic(tmp_path, "plain.jsonl", None)])
    other = ingest(store, [_generic(tmp_path, "other.jsonl", "syslog")])
    dhcp = ingest(store, [_generic(tmp_path, "dhcp.jsonl", "dhcp")])
    assert not may_hold_evidence(store.root, plain.files)
    assert not may_hold_evidence(store.root, other.files)
    assert may_hold_evidence(store.root, dhcp.files)
    assert may_hold_evidence(store.root, {"auth": ["lake/auth/x.parquet"]})  # evidence tables: always looked at
    assert not may_hold_evidence(store.root, {"process": ["lake/process/x.parquet"]})
    assert may_hold_evidence(store.root, {"generic": ["lake/generic/missing.parquet"]})  # cannot tell: look
    with store.state.connect() as con:
        claims = con.execute("SELECT ip, host, kind FROM host_addresses").fetchall()
        absorbed = {r[0] for r in con.execute(
            "SELECT ingest_id FROM derived_progress WHERE stage = 'host_addresses'").fetchall()}
    assert claims == [("10.0.0.5", "kiosk", "dhcp")]  # the DHCP run still teaches its lease
    assert absorbed == {plain.ingest_id, other.ingest_id, dhcp.ingest_id}  # skipped runs count as absorbed


def test_a_file_that_grew_before_its_deferred_hash_is_recorded_as_hashed(tmp_path: Path, defer_small: None,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    f = make_jsonl(tmp_path / "live.jsonl", 800, seed=3)
    real = ingest_module.fingerprint

    def grow_then_hash(ref: ingest_module.SourceRef) -> tuple[str, int, bytes]:
        with open(f, "ab") as out:  # a live log: appended between the size check and the hash
            out.write(b'{"@timestamp": 1709300000, "host": "ws1", "message": "late"}\n')
        return real(ref)

    store = Store.open(tmp_path / "s", create=True)
    monkeypatch.setattr(ingest_module, "fingerprint", grow_then_hash)
    first = ingest(store, [f])
    monkeypatch.setattr(ingest_module, "fingerprint", real)
    with store.state.connect() as con:
        assert con.execute("SELECT sha256, size FROM sources").fetchall() == [(_sha(f), f.stat().st_size)]
    again = ingest(store, [f])  # unchanged since: found in the ledger, nothing added
    assert (again.events, again.skipped) == (0, 1)
    assert len(_ids(store)) == first.events


def test_fingerprints_keep_no_content_heads(tmp_path: Path) -> None:
    """Every source's fingerprint lives until all are classified: holding its 64 KB head made the main
    process's peak grow with the number of sources (issue 3). Only the sniffed format is kept."""
    files = [make_jsonl(tmp_path / f"s{i}.jsonl", 2000, seed=i) for i in range(3)]
    (tmp_path / "x.bin").write_bytes(b"\x00\x01 not a log" * 5000)
    refs = [ingest_module.SourceRef(str(p)) for p in [*files, tmp_path / "x.bin"]]
    for defer in (False, True):
        fps = ingest_module._fingerprints(refs, defer=defer)
        assert [fp[2] for fp in fps if isinstance(fp, tuple)] == ["jsonl", "jsonl", "jsonl", None]
        assert all(isinstance(fp, tuple) and len(fp) == 3 and not isinstance(fp[2], bytes | bytearray)
                   for fp in fps)
