"""Linux audit logs: raw `audit.log`, the same records inside syslog, and Microsoft AUOMS records.

A kernel audit *event* is several *records* sharing `audit(<seconds>.<ms>:<serial>)`: an execve
is SYSCALL + EXECVE + CWD + PATH... + PROCTITLE + EOE. Records are joined by (node, time,
serial) into one event, stored as one row:

- successful execve / execveat -> `process` (exe, argv, cwd, pid, ppid, user names when the log
  gives them: ENRICHED `UID`, AUOMS `user`);
- connect / accept / sendto / sendmsg with an inet SOCKADDR -> `network`;
- PAM and login records (USER_AUTH, USER_LOGIN, USER_START, CRED_*, USER_CMD ...) -> `auth`;
- account changes (ADD_USER, DEL_USER, ADD_GROUP, USER_MGMT, USER_CHAUTHTOK ...) -> `account`;
- everything else, failed execs included -> `generic`.

`data` of every audit event holds *every* audit field under its own name, even the ones a
column also took: Sigma's auditd rules address fields by audit names (`type`, `key`, `exe`,
`comm`, `a0`.., `name`, `SYSCALL`, ...) whatever table the event landed in. A field whose
records disagree (SYSCALL's `a0` register and EXECVE's `a0` argument; `name` of each PATH;
`type`) holds a JSON array of the values in record order: match it as Elastic or Splunk match
multi-valued fields, true when any element matches. Hex-encoded fields (proctitle, EXECVE
arguments, names with spaces) are decoded; long EXECVE arguments (`a1[0]`, `a1[1]`, ...) are
joined back into `a1`; SOCKADDR `saddr` is decoded into `saddr_fam`/`laddr`/`lport`/`path`; for
RAW-format logs the names ENRICHED logs would add (`SYSCALL`, `ARCH`) are added from the
kernel's system call tables. `raw` holds the event's lines, joined by newlines.

Records of one event may be interleaved with others and out of order. An event is complete at
its EOE record, at once for user-space record types (which have no EOE), or when it falls out of
a bounded window (`MAX_PENDING` events, or no record for `IDLE_RECORDS` records). A record
arriving for an event already emitted is stored as an event of its own with a `late_record`
warning: nothing is lost, memory stays bounded.

Speed: a record body seen before in the file (EOE, and the PATH / CWD / PROCTITLE / EXECVE
records of a command run again) is not tokenised again: its fields come from a bounded per-file
cache (`CACHED_BODIES` bodies of at most `MAX_CACHED_BODY` characters, only bodies that parsed
without a warning). tests/sources/test_linux_golden.py holds digests of every stored row and
warning taken before the speed work; they must not change.
"""

from __future__ import annotations

import ipaddress
import re
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aptwatch.model.hosts import host_key
from aptwatch.model.records import IngestWarning, TableBatch
from aptwatch.sources.base import ReadContext, Source
from aptwatch.sources.syscalls import ARCHES, syscall_name
from aptwatch.sources.syslog import (
    Item,
    MessageHandler,
    Row,
    SyslogLine,
    dumps,
    generic_row,
    only_lines_of,
    read_lines,
    to_int,
)

#: events kept waiting for more records, at most
MAX_PENDING = 4096
#: an event that received no record during this many records is complete
IDLE_RECORDS = 2048
#: event keys remembered after emission, to recognise late records
REMEMBER_EMITTED = 65536
#: parsed record bodies remembered per file (see `parse_record`), and the longest body remembered
CACHED_BODIES = 4096
MAX_CACHED_BODY = 2048

# Linear time on attacker-written lines: bounded repeats, and a key may only start where no key
# character precedes it (else a long run without '=' would be rescanned from every position).
_HEADER = re.compile(r"(?:node=(\S{1,255}) )?type=([^\s=]{1,64}) (?:msg=)?audit\((\d{1,20})\.(\d{1,9}):(\d{1,20})\): ?")
_FIELD = re.compile(r"(?<![A-Za-z0-9_.\[\]-])([A-Za-z0-9_.\[\]-]{1,128})=(\"[^\"]*\"|'[^']*'|\{[^}]{0,4096}\}|\S*)")
_ARG_CHUNK = re.compile(r"a(\d+)\[(\d+)\]")
_HEX = re.compile(r"(?:[0-9A-Fa-f]{2})+")
_AVC = re.compile(r"avc: {1,8}(\w{1,32}) {1,8}\{([^}]{0,1024})\}")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

