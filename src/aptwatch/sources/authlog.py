"""auth.log / secure and other syslog text (messages, syslog): sshd, sudo, su, login, account tools,
systemd-logind and cron mapped; audit records and Sysmon for Linux events inside handed to their
parsers; every other line -> `generic`.

| program / message | table, action |
|---|---|
| sshd `Accepted <method> for U from IP port P` | `auth`, logon, success, protocol ssh, method |
| sshd `Failed <method> for [invalid user] U from IP port P` | `auth`, logon_failed, failure |
| sshd `Invalid user U from IP`, `maximum authentication attempts exceeded` | `auth`, logon_failed |
| sshd `Disconnected from [user] U IP port P`, `Received disconnect from` | `auth`, logoff / session_disconnect |
| sshd `Connection closed by [invalid/authenticating user U] IP port P [preauth]` | `auth`, session_disconnect |
| `pam_unix(S:session): session opened/closed for user U by V` | `auth`, session_start / session_end |
| `pam_unix(S:auth): authentication failure; ... user=U` | `auth`, logon_failed (sshd/login), auth_error |
| sudo `U : TTY=.. ; PWD=.. ; USER=T ; COMMAND=cmd` | `auth`, sudo (method = command) |
| su `(to T) U on tty`, `FAILED SU (to T) U on tty`, `Successful su for T by U` | `auth`, su |
| login `FAILED LOGIN n FROM h FOR U`, `ROOT LOGIN ON tty` | `auth`, logon_failed / logon |
| systemd-logind `New session N of user U.` / `Removed session N.` | `auth`, session_start / session_end |
| useradd / userdel / groupadd / groupdel / usermod / gpasswd / passwd / chpasswd | `account` |
| CRON `(U) CMD (command)` | `process`, start |

Columns hold the values as logged (user names, addresses). The message's parsed parts that no
column takes (e.g. ssh key fingerprint, sudo TTY and PWD, useradd UID/GID/home/shell) and the
syslog header fields go to `data`; `raw` is the line. Host = host key of the syslog host name.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from aptwatch.model.records import IngestWarning, TableBatch
from aptwatch.sources.auditd import AuditHandler
from aptwatch.sources.base import ReadContext, Source, first_lines
from aptwatch.sources.syslog import (
    GenericHandler,
    HeaderParser,
    Item,
    MessageHandler,
    SyslogLine,
    base_row,
    read_lines,
    to_int,
)
from aptwatch.sources.sysmon_linux import SysmonHandler

Mapped = tuple[str, dict[str, Any], dict[str, Any]]  # (table, columns, data)
Rule = tuple[re.Pattern[str], Callable[[re.Match[str], SyslogLine], Mapped | None]]

_KV = re.compile(r"(?<!\w)(\w{1,64})=(\S*)")


def _auth(action: str, outcome: str | None, **cols: Any) -> dict[str, Any]:
    return {"action": action, "outcome": outcome, **{k: v for k, v in cols.items() if v is not None}}


def _port(v: str | None) -> int | None:
    return to_int(v, 32)


def _kv(text: str) -> dict[str, str]:
    """`a=1 b= c=x` pairs of PAM messages (empty values kept)."""
    return {m.group(1): m.group(2) for m in _KV.finditer(text)}


# sshd --------------------------------------------------------------------------------
def _ssh_accepted(m: re.Match[str], line: SyslogLine) -> Mapped:
    method, user, ip, port, proto, key = m.groups()
    data = {k: v for k, v in (("ssh_protocol", proto), ("key", key)) if v}
    return "auth", _auth("logon", "success", protocol="ssh", method=method, target_user=user, src_ip=ip,
                         src_port=_port(port)), data


def _ssh_failed(m: re.Match[str], line: SyslogLine) -> Mapped:
    method, invalid, user, ip, port, proto = m.groups()
    data: dict[str, Any] = {"invalid_user": True} if invalid else {}
    if proto:
        data["ssh_protocol"] = proto
    return "auth", _auth("logon_failed", "failure", protocol="ssh", method=method, target_user=user, src_ip=ip,
                         src_port=_port(port), status="invalid_user" if invalid else None), data


def _ssh_invalid(m: re.Match[str], line: SyslogLine) -> Mapped:
    user, ip, port = m.groups()
    return "auth", _auth("logon_failed", "failure", protocol="ssh", target_user=user, src_ip=ip,
                         src_port=_port(port), status="invalid_user"), {}


def _ssh_max(m: re.Match[str], line: SyslogLine) -> Mapped:
    invalid, user, ip, port = m.groups()
    return "auth", _auth("logon_failed", "failure", protocol="ssh", target_user=user, src_ip=ip, src_port=_port(port),
                         status="max_auth_tries"), {"invalid_user": True} if invalid else {}


def _ssh_closed(m: re.Match[str], line: SyslogLine) -> Mapped:
    kind, user, ip, port, pre = m.groups()
    data: dict[str, Any] = {"preauth": True} if pre else {}
    if kind:
        data["user_state"] = kind
    return "auth", _auth("session_disconnect", None, protocol="ssh", target_user=user, src_ip=ip,
                         src_port=_port(port)), data


def _ssh_disconnected(m: re.Match[str], line: SyslogLine) -> Mapped:
    kind, user, ip, port, pre = m.groups()
    data: dict[str, Any] = {"preauth": True} if pre else {}
    if kind and kind != "user":
        data["user_state"] = kind
    established = kind == "user" and not pre
    return "auth", _auth("logoff" if established else "session_disconnect", None, protocol="ssh", target_user=user,
                         src_ip=ip, src_port=_port(port)), data


def _ssh_received_disconnect(m: re.Match[str], line: SyslogLine) -> Mapped:
    ip, port, reason = m.groups()
    return "auth", _auth("session_disconnect", None, protocol="ssh", src_ip=ip, src_port=_port(port)), \
        {"reason": reason} if reason else {}


def _ssh_disconnecting(m: re.Match[str], line: SyslogLine) -> Mapped:
    kind, user, ip, port, reason = m.groups()
    data: dict[str, Any] = {"reason": reason}
    if kind:
        data["user_state"] = kind
    failed = "authentication failures" in reason
    return "auth", _auth("logon_failed" if failed else "session_disconnect", "failure" if failed else None,
                         protocol="ssh", target_user=user, src_ip=ip, src_port=_port(port)), data


# PAM ---------------------------------------------------------------------------------
def _pam_session(m: re.Match[str], line: SyslogLine) -> Mapped:
    module, service, state, user, by = m.groups()
    data: dict[str, Any] = {"pam_module": module, "pam_service": service}
    subject = None
    if by:
        subject = by.split("(", 1)[0] or None
        data["by"] = by
    user_name = user.split("(", 1)[0]
    return "auth", _auth("session_start" if state == "opened" else "session_end", "success",
                         protocol=_service_protocol(service), target_user=user_name, subject_user=subject), data


def _pam_auth_failure(m: re.Match[str], line: SyslogLine) -> Mapped:
    module, service, rest = m.groups()
    kv = _kv(rest)
    action = "logon_failed" if service in ("sshd", "login", "gdm-password", "lightdm", "sddm") else "auth_error"
    data: dict[str, Any] = {"pam_module": module, "pam_service": service, **kv}
    rhost = kv.get("rhost") or None
    return "auth", _auth(action, "failure", protocol=_service_protocol(service), target_user=kv.get("user") or None,
                         subject_user=kv.get("ruser") or kv.get("logname") or None, src_ip=rhost), data


def _service_protocol(service: str) -> str:
    return {"sshd": "ssh", "sudo": "sudo", "su": "su", "su-l": "su"}.get(service, "local")


# sudo / su / login ---------------------------------------------------------------------
def _sudo(m: re.Match[str], line: SyslogLine) -> Mapped:
    user, rest = m.groups()
    parts = [p.strip() for p in rest.split(" ; ")]
    data: dict[str, Any] = {}
    outcome = "success"
    command = None
    target = None
    for p in parts:
        key, eq, value = p.partition("=")
        if eq and key in ("TTY", "PWD", "USER", "GROUP", "ENV", "TSID"):
            if key == "USER":
                target = value
            else:
                data[key] = value
        elif p.startswith("COMMAND="):
            command = p[8:]
        elif p:
            data["reason"] = p  # "user NOT in sudoers", "3 incorrect password attempts", ...
            outcome = "failure"
    # COMMAND is last and may itself contain " ; ": take everything after it
    ci = rest.find("COMMAND=")
    if ci >= 0:
        command = rest[ci + 8:]
    return "auth", _auth("sudo", outcome, protocol="sudo", subject_user=user, target_user=target, method=command), data


def _su(m: re.Match[str], line: SyslogLine) -> Mapped:
    failed, target, user, tty = m.groups()
    return "auth", _auth("su", "failure" if failed else "success", protocol="su", target_user=target,
                         subject_user=user), {"tty": tty}


def _su_rhel(m: re.Match[str], line: SyslogLine) -> Mapped:
    ok, target, user = m.groups()
    return "auth", _auth("su", "success" if ok == "Successful" else "failure", protocol="su", target_user=target,
                         subject_user=user), {}


def _login_failed(m: re.Match[str], line: SyslogLine) -> Mapped:
    count, tty, host, user, reason = m.groups()
    data = {k: v for k, v in (("attempts", count), ("tty", tty), ("reason", reason)) if v}
    return "auth", _auth("logon_failed", "failure", protocol="local", target_user=user, workstation=host or None), data


def _root_login(m: re.Match[str], line: SyslogLine) -> Mapped:
    tty, host = m.groups()
    return "auth", _auth("logon", "success", protocol="local", target_user="root", workstation=host), {"tty": tty}


# logind / cron --------------------------------------------------------------------------
def _logind_new(m: re.Match[str], line: SyslogLine) -> Mapped:
    session, user = m.groups()
    return "auth", _auth("session_start", "success", protocol="local", target_user=user, logon_id=session), {}


def _logind_removed(m: re.Match[str], line: SyslogLine) -> Mapped:
    (session,) = m.groups()
    return "auth", _auth("session_end", None, logon_id=session), {}


def _cron_cmd(m: re.Match[str], line: SyslogLine) -> Mapped:
    user, cmd = m.groups()
    # CRON[pid] is the cron child that runs the command through the shell: the command's parent
    return "process", {"action": "start", "user": user, "command_line": cmd,
                       "parent_process_id": to_int(line.pid)}, {}


# account tools --------------------------------------------------------------------------
def _account(action: str, *, user: int | None = None, group: int | None = None,
             extra: tuple[str, ...] = ()) -> Callable[[re.Match[str], SyslogLine], Mapped]:
    def f(m: re.Match[str], line: SyslogLine) -> Mapped:
        g = m.groups()
        target = g[user] if user is not None else None
        grp = g[group] if group is not None else None
        cols: dict[str, Any] = {"action": action, "target_user": target if not action.startswith("group_") else grp,
                                "group_name": grp}
        if action.startswith("member_"):
            cols["member_name"] = target
        data = {name: g[i] for i, name in enumerate(extra) if name and i < len(g) and g[i] is not None
                and i not in (user, group)}
        return "account", {k: v for k, v in cols.items() if v is not None}, data
    return f


def _listed(action: str, text: str) -> Mapped:
    """useradd / groupadd's `name=x, UID=0, GID=0, home=/root, shell=/bin/bash, from=/dev/pts/0`."""
    fields = dict(p.partition("=")[::2] for p in text.split(", ") if "=" in p)
    name = fields.pop("name", None) or None
    cols = {"action": action, "target_user": name}
    if action.startswith("group_"):
        cols["group_name"] = name
    return "account", {k: v for k, v in cols.items() if v is not None}, fields


