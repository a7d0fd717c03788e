"""Writers: events -> files, exactly in the formats the real tools write.

Layout under the output folder (one file per day and stream, time-ordered):

```
logs/windows/winlogbeat-YYYY-MM-DD.ndjson   winlogbeat 8 file output (ECS + winlog.*), all hosts
logs/windows/nxlog-YYYY-MM-DD.json          or: the OTRF Security-Datasets shape (NXLog im_msvistalog)
logs/zeek/YYYY-MM-DD/<log>.log              Zeek TSV with #fields/#types headers (conn, dns, http, ...)
logs/linux/YYYY-MM-DD/auth.log              rsyslog central auth.log (RFC 3164 lines, all Linux hosts)
truth/ground_truth.jsonl                    one line per malicious event: file, line, record, stage, ...
```

With `compress`, every log gets `.gz` (deterministic headers: no name, mtime 0). Year-less
syslog files get the modification time of their last line, as logrotate leaves them.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson

from aptwatch.simulate.events import Truth, Written
from aptwatch.simulate.org import Account, Host

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
BUF = 1 << 20


@functools.lru_cache(maxsize=1024)
def _date(day_number: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(day_number * 86400))


def day_of(t: float) -> str:
    return _date(int(t // 86400))


def _split(t: float) -> tuple[str, int, int, int, int]:
    """(date, hour, minute, second, millisecond) without strftime (called for every event)."""
    ms = round(t * 1000)
    day, rem = divmod(ms, 86_400_000)
    h, rem = divmod(rem, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, frac = divmod(rem, 1000)
    return _date(day), h, m, s, frac


def iso_ms(t: float) -> str:
    """2024-03-04T08:31:12.345Z (winlogbeat @timestamp precision)."""
    d, h, m, s, f = _split(t)
    return f"{d}T{h:02d}:{m:02d}:{s:02d}.{f:03d}Z"


def utc_ms(t: float) -> str:
    """2024-03-04 08:31:12.345 (Sysmon UtcTime)."""
    d, h, m, s, f = _split(t)
    return f"{d} {h:02d}:{m:02d}:{s:02d}.{f:03d}"


def plain_time(t: float) -> str:
    d, h, m, s, _ = _split(float(int(t)))
    return f"{d} {h:02d}:{m:02d}:{s:02d}"


class DayFile:
    """One output stream split into one file per day; opens lazily, counts lines."""

    def __init__(self, root: Path, pattern: str, compress: bool, header: Callable[[str], bytes] | None = None,
                 footer: Callable[[str], bytes] | None = None, touch: bool = False) -> None:
        self.root = root
        self.pattern = pattern
        self.compress = compress
        self.header = header
        self.footer = footer
        self.touch = touch
        self.day: str | None = None
        self.rel = ""
        self.line = 0
        self.last_t = 0.0
        self._fh: Any = None  # the raw file or a GzipFile over it
        self._raw: IO[bytes] | None = None
        self.files: list[str] = []

    def _open(self, day: str) -> None:
        self.close()
        rel = self.pattern.format(day=day) + (".gz" if self.compress else "")
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        raw = open(path, "wb", buffering=BUF)  # noqa: SIM115 - closed in close()
        self._raw = raw
        self._fh = gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=3) \
            if self.compress else raw
        self.day, self.rel, self.line = day, rel, 0
        self.files.append(rel)
        if self.header is not None:
            head = self.header(day)
            self._fh.write(head)
            self.line += head.count(b"\n")

    def write(self, t: float, line: bytes) -> tuple[str, int]:
        day = day_of(t)
        if day != self.day:
            self._open(day)
        self._fh.write(line)
        self.line += 1
        self.last_t = t
        return self.rel, self.line

    def close(self) -> None:
        if self._fh is None:
            return
        if self.footer is not None and self.day is not None:
            self._fh.write(self.footer(self.day))
        self._fh.close()
        if self._raw is not None and self._raw is not self._fh:
            self._raw.close()
        if self.touch:
            os.utime(self.root / self.rel, (self.last_t, self.last_t))
        self._fh = self._raw = None


# ------------------------------------------------------------------------------------------
# Windows events
# ------------------------------------------------------------------------------------------
PROVIDERS: dict[str, tuple[str, str]] = {
    # channel -> (provider name, provider GUID)
    "Microsoft-Windows-Sysmon/Operational": ("Microsoft-Windows-Sysmon", "{5770385F-C22A-43E0-BF4C-06F5698FFBD9}"),
    "Security": ("Microsoft-Windows-Security-Auditing", "{54849625-5478-4994-A5BA-3E3B0328C30D}"),
    "System": ("Service Control Manager", "{555908d1-a6d7-4695-8e1e-26931d2012f4}"),
    "Microsoft-Windows-PowerShell/Operational": ("Microsoft-Windows-PowerShell",
                                                 "{A0C1853B-5C40-4B15-8766-3CF1C58F985A}"),
    "Windows PowerShell": ("PowerShell", ""),
    "Microsoft-Windows-Windows Defender/Operational": ("Microsoft-Windows-Windows Defender",
                                                      "{11cd958a-c507-4ef3-b3f2-5fd9dfbd2c78}"),
}
EVENTLOG_PROVIDER = ("Microsoft-Windows-Eventlog", "{fc65ddd8-d6ef-4962-83d5-6e5cfe9ce148}")

SYSMON_TASKS: dict[int, tuple[str, str, int]] = {
    # event id -> (message title, winlogbeat task / ECS action, event version)
    1: ("Process Create", "Process Create (rule: ProcessCreate)", 5),
    2: ("File creation time changed", "File creation time changed (rule: FileCreateTime)", 5),
    3: ("Network connection detected", "Network connection detected (rule: NetworkConnect)", 5),
    5: ("Process terminated", "Process terminated (rule: ProcessTerminate)", 3),
    7: ("Image loaded", "Image loaded (rule: ImageLoad)", 3),
    8: ("CreateRemoteThread detected", "CreateRemoteThread detected (rule: CreateRemoteThread)", 2),
    10: ("Process accessed", "Process accessed (rule: ProcessAccess)", 3),
    11: ("File created", "File created (rule: FileCreate)", 2),
    12: ("Registry object added or deleted", "Registry object added or deleted (rule: RegistryEvent)", 2),
    13: ("Registry value set", "Registry value set (rule: RegistryEvent)", 2),
    15: ("File stream created", "File stream created (rule: FileCreateStreamHash)", 2),
    17: ("Pipe Created", "Pipe Created (rule: PipeEvent)", 1),
    18: ("Pipe Connected", "Pipe Connected (rule: PipeEvent)", 1),
    19: ("WmiEventFilter activity detected", "WmiEventFilter activity detected (rule: WmiEvent)", 3),
    20: ("WmiEventConsumer activity detected", "WmiEventConsumer activity detected (rule: WmiEvent)", 3),
    21: ("WmiEventConsumerToFilter activity detected",
         "WmiEventConsumerToFilter activity detected (rule: WmiEvent)", 3),
    22: ("Dns query", "Dns query (rule: DnsQuery)", 5),
    23: ("File Delete archived", "File Delete archived (rule: FileDelete)", 5),
    26: ("File Delete logged", "File Delete logged (rule: FileDeleteDetected)", 5),
}

#: event id -> (task number, task / category name, message title, version) for non-Sysmon channels
WIN_TASKS: dict[int, tuple[int, str, str, int]] = {
    4624: (12544, "Logon", "An account was successfully logged on.", 2),
    4625: (12544, "Logon", "An account failed to log on.", 0),
    4634: (12545, "Logoff", "An account was logged off.", 0),
    4647: (12545, "Logoff", "User initiated logoff:", 0),
    4648: (12544, "Logon", "A logon was attempted using explicit credentials.", 0),
    4672: (12548, "Special Logon", "Special privileges assigned to new logon.", 0),
    4688: (13312, "Process Creation", "A new process has been created.", 2),
    4697: (12289, "Security System Extension", "A service was installed in the system.", 0),
    4698: (12804, "Other Object Access Events", "A scheduled task was created.", 0),
    4699: (12804, "Other Object Access Events", "A scheduled task was deleted.", 0),
    4662: (14080, "Directory Service Access", "An operation was performed on an object.", 0),
    4720: (13824, "User Account Management", "A user account was created.", 0),
    4722: (13824, "User Account Management", "A user account was enabled.", 0),
    4724: (13824, "User Account Management", "An attempt was made to reset an account's password.", 0),
    4728: (13826, "Security Group Management", "A member was added to a security-enabled global group.", 0),
    4732: (13826, "Security Group Management", "A member was added to a security-enabled local group.", 0),
    4738: (13824, "User Account Management", "A user account was changed.", 0),
    4768: (14339, "Kerberos Authentication Service", "A Kerberos authentication ticket (TGT) was requested.", 0),
    4769: (14337, "Kerberos Service Ticket Operations", "A Kerberos service ticket was requested.", 0),
    4771: (14339, "Kerberos Authentication Service", "Kerberos pre-authentication failed.", 0),
    4776: (14336, "Credential Validation",
           "The computer attempted to validate the credentials for an account.", 0),
    4778: (12551, "Other Logon/Logoff Events", "A session was reconnected to a Window Station.", 0),
    4779: (12551, "Other Logon/Logoff Events", "A session was disconnected from a Window Station.", 0),
    4800: (12551, "Other Logon/Logoff Events", "The workstation was locked.", 0),
    4801: (12551, "Other Logon/Logoff Events", "The workstation was unlocked.", 0),
    5140: (12808, "File Share", "A network share object was accessed.", 1),
    5145: (12811, "Detailed File Share",
           "A network share object was checked to see whether client can be granted desired access.", 0),
    1102: (104, "Log clear", "The audit log was cleared.", 0),
    104: (104, "Log clear", "The System log file was cleared.", 0),
    7045: (0, "", "A service was installed in the system.", 0),
    7036: (0, "", "The service entered the running state.", 0),
    4104: (2, "Execute a Remote Command", "Creating Scriptblock text (1 of 1):", 1),
    4103: (106, "Executing Pipeline", "CommandInvocation", 1),
    400: (4, "Engine Lifecycle", "Engine state is changed from None to Available.", 0),
    5001: (0, "", "Microsoft Defender Antivirus Real-time Protection scanning for malware and other potentially "
                  "unwanted software was disabled.", 0),
}

AUDIT_SUCCESS_KW = -9214364837600034816
AUDIT_FAILURE_KW = -9218868437227405312
CLASSIC_KW = -9223372036854775808  # 0x8000000000000000
FAILURES = {4625, 4771}


def _provider(channel: str, eid: int) -> tuple[str, str]:
    if eid in (1102, 104):
        return EVENTLOG_PROVIDER
    return PROVIDERS.get(channel, (channel, ""))


def sysmon_message(eid: int, data: Mapping[str, Any], newline: str) -> str:
    title = SYSMON_TASKS[eid][0]
    return title + ":" + newline + newline.join(f"{k}: {v}" for k, v in data.items())


class WinlogbeatFormat:
    """winlogbeat 8 file output: ECS fields plus `winlog.*` with the event's own `event_data`."""

    name = "winlogbeat"
    pattern = "windows/winlogbeat-{day}.ndjson"

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._agents: dict[str, dict[str, str]] = {}

    def _agent(self, host: Host) -> dict[str, str]:
        a = self._agents.get(host.name)
        if a is None:
            h = hashlib.sha256(f"{self.seed}:{host.fqdn}".encode()).hexdigest()
            a = {"type": "winlogbeat", "version": "8.12.2", "name": host.key, "hostname": host.key,
                 "id": f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}",
                 "ephemeral_id": f"{h[32:40]}-{h[40:44]}-4{h[45:48]}-b{h[49:52]}-{h[52:64]}"}
            self._agents[host.name] = a
        return a

    def line(self, t: float, host: Host, channel: str, eid: int, data: Mapping[str, Any], user: Account | None,
             exec_pid: int, user_data: str | None, record: int) -> bytes:
        provider, guid = _provider(channel, eid)
        sysmon = channel == "Microsoft-Windows-Sysmon/Operational"
        if sysmon:
            _, task, version = SYSMON_TASKS[eid]
            message = sysmon_message(eid, data, "\n")
            action = task
        else:
            _, task, title, version = WIN_TASKS.get(eid, (0, "", "", 0))
            message = title
            action = task or title
        winlog: dict[str, Any] = {
            "api": "wineventlog", "channel": channel, "computer_name": host.fqdn, "event_id": str(eid),
            "opcode": "Info", "process": {"pid": exec_pid, "thread": {"id": (record * 7919) % 9000 + 400}},
            "provider_guid": guid.lower() if guid else None, "provider_name": provider, "record_id": str(record),
            "task": task, "version": version,
        }
        if guid == "":
            del winlog["provider_guid"]
        if user_data is not None:
            winlog["user_data"] = {**data, "xml_name": user_data}
        else:
            winlog["event_data"] = data
        event: dict[str, Any] = {"code": str(eid), "kind": "event", "provider": provider, "action": action,
                                 "created": iso_ms(t + 0.4 + (record % 13) * 0.05)}
        if channel == "Security":
            ok = eid not in FAILURES
            winlog["keywords"] = ["Audit Success" if ok else "Audit Failure"]
            event["outcome"] = "success" if ok else "failure"
        if user is not None:
            winlog["user"] = {"identifier": user.sid, "domain": user.domain, "name": user.name, "type": "User"}
        doc = {
            "@timestamp": iso_ms(t),
            "@metadata": {"beat": "winlogbeat", "type": "_doc", "version": "8.12.2"},
            "agent": self._agent(host), "ecs": {"version": "8.0.0"},
            "host": {"name": host.key, "hostname": host.key, "os": {"family": "windows", "platform": "windows"}},
            "log": {"level": "information"}, "message": message, "event": event, "winlog": winlog,
        }
        return orjson.dumps(doc) + b"\n"