#: fields auditd writes hex-encoded when the value holds a space, quote or control character
ESCAPED = frozenset({"exe", "comm", "cwd", "path", "name", "dir", "file", "ocomm", "watch", "key", "proctitle", "cmd",
                     "acct", "data", "root_dir", "sw", "vm", "new-disk", "old-disk", "new-chardev", "old-chardev",
                     "new-fs", "old-fs", "new-net", "old-net", "new-rng", "old-rng", "device", "cgroup"})
#: values auditd writes unquoted for "nothing"
NOTHING = frozenset({"(null)", "(none)", "?", "", "unset"})
#: record types the kernel groups under one serial and closes with EOE
GROUPED = frozenset({"SYSCALL", "PATH", "CWD", "EXECVE", "PROCTITLE", "SOCKADDR", "SOCKETCALL", "IPC", "IPC_SET_PERM",
                     "MQ_OPEN", "MQ_SENDRECV", "MQ_NOTIFY", "MQ_GETSETATTR", "FD_PAIR", "OBJ_PID", "BPRM_FCAPS",
                     "CAPSET", "MMAP", "KERN_MODULE", "NETFILTER_CFG", "CONFIG_CHANGE", "AVC", "SELINUX_ERR", "LOGIN",
                     "TIME_INJOFFSET", "TIME_ADJNTPVAL", "OPENAT2", "URINGOP", "BPF", "EOE", "INTEGRITY_RULE",
                     "FANOTIFY", "DM_CTRL", "DM_EVENT", "MAC_POLICY_LOAD", "MAC_STATUS"})
#: user-space record types: one record per event, never an EOE
_STANDALONE_PREFIXES = ("USER", "CRED_", "ADD_", "DEL_", "GRP_", "CHGRP_ID", "CHUSER_ID", "DAEMON_", "SERVICE_",
                        "SYSTEM_", "USYS_", "ANOM_LOGIN", "ANOM_ADD_ACCT", "ANOM_DEL_ACCT", "ANOM_MOD_ACCT",
                        "ANOM_ROOT_TRANS", "ANOM_RBAC", "ANOM_AMTU", "RESP_", "ROLE_", "ACCT_", "TRUSTED_APP",
                        "VIRT_", "AUOMS_", "SOFTWARE_UPDATE", "LABEL_", "TEST", "AUDIT_")
#: numeric types of kernel printk lines (`audit: type=1400 audit(...)`)
TYPE_NUMBERS = {"1100": "USER_AUTH", "1101": "USER_ACCT", "1102": "USER_MGMT", "1103": "CRED_ACQ",
                "1104": "CRED_DISP", "1105": "USER_START", "1106": "USER_END", "1107": "USER_AVC",
                "1108": "USER_CHAUTHTOK", "1109": "USER_ERR", "1110": "CRED_REFR", "1111": "USYS_CONFIG",
                "1112": "USER_LOGIN", "1113": "USER_LOGOUT", "1114": "ADD_USER", "1115": "DEL_USER",
                "1116": "ADD_GROUP", "1117": "DEL_GROUP", "1123": "USER_CMD", "1130": "SERVICE_START",
                "1131": "SERVICE_STOP", "1300": "SYSCALL", "1302": "PATH", "1305": "CONFIG_CHANGE",
                "1306": "SOCKADDR", "1307": "CWD", "1309": "EXECVE", "1320": "EOE", "1325": "NETFILTER_CFG",
                "1326": "SECCOMP", "1327": "PROCTITLE", "1334": "BPF", "1400": "AVC", "1401": "SELINUX_ERR",
                "1006": "LOGIN", "1700": "ANOM_PROMISCUOUS", "1701": "ANOM_ABEND"}

