"""Windows exports cut short or garbled: every readable record is kept, the rest is explained by
warnings, nothing raises or hangs (fuzzed with hypothesis); and a representative OTRF subset is
ingested with stored events == records in the file (the full check is bench/check_windows_datasets.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aptwatch.ingest import ingest
from aptwatch.sources.azure_windows import AzureWindows
from aptwatch.sources.base import Source
from aptwatch.sources.evtx_json import EvtxJson
from aptwatch.sources.nxlog import NXLog
from aptwatch.sources.winevent_xml import WinEventXml
from aptwatch.sources.winlogbeat import Winlogbeat
from aptwatch.store import Store
from tests.conftest import shared_path
from tests.sources import winexport
from tests.sources.winhelp import count, read_all, rows


@pytest.fixture(scope="module")
def exports() -> dict[str, tuple[Source, bytes, int]]:
    """Small real exports (evtx-attack-samples events rendered per format): source, bytes, records."""
    src = shared_path("evtx-attack-samples", "Defense Evasion", "DE_suspicious_remote_eventlog_svc_access_5145.evtx")
    recs = winexport.records(src)
    parsed = [winexport.parse(x) for _n, x, _j in recs]
    plain = [e for e in parsed if e["user_data"] is None]
    n = len(recs)
    return {
        "winlogbeat": (Winlogbeat(), b"\n".join(orjson.dumps(winexport.winlogbeat(e)) for e in parsed) + b"\n", n),
        "nxlog": (NXLog(), b"\n".join(orjson.dumps(winexport.nxlog(e)) for e in plain) + b"\n", len(plain)),
        "azure_array": (AzureWindows(), json.dumps([winexport.azure_security_event(e) for e in plain],
                                                   indent=2).encode(), len(plain)),
        "evtx_jsonl": (EvtxJson(), "\n".join(j for _n, _x, j in recs).encode() + b"\n", n),
        "evtx_dump": (EvtxJson(), "".join(f"Record {k}\n{json.dumps(json.loads(j), indent=2)}\n"
                                          for k, _x, j in recs).encode(), n),
        "xml": (WinEventXml(), "\n".join(x for _n, x, _j in recs).encode(), n),
    }


def run(source: Source, data: bytes, tmp_path: Path) -> tuple[dict[str, Any], list[Any]]:
    p = tmp_path / "input"
    p.write_bytes(data)
    return read_all(source, p)


@pytest.mark.parametrize("name", ["winlogbeat", "nxlog", "azure_array", "evtx_jsonl", "evtx_dump", "xml"])
def test_cut_short(exports: dict[str, tuple[Source, bytes, int]], tmp_path: Path, name: str) -> None:
    source, data, n = exports[name]
    tables, warns = run(source, data, tmp_path)
    assert count(tables) == n and warns == []
    cut = data[: int(len(data) * 0.9)]  # the last record loses its end
    tables, warns = run(source, cut, tmp_path)
    assert count(tables) == n - 1
    assert len(warns) == 1 and warns[0].reason in ("bad_json", "truncated")
    assert warns[0].position == n  # the line / element / event number of the cut record


@pytest.mark.parametrize("name", ["winlogbeat", "nxlog", "azure_array", "evtx_jsonl", "evtx_dump", "xml"])
def test_garbled_record_costs_only_itself(exports: dict[str, tuple[Source, bytes, int]], tmp_path: Path,
                                          name: str) -> None:
    source, data, n = exports[name]
    text = data.decode()
    # break the second record: drop the first character of a key inside it
    target = {"xml": "<Computer>", "evtx_dump": '"Computer"', "azure_array": '"Computer"', "nxlog": '"Hostname"'}.get(
        name, '"computer_name"' if name == "winlogbeat" else '"Computer"')
    first = text.find(target)
    second = text.find(target, first + 1)
    assert first > 0 and second > 0
    broken = text[:second] + text[second + 1 :]
    tables, warns = run(source, broken.encode(), tmp_path)
    kept = count(tables)
    assert kept >= n - 1 and warns, (kept, warns)
    assert {w.reason for w in warns} <= {"bad_json", "bad_xml", "not_windows_event"}
    records = [r["record"] for r in rows(tables)]
    assert len(records) == len(set(records))


def test_bad_bytes_and_encodings(exports: dict[str, tuple[Source, bytes, int]], tmp_path: Path) -> None:
    source, data, n = exports["winlogbeat"]
    bad = data.replace(b"\\\\*\\\\IPC$", b"\xff\xfe\\\\IPC$", 1)
    tables, warns = run(source, bad, tmp_path)
    assert count(tables) == n and {w.reason for w in warns} == {"bad_encoding"}
    tables, warns = run(source, data.decode().encode("utf-16"), tmp_path)  # PowerShell 5 writes UTF-16
    assert count(tables) == n and warns == []
    tables, warns = run(source, b"\n\n" + data.replace(b"\n", b"\r\n"), tmp_path)
    assert count(tables) == n and warns == []


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(["winlogbeat", "nxlog", "azure_array", "evtx_jsonl", "evtx_dump", "xml"]),
       cut=st.floats(min_value=0.0, max_value=1.0),
       edits=st.lists(st.tuples(st.floats(min_value=0.0, max_value=1.0), st.binary(max_size=3)), max_size=8))
def test_fuzz_never_raises(exports: dict[str, tuple[Source, bytes, int]], tmp_path: Path, name: str, cut: float,
                           edits: list[tuple[float, bytes]]) -> None:
    source, data, n = exports[name]
    b = bytearray(data[: max(1, int(len(data) * cut))] if cut < 1 else data)
    for where, new in edits:
        i = int(where * (len(b) - 1))
        b[i : i + 1] = new
    tables, warns = run(source, bytes(b), tmp_path)
    records = [r["record"] for r in rows(tables)]
    assert len(records) == len(set(records))
    assert all(r["raw"] for r in rows(tables))
    if count(tables) < n and cut == 1 and not edits:
        assert warns
    assert count(tables) <= n + 2 * len(edits) + 1


def test_representative_otrf_subset_stored_without_loss(tmp_path: Path) -> None:
    """One dataset per export shape found in ../shared/data, read from its archive in place."""
    atomic = shared_path("otrf-atomic", "windows")
    inputs = [
        atomic / "discovery" / "host" / "cmd_discover_iexplorer_version_registry",  # otrf (exported)
        atomic / "other" / "raccine_samples",  # otrf
        atomic / "persistence" / "host" / "covenant_persistwmi.tar.gz",  # nxlog, tar.gz
        shared_path("otrf-compound", "Log4Shell", "securityauditing_log4shell_cve2021_44228_java_serialized_object"),
        shared_path("otrf-compound", "GoldenSAMLADFSMailAccess", "WindowsEvents"),  # azure
    ]
    store = Store.open(tmp_path / "store", create=True)
    report = ingest(store, inputs, workers=1)
    assert report.failed == 0
    with store.session(with_state=True) as s:
        stored = {r["path"]: (r["format"], r["events"]) for r in s.sql("SELECT path, format, events FROM sources")
                  .to_pylist()}
        warned = {r["reason"] for r in s.sql("SELECT reason FROM warnings").to_pylist()}
    assert {f for f, _n in stored.values()} == {"otrf", "nxlog", "azure_windows"}
    import tarfile

    for path, (_fmt, events) in stored.items():
        if "!" in path:
            archive, member = path.split("!", 1)
            with tarfile.open(archive) as tf:
                f = tf.extractfile(member)
                assert f is not None
                text = f.read().decode()
        else:
            text = Path(path).read_text()
        expected = len(json.loads(text)) if text.lstrip().startswith("[") else sum(
            1 for ln in text.splitlines() if ln.strip())
        assert events == expected, path
    assert warned <= {"unknown_format", "naive_time"}  # raccine's times carry no zone: said, not lost