class OtrfFormat:
    """The OTRF Security-Datasets shape: NXLog `im_msvistalog` records shipped through Logstash,
    event data flattened at the top level (see ../shared/data/otrf-atomic)."""

    name = "otrf"
    pattern = "windows/nxlog-{day}.json"

    def __init__(self, collector: str) -> None:
        self.collector = collector

    def line(self, t: float, host: Host, channel: str, eid: int, data: Mapping[str, Any], user: Account | None,
             exec_pid: int, user_data: str | None, record: int) -> bytes:
        provider, guid = _provider(channel, eid)
        sysmon = channel == "Microsoft-Windows-Sysmon/Operational"
        received = t + 0.6 + (record % 17) * 0.1
        doc: dict[str, Any] = {
            "@timestamp": iso_ms(received + 1.2), "@version": "1", "Channel": channel, "EventID": eid,
            "EventReceivedTime": plain_time(received), "EventTime": plain_time(t),
            "ExecutionProcessID": exec_pid, "Hostname": host.fqdn, "Opcode": "Info", "OpcodeValue": 0,
            "RecordNumber": record, "Severity": "INFO", "SeverityValue": 2, "SourceModuleName": "eventlog",
            "SourceModuleType": "im_msvistalog", "SourceName": provider, "ThreadID": (record * 7919) % 9000 + 400,
            "host": self.collector, "port": 60122,
        }
        if guid:
            doc["ProviderGuid"] = guid.upper()
        if sysmon:
            doc["Task"] = eid
            doc["Category"] = SYSMON_TASKS[eid][1]
            doc["Version"] = SYSMON_TASKS[eid][2]
            doc["EventType"] = "INFO"
            doc["Keywords"] = CLASSIC_KW
            doc["Message"] = sysmon_message(eid, data, "\r\n")
        else:
            task_no, category, title, version = WIN_TASKS.get(eid, (0, "", "", 0))
            doc["Task"] = task_no
            doc["Version"] = version
            if channel == "Security":
                doc["Category"] = category
                ok = eid not in FAILURES
                doc["EventType"] = "AUDIT_SUCCESS" if ok else "AUDIT_FAILURE"
                doc["Keywords"] = AUDIT_SUCCESS_KW if ok else AUDIT_FAILURE_KW
            else:
                doc["EventType"] = "INFO"
                doc["Keywords"] = CLASSIC_KW
                if category:
                    doc["Category"] = category
            doc["Message"] = title
        if user is not None:
            doc.update({"AccountName": user.name, "AccountType": "User", "Domain": user.domain, "UserID": user.sid})
        if channel == "Windows PowerShell":
            # classic PowerShell events carry their detail only in the rendered message
            doc["Message"] = f"{doc['Message']} \r\n\r\nDetails: \r\n" + str(data.get("param3", ""))
        else:
            doc.update(data)
        return orjson.dumps(doc) + b"\n"