AUTH_ACTIONS = {"USER_AUTH": "credential_validation", "USER_ACCT": "authorization", "USER_LOGIN": "logon",
                "USER_LOGOUT": "logoff", "USER_START": "session_start", "USER_END": "session_end",
                "CRED_ACQ": "credential_acquired", "CRED_DISP": "credential_disposed",
                "CRED_REFR": "credential_refreshed", "USER_ERR": "auth_error", "USER_CMD": "sudo",
                "ANOM_LOGIN_FAILURES": "logon_failed", "ANOM_LOGIN_LOCATION": "logon",
                "ANOM_LOGIN_SESSIONS": "logon", "ANOM_LOGIN_TIME": "logon", "ANOM_LOGIN_ACCT": "logon",
                "USER_ROLE_CHANGE": "role_change"}
ACCOUNT_ACTIONS = {"ADD_USER": "user_created", "DEL_USER": "user_deleted", "ADD_GROUP": "group_created",
                   "DEL_GROUP": "group_deleted", "USER_CHAUTHTOK": "password_changed", "USER_MGMT": "user_changed",
                   "GRP_MGMT": "group_changed", "CHUSER_ID": "user_changed", "CHGRP_ID": "group_changed",
                   "ACCT_LOCK": "user_disabled", "ACCT_UNLOCK": "user_enabled", "GRP_CHAUTHTOK": "password_changed",
                   "ANOM_ADD_ACCT": "user_created", "ANOM_DEL_ACCT": "user_deleted",
                   "ANOM_MOD_ACCT": "user_changed"}
NET_SYSCALLS = {"connect": True, "sendto": True, "sendmsg": True, "sendmmsg": True, "accept": False,
                "accept4": False}
FAMILIES = {1: "local", 2: "inet", 10: "inet6", 16: "netlink", 17: "packet"}


@dataclass
class AuditRecord:
    """One audit record (one line)."""

    type: str
    node: str | None
    seconds: int
    millis: int
    serial: str
    fields: dict[str, Any]
    record: int
    raw: str

    @property
    def key(self) -> tuple[str | None, int, int, str]:
        return self.node, self.seconds, self.millis, self.serial

    @property
    def epoch(self) -> float:
        return self.seconds + self.millis / 1000

    @property
    def time(self) -> datetime:
        return _EPOCH + timedelta(seconds=self.seconds, milliseconds=self.millis)


@dataclass
class AuditEvent:
    """Records sharing one event id, plus where they came from."""

    first: AuditRecord
    host: str | None
    records: list[AuditRecord] = field(default_factory=list)
    #: extra envelope fields (e.g. Log Analytics columns) for `data`
    envelope: dict[str, Any] = field(default_factory=dict)
    #: the assembler's record count when this event last got a record
    last_seen: int = 0


def is_audit_message(message: str) -> bool:
    """Cheap test for an audit record in a message."""
    return "audit(" in message and "type=" in message


def parse_record(message: str, record: int, raw: str | None = None, cache: dict[tuple[str, str], Any] | None = None,
                 ) -> tuple[AuditRecord | None, list[IngestWarning]]:
    """Parse one audit record (bare, or found inside a syslog message).

    `cache` (owned by the caller, one per file) remembers the fields of record bodies that parsed
    without a warning: audit logs repeat bodies (EOE, the PATH / CWD / PROCTITLE / EXECVE records
    of commands run again and again), and a repeated body costs a dict copy instead of a parse.
    """
    m = _HEADER.search(message)
    if m is None:
        return None, [IngestWarning("bad_audit_record", "no audit(time:serial) header: "
                                    + IngestWarning.excerpt(message), record)]
    node, rtype, sec, ms, serial = m.groups()
    if rtype.isdigit():
        rtype = TYPE_NUMBERS.get(rtype, rtype)
    elif rtype.startswith("UNKNOWN[") and rtype[8:-1] in TYPE_NUMBERS:
        rtype = TYPE_NUMBERS[rtype[8:-1]]
    warnings: list[IngestWarning] = []
    body = message[m.end():]
    if cache is None:
        fields = parse_fields(body, rtype, record, warnings)
    else:
        hit = cache.get((rtype, body))
        if hit is not None:
            fields = hit.copy()  # values are never changed in place: a shallow copy is enough
        else:
            fields = parse_fields(body, rtype, record, warnings)
            if not warnings and len(body) <= MAX_CACHED_BODY:
                if len(cache) >= CACHED_BODIES:
                    cache.clear()
                cache[(rtype, body)] = fields.copy()
    if node is not None:
        fields.setdefault("node", node)
    rec = AuditRecord(rtype, node, int(sec), int(ms[:3].ljust(3, "0")), serial, fields, record, raw or message)
    return rec, warnings