# (program prefix, pattern, builder). Programs: the syslog tag, compared case-insensitively.
RULES: dict[str, list[Rule]] = {
    "sshd": [
        (re.compile(r"Accepted (\S+) for (\S+) from (\S+) port (\d+)(?: (ssh\d))?(?:: (.*))?$"), _ssh_accepted),
        (re.compile(r"Failed (\S+) for (invalid user )?(\S*) from (\S+) port (\d+)(?: (ssh\d))?"), _ssh_failed),
        (re.compile(r"[Ii]nvalid user (\S*) from (\S+)(?: port (\d+))?"), _ssh_invalid),
        (re.compile(r"(?:error: )?maximum authentication attempts exceeded for (invalid user )?(\S*) from (\S+) "
                    r"port (\d+)"), _ssh_max),
        (re.compile(r"Connection closed by (?:(invalid|authenticating) user (\S*) )?(\S+) port (\d+)( \[preauth\])?"),
         _ssh_closed),
        (re.compile(r"Disconnected from (?:(invalid user|authenticating user|user) (\S*) )?(\S+) port (\d+)"
                    r"( \[preauth\])?"), _ssh_disconnected),
        (re.compile(r"Received disconnect from (\S+) port (\d+):\d+: ?(.*?)(?: \[preauth\])?$"),
         _ssh_received_disconnect),
        (re.compile(r"Disconnecting (?:(invalid|authenticating) user (\S*) )?(\S+) port (\d+): (.*?)"
                    r"(?: \[preauth\])?$"), _ssh_disconnecting),
    ],
    "sudo": [(re.compile(r"\s*(\S+) : (.*)$"), _sudo)],
    "su": [(re.compile(r"(FAILED SU )?\(to (\S+)\) (\S+) on (\S+)"), _su),
           (re.compile(r"(Successful|FAILED) su for (\S+) by (\S+)"), _su_rhel)],
    "login": [(re.compile(r"FAILED LOGIN \(?(\d+)\)? (?:on '([^']*)' )?(?:FROM '?([^'\s]*)'? )?"
                          r"FOR '?([^',\s]+)'?, (.*)$", re.IGNORECASE), _login_failed),
              (re.compile(r"ROOT LOGIN +ON '?(\S+?)'?(?: FROM '?(\S+?)'?)?$"), _root_login)],
    "systemd-logind": [(re.compile(r"New session (\S+) of user (\S+?)\.?$"), _logind_new),
                       (re.compile(r"Removed session (\S+?)\.?$"), _logind_removed)],
    "cron": [(re.compile(r"\((\S+)\) CMD \((.*)\)$"), _cron_cmd)],
    "useradd": [
        (re.compile(r"new user: (.*)$"), lambda m, ln: _listed("user_created", m.group(1))),
        (re.compile(r"new group: (.*)$"), lambda m, ln: _listed("group_created", m.group(1))),
        (re.compile(r"add '([^']+)' to (?:shadow )?group '([^']+)'"), _account("member_added", user=0, group=1)),
    ],
    "userdel": [
        (re.compile(r"delete user '([^']+)'"), _account("user_deleted", user=0)),
        (re.compile(r"removed group '([^']+)' owned by '([^']+)'"), _account("group_deleted", group=0,
                                                                             extra=("", "owner"))),
        (re.compile(r"delete '([^']+)' from (?:shadow )?group '([^']+)'"), _account("member_removed", user=0,
                                                                                    group=1)),
    ],
    "groupadd": [(re.compile(r"(?:new group|group added to \S+): (.*)$"),
                  lambda m, ln: _listed("group_created", m.group(1)))],
    "groupdel": [(re.compile(r"group '([^']+)' removed"), _account("group_deleted", group=0)),
                 (re.compile(r"removed group '([^']+)'"), _account("group_deleted", group=0))],
    "usermod": [
        (re.compile(r"add '([^']+)' to (?:shadow )?group '([^']+)'"), _account("member_added", user=0, group=1)),
        (re.compile(r"delete '([^']+)' from (?:shadow )?group '([^']+)'"), _account("member_removed", user=0,
                                                                                    group=1)),
        (re.compile(r"lock user '([^']+)' password"), _account("user_disabled", user=0)),
        (re.compile(r"unlock user '([^']+)' password"), _account("user_enabled", user=0)),
        (re.compile(r"change user '([^']+)' password"), _account("password_changed", user=0)),
        (re.compile(r"change user '([^']+)' (\w+)"), _account("user_changed", user=0, extra=("", "changed"))),
    ],
    "gpasswd": [
        (re.compile(r"user (\S+) added by (\S+) to group (\S+)"), _account("member_added", user=0, group=2,
                                                                          extra=("", "by"))),
        (re.compile(r"user (\S+) removed by (\S+) from group (\S+)"), _account("member_removed", user=0, group=2,
                                                                              extra=("", "by"))),
    ],
    "passwd": [(re.compile(r"pam_unix\(passwd:chauthtok\): password changed for (\S+)"),
                _account("password_changed", user=0))],
    "chpasswd": [(re.compile(r"pam_unix\(chpasswd:chauthtok\): password changed for (\S+)"),
                  _account("password_changed", user=0))],
}
#: PAM lines, whatever program wrote them
PAM: list[Rule] = [
    (re.compile(r"(pam_\w{1,32})\(([^:)\s]{1,64}):session\): session (opened|closed) for user (\S+?)(?: by (\S*))?$"),
     _pam_session),
    (re.compile(r"(pam_\w{1,32})\(([^:)\s]{1,64}):auth\): authentication failure;(.*)$"), _pam_auth_failure),
]


