"""Zeek TSV logs: golden, several header blocks, bad input, fuzz, and ingest end to end."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aptwatch.ingest import ingest
from aptwatch.sources import detect_format
from aptwatch.sources.zeek_tsv import ZeekTsv
from aptwatch.store import Store
from tests.sources.netutil import count, rows, run

HEADER = (
    "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n"
    "#open\t2022-06-17-00-00-07\n"
    "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\t"
    "resp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\t"
    "resp_ip_bytes\ttunnel_parents\tlabel\tdetailedlabel\n"
    "#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tbool\tcount\t"
    "string\tcount\tcount\tcount\tcount\tset[string]\tstring\tstring\n"
)
CONN = [
    "1655071198.444458\tCHLXQF2OBY4onAR0Ug\t10.0.2.15\t62771\t40.74.108.123\t443\ttcp\tssl\t1.135424\t1596\t4039\tSF\t"
    "T\tF\t0\tShADdaFf\t14\t1016\t16\t1226\t(empty)\tBenign\tMicrosoft",
    "1655071231.749548\tCEL3aLvvNGvO6Ecoa\t193.201.9.232\t46563\t10.0.2.15\t3933\ttcp\t-\t0.000010\t0\t0\tS0\tF\tT\t0\t"
    "S\t2\t80\t0\t0\t(empty)\tMalicious\tExternal-Attack-to-Device",
    "1655071298.195531\tC5hVfL2fjFRPxB5V3d\t10.0.2.15\t62773\t91.228.165.44\t80\ttcp\thttp\t-\t-\t-\tSF\tT\tF\t0\t"
    "ShADadfF\t10\t1240\t10\t2180\tCa1,Cb2\tBenign\t(empty)",
]
DNS_BLOCK = (
    "#path\tdns\n"
    "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\ttrans_id\tquery\tqtype_name\trcode_name\t"
    "answers\tTTLs\n"
    "#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tcount\tstring\tstring\tstring\tvector[string]\t"
    "vector[interval]\n"
    "1655071300.000001\tCdns1\t10.0.2.15\t53124\t10.0.2.1\t53\tudp\t4711\tevil.example.com\tA\tNOERROR\t"
    "1.2.3.4,5.6.7.8\t60.000000,60.000000\n"
)


def write(tmp_path: Path, text: str, name: str = "conn.log") -> Path:
    p = tmp_path / name
    p.write_bytes(text.encode())
    return p


def test_sniff() -> None:
    src = ZeekTsv()
    assert src.sniff(HEADER.encode(), "conn.log")
    assert src.sniff(b"\xef\xbb\xbf" + HEADER.encode(), "x")
    assert src.sniff(b"\t" + HEADER.encode(), "x")  # a stray blank before the first header (seen in real data)
    assert not src.sniff(b'{"ts": 1.0, "uid": "C1"}\n', "conn.log")
    assert not src.sniff(b"StartTime,Dur,Proto\n", "x.binetflow")
    found = detect_format(HEADER.encode(), "whatever.txt")
    assert found is not None and found.name == "zeek_tsv"


def test_golden_conn(tmp_path: Path) -> None:
    tables, warnings = run(ZeekTsv(), write(tmp_path, HEADER + "\n".join(CONN) + "\n#close\t2022-06-18-00-00-00\n"))
    assert warnings == []
    assert set(tables) == {"network"}
    r = rows(tables, "network")
    assert [x["record"] for x in r] == [9, 10, 11]  # line numbers (8 header lines first)
    first = r[0]
    assert first["time"] == datetime(2022, 6, 12, 21, 59, 58, 444458, tzinfo=UTC)
    assert (first["flow_id"], first["src_ip"], first["src_port"], first["dst_ip"], first["dst_port"]) == (
        "CHLXQF2OBY4onAR0Ug", "10.0.2.15", 62771, "40.74.108.123", 443)
    assert (first["protocol"], first["app_protocol"], first["duration"], first["bytes_out"], first["bytes_in"],
            first["packets_out"], first["packets_in"], first["conn_state"]) == ("tcp", "ssl", 1.135424, 1596, 4039, 14,
                                                                              16, "SF")
    assert first["channel"] == "conn" and first["provider"] == "zeek"
    assert first["raw"] == CONN[0]
    data = orjson.loads(first["data"])
    # unmapped fields typed as Zeek's JSON writer writes them; ground-truth columns kept under their names
    assert data == {"local_orig": True, "local_resp": False, "missed_bytes": 0, "history": "ShADdaFf",
                    "orig_ip_bytes": 1016, "resp_ip_bytes": 1226, "tunnel_parents": [], "label": "Benign",
                    "detailedlabel": "Microsoft"}
    # host = the internal endpoint: the originator outbound, the responder for an inbound attack
    assert [x["host"] for x in r] == ["10.0.2.15", "10.0.2.15", "10.0.2.15"]
    third = r[2]
    assert third["duration"] is None and third["bytes_out"] is None and third["app_protocol"] == "http"
    assert orjson.loads(third["data"])["tunnel_parents"] == ["Ca1", "Cb2"]
    assert orjson.loads(third["data"])["detailedlabel"] == ""  # (empty) is the empty string for strings


def test_several_blocks_split_by_path(tmp_path: Path) -> None:
    text = HEADER + CONN[0] + "\n#close\t2022-06-18-00-00-00\n" + DNS_BLOCK + "#close\t2022-06-18-00-00-01\n"
    tables, warnings = run(ZeekTsv(), write(tmp_path, text, "mixed.log"))
    assert warnings == []
    assert {t: v.num_rows for t, v in tables.items()} == {"network": 1, "dns": 1}
    dns = rows(tables, "dns")[0]
    assert (dns["query"], dns["query_type"], dns["rcode"], dns["answers"]) == (
        "evil.example.com", "A", "NOERROR", "1.2.3.4;5.6.7.8")
    assert dns["channel"] == "dns" and dns["flow_id"] == "Cdns1"
    assert orjson.loads(dns["data"]) == {"proto": "udp", "trans_id": 4711, "TTLs": [60.0, 60.0]}


def test_truncated_line_and_wrong_column_count(tmp_path: Path) -> None:
    text = HEADER + CONN[0] + "\n" + CONN[1].replace("\t", " ", 3) + "\n" + CONN[2][:40] + "\n"
    tables, warnings = run(ZeekTsv(), write(tmp_path, text))
    # every data line is stored: the good one mapped, the two bad ones in generic with their raw text
    assert count(tables) == 3
    assert rows(tables, "network")[0]["record"] == 9
    generic = rows(tables, "generic")
    assert [g["record"] for g in generic] == [10, 11]
    assert generic[1]["raw"] == CONN[2][:40] and generic[1]["channel"] == "conn"
    assert generic[1]["time"] == datetime(2022, 6, 12, 22, 1, 38, 195531, tzinfo=UTC)
    assert [(w.reason, w.position) for w in warnings] == [("bad_columns", 10), ("bad_columns", 11)]


def test_data_before_header_bad_time_and_garbled_bytes(tmp_path: Path) -> None:
    bad_ts = "notatime" + CONN[0][len("1655071198.444458"):]
    p = tmp_path / "conn.log"
    garbled = CONN[1].encode().replace(b"S0", b"S\xff")
    p.write_bytes(b"stray line\n" + HEADER.encode() + bad_ts.encode() + b"\n" + garbled + b"\n\n")
    tables, warnings = run(ZeekTsv(), p)
    reasons = sorted(w.reason for w in warnings)
    assert reasons == ["bad_encoding", "bad_time", "no_header"]
    assert rows(tables, "generic")[0]["raw"] == "stray line"
    net = rows(tables, "network")
    assert len(net) == 2 and net[0]["time"] is None and net[1]["conn_state"] == "S\ufffd"


def test_unknown_path_goes_to_generic_with_all_fields(tmp_path: Path) -> None:
    text = ("#separator \\x09\n#path\tmy_site_log\n#fields\tts\tuid\tid.orig_h\tid.resp_h\tnote\n"
            "#types\ttime\tstring\taddr\taddr\tstring\n1655071198.5\tC1\t8.8.8.8\t192.168.1.9\thello\n")
    tables, _ = run(ZeekTsv(), write(tmp_path, text, "x.log"))
    g = rows(tables, "generic")[0]
    assert g["channel"] == "my_site_log" and g["host"] == "192.168.1.9"
    assert orjson.loads(g["data"]) == {"uid": "C1", "id.orig_h": "8.8.8.8", "id.resp_h": "192.168.1.9",
                                       "note": "hello"}


def test_ingest_gzip_end_to_end(tmp_path: Path) -> None:
    gz = tmp_path / "conn.log.gz"
    gz.write_bytes(gzip.compress((HEADER + "\n".join(CONN) + "\n" + DNS_BLOCK).encode()))
    store = Store.open(tmp_path / "store", create=True)
    report = ingest(store, [gz])
    assert report.events == 4 and dict(report.by_table) == {"network": 3, "dns": 1}
    assert report.by_format["zeek_tsv"] == 4


_field = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"), max_size=12)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(_field, min_size=0, max_size=26), max_size=15), st.booleans())
def test_fuzz_every_data_line_is_stored_or_warned(tmp_path: Path, lines: list[list[str]], header: bool) -> None:
    body = "\n".join("\t".join(f) for f in lines)
    text = (HEADER if header else "#separator \\x09\n") + body + "\n"
    p = write(tmp_path, text, "conn.log")
    tables, _warnings = run(ZeekTsv(), p)
    body_lines = text.split("\n")[(8 if header else 1):]
    if header:  # after a #fields header: every non-empty line not starting with '#' is a data line
        data_lines = [ln for ln in body_lines if ln and not ln.startswith("#")]
    else:  # before any header, blanks are skipped and a '#' line may be indented
        data_lines = [ln for ln in body_lines if ln.strip(" \t\ufeff") and not ln.strip(" \t\ufeff").startswith("#")]
    assert count(tables) == len(data_lines)


def block(path: str, fields: list[str], types: list[str], *rows: list[str]) -> str:
    return (f"#path\t{path}\n#fields\t" + "\t".join(fields) + "\n#types\t" + "\t".join(types) + "\n"
            + "".join("\t".join(r) + "\n" for r in rows))


CONN_ID = ["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p"]
CONN_T = ["time", "string", "addr", "port", "addr", "port"]
SESSION = ["1700000000.000001", "Cx1", "10.1.1.5", "50000", "10.1.1.9", "445"]


def test_smb_ntlm_rdp_files_and_certificates(tmp_path: Path) -> None:
    sha1 = "0a6b201a7bff643cc5dd6631e5940e858ee07d25"
    text = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n" + "".join([
        block("smb_files", [*CONN_ID, "fuid", "action", "path", "name", "size", "prev_name"],
              [*CONN_T, "string", "enum", "string", "string", "count", "string"],
              [*SESSION, "F1", "SMB::FILE_WRITE", "\\\\DC01\\ADMIN$", "PSEXESVC.exe", "1024", "-"]),
        block("ntlm", [*CONN_ID, "username", "hostname", "domainname", "server_nb_computer_name", "success"],
              [*CONN_T, "string", "string", "string", "string", "bool"],
              [*SESSION, "alice", "WS01", "CORP", "DC01", "F"]),
        block("rdp", [*CONN_ID, "cookie", "result", "security_protocol", "client_name"],
              [*CONN_T, "string", "string", "string", "string"],
              [*SESSION[:5], "3389", "bob", "Success", "HYBRID", "LAPTOP7"]),
        block("files", ["ts", "fuid", "tx_hosts", "rx_hosts", "conn_uids", "source", "mime_type", "filename",
                        "seen_bytes", "md5", "sha1"],
              ["time", "string", "set[addr]", "set[addr]", "set[string]", "string", "string", "string", "count",
               "string", "string"],
              ["1700000001.5", "F2", "198.51.100.4", "10.1.1.5", "Cx2", "HTTP", "application/x-dosexec",
               "/tmp/a b/run.exe", "4096", "D41D8CD98F00B204E9800998ECF8427E", "-"]),
        block("ssl", [*CONN_ID, "version", "server_name", "established", "cert_chain_fps"],
              [*CONN_T, "string", "string", "bool", "vector[string]"],
              [*SESSION[:5], "443", "TLSv12", "c2.example", "T", sha1 + ",ffff"]),
    ])
    tables, warnings = run(ZeekTsv(), write(tmp_path, text, "mixed.log"))
    assert warnings == []
    files = {r["channel"]: r for r in rows(tables, "file")}
    smb = files["smb_files"]
    assert (smb["action"], smb["share_name"], smb["path"], smb["file_name"], smb["size"], smb["flow_id"],
            smb["src_ip"], smb["dst_ip"]) == ("modify", "\\\\DC01\\ADMIN$", "PSEXESVC.exe", "PSEXESVC.exe", 1024,
                                              "Cx1", "10.1.1.5", "10.1.1.9")
    assert orjson.loads(smb["data"])["action"] == "SMB::FILE_WRITE"  # the transformed field stays in data
    dl = files["files"]
    assert (dl["action"], dl["path"], dl["file_name"], dl["src_ip"], dl["dst_ip"], dl["flow_id"], dl["md5"],
            dl["host"]) == ("transfer", "/tmp/a b/run.exe", "run.exe", "198.51.100.4", "10.1.1.5", "Cx2",
                            "d41d8cd98f00b204e9800998ecf8427e", "10.1.1.5")
    auth = {r["channel"]: r for r in rows(tables, "auth")}
    assert (auth["ntlm"]["target_user"], auth["ntlm"]["target_domain"], auth["ntlm"]["workstation"],
            auth["ntlm"]["target_server"], auth["ntlm"]["outcome"], auth["ntlm"]["action"]) == (
        "alice", "CORP", "WS01", "DC01", "failure", "credential_validation")
    assert (auth["rdp"]["target_user"], auth["rdp"]["outcome"], auth["rdp"]["auth_package"], auth["rdp"]["dst_port"],
            auth["rdp"]["protocol"]) == ("bob", "success", "HYBRID", 3389, "rdp")
    tls = rows(tables, "tls")[0]
    assert (tls["server_name"], tls["established"], tls["cert_sha1"]) == ("c2.example", True, sha1)