def parse_fields(body: str, rtype: str, record: int, warnings: list[IngestWarning]) -> dict[str, Any]:
    """key=value fields of a record body; nested msg='...' and {...} flattened, hex decoded."""
    fields: dict[str, Any] = {}
    raw_part, _, enriched = body.partition("\x1d")
    auoms = rtype.startswith("AUOMS_")
    if auoms:
        raw_part = _auoms_greedy(raw_part, fields)
    elif rtype == "AVC":
        am = _AVC.search(raw_part)
        if am:
            fields["seresult"], fields["seperms"] = am.group(1), am.group(2).strip()
    _tokenize(raw_part, fields, decode=not auoms, rtype=rtype, record=record, warnings=warnings)
    if enriched:
        _tokenize(enriched, fields, decode=False, rtype=rtype, record=record, warnings=warnings)
    if rtype == "EXECVE":
        _join_arg_chunks(fields)
    if rtype == "SOCKADDR" and isinstance(fields.get("saddr"), str) and "saddr_fam" not in fields:
        _decode_saddr(fields, record, warnings)
    return fields


def _auoms_greedy(body: str, fields: dict[str, Any]) -> str:
    """AUOMS writes cmdline / proctitle unescaped (spaces, inner quotes): each runs to the next of its
    known successors (' redactors=', ' containerid=', ' proctitle=')."""
    for name in ("cmdline", "proctitle"):
        marker = f" {name}="
        start = body.find(marker)
        if start >= 0:
            vstart = start + len(marker)
        elif body.startswith(marker[1:]):
            start, vstart = 0, len(marker) - 1
        else:
            continue
        ends = [i for nxt in (" redactors=", " containerid=", " proctitle=") if (i := body.find(nxt, vstart)) >= 0]
        end = min(ends) if ends else len(body)
        value = body[vstart:end]
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        fields[name] = value
        body = body[:start] + body[end:]
    return body


def _put(fields: dict[str, Any], key: str, value: Any) -> None:
    """Set a field; a key repeated with another value becomes a list."""
    if key not in fields:
        fields[key] = value
        return
    old = fields[key]
    if old == value:
        return
    if isinstance(old, list):
        if value not in old:
            old.append(value)
    else:
        fields[key] = [old, value]


def _tokenize(text: str, fields: dict[str, Any], *, decode: bool, rtype: str, record: int,
              warnings: list[IngestWarning]) -> None:
    execve = decode and rtype == "EXECVE"
    for key, value in _FIELD.findall(text):
        c = value[:1]
        if c == '"' and len(value) > 1 and value[-1] == '"':  # the common case: a quoted string
            value = value[1:-1]
        elif c in _QUOTES:
            closing = "}" if c == "{" else c
            if len(value) < 2 or value[-1] != closing:  # a cut line: keep what is there
                warnings.append(IngestWarning("unbalanced_quote", f"field {key}: " + IngestWarning.excerpt(value),
                                              record))
                _put(fields, key, value[1:])
                continue
            if c == "'":
                _tokenize(value[1:-1], fields, decode=decode, rtype=rtype, record=record, warnings=warnings)
                continue
            _put(fields, key, value)
            inner: dict[str, Any] = {}
            _tokenize(value[1:-1], inner, decode=False, rtype=rtype, record=record, warnings=warnings)
            for k, v in inner.items():
                fields.setdefault(k, v)
            continue
        elif decode and (key in ESCAPED or (execve and key[:1] == "a" and _is_arg(key))) and value not in NOTHING:
            value = _unhex(key, value, record, warnings)
        if key in fields:
            _put(fields, key, value)
        else:
            fields[key] = value