# ------------------------------------------------------------------------------------------
# Zeek
# ------------------------------------------------------------------------------------------
ID = (("id.orig_h", "addr"), ("id.orig_p", "port"), ("id.resp_h", "addr"), ("id.resp_p", "port"))
ZEEK_LOGS: dict[str, tuple[tuple[str, str], ...]] = {
    # Zeek 6 default fields (the columns after ts)
    "conn": (("uid", "string"), *ID, ("proto", "enum"), ("service", "string"), ("duration", "interval"),
             ("orig_bytes", "count"), ("resp_bytes", "count"), ("conn_state", "string"), ("local_orig", "bool"),
             ("local_resp", "bool"), ("missed_bytes", "count"), ("history", "string"), ("orig_pkts", "count"),
             ("orig_ip_bytes", "count"), ("resp_pkts", "count"), ("resp_ip_bytes", "count"),
             ("tunnel_parents", "set[string]")),
    "dns": (("uid", "string"), *ID, ("proto", "enum"), ("trans_id", "count"), ("rtt", "interval"),
            ("query", "string"), ("qclass", "count"), ("qclass_name", "string"), ("qtype", "count"),
            ("qtype_name", "string"), ("rcode", "count"), ("rcode_name", "string"), ("AA", "bool"), ("TC", "bool"),
            ("RD", "bool"), ("RA", "bool"), ("Z", "count"), ("answers", "vector[string]"),
            ("TTLs", "vector[interval]"), ("rejected", "bool")),
    "http": (("uid", "string"), *ID, ("trans_depth", "count"), ("method", "string"), ("host", "string"),
             ("uri", "string"), ("referrer", "string"), ("version", "string"), ("user_agent", "string"),
             ("origin", "string"), ("request_body_len", "count"), ("response_body_len", "count"),
             ("status_code", "count"), ("status_msg", "string"), ("info_code", "count"), ("info_msg", "string"),
             ("tags", "set[enum]"), ("username", "string"), ("password", "string"), ("proxied", "set[string]"),
             ("orig_fuids", "vector[string]"), ("orig_filenames", "vector[string]"),
             ("orig_mime_types", "vector[string]"), ("resp_fuids", "vector[string]"),
             ("resp_filenames", "vector[string]"), ("resp_mime_types", "vector[string]")),
    "ssl": (("uid", "string"), *ID, ("version", "string"), ("cipher", "string"), ("curve", "string"),
            ("server_name", "string"), ("resumed", "bool"), ("last_alert", "string"), ("next_protocol", "string"),
            ("established", "bool"), ("ssl_history", "string"), ("cert_chain_fps", "vector[string]"),
            ("client_cert_chain_fps", "vector[string]"), ("sni_matches_cert", "bool")),
    "files": (("fuid", "string"), ("uid", "string"), *ID, ("source", "string"), ("depth", "count"),
              ("analyzers", "set[string]"), ("mime_type", "string"), ("filename", "string"),
              ("duration", "interval"), ("local_orig", "bool"), ("is_orig", "bool"), ("seen_bytes", "count"),
              ("total_bytes", "count"), ("missing_bytes", "count"), ("overflow_bytes", "count"),
              ("timedout", "bool"), ("parent_fuid", "string"), ("md5", "string"), ("sha1", "string"),
              ("sha256", "string"), ("extracted", "string"), ("extracted_cutoff", "bool"),
              ("extracted_size", "count")),
    "smb_files": (("uid", "string"), *ID, ("fuid", "string"), ("action", "enum"), ("path", "string"),
                  ("name", "string"), ("size", "count"), ("prev_name", "string"), ("times.modified", "time"),
                  ("times.accessed", "time"), ("times.created", "time"), ("times.changed", "time")),
    "smb_mapping": (("uid", "string"), *ID, ("path", "string"), ("service", "string"),
                    ("native_file_system", "string"), ("share_type", "string")),
    "kerberos": (("uid", "string"), *ID, ("request_type", "string"), ("client", "string"), ("service", "string"),
                 ("success", "bool"), ("error_msg", "string"), ("from", "time"), ("till", "time"),
                 ("cipher", "string"), ("forwardable", "bool"), ("renewable", "bool"),
                 ("client_cert_subject", "string"), ("client_cert_fuid", "string"),
                 ("server_cert_subject", "string"), ("server_cert_fuid", "string")),
}


