"""Flow records: Argus (binetflow) and nfdump CSV. Golden, bad input, fuzz, and the shared files."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aptwatch.sources import detect_format
from aptwatch.sources.argus import Argus
from aptwatch.sources.base import IngestSettings, ReadContext
from aptwatch.sources.netbase import BLANKS
from aptwatch.sources.nfdump_csv import NfdumpCsv
from tests.conftest import shared_path
from tests.sources.netutil import count, ref_for, rows, run

ARGUS = (
    "StartTime,Dur,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,State,sTos,dTos,TotPkts,TotBytes,SrcBytes,SrcPkts,Label\n"
    "2019/04/04 16:23:00.325010,0.027947,udp,10.8.0.69,48427,  <->,8.8.8.8,53,CON,0,0,2,142,63,1,\n"
    "2019/04/04 16:24:47.672448,63.822830,tcp,10.8.0.69,56101,   ->,14.1.11.113,999,S0,0,0,31,8764,1887,15,"
    "flow=From-Botnet-V42-TCP-CC\n"
    "2019/04/04 16:24:48.000000,0.000000,icmp,203.0.113.9,0x0008,   ->,10.8.0.69,0x0000,ECO,0,0,1,98,98,1,\n"
)
NFDUMP = (
    "ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt,in,out,sas,das,smk,dmk,dtos,dir,nh,nhb,svln,dvln,ismc,"
    "odmc,idmc,osmc,mpls1,mpls2,mpls3,mpls4,mpls5,mpls6,mpls7,mpls8,mpls9,mpls10,cl,sl,al,ra,eng,exid,tr\n"
    "2018-01-12 15:37:30,2018-01-12 15:37:31,1.250,147.32.80.119,147.32.82.62,52324,902,TCP,......S.,0,0,1,60,0,0,0,0,"
    "2852,2852,0,0,0,0,0.0.0.0,0.0.0.0,0,0,00:00:00:00:00:00,00:00:00:00:00:00,00:00:00:00:00:00,00:00:00:00:00:00,"
    "0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,    0.000,    0.000,    0.000,147.32.82.62,0/58,1,"
    "1970-01-01 00:00:00.000\n"
    "\nSummary\nflows,bytes,packets,avg_bps,avg_pps,avg_bpp\n1,60,1,0,0,60\n"
)


def write(tmp_path: Path, text: str | bytes, name: str) -> Path:
    p = tmp_path / name
    p.write_bytes(text.encode() if isinstance(text, str) else text)
    return p


def test_sniff() -> None:
    assert Argus().sniff(ARGUS.encode(), "x.binetflow")
    assert Argus().sniff(ARGUS.replace(",", "\t").encode(), "x")
    assert not Argus().sniff(NFDUMP.encode(), "x.csv")
    assert NfdumpCsv().sniff(NFDUMP.encode(), "flows.csv")
    assert NfdumpCsv().sniff(b"\x0c\xa5\x01\x00\x00\x00", "nfcapd.201801121537")
    assert not NfdumpCsv().sniff(ARGUS.encode(), "x")
    assert not Argus().sniff(b"a,b,c\n1,2,3\n", "x.csv") and not NfdumpCsv().sniff(b"a,b,c\n", "x.csv")


def test_golden_argus(tmp_path: Path) -> None:
    tables, warnings = run(Argus(), write(tmp_path, ARGUS, "t.binetflow"))
    assert warnings == [] and set(tables) == {"network"}
    r = rows(tables, "network")
    assert [x["record"] for x in r] == [2, 3, 4]
    a = r[1]
    assert a["time"] == datetime(2019, 4, 4, 16, 24, 47, 672448, tzinfo=UTC)
    assert (a["src_ip"], a["src_port"], a["dst_ip"], a["dst_port"], a["protocol"], a["duration"], a["conn_state"],
            a["packets_out"], a["bytes_out"], a["packets_in"], a["bytes_in"]) == (
        "10.8.0.69", 56101, "14.1.11.113", 999, "tcp", 63.82283, "S0", 15, 1887, 16, 6877)
    assert orjson.loads(a["data"]) == {"Dir": "->", "sTos": "0", "dTos": "0", "TotPkts": "31", "TotBytes": "8764",
                                       "Label": "flow=From-Botnet-V42-TCP-CC"}
    assert a["host"] == "10.8.0.69" and a["provider"] == "argus" and a["raw"] == ARGUS.split("\n")[2]
    icmp = r[2]
    # ICMP type / code (hex) in the port columns, as Zeek logs them; the host is the internal side
    assert (icmp["src_port"], icmp["dst_port"], icmp["host"]) == (8, 0, "10.8.0.69")


def test_local_timezone_setting(tmp_path: Path) -> None:
    p = write(tmp_path, ARGUS, "t.binetflow")
    ctx = ReadContext(ref_for(p), "0" * 64, p.stat().st_size, IngestSettings(local_timezone="Europe/Prague"))
    first = next(b for b in Argus().read(ctx) if hasattr(b, "data"))
    assert first.data.column("time")[0].as_py() == datetime(2019, 4, 4, 14, 23, 0, 325010, tzinfo=UTC)  # CEST


def test_golden_nfdump_and_summary_trailer(tmp_path: Path) -> None:
    tables, warnings = run(NfdumpCsv(), write(tmp_path, NFDUMP, "flows.csv"))
    assert warnings == [] and count(tables) == 1
    n = rows(tables, "network")[0]
    assert (n["time"], n["src_ip"], n["dst_ip"], n["src_port"], n["dst_port"], n["protocol"], n["duration"],
            n["packets_out"], n["bytes_out"], n["packets_in"]) == (
        datetime(2018, 1, 12, 15, 37, 30, tzinfo=UTC), "147.32.80.119", "147.32.82.62", 52324, 902, "tcp", 1.25, 1,
        60, 0)
    assert orjson.loads(n["data"])["flg"] == "......S."


def test_nfdump_binary_is_a_clear_warning(tmp_path: Path) -> None:
    tables, warnings = run(NfdumpCsv(), write(tmp_path, b"\x0c\xa5\x01\x00" + b"\x00" * 300, "nfcapd.1"))
    assert tables == {} and [w.reason for w in warnings] == ["unsupported_format"]
    assert "nfdump -r FILE -o csv" in warnings[0].detail


def test_bad_rows(tmp_path: Path) -> None:
    text = (ARGUS + "2019/04/04 16:25:00.000000,0.1,tcp,10.8.0.69\n"
            "not a date,1,tcp,1.2.3.4,1,->,5.6.7.8,2,S,0,0,1,1,1,1,\n")
    tables, warnings = run(Argus(), write(tmp_path, text, "t.binetflow"))
    assert count(tables) == 5 and rows(tables, "generic")[0]["record"] == 5
    assert sorted(w.reason for w in warnings) == ["bad_columns", "bad_time"]


@pytest.mark.shared
def test_shared_binetflow_files() -> None:
    root = shared_path("slips-dataset")
    for f in sorted(root.glob("*.binetflow")):
        src = detect_format(f.read_bytes()[:65536], f.name)
        assert src is not None and src.name == "argus", f
        tables, warnings = run(Argus(), f)
        expected = sum(1 for ln in f.read_bytes().split(b"\n") if ln.strip()) - 1
        assert warnings == [] and count(tables) == tables["network"].num_rows == expected, f


@pytest.mark.shared
def test_shared_nfdump_file(tmp_path: Path) -> None:
    binary = shared_path("slips-dataset", "test1-malicious.nfdump")
    _tables, warnings = run(NfdumpCsv(), binary)
    assert [w.reason for w in warnings] == ["unsupported_format"]
    if shutil.which("nfdump") is None:
        pytest.skip("nfdump is not installed: the CSV conversion of the shared binary file is not tested here")
    csv = subprocess.run(["nfdump", "-r", str(binary), "-o", "csv"], capture_output=True, check=True).stdout
    tables, warnings = run(NfdumpCsv(), write(tmp_path, csv, "test1.csv"))
    assert warnings == [] and tables["network"].num_rows == 4593  # nfdump's own summary: 4593 flows
    assert tables["network"].column("src_ip").null_count == 0


_cell = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r,"), max_size=10)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(_cell, min_size=1, max_size=18), max_size=12), st.booleans())
def test_fuzz_every_record_is_stored(tmp_path: Path, lines: list[list[str]], nfdump: bool) -> None:
    header = NFDUMP.split("\n")[0] if nfdump else ARGUS.split("\n")[0]
    body = [",".join(c) for c in lines]
    p = write(tmp_path, header + "\n" + "\n".join(body) + "\n", "f.csv")
    tables, _warnings = run(NfdumpCsv() if nfdump else Argus(), p)
    expected = []
    for ln in body:
        if nfdump and ln.strip(BLANKS) == "Summary":
            break
        if ln.strip(BLANKS):
            expected.append(ln)
    assert count(tables) == len(expected)