_QUOTES = frozenset("'\"{")


def _is_arg(key: str) -> bool:
    return key[1:].isdigit() or _ARG_CHUNK.fullmatch(key) is not None


def _unhex(key: str, value: str, record: int, warnings: list[IngestWarning]) -> Any:
    if not _HEX.fullmatch(value):
        warnings.append(IngestWarning("bad_hex", f"field {key} is neither quoted nor hex: "
                                      + IngestWarning.excerpt(value), record))
        return value
    text = bytes.fromhex(value).decode("utf-8", "replace")
    if key == "proctitle":
        return text.replace("\x00", " ").rstrip()
    if key == "key" and "\x01" in text:  # several rule keys, separated by ^A
        return text.split("\x01")
    return text


def _join_arg_chunks(fields: dict[str, Any]) -> None:
    """Long EXECVE arguments come as aN_len=.. aN[0]=.. aN[1]=..: join them into aN."""
    chunks: dict[int, list[tuple[int, str]]] = {}
    for key in [k for k in fields if "[" in k]:
        m = _ARG_CHUNK.fullmatch(key)
        if m:
            value = fields.pop(key)
            chunks.setdefault(int(m.group(1)), []).append((int(m.group(2)), value if isinstance(value, str) else ""))
    for arg, parts in chunks.items():
        fields[f"a{arg}"] = "".join(v for _, v in sorted(parts))


def _decode_saddr(fields: dict[str, Any], record: int, warnings: list[IngestWarning]) -> None:
    value = fields["saddr"]
    if not _HEX.fullmatch(value) or len(value) < 4:
        warnings.append(IngestWarning("bad_hex", "saddr is not hex: " + IngestWarning.excerpt(value), record))
        return
    b = bytes.fromhex(value)
    fam = int.from_bytes(b[:2], "little")
    fields["saddr_fam"] = FAMILIES.get(fam, str(fam))
    if fam == 2 and len(b) >= 8:
        fields["laddr"] = ".".join(str(x) for x in b[4:8])
        fields["lport"] = str(int.from_bytes(b[2:4], "big"))
    elif fam == 10 and len(b) >= 24:
        fields["laddr"] = ipaddress.IPv6Address(b[8:24]).compressed
        fields["lport"] = str(int.from_bytes(b[2:4], "big"))
    elif fam == 1:
        path = b[2:]
        fields["path"] = ("@" + path[1:].split(b"\x00", 1)[0].decode("utf-8", "replace") if path[:1] == b"\x00"
                          else path.split(b"\x00", 1)[0].decode("utf-8", "replace"))


# --------------------------------------------------------------------------------------
# Joining records into events
# --------------------------------------------------------------------------------------
def _standalone(rtype: str) -> bool:
    return rtype not in GROUPED and rtype.startswith(_STANDALONE_PREFIXES)


