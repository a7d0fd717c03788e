"""Native EVTX: golden rows on real samples, the whole evtx-attack-samples set read without loss,
truncated / garbled files, and a fuzz test over corrupted copies of a real file."""

from __future__ import annotations

import json
import os
import random
import warnings
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import evtx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aptwatch.sources.evtx import CHUNK_BYTES, HEADER_BYTES, Evtx
from tests.conftest import shared_path
from tests.sources.winhelp import count, read_all, rows

SAMPLES = "evtx-attack-samples"


def sample(*parts: str) -> Path:
    return shared_path(SAMPLES, *parts)


def bare_count(path: Path | str) -> int:
    """Records the evtx package itself yields (skipping what it cannot parse)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            return sum(1 for _ in evtx.PyEvtxParser(str(path), number_of_threads=1, skip_errors=True).records_json())
        except (OSError, RuntimeError):
            return 0


def test_sniff() -> None:
    src = Evtx()
    assert src.sniff(b"ElfFile\x00" + b"\x00" * 100, "x.bin")
    assert not src.sniff(b"ElfChnk\x00", "Security.evtx")
    assert not src.sniff(b'{"Event": {}}', "x.evtx")


def test_golden_sysmon_process_creation() -> None:
    tables, warns = read_all(Evtx(), sample("Execution", "exec_sysmon_1_lolbin_pcalua.evtx"))
    assert warns == [] and list(tables) == ["process"]
    r = rows(tables)[1]
    assert r["time"] == datetime(2019, 5, 12, 17, 1, 50, 781015, tzinfo=UTC)
    assert (r["host"], r["record"], r["event_code"], r["action"]) == ("iewin7", 2, 1, "start")
    assert r["channel"] == "Microsoft-Windows-Sysmon/Operational" and r["provider"] == "Microsoft-Windows-Sysmon"
    assert r["process_path"] == "C:\\Windows\\System32\\pcalua.exe" and r["process_name"] == "pcalua.exe"
    assert r["command_line"] == '"C:\\Windows\\System32\\pcalua.exe"  -a c:\\Windows\\system32\\calc.exe'
    assert (r["process_id"], r["parent_process_id"], r["terminal_session_id"]) == (2952, 3788, 1)
    assert r["process_guid"] == "{365abb72-517e-5cd8-0000-001024d61700}"  # Windows' spelling, not evtx's
    assert r["parent_path"] == "C:\\Windows\\System32\\cmd.exe" and r["user"] == "IEWIN7\\IEUser"
    assert r["md5"] == "d652ba887500816431566b524292eccb" and r["imphash"] == "256cd8cedfd4fcb3bc9db32e27e5923a"
    assert r["hashes"].startswith("SHA1=ABB6319976D9702E0C80978D51C0AEE88A33D201,MD5=")  # as logged
    assert json.loads(r["data"]) == {"RuleName": "", "UtcTime": "2019-05-12 17:01:50.781", "EventRecordID": "16497",
                                     "ExecutionProcessID": "2012", "UserID": "S-1-5-18"}
    raw = json.loads(r["raw"])
    assert raw["Event"]["EventData"]["Image"] == r["process_path"]  # raw: the package's complete rendering


def test_golden_security_logon_and_kerberos() -> None:
    tables, _ = read_all(Evtx(), sample("Defense Evasion", "DE_suspicious_remote_eventlog_svc_access_5145.evtx"))
    by_code: dict[object, dict[str, object]] = {}
    for r in rows(tables):
        by_code.setdefault(r["event_code"], r)  # the first of each
    logon = by_code[4624]
    assert (logon["table"], logon["action"], logon["outcome"], logon["protocol"]) == ("auth", "logon", "success",
                                                                                      "ntlm")
    assert (logon["target_user"], logon["target_domain"], logon["logon_type"]) == ("Administrator", "3B", 3)
    assert (logon["src_ip"], logon["src_port"], logon["logon_id"]) == ("172.16.66.37", 50106, "0x1136e95")
    assert json.loads(logon["data"])["LogonGuid"] == "{00000000-0000-0000-0000-000000000000}"
    cleared = by_code[1102]
    assert (cleared["table"], cleared["action"], cleared["subject_user"]) == ("logging", "log_cleared",
                                                                              "Administrator")
    share = by_code[5145]
    assert (share["table"], share["action"], share["relative_target"], share["access_mask"]) == (
        "file", "share_access", "eventlog", "0x83")
    assert json.loads(share["data"])["IpPort"] == "50106"  # the file table has no port column: kept in data

    tables, _ = read_all(Evtx(), sample("Privilege Escalation",
                                        "samaccount_spoofing_CVE-2021-42287_CVE-2021-42278_DC_securitylogs.evtx"))
    tgt = next(r for r in rows(tables) if r["event_code"] == 4768)
    assert (tgt["action"], tgt["protocol"], tgt["outcome"], tgt["service"], tgt["ticket_encryption"]) == (
        "tgt_request", "kerberos", "success", "krbtgt", "0x12")


def test_golden_hex_pids_userdata_and_classic_powershell() -> None:
    tables, _ = read_all(Evtx(), sample("Credential Access", "CA_4624_4625_LogonType2_LogonProc_chrome.evtx"))
    failed = next(r for r in rows(tables) if r["event_code"] == 4625)
    assert failed["process_id"] == 4952  # logged as 0x1358
    assert json.loads(failed["raw"])["Event"]["EventData"]["ProcessId"] == "0x1358"
    assert (failed["status"], failed["sub_status"], failed["outcome"]) == ("0xc000006d", "0xc000006a", "failure")

    tables, _ = read_all(Evtx(), sample("Defense Evasion", "DE_104_system_log_cleared.evtx"))
    r = rows(tables)[0]
    assert (r["table"], r["action"], r["subject_user"], r["subject_domain"]) == ("logging", "log_cleared",
                                                                                 "user01", "EXAMPLE")
    assert json.loads(r["data"])["Channel"] == "System"  # UserData flattened, nothing lost

    tables, _ = read_all(Evtx(), sample("Other", "emotet", "exec_emotet_ps_800_new-object.evtx"))
    ps = rows(tables)[0]
    assert (ps["table"], ps["action"], ps["event_code"]) == ("script", "pipeline", 800)
    assert ps["host_application"] == "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"
    assert ps["engine_version"] == "5.1.19041.1" and ps["user"] == "DESKTOP-RIPCLIP\\Clippy"
    assert "HostApplication=C:\\Windows\\System32\\WindowsPowerShell" in ps["data_text"]  # what ps_classic rules match
    assert json.loads(ps["data"])["HostName"] == "ConsoleHost"


def test_every_attack_sample_is_read_without_loss() -> None:
    """The issue's check: records read == records the evtx package reads, for every file (8,255 in all)."""
    root = sample()
    per_table: Counter[str] = Counter()
    total = bare_total = 0
    for path in sorted(root.rglob("*.evtx")):
        tables, warns = read_all(Evtx(), path)
        assert warns == [], (path, warns[:3])
        n, expected = count(tables), bare_count(path)
        assert n == expected, path
        total += n
        bare_total += expected
        for name, t in tables.items():
            per_table[name] += t.num_rows
    assert total == bare_total and total >= 8255
    assert per_table["process"] > 1000 and per_table["auth"] > 100 and per_table["generic"] < total / 3