def _program_key(program: str | None) -> str | None:
    if not program:
        return None
    p = program.lower()
    return _ALIASES.get(p, p)


_ALIASES = {"crond": "cron", "/usr/sbin/cron": "cron", "sshd-session": "sshd", "sshd-auth": "sshd",
            "/usr/sbin/sshd": "sshd", "su-l": "su"}


def map_message(line: SyslogLine) -> Mapped | None:
    """Columns and data for a known auth / account / cron message, or None."""
    msg = line.message
    if "pam_" in msg:
        for pattern, build in PAM:
            m = pattern.search(msg)
            if m:
                return build(m, line)
    key = _program_key(line.program) or ""
    for pattern, build in RULES.get(key, ()):
        m = pattern.match(msg)
        if m:
            out = build(m, line)
            if out is not None:
                return out
    return None


class AuthHandler(MessageHandler):
    """Auth / account / cron messages; every other line -> generic."""

    def __init__(self) -> None:
        self.generic = GenericHandler()

    def accepts(self, line: SyslogLine) -> bool:
        return True

    def handle(self, line: SyslogLine, record: int, raw: str) -> Iterable[Item]:
        mapped = map_message(line) if line.header else None
        if mapped is None:
            return self.generic.handle(line, record, raw)
        table, cols, data = mapped
        return self._row(line, record, raw, table, cols, data)

    @staticmethod
    def _row(line: SyslogLine, record: int, raw: str, table: str, cols: dict[str, Any], data: dict[str, Any],
             ) -> list[Item]:
        d = dict(data)
        pid = line.pid
        if table != "auth" and pid is not None:
            d["pid"] = pid
        if line.facility is not None or line.extra:
            d.update(line.header_data())
        row = base_row(line, record, raw, d)
        if table == "auth" and pid is not None and (process_id := to_int(pid)) is not None:
            row["process_id"] = process_id
        row.update(cols)
        if line.bad_time:
            return [(table, row), IngestWarning("bad_time", f"unreadable timestamp {line.bad_time!r}", record)]
        return [(table, row)]


class AuthLog(Source):
    name = "authlog"
    product = "linux"
    description = ("auth.log / secure / syslog text (RFC 3164, RFC 5424, ISO timestamps): sshd, sudo, su, login, "
                   "logind, account tools, cron -> auth, account, process; audit and Sysmon lines to their "
                   "parsers; the rest -> generic.")
    priority = 60

    def sniff(self, head: bytes, name: str) -> bool:
        lines = first_lines(head, 8)
        if not lines:
            return False
        parser = HeaderParser(default_year=2000)
        hits = sum(1 for ln in lines if parser.parse(ln.decode("utf-8", "replace")).header)
        return hits >= max(1, len(lines) - 1)

    def read(self, ctx: ReadContext) -> Iterator[TableBatch | IngestWarning]:
        yield from read_lines(ctx, [AuditHandler(), SysmonHandler(ctx.settings)], AuthHandler())
