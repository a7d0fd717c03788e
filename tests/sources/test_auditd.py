"""auditd: joining records into events, mapping, hex, bounds; golden on real OTRF samples; bad input; fuzz."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aptwatch.sources import detect_format
from aptwatch.sources.auditd import AuditAssembler, Auditd, parse_record
from aptwatch.sources.authlog import AuthLog
from tests.sources.helpers import count, data, read_all

GS = "\x1d"  # ENRICHED log_format separates the interpreted fields with a GS byte

EXECVE_EVENT = """\
type=SYSCALL msg=audit(1700000000.100:501): arch=c000003e syscall=59 success=yes exit=0 a0=55d1 a1=55d2 a2=55d3 \
a3=0 items=2 ppid=900 pid=901 auid=1000 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=3 \
comm="curl" exe="/usr/bin/curl" subj=unconfined key="susp_dl"
type=EXECVE msg=audit(1700000000.100:501): argc=3 a0="curl" a1="-o" a2=2F746D702F6D792066696C65
type=CWD msg=audit(1700000000.100:501): cwd="/root"
type=PATH msg=audit(1700000000.100:501): item=0 name="/usr/bin/curl" inode=1 dev=08:01 mode=0100755 ouid=0 ogid=0 \
rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0
type=PATH msg=audit(1700000000.100:501): item=1 name="/lib64/ld-linux-x86-64.so.2" inode=2 dev=08:01 mode=0100755 \
ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0
type=PROCTITLE msg=audit(1700000000.100:501): proctitle=6375726C002D6F002F746D702F6D792066696C65
type=EOE msg=audit(1700000000.100:501):
"""
# SOCKADDR before SYSCALL (out of order), ENRICHED format
CONNECT_EVENT = f"""\
type=SOCKADDR msg=audit(1700000001.200:502): saddr=020001BBCB0071090000000000000000{GS}SADDR={{ saddr_fam=inet \
laddr=203.0.113.9 lport=443 }}
type=SYSCALL msg=audit(1700000001.200:502): arch=c000003e syscall=42 success=no exit=-115 a0=3 a1=7ffd a2=10 a3=0 \
items=0 ppid=900 pid=902 auid=1000 uid=1000 gid=1000 euid=1000 suid=1000 fsuid=1000 egid=1000 sgid=1000 fsgid=1000 \
tty=pts0 ses=3 comm="nc" exe="/usr/bin/nc.openbsd" key="network_connect_4"{GS}ARCH=x86_64 SYSCALL=connect \
AUID="alice" UID="alice" GID="alice" EUID="alice"
type=PROCTITLE msg=audit(1700000001.200:502): proctitle=6E63003230332E302E3131332E3900343433
type=EOE msg=audit(1700000001.200:502):
"""
USER_EVENTS = """\
type=USER_LOGIN msg=audit(1700000002.300:503): pid=1200 uid=0 auid=4294967295 ses=4294967295 subj=unconfined \
msg='op=login acct="root" exe="/usr/sbin/sshd" hostname=? addr=198.51.100.23 terminal=sshd res=failed'
type=USER_AUTH msg=audit(1700000002.310:504): pid=1201 uid=0 auid=4294967295 ses=4294967295 subj=unconfined \
msg='op=PAM:authentication grantors=? acct=6261642075736572 exe="/usr/sbin/sshd" hostname=198.51.100.23 \
addr=198.51.100.23 terminal=ssh res=failed'
type=ADD_USER msg=audit(1700000003.400:505): pid=1300 uid=0 auid=1000 ses=3 subj=unconfined msg='op=add-user \
acct="backup2" exe="/usr/sbin/useradd" hostname=? addr=? terminal=pts/0 res=success'
type=USER_CMD msg=audit(1700000003.500:506): pid=1310 uid=1000 auid=1000 ses=3 subj=unconfined msg='cwd="/home/alice" \
cmd=636174202F6574632F736861646F77 exe="/usr/bin/sudo" terminal=pts/0 res=success'
"""
CHUNKED = """\
type=SYSCALL msg=audit(1700000004.500:507): arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=0 items=1 \
ppid=1 pid=1400 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=1 comm="bash" \
exe="/usr/bin/bash" key=(null)
type=EXECVE msg=audit(1700000004.500:507): argc=3 a0="bash" a1="-c" a2_len=12 a2[0]=6563686F20 a2[1]=68656C6C6F2121
type=EOE msg=audit(1700000004.500:507):
"""
RAW_LOG = EXECVE_EVENT + CONNECT_EVENT + USER_EVENTS + CHUNKED


# str.splitlines() would also split at the GS byte: always split at "\n"
def write(tmp_path: Path, text: str, name: str = "audit.log") -> Path:
    p = tmp_path / name
    p.write_bytes(text.encode())
    return p


def test_sniff() -> None:
    src = Auditd()
    assert src.sniff(RAW_LOG.encode(), "audit.log")
    assert detect_format(RAW_LOG.encode(), "x").name == "auditd"  # type: ignore[union-attr]
    assert not src.sniff(b"Jan  1 00:00:00 web01 sshd[1]: Accepted password for a from 1.2.3.4 port 1 ssh2\n", "x")
    assert not src.sniff(b'{"a": 1}\n', "x.json")


def test_golden_events_joined_and_mapped(tmp_path: Path) -> None:
    rows, warnings = read_all(Auditd(), write(tmp_path, RAW_LOG))
    assert warnings == []
    assert {t: len(r) for t, r in rows.items()} == {"process": 2, "network": 1, "auth": 3, "account": 1}
    # one event per serial; every line is in exactly one event's raw
    n_lines = len(RAW_LOG.rstrip("\n").split("\n"))
    assert sum(len(str(r["raw"]).split("\n")) for t in rows.values() for r in t) == n_lines

    curl, bash = rows["process"]
    assert curl["time"] == datetime(2023, 11, 14, 22, 13, 20, 100000, tzinfo=UTC)
    assert curl["record"] == 1 and curl["channel"] == "SYSCALL" and curl["provider"] == "auditd"
    assert (curl["process_path"], curl["process_name"], curl["process_id"], curl["parent_process_id"]) == \
        ("/usr/bin/curl", "curl", 901, 900)
    assert curl["command_line"] == "curl -o /tmp/my file"  # a2 was hex-encoded (it holds a space)
    assert curl["current_directory"] == "/root"
    assert curl["user"] is None  # RAW format gives numbers only; no name invented
    d = data(curl)
    assert d["type"] == ["SYSCALL", "EXECVE", "CWD", "PATH", "PROCTITLE", "EOE"]
    assert d["SYSCALL"] == "execve" and d["ARCH"] == "x86_64"  # what ENRICHED would have written
    assert d["a0"] == ["55d1", "curl"] and d["a2"] == ["55d3", "/tmp/my file"]  # SYSCALL register, EXECVE arg
    assert d["name"] == ["/usr/bin/curl", "/lib64/ld-linux-x86-64.so.2"]
    assert d["proctitle"] == "curl -o /tmp/my file" and d["key"] == "susp_dl" and d["exe"] == "/usr/bin/curl"
    assert bash["command_line"] == "bash -c echo hello!!"  # a2[0] + a2[1] joined
    assert "a2[0]" not in data(bash)

    (nc,) = rows["network"]
    assert (nc["dst_ip"], nc["dst_port"], nc["initiated"], nc["user"]) == ("203.0.113.9", 443, True, "alice")
    assert nc["process_path"] == "/usr/bin/nc.openbsd" and nc["process_id"] == 902
    assert data(nc)["key"] == "network_connect_4" and data(nc)["SYSCALL"] == "connect"
    assert nc["record"] == 8  # the event's first line, although SYSCALL came second

    login, pam, cmd = rows["auth"]
    assert (login["action"], login["outcome"], login["target_user"], login["src_ip"], login["protocol"]) == \
        ("logon_failed", "failure", "root", "198.51.100.23", "ssh")
    assert login["logon_id"] is None  # ses=4294967295 means "no session"
    assert pam["action"] == "credential_validation" and pam["target_user"] == "bad user"  # hex acct
    assert pam["workstation"] is None  # PAM's hostname= was the address: not a workstation name
    assert cmd["action"] == "sudo" and cmd["method"] == "cat /etc/shadow" and cmd["outcome"] == "success"
    (add,) = rows["account"]
    assert (add["action"], add["target_user"]) == ("user_created", "backup2")


def test_real_otrf_atomic_audit_logs(shared: type) -> None:
    base = shared("otrf-atomic", "linux")  # type: ignore[operator]
    arp = next(base.glob("discovery/host/sh_arp_cache/*.log"))
    rows, warnings = read_all(Auditd(), arp)
    assert warnings == []
    assert list(rows) == ["process"] and len(rows["process"]) == 2  # 12 records, 2 execve events
    assert [r["command_line"] for r in rows["process"]] == ["arp -a", "grep -v ^?"]
    assert {r["current_directory"] for r in rows["process"]} == {"/home/wardog"}
    assert data(rows["process"][0])["proctitle"] == "arp -a"
    dd = next(base.glob("defense_evasion/host/sh_binary_padding_dd/*.log"))
    rows, warnings = read_all(Auditd(), dd)
    assert warnings == [] and count(rows) == 1
    assert str(rows["process"][0]["command_line"]).startswith("dd ")


def test_interleaved_and_out_of_order_records(tmp_path: Path) -> None:
    a = EXECVE_EVENT.rstrip().split("\n")
    b = CONNECT_EVENT.rstrip().split("\n")
    mixed = [a[0], b[0], a[1], b[1], a[2], a[3], b[2], a[4], a[5], b[3], a[6]]
    rows, warnings = read_all(Auditd(), write(tmp_path, "\n".join(mixed) + "\n"))
    assert warnings == []
    assert len(rows["process"]) == 1 and len(rows["network"]) == 1
    assert rows["process"][0]["command_line"] == "curl -o /tmp/my file"


def test_pending_events_are_bounded_and_nothing_is_lost() -> None:
    asm = AuditAssembler(max_pending=3)
    out = []
    for i in range(50):  # SYSCALL records whose EOE never comes
        rec, w = parse_record(f"type=SYSCALL msg=audit(1700000000.000:{i}): arch=c000003e syscall=2 success=yes "
                              f"exit=3 pid={i} comm=\"x\" exe=\"/bin/x\" key=(null)", i + 1)
        assert rec is not None and w == []
        out += list(asm.add(rec, None))
        assert len(asm.pending) <= 3
    out += list(asm.finish())
    assert len(out) == 50 and all(isinstance(r, tuple) and r[0] == "generic" for r in out)


def test_idle_events_close_and_time_jumps_do_not_cut_events() -> None:
    asm = AuditAssembler(idle_records=100)
    first, _ = parse_record('type=SYSCALL msg=audit(1700000000.000:1): syscall=2 success=yes exe="/bin/a"', 1)
    assert first is not None
    assert list(asm.add(first, None)) == []
    out = []
    for i in range(2, 600):  # 600 records of other events, going back and forth in time by an hour
        t = 1700000000 + (3600 if i % 2 else -3600)
        for rtype in ("SYSCALL", "CWD", "EOE"):
            rec, _ = parse_record(f'type={rtype} msg=audit({t}.000:{i}): syscall=2 success=yes exe="/bin/b"', i)
            assert rec is not None
            out += list(asm.add(rec, None))
    assert all(isinstance(r, tuple) for r in out)  # no late_record: time jumps do not cut events
    assert not any(k[3] == "1" for k in asm.pending)  # the idle event 1 was completed by the sweep
    assert any('"serial":"1"' in str(r[1]["data"]) for r in out if isinstance(r, tuple))
    assert len(out) == 599


def test_late_record_is_stored_with_a_warning(tmp_path: Path) -> None:
    late = EXECVE_EVENT + EXECVE_EVENT.rstrip().split("\n")[2] + "\n"  # a CWD record after the EOE
    rows, warnings = read_all(Auditd(), write(tmp_path, late))
    assert [w.reason for w in warnings] == ["late_record"] and warnings[0].position == 8
    assert count(rows) == 2  # the event, and the late record on its own


def test_syslog_wrapped_records_and_node(tmp_path: Path) -> None:
    lines = [f"Nov 14 22:13:20 web03 audisp-syslog: {ln}" for ln in EXECVE_EVENT.rstrip().split("\n")]
    lines += [f"2023-11-14T22:13:21.200+00:00 web03 audispd: node=web04.corp.example {ln}"
              for ln in CONNECT_EVENT.rstrip().split("\n")]
    p = write(tmp_path, "\n".join(lines) + "\n", "syslog")
    assert detect_format(p.read_bytes(), "syslog").name == "auditd"  # type: ignore[union-attr]
    rows, warnings = read_all(Auditd(), p)
    assert warnings == []
    assert rows["process"][0]["host"] == "web03" and rows["process"][0]["command_line"] == "curl -o /tmp/my file"
    assert rows["network"][0]["host"] == "web04"  # node= names the host that audited the event
    assert rows["process"][0]["raw"] == "\n".join(lines[:7])


def test_mixed_syslog_hands_audit_lines_to_the_assembler(tmp_path: Path) -> None:
    lines = ["Nov 14 22:13:19 web03 sshd[77]: Accepted password for alice from 10.0.0.9 port 5000 ssh2"]
    lines += [f"Nov 14 22:13:20 web03 audispd: {ln}" for ln in EXECVE_EVENT.rstrip().split("\n")]
    lines += ["Nov 14 22:13:21 web03 kernel: [ 12.3] audit: type=1400 audit(1700000001.000:900): "
              'apparmor="DENIED" operation="open" profile="cupsd" name="/etc/shadow" pid=5 comm="cupsd"']
    p = write(tmp_path, "\n".join(lines) + "\n", "syslog")
    assert detect_format(p.read_bytes(), "syslog").name == "authlog"  # type: ignore[union-attr]
    rows, warnings = read_all(AuthLog(), p, None)
    assert warnings == []
    assert len(rows["auth"]) == 1 and len(rows["process"]) == 1 and len(rows["generic"]) == 1
    avc = data(rows["generic"][0])
    assert avc["type"] == "AVC" and avc["apparmor"] == "DENIED" and avc["name"] == "/etc/shadow"


def test_broken_hex_and_truncation(tmp_path: Path) -> None:
    bad = EXECVE_EVENT.replace("proctitle=6375726C", "proctitle=6375726").replace("a2=2F746D70", "a2=ZZ746D70")
    rows, warnings = read_all(Auditd(), write(tmp_path, bad))
    assert sorted(w.reason for w in warnings) == ["bad_hex", "bad_hex"]
    assert count(rows) == 1
    d = data(rows["process"][0])
    assert "ZZ746D702F6D792066696C65" in d["a2"]  # kept as logged
    cut = RAW_LOG[: RAW_LOG.index("acct=\"backup2\"") + 9]  # cut inside a quoted value, no final newline
    rows, warnings = read_all(Auditd(), write(tmp_path, cut))
    assert "unbalanced_quote" in {w.reason for w in warnings}
    assert count(rows) == 5  # every event up to and including the cut one (ADD_USER)
    garbage = "type=SYSCALL msg=audit(17000\nnot an audit line at all\n\x00\x01type=EOE\n" + CHUNKED
    rows, warnings = read_all(Auditd(), write(tmp_path, garbage))
    assert {w.reason for w in warnings} >= {"bad_audit_record"}
    assert len(rows["process"]) == 1 and len(rows["generic"]) == 3  # the unreadable lines stored, not dropped


def test_random_cuts_never_raise(tmp_path: Path) -> None:
    rnd = random.Random(3)
    blob = RAW_LOG.encode()
    for _ in range(40):
        cut = bytearray(blob[: rnd.randrange(len(blob))])
        for _ in range(rnd.randrange(4)):
            if cut:
                cut[rnd.randrange(len(cut))] = rnd.randrange(256)
        p = tmp_path / "cut.log"
        p.write_bytes(bytes(cut))
        rows, _ = read_all(Auditd(), p)
        nonblank = [ln for ln in bytes(cut).split(b"\n") if ln.strip()]
        assert sum(len(str(r["raw"]).split("\n")) for t in rows.values() for r in t) == len(nonblank)


audit_lines = st.sampled_from(RAW_LOG.rstrip().split("\n"))
junk = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"), max_size=60)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(audit_lines, junk, audit_lines.map(lambda s: s[: len(s) // 2]),
                          st.builds(lambda a, b: a + " " + b, audit_lines, junk)), min_size=1, max_size=25))
def test_fuzz_every_line_lands_in_exactly_one_row(tmp_path: Path, lines: list[str]) -> None:
    p = tmp_path / "fuzz.log"
    p.write_bytes(("\n".join(lines) + "\n").encode())
    rows, _ = read_all(Auditd(), p)
    nonblank = [ln for ln in p.read_bytes().decode().split("\n") if ln.strip()]
    stored = [ln for t in rows.values() for r in t for ln in str(r["raw"]).split("\n")]
    assert sorted(stored) == sorted(nonblank)


def test_repeated_bodies_parse_alike_with_the_cache() -> None:
    """A body seen before is not parsed again, yet each record gets its own fields and its warnings."""
    cache: dict[tuple[str, str], Any] = {}
    line = 'type=PATH msg=audit(1700000000.100:{n}): item=0 name="/usr/bin/curl" inode=1 nametype=NORMAL'
    bad = "type=CWD msg=audit(1700000000.100:{n}): cwd=/not/hex"
    first, w1 = parse_record(line.format(n=1), 1, cache=cache)
    assert first is not None and not w1
    first.fields["name"] = "changed"
    second, w2 = parse_record(line.format(n=2), 2, cache=cache)
    assert second is not None and not w2 and second.serial == "2"
    assert second.fields == parse_record(line.format(n=2), 2)[0].fields
    assert second.fields["name"] == "/usr/bin/curl" and len(cache) == 1
    for n in (3, 4):  # a body that warns is parsed (and warns) every time
        rec, warnings = parse_record(bad.format(n=n), n, cache=cache)
        assert rec is not None and [w.reason for w in warnings] == ["bad_hex"] and warnings[0].position == n
    assert len(cache) == 1