def _cut(src: Path, dst: Path, size: int) -> Path:
    dst.write_bytes(src.read_bytes()[:size])
    return dst


def test_truncated_files_keep_every_record_before_the_cut(tmp_path: Path) -> None:
    src = sample("Defense Evasion", "DE_1102_security_log_cleared.evtx")  # 112 records, 17 chunks
    full = bare_count(src)
    for size in (HEADER_BYTES + CHUNK_BYTES + 30_000, HEADER_BYTES + 2 * CHUNK_BYTES - 10, os.path.getsize(src) - 1):
        tables, warns = read_all(Evtx(), _cut(src, tmp_path / "cut.evtx", size))
        assert "truncated" in {w.reason for w in warns}
        # the package alone skips the partial last chunk; padding it recovers what was written before the cut
        assert bare_count(tmp_path / "cut.evtx") <= count(tables) <= full
    tables, warns = read_all(Evtx(), _cut(src, tmp_path / "cut.evtx", HEADER_BYTES + CHUNK_BYTES + 30_000))
    assert count(tables) > bare_count(tmp_path / "cut.evtx")
    tables, warns = read_all(Evtx(), _cut(src, tmp_path / "cut.evtx", 100))
    assert count(tables) == 0 and [w.reason for w in warns] == ["bad_evtx"]
    tables, warns = read_all(Evtx(), _cut(src, tmp_path / "cut.evtx", HEADER_BYTES))
    assert count(tables) == 0 and "truncated" in {w.reason for w in warns}