def zeek_time(day: str) -> str:
    return day + "-00-00-00"


def zeek_header(log: str) -> Callable[[str], bytes]:
    fields = ZEEK_LOGS[log]
    names = "\t".join(["ts", *(f for f, _ in fields)])
    types = "\t".join(["time", *(t for _, t in fields)])

    def header(day: str) -> bytes:
        return ("#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n"
                f"#path\t{log}\n#open\t{zeek_time(day)}\n#fields\t{names}\n#types\t{types}\n").encode()
    return header


def zeek_footer(day: str) -> bytes:
    d = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC).timestamp() + 86400
    return f"#close\t{time.strftime('%Y-%m-%d-%H-%M-%S', time.gmtime(d))}\n".encode()


def syslog_line(t: float, host: str, program: str, pid: int | None, message: str) -> bytes:
    g = time.gmtime(t)
    tag = f"{program}[{pid}]" if pid is not None else program
    return f"{_MONTHS[g.tm_mon - 1]} {g.tm_mday:2d} {g.tm_hour:02d}:{g.tm_min:02d}:{g.tm_sec:02d} {host} {tag}: " \
           f"{message}\n".encode()


# ------------------------------------------------------------------------------------------
# All outputs of one simulation
# ------------------------------------------------------------------------------------------
class Outputs:
    """Routes events to their day files, numbers Windows records, writes the ground truth."""

    def __init__(self, out: Path, windows_format: str, compress: bool, seed: int, collector: str) -> None:
        self.logs = out / "logs"
        self.truth_dir = out / "truth"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.truth_dir.mkdir(parents=True, exist_ok=True)
        self.fmt: WinlogbeatFormat | OtrfFormat = (WinlogbeatFormat(seed) if windows_format == "winlogbeat"
                                                   else OtrfFormat(collector))
        self.win = DayFile(self.logs, self.fmt.pattern, compress)
        self.zeek = {log: DayFile(self.logs, "zeek/{day}/" + log + ".log", compress, zeek_header(log), zeek_footer)
                     for log in ZEEK_LOGS}
        self.auth = DayFile(self.logs, "linux/{day}/auth.log", compress, touch=True)
        self._records: dict[tuple[int, str], int] = {}
        self._truth = open(self.truth_dir / "ground_truth.jsonl", "wb", buffering=BUF)  # noqa: SIM115
        self.truth_lines = 0
        #: (campaign, stage) -> [first time, last time, events]: the stage timeline as written
        self.truth_stats: dict[tuple[str, str], list[float]] = {}

    def write_win(self, t: float, host: Host, channel: str, eid: int, data: Mapping[str, Any],
                  user: Account | None, exec_pid: int, user_data: str | None) -> Written:
        key = (host.idx, channel)
        record = self._records.get(key)
        if record is None:
            # logs were not new when the simulation starts: records continue a history
            record = 1000 + (host.idx * 7919 + len(channel) * 104729) % 250_000
        record += 1
        self._records[key] = record
        rel, line = self.win.write(t, self.fmt.line(t, host, channel, eid, data, user, exec_pid, user_data, record))
        return Written("windows", rel, line, record)

    def write_zeek(self, t: float, log: str, row: tuple[str, ...]) -> Written:
        rel, line = self.zeek[log].write(t, f"{t:.6f}\t".encode() + "\t".join(row).encode() + b"\n")
        return Written(f"zeek:{log}", rel, line)

    def write_syslog(self, t: float, host: Host, program: str, pid: int | None, message: str) -> Written:
        rel, line = self.auth.write(t, syslog_line(t, host.key, program, pid, message))
        return Written("syslog", rel, line)

    def write_truth(self, t: float, host: str, truth: Truth, where: Written, extra: Mapping[str, Any]) -> None:
        rec = {"time": iso_ms(t), "host": host, "campaign": truth.campaign, "profile": truth.profile,
               "stage": truth.stage, "tactic": truth.tactic, "technique": truth.technique, "step": truth.step,
               "stream": where.stream, "file": "logs/" + where.file, "line": where.line, "record": where.record,
               **extra}
        self._truth.write(orjson.dumps(rec, option=orjson.OPT_SORT_KEYS) + b"\n")
        self.truth_lines += 1
        st = self.truth_stats.get((truth.campaign, truth.stage))
        if st is None:
            self.truth_stats[(truth.campaign, truth.stage)] = [t, t, 1.0]
        else:
            st[1] = t
            st[2] += 1

    def close_before(self, day: str) -> None:
        """Close every file of a day before `day` (all its events are written): a reader may
        take complete days while the simulation goes on."""
        for f in (self.win, self.auth, *self.zeek.values()):
            if f.day is not None and f.day < day:
                f.close()
                f.day = None

    def files(self) -> list[str]:
        out = list(self.win.files)
        for z in self.zeek.values():
            out.extend(z.files)
        out.extend(self.auth.files)
        return sorted(out)

    def close(self) -> None:
        self.win.close()
        for z in self.zeek.values():
            z.close()
        self.auth.close()
        self._truth.close()
