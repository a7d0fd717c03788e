"""Attacker-shaped lines: long runs that make backtracking regexes quadratic must stay linear."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from aptwatch.sources.auditd import Auditd
from aptwatch.sources.authlog import AuthLog
from aptwatch.sources.sysmon_linux import SysmonLinux
from tests.sources.helpers import count, read_all

N = 200_000
HEAD = "Mar  1 10:00:00 web01 "
CASES = {
    "audit key run": (Auditd(), "type=SYSCALL msg=audit(1.2:3): " + "a" * N),
    "audit braces": (Auditd(), "type=SYSCALL msg=audit(1.2:3): " + "k={ " * (N // 4)),
    "audit type=": (Auditd(), "type=" * (N // 5) + " audit(1.2:3):"),
    "audit avc": (Auditd(), "type=AVC msg=audit(1.2:3): " + "avc: x {" * (N // 8)),
    "audit quotes": (Auditd(), "type=USER_AUTH msg=audit(1.2:3): msg='" + "k=\"" * (N // 3)),
    "audit argc": (Auditd(), 'type=SYSCALL msg=audit(1.2:3): syscall=59 success=yes exe="/bin/x"\n'
                   'type=EXECVE msg=audit(1.2:3): argc=999999999999 a0="x" a1="y"\ntype=EOE msg=audit(1.2:3):'),
    "pam run": (AuthLog(), HEAD + "sshd[1]: " + "pam_" * (N // 4)),
    "pam kv": (AuthLog(), HEAD + "sshd[1]: pam_unix(sshd:auth): authentication failure; " + "u" * N),
    "sshd repeat": (AuthLog(), HEAD + "sshd[1]: " + "Received disconnect from x port 1:1: " * (N // 36)),
    "sudo": (AuthLog(), HEAD + "sudo: " + " " * N + "x : " + " ; " * (N // 3)),
    "sysmon attrs": (SysmonLinux(), HEAD + "sysmon: <Event><System>" + "<Provider " * (N // 10)),
    "sysmon ids": (SysmonLinux(), HEAD + "sysmon: <Event><System>" + "<EventID" * (N // 8)),
    "sysmon pairs": (SysmonLinux(), HEAD + "sysmon: <Event><System><EventID>1</EventID><Execution "
                     + "a" * N + ">"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_long_adversarial_lines_are_linear(tmp_path: Path, case: str) -> None:
    source, line = CASES[case]
    p = tmp_path / "x.log"
    p.write_text(line + "\n")
    t0 = time.perf_counter()
    rows, _ = read_all(source, p)
    assert time.perf_counter() - t0 < 10  # quadratic backtracking would take minutes
    assert count(rows) == 1  # and the line (the event) is still stored