def test_garbled_records_become_warnings(tmp_path: Path) -> None:
    src = sample("Execution", "sysmon_mshta_sharpshooter_stageless_meterpreter.evtx")
    data = bytearray(src.read_bytes())
    full = bare_count(src)
    rnd = random.Random(7)
    seen_warning = False
    for _ in range(20):
        b = bytearray(data)
        for _ in range(40):
            b[rnd.randrange(HEADER_BYTES + 512, len(b))] ^= 0xFF
        p = tmp_path / "garbled.evtx"
        p.write_bytes(bytes(b))
        tables, warns = read_all(Evtx(), p)
        assert count(tables) <= full
        assert count(tables) >= bare_count(p)
        seen_warning |= any(w.reason == "evtx_error" for w in warns)
    assert seen_warning


def test_repeated_and_out_of_range_record_numbers_keep_event_ids_unique(tmp_path: Path) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    from evtx_merge import merge

    src = sample("Execution", "exec_sysmon_1_lolbin_pcalua.evtx")
    merged = tmp_path / "m.evtx"
    assert merge(str(merged), [str(src), str(src)]) == 6  # the chunks renumbered: 1..6
    tables, warns = read_all(Evtx(), merged)
    assert sorted(r["record"] for r in rows(tables)) == [1, 2, 3, 4, 5, 6] and warns == []
    # the same chunk twice without renumbering: record numbers 1-3 repeat
    raw = merged.read_bytes()
    chunk = src.read_bytes()[HEADER_BYTES : HEADER_BYTES + CHUNK_BYTES]
    (tmp_path / "dup.evtx").write_bytes(raw[:HEADER_BYTES] + chunk + chunk)
    tables, warns = read_all(Evtx(), tmp_path / "dup.evtx")
    records = [r["record"] for r in rows(tables)]
    assert len(records) == len(set(records)) == 6 and min(records) < 0
    assert [w.reason for w in warns] == ["duplicate_record"] * 3


@pytest.fixture(scope="module")
def small_evtx() -> bytes:
    return sample("Execution", "exec_sysmon_1_lolbin_pcalua.evtx").read_bytes()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(min_value=0, max_value=HEADER_BYTES + CHUNK_BYTES),
       flips=st.lists(st.tuples(st.integers(min_value=0, max_value=HEADER_BYTES + CHUNK_BYTES - 1),
                                st.integers(min_value=0, max_value=255)), max_size=30))
def test_fuzz_corrupted_copies_never_raise(tmp_path: Path, small_evtx: bytes, cut: int,
                                           flips: list[tuple[int, int]]) -> None:
    data = bytearray(small_evtx[: max(cut, 0)] if cut < len(small_evtx) else small_evtx)
    for pos, value in flips:
        if pos < len(data):
            data[pos] = value
    p = tmp_path / "fuzz.evtx"
    p.write_bytes(bytes(data))
    tables, warns = read_all(Evtx(), p)  # never raises, always ends
    records = [r["record"] for r in rows(tables)]
    assert len(records) == len(set(records))  # event ids stay unique
    assert count(tables) >= bare_count(p)  # every record the package can read is kept
    if count(tables) < 3:  # the original holds 3 records: a loss is always explained by a warning
        assert warns
    for r in rows(tables):
        assert r["raw"]


@given(st.lists(st.integers(min_value=0, max_value=60), max_size=80))
def test_record_runs_match_a_set(numbers: list[int]) -> None:
    from aptwatch.sources.evtx import RecordRuns

    runs, seen = RecordRuns(), set()
    for x in numbers:
        assert runs.add(x) == (x not in seen)
        seen.add(x)


def test_record_runs_of_a_normal_log_take_constant_memory() -> None:
    from aptwatch.sources.evtx import RecordRuns

    runs = RecordRuns()
    assert all(runs.add(x) for x in range(1, 100_000))
    assert len(runs) == 1 and not runs.add(500)
