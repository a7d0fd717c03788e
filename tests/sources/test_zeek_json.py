"""Zeek JSON logs: writer and shipper spellings, combined files, bad input, fuzz."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aptwatch.sources import detect_format
from aptwatch.sources.zeek_json import ZeekJson
from tests.sources.netutil import count, rows, run

CONN = {"ts": 1664462456.755299, "uid": "C5xhsO3uGtOfyrBlHh", "id.orig_h": "172.16.1.11", "id.orig_p": 40042,
        "id.resp_h": "8.8.8.8", "id.resp_p": 53, "proto": "udp", "service": "dns", "duration": 0.012166,
        "orig_bytes": 0, "resp_bytes": 111, "conn_state": "SHR", "local_orig": True, "history": "Cd",
        "orig_pkts": 0, "resp_pkts": 1, "tunnel_parents": []}


def underscore(rec: dict[str, object]) -> dict[str, object]:
    return {k.replace(".", "_"): v for k, v in rec.items()}


def nested(rec: dict[str, object]) -> dict[str, object]:
    out: dict[str, object] = {}
    for k, v in rec.items():
        if k.startswith("id."):
            out.setdefault("id", {})[k[3:]] = v  # type: ignore[index]
        else:
            out[k] = v
    return out


def write(tmp_path: Path, recs: list[dict[str, object]] | list[bytes], name: str = "conn.log") -> Path:
    p = tmp_path / name
    p.write_bytes(b"\n".join(r if isinstance(r, bytes) else orjson.dumps(r) for r in recs) + b"\n")
    return p


def test_sniff_claims_zeek_and_leaves_other_json() -> None:
    src = ZeekJson()
    for rec in (CONN, underscore(CONN), nested(CONN), {"_path": "dns", "ts": "2022-09-29T14:40:56.755Z"}):
        assert src.sniff(orjson.dumps(rec) + b"\n", "anything.json"), rec
    assert src.sniff(b'{"name": "/opt/zeek/share/zeek/base/init-bare.zeek"}\n', "loaded_scripts.log")
    eve = b'{"timestamp": "2021-06-06T15:59:46+0200", "event_type": "flow", "src_ip": "1.2.3.4", "flow_id": 1}\n'
    assert not src.sniff(eve, "eve.json")
    assert not src.sniff(b'{"ts": 1.0, "host": "ws01", "message": "x"}\n', "app.json")
    assert not src.sniff(b'{"ts": 1.0, "uid": 1000, "id": "req-1", "msg": "login"}\n', "audit.json")
    assert src.sniff(b'{"ts": 1.0, "uid": "CHhAvVGS1DHFjwGM9", "note": "x"}\n', "x.json")
    assert not src.sniff(b'{"@timestamp": "2024-01-01T00:00:00Z", "EventID": 4624}\n', "x.json")
    assert detect_format(orjson.dumps(CONN) + b"\n", "conn.log").name == "zeek_json"  # not the jsonl catch-all


def test_golden_three_spellings_give_the_same_columns(tmp_path: Path) -> None:
    results = []
    for style in (lambda r: r, underscore, nested):
        tables, warnings = run(ZeekJson(), write(tmp_path, [style(CONN)], f"conn-{len(results)}.log"))
        assert warnings == [] and set(tables) == {"network"}
        row = rows(tables, "network")[0]
        results.append({k: v for k, v in row.items() if k != "raw"})
    assert results[0] == results[1] == results[2]
    r = results[0]
    assert r["time"] == datetime(2022, 9, 29, 14, 40, 56, 755299, tzinfo=UTC)
    assert (r["flow_id"], r["src_ip"], r["src_port"], r["dst_ip"], r["dst_port"], r["protocol"], r["app_protocol"],
            r["bytes_in"], r["packets_in"], r["conn_state"]) == (
        "C5xhsO3uGtOfyrBlHh", "172.16.1.11", 40042, "8.8.8.8", 53, "udp", "dns", 111, 1, "SHR")
    assert r["host"] == "172.16.1.11" and r["channel"] == "conn" and r.get("data") is None


def test_combined_file_split_by_path_and_stream(tmp_path: Path) -> None:
    recs: list[dict[str, object]] = [
        {**CONN, "_path": "conn", "_system_name": "sensor-7"},
        {"_path": "dns", "ts": "2022-09-29T14:40:56.755299Z", "uid": "C5xhsO3uGtOfyrBlHh", "id.orig_h": "172.16.1.11",
         "id.orig_p": 40042, "id.resp_h": "8.8.8.8", "id.resp_p": 53, "query": "example.org", "qtype_name": "A",
         "rcode_name": "NOERROR", "answers": ["93.184.216.34"]},
        {"@stream": "zeek_notice", "ts": 1664462457.0, "note": "Scan::Port_Scan", "msg": "scanned 15 ports",
         "src": "172.16.1.11", "actions": ["Notice::ACTION_LOG"]},
        {"_path": "kerberos", "ts": 1664462458.0, "uid": "Ck1", "id.orig_h": "172.16.1.11", "id.orig_p": 50000,
         "id.resp_h": "172.16.1.2", "id.resp_p": 88, "request_type": "TGS", "client": "alice/CORP.EXAMPLE",
         "service": "cifs/fs01.corp.example", "success": True, "cipher": "aes256-cts-hmac-sha1-96"},
    ]
    tables, warnings = run(ZeekJson(), write(tmp_path, recs, "zeek-all.json"))
    assert warnings == []
    assert {t: v.num_rows for t, v in tables.items()} == {"network": 1, "dns": 1, "ids_alert": 1, "auth": 1}
    assert rows(tables, "network")[0]["provider"] == "sensor-7"
    dns = rows(tables, "dns")[0]
    assert dns["flow_id"] == rows(tables, "network")[0]["flow_id"]  # records of one connection link by uid
    assert (dns["query"], dns["answers"], dns["time"]) == (
        "example.org", "93.184.216.34", datetime(2022, 9, 29, 14, 40, 56, 755299, tzinfo=UTC))
    alert = rows(tables, "ids_alert")[0]
    assert (alert["signature"], alert["category"], alert["sensor"], alert["src_ip"], alert["alert_action"],
            alert["channel"]) == ("Scan::Port_Scan", "Scan", "zeek", "172.16.1.11", "Notice::ACTION_LOG", "notice")
    auth = rows(tables, "auth")[0]
    assert (auth["action"], auth["outcome"], auth["target_user"], auth["target_domain"], auth["service"],
            auth["ticket_encryption"], auth["protocol"], auth["dst_port"], auth["flow_id"]) == (
        "service_ticket", "success", "alice", "CORP.EXAMPLE", "cifs/fs01.corp.example", "aes256-cts-hmac-sha1-96",
        "kerberos", 88, "Ck1")


def test_broken_lines_warn_and_the_rest_is_read(tmp_path: Path) -> None:
    recs: list[bytes] = [orjson.dumps(CONN), orjson.dumps(CONN)[:-15], b"[1, 2]", b"", orjson.dumps(CONN),
                         orjson.dumps({**CONN, "ts": "yesterday"})]
    tables, warnings = run(ZeekJson(), write(tmp_path, recs))
    assert count(tables) == 3
    assert [(w.reason, w.position) for w in warnings] == [("bad_json", 2), ("not_object", 3), ("bad_time", 6)]


_value = st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False) | st.text(max_size=8) \
    | st.lists(st.text(max_size=4), max_size=3)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.dictionaries(st.sampled_from(["ts", "uid", "id.orig_h", "id_resp_h", "_path", "answers",
                                                 "orig_bytes", "success", "query", "note"]), _value, max_size=6),
                min_size=1, max_size=12),
       st.lists(st.binary(max_size=30), max_size=4))
def test_fuzz_never_raises_and_accounts_for_every_line(tmp_path: Path, recs: list[dict[str, object]],
                                                       junk: list[bytes]) -> None:
    lines = [orjson.dumps(r) for r in recs] + [j.replace(b"\n", b" ") for j in junk]
    p = write(tmp_path, lines, "conn.log")
    tables, warnings = run(ZeekJson(), p)
    bad = {w.position for w in warnings if w.reason in ("bad_json", "not_object")}
    nonblank = sum(1 for ln in p.read_bytes().split(b"\n")[:-1] if ln.strip())
    assert count(tables) + len(bad) == nonblank
    assert count(tables) >= len(recs)