class AuditAssembler:
    """Joins records into events within a bounded window; emits rows and warnings.

    Pending events are kept in order of their last record, so the event idle longest is first:
    it is the one emitted when the window is full, and the sweep stops at the first event that is
    still active. Idleness is counted in records, not seconds: concatenated or merged files jump
    back and forth in time, but an event's records are always written close together.
    """

    def __init__(self, max_pending: int = MAX_PENDING, idle_records: int = IDLE_RECORDS) -> None:
        self.max_pending = max_pending
        self.idle_records = idle_records
        self.pending: OrderedDict[tuple[str | None, int, int, str], AuditEvent] = OrderedDict()
        self.emitted: OrderedDict[tuple[str | None, int, int, str], None] = OrderedDict()
        self.seen = 0

    def add(self, rec: AuditRecord, host: str | None,
            envelope: dict[str, Any] | None = None) -> list[Item]:
        """Add one record; returns the events it completes (and any older ones the window drops)."""
        self.seen += 1
        key = (rec.node, rec.seconds, rec.millis, rec.serial)
        pending = self.pending
        event = pending.get(key)
        out: list[Item] = []
        if event is None:
            if key in self.emitted:
                out.append(IngestWarning("late_record", f"{rec.type} record of audit event {rec.seconds}."
                                         f"{rec.millis:03d}:{rec.serial} arrived after the event was complete; "
                                         "stored on its own", rec.record))
            event = AuditEvent(rec, host_key(rec.node) or host, [rec], envelope or {})
            pending[key] = event
        else:
            pending.move_to_end(key)
            event.records.append(rec)
        event.last_seen = self.seen
        rtype = rec.type
        if rtype == "EOE" or (rtype not in GROUPED and rtype.startswith(_STANDALONE_PREFIXES)):
            out.append(self._emit(key))
        while len(pending) > self.max_pending:
            out.append(self._emit(next(iter(pending))))
        if self.seen % 256 == 0:
            out.extend(self._sweep())
        return out

    def _sweep(self) -> Iterator[Row]:
        limit = self.seen - self.idle_records
        while self.pending:
            key, event = next(iter(self.pending.items()))
            if event.last_seen > limit:
                return
            yield self._emit(key)

    def finish(self) -> Iterator[Row]:
        while self.pending:
            yield self._emit(next(iter(self.pending)))

    def _emit(self, key: tuple[str | None, int, int, str]) -> Row:
        event = self.pending.pop(key)
        self.emitted[key] = None
        if len(self.emitted) > REMEMBER_EMITTED:
            self.emitted.popitem(last=False)
        return map_event(event)


# --------------------------------------------------------------------------------------
# Mapping an event to a row
# --------------------------------------------------------------------------------------
def _first(v: Any) -> str | None:
    if isinstance(v, list):
        v = v[0] if v else None
    return v if isinstance(v, str) and v not in NOTHING else None


def _int(v: Any, bits: int = 64) -> int | None:
    return to_int(_first(v), bits)


def merged_fields(event: AuditEvent) -> dict[str, Any]:
    """All fields of all records, flat; values that differ between records become lists."""
    out: dict[str, Any] = {}
    get = out.get
    for rec in event.records:
        _put(out, "type", rec.type)
        for k, v in rec.fields.items():
            cur = get(k, _MISSING)
            if cur is _MISSING:
                out[k] = list(v) if v.__class__ is list else v  # a copy: merging appends to it
            elif cur == v:
                continue
            elif v.__class__ is list:
                for x in v:
                    _put(out, k, x)
            else:
                _put(out, k, v)
    return out


_MISSING = object()


def _record(event: AuditEvent, *types: str) -> dict[str, Any]:
    for rec in event.records:
        if rec.type in types:
            return rec.fields
    return {}


def map_event(event: AuditEvent) -> Row:
    """The table and row for a complete event."""
    data = merged_fields(event)
    first = event.first
    records = event.records
    data["serial"] = first.serial
    sc = _record(event, "SYSCALL") or (first.fields if first.type.startswith("AUOMS_") else {})
    if sc:
        _add_interpretation(sc, data)
    types = [r.type for r in records]
    row: dict[str, Any] = {
        "time": first.time, "record": min(r.record for r in records) if len(records) > 1 else first.record,
        "host": event.host, "channel": _primary_type(types),
        "provider": "auoms" if first.type.startswith("AUOMS_") else "auditd",
        "raw": "\n".join([r.raw for r in records]),
    }
    table = "generic"
    name = _first(sc.get("SYSCALL")) or _first(sc.get("syscall")) if sc else None
    success = _first(sc.get("success")) if sc else None
    if name in ("execve", "execveat") and success == "yes":
        table = "process"
        row.update(_process(event, sc, data))
    elif name in NET_SYSCALLS and (net := _network(event, sc, name)):
        table = "network"
        row.update(net)
    elif first.type in AUTH_ACTIONS:
        table = "auth"
        row.update(_auth(first, data))
    elif first.type in ACCOUNT_ACTIONS or not ACCOUNT_ACTIONS.keys().isdisjoint(types):
        table = "account"
        rec = next(r for r in event.records if r.type in ACCOUNT_ACTIONS)
        row.update(_account(rec))
    if event.envelope:
        for k, v in event.envelope.items():
            data.setdefault(k, v)
    row["data"] = dumps(data)
    return table, row


#: record types that accompany a primary record
_AUXILIARY = frozenset({"SYSCALL", "PATH", "CWD", "EXECVE", "PROCTITLE", "SOCKADDR", "EOE", "BPRM_FCAPS", "MMAP",
                        "FD_PAIR", "OBJ_PID", "SOCKETCALL", "IPC"})


def _primary_type(types: list[str]) -> str:
    """The record type that names the event: AVC, CONFIG_CHANGE, LOGIN... else SYSCALL, else the first."""
    return next((t for t in types if t not in _AUXILIARY), "SYSCALL" if "SYSCALL" in types else types[0])


def _add_interpretation(sc: dict[str, Any], data: dict[str, Any]) -> None:
    """What ENRICHED log_format adds, for RAW logs: the system call name and architecture."""
    arch = _first(sc.get("arch"))
    if "SYSCALL" not in data:
        number = _first(sc.get("syscall"))
        # AUOMS writes the name itself (syscall=execve); RAW logs the number
        name = number if number and not number.isdigit() else syscall_name(arch, number)
        if name is not None:
            data["SYSCALL"] = name
            sc.setdefault("SYSCALL", name)
    if "ARCH" not in data and arch and arch.lower() in ARCHES:
        data["ARCH"] = ARCHES[arch.lower()][0]


def _user(sc: dict[str, Any], name: str = "UID", auoms: str = "user") -> str | None:
    return _first(sc.get(name)) or _first(sc.get(auoms))


def _process(event: AuditEvent, sc: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    exe = _first(sc.get("exe"))
    ex = _record(event, "EXECVE")
    argv: list[str] = []
    if ex:
        argc = _int(ex.get("argc"))
        # the arguments present, in order; argc (log-controlled) only cuts, never drives a loop
        idx = sorted([int(k[1:]) for k in ex if k[:1] == "a" and k[1:].isdigit()])
        argv = [v for i in idx if (argc is None or i < argc) and isinstance(v := ex.get(f"a{i}"), str)]
    if argv:
        cmd: str | None = " ".join(argv)
    else:
        cmd = _first(sc.get("cmdline")) or _first(_record(event, "PROCTITLE").get("proctitle")) \
            or _first(sc.get("proctitle"))
    cwd = _first(_record(event, "CWD").get("cwd")) or _first(sc.get("cwd"))
    return {"action": "start", "process_id": _int(sc.get("pid")), "process_path": exe,
            "process_name": exe.rsplit("/", 1)[-1] if exe else None, "command_line": cmd,
            "current_directory": cwd, "user": _user(sc), "parent_process_id": _int(sc.get("ppid"))}


def _network(event: AuditEvent, sc: dict[str, Any], name: str) -> dict[str, Any] | None:
    sa = _record(event, "SOCKADDR")
    addr = _first(sa.get("laddr"))
    if not addr or _first(sa.get("saddr_fam")) not in ("inet", "inet6"):
        return None
    port = _int(sa.get("lport"), 32)
    out: dict[str, Any] = {"process_id": _int(sc.get("pid")), "process_path": _first(sc.get("exe")),
                           "user": _user(sc), "initiated": NET_SYSCALLS[name]}
    if NET_SYSCALLS[name]:
        out.update(dst_ip=addr, dst_port=port)
    else:
        out.update(src_ip=addr, src_port=port)
    return out


def _outcome(res: str | None) -> str | None:
    if res is None:
        return None
    return "success" if res in ("success", "1", "yes") else "failure"


def _auth(rec: AuditRecord, data: dict[str, Any]) -> dict[str, Any]:
    f = rec.fields
    res = _first(f.get("res")) or _first(f.get("success"))
    action = AUTH_ACTIONS[rec.type]
    outcome = _outcome(res)
    if action == "logon" and outcome == "failure":
        action = "logon_failed"
    exe = _first(f.get("exe"))
    terminal = _first(f.get("terminal")) or ""
    protocol = "ssh" if terminal == "ssh" or (exe or "").endswith("/sshd") else "local"
    addr = _first(f.get("addr"))
    cmd = _first(f.get("cmd")) if rec.type == "USER_CMD" else None
    return {"action": action, "outcome": outcome, "protocol": protocol,
            "target_user": _first(f.get("acct")) or _first(f.get("ACCT")) or _first(f.get("ID")),
            "subject_user": _first(f.get("AUID")) or _first(f.get("UID")),
            "logon_id": _first(f.get("ses")) if _first(f.get("ses")) != "4294967295" else None,
            "workstation": _name_only(_first(f.get("hostname"))), "src_ip": addr,
            "process_path": exe, "process_id": _int(f.get("pid")), "method": cmd}


def _name_only(host: str | None) -> str | None:
    """The remote host's name; None when PAM wrote the address there (it is in src_ip already)."""
    if host is None:
        return None
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return host
    return None


def _account(rec: AuditRecord) -> dict[str, Any]:
    f = rec.fields
    op = (_first(f.get("op")) or "").lower()
    action = ACCOUNT_ACTIONS[rec.type]
    group = _first(f.get("grp"))
    if rec.type in ("USER_MGMT", "GRP_MGMT") and "group" in op:
        if "add" in op:
            action = "member_added"
        elif "delet" in op or "remov" in op:
            action = "member_removed"
    target = _first(f.get("acct")) or _first(f.get("ID")) or _first(f.get("id"))
    if action.startswith("group_") and group is None:
        group = target
    return {"action": action, "target_user": target, "group_name": group,
            "member_name": target if action.startswith("member_") else None,
            "subject_user": _first(f.get("AUID")) or _first(f.get("UID"))}


# --------------------------------------------------------------------------------------
# Handler and source
# --------------------------------------------------------------------------------------
class AuditHandler(MessageHandler):
    """Audit records inside syslog lines, or bare."""

    markers = ("audit(", "type=")

    def __init__(self) -> None:
        self.assembler = AuditAssembler()
        self.bodies: dict[tuple[str, str], Any] = {}

    def accepts(self, line: SyslogLine) -> bool:
        return is_audit_message(line.message)

    def handle(self, line: SyslogLine, record: int, raw: str) -> Iterable[Item]:
        return self.add_message(line.message, record, raw, line.host)

    def handle_bare(self, text: str, record: int) -> Iterable[Item] | None:
        # a raw audit.log line: what parse + accepts + handle would do, without the syslog detour
        return self.add_message(text, record, text, None) if is_audit_message(text) else None

    def add_message(self, message: str, record: int, raw: str, host: str | None,
                    envelope: dict[str, Any] | None = None) -> list[Item]:
        """Feed one record found in `message`; `raw` is what the event's `raw` shows for it (the line)."""
        rec, warnings = parse_record(message, record, raw, self.bodies)
        if rec is None:
            return [*warnings, generic_row(SyslogLine(message, True, hostname=host), record, raw, envelope)]
        out = self.assembler.add(rec, host, envelope)
        return [*warnings, *out] if warnings else out

    def finish(self) -> Iterable[Item]:
        return self.assembler.finish()


class Auditd(Source):
    name = "auditd"
    product = "linux"
    description = ("Linux audit logs (audit.log, audispd/audisp-syslog/auoms records in syslog): records joined "
                   "into events -> process, network, auth, account, generic.")
    priority = 20

    def sniff(self, head: bytes, name: str) -> bool:
        return only_lines_of(head, lambda text: _HEADER.search(text) is not None)

    def read(self, ctx: ReadContext) -> Iterator[TableBatch | IngestWarning]:
        yield from read_lines(ctx, [AuditHandler()])
