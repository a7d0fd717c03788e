"""Windows hosts at run time, and the events Windows, Sysmon and PowerShell write.

Each builder emits the events a real action produces, with the field names, order and
value formats of the real channels (Sysmon schema 4.90, Security auditing, System, PowerShell
Operational). The audit policy and Sysmon configuration modelled here resemble what a well-
run SOC deploys (sysmon-modular): process creation with command lines (Sysmon 1 and Security
4688), network connections and DNS queries of interesting processes and destinations only,
file and registry events where persistence and staging happen, LSASS access; Security
logon, Kerberos, share, service, task and account-management auditing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aptwatch.simulate import catalog
from aptwatch.simulate.catalog import Binary
from aptwatch.simulate.org import SYSTEM, Account, Host, Org, User
from aptwatch.simulate.rand import FileHashes, Rng, file_hashes, logon_guid, sysmon_guid
from aptwatch.simulate.writers import utc_ms

if TYPE_CHECKING:
    from aptwatch.simulate.events import Sink

SYSMON = "Microsoft-Windows-Sysmon/Operational"
SECURITY = "Security"
SYSTEM_CH = "System"
PS_OP = "Microsoft-Windows-PowerShell/Operational"
PS_CLASSIC = "Windows PowerShell"
DEFENDER = "Microsoft-Windows-Windows Defender/Operational"

INTEGRITY_LABEL = {"Low": "S-1-16-4096", "Medium": "S-1-16-8192", "High": "S-1-16-12288",
                   "System": "S-1-16-16384"}
ELEVATION = {"Low": "%%1938", "Medium": "%%1938", "High": "%%1937", "System": "%%1936"}

#: processes whose network connections the Sysmon config records (sysmon-modular style)
NET_IMAGES = frozenset({
    "powershell.exe", "pwsh.exe", "cmd.exe", "rundll32.exe", "regsvr32.exe", "mshta.exe", "wscript.exe",
    "cscript.exe", "certutil.exe", "bitsadmin.exe", "msiexec.exe", "net.exe", "net1.exe", "wmic.exe",
    "psexec.exe", "psexesvc.exe", "mstsc.exe", "winword.exe", "excel.exe", "powerpnt.exe", "notepad.exe",
    "curl.exe", "msbuild.exe", "installutil.exe", "regasm.exe", "hh.exe", "nltest.exe", "ntdsutil.exe",
})
NET_PORTS = frozenset({21, 22, 23, 25, 135, 139, 445, 1433, 3389, 4444, 5985, 5986, 8080, 8443})
NET_EXCLUDED = frozenset({"onedrive.exe", "teams.exe", "ms-teams.exe", "chrome.exe", "msedge.exe",
                          "outlook.exe", "googleupdate.exe", "svchost.exe", "system", "lsass.exe"})
#: DNS suffixes the Sysmon config does not record (too common to be useful)
DNS_EXCLUDED = ("microsoft.com", "windowsupdate.com", "office365.com", "office.com", "live.com", "msn.com",
                "bing.com", "google.com", "googleapis.com", "gstatic.com", "youtube.com", "ytimg.com",
                "akamaiedge.net", "akamai.net", "digicert.com", "lencr.org", "pki.goog", "skype.com",
                "windows.com", "sfx.ms", "microsoftonline.com", "msftconnecttest.com", "linkedin.com",
                "fbcdn.net", "cloudflare.com", "jsdelivr.net", "github.com", "githubusercontent.com")

SYSTEM_PRIVS = ("SeAssignPrimaryTokenPrivilege\r\n\t\t\tSeTcbPrivilege\r\n\t\t\tSeSecurityPrivilege\r\n\t\t\t"
                "SeTakeOwnershipPrivilege\r\n\t\t\tSeLoadDriverPrivilege\r\n\t\t\tSeBackupPrivilege\r\n\t\t\t"
                "SeRestorePrivilege\r\n\t\t\tSeDebugPrivilege\r\n\t\t\tSeAuditPrivilege\r\n\t\t\t"
                "SeSystemEnvironmentPrivilege\r\n\t\t\tSeImpersonatePrivilege\r\n\t\t\t"
                "SeDelegateSessionUserImpersonatePrivilege")
ADMIN_PRIVS = ("SeSecurityPrivilege\r\n\t\t\tSeBackupPrivilege\r\n\t\t\tSeRestorePrivilege\r\n\t\t\t"
               "SeTakeOwnershipPrivilege\r\n\t\t\tSeDebugPrivilege\r\n\t\t\tSeSystemEnvironmentPrivilege\r\n\t\t\t"
               "SeLoadDriverPrivilege\r\n\t\t\tSeImpersonatePrivilege\r\n\t\t\t"
               "SeDelegateSessionUserImpersonatePrivilege")
DC_PRIVS = ADMIN_PRIVS + "\r\n\t\t\tSeEnableDelegationPrivilege"


@dataclass(eq=False)
class Proc:
    """A running process."""

    host: Host
    pid: int
    guid: str
    image: Binary
    cmd: str
    user: Account
    logon_id: int
    integrity: str
    session: int
    parent: Proc | None
    start: float
    cwd: str = "C:\\Windows\\system32\\"
    hashes: FileHashes | None = None
    #: ground-truth label of a malicious process (its later events, e.g. termination, carry it)
    label: object | None = None

    @property
    def path(self) -> str:
        return self.image.path

    @property
    def name(self) -> str:
        return self.image.name


@dataclass(eq=False)
class Session:
    """An interactive or network logon session."""

    user: User
    logon_id: int
    logon_type: int
    start: float
    src_ip: str = "127.0.0.1"
    explorer: Proc | None = None


@dataclass(eq=False)
class WinState:
    """What a Windows host remembers between activities: PID and GUID counters, the logon id
    counter, its long-lived processes and its interactive session."""

    host: Host
    org: Org
    rng: Rng
    boot: float
    security_4688: bool = True
    guid_counter: int = 0
    logon_counter: int = 0x4A000
    procs: dict[str, Proc] = field(default_factory=dict)
    session: Session | None = None
    #: hooks run when a user logs on interactively (persistence of an implant)
    logon_hooks: list[object] = field(default_factory=list)

    def new_pid(self) -> int:
        return self.rng.pid()

    def new_guid(self, t: float) -> str:
        self.guid_counter = (self.guid_counter + 1) & 0xFFFF
        return sysmon_guid(self.host.machine, t, self.guid_counter, self.host.boot_suffix)

    def new_logon_id(self) -> int:
        self.logon_counter += self.rng.randint(0x80, 0x4000)
        return self.logon_counter

    def logon_guid(self, logon_id: int, t: float) -> str:
        return logon_guid(self.host.machine, t, logon_id)


def start_host(host: Host, org: Org, seed: int, boot: float, security_4688: bool) -> WinState:
    """The host's state at simulation start: booted at `boot`, core processes running."""
    st = WinState(host, org, Rng(seed, "winstate", host.name), boot, security_4688)
    sysproc = Proc(host, 4, st.new_guid(boot), Binary("System", "-", "-", "-", "-", "-"), "", SYSTEM, 0x3E7,
                   "System", 0, None, boot)
    st.procs["system"] = sysproc

    def core(key: str, image: str, cmd: str, parent: Proc, user: Account = SYSTEM, lid: int = 0x3E7) -> Proc:
        p = Proc(host, st.new_pid(), st.new_guid(boot + 5), catalog.binary(image), cmd, user, lid, "System", 0,
                 parent, boot + 5)
        st.procs[key] = p
        return p

    wininit = core("wininit", "wininit.exe", "wininit.exe", sysproc)
    services = core("services", "services.exe", "C:\\Windows\\system32\\services.exe", wininit)
    core("lsass", "lsass.exe", "C:\\Windows\\system32\\lsass.exe", wininit)
    core("winlogon", "winlogon.exe", "winlogon.exe", sysproc)
    core("svc_dcom", "svchost.exe", "C:\\Windows\\system32\\svchost.exe -k DcomLaunch -p", services)
    core("svc_netsvcs", "svchost.exe", "C:\\Windows\\system32\\svchost.exe -k netsvcs -p", services)
    core("svc_schedule", "svchost.exe", "C:\\Windows\\system32\\svchost.exe -k netsvcs -p -s Schedule", services)
    core("svc_wuauserv", "svchost.exe", "C:\\Windows\\system32\\svchost.exe -k netsvcs -p -s wuauserv", services)
    core("svc_winrm", "svchost.exe", "C:\\Windows\\System32\\svchost.exe -k NetworkService -p -s WinRM", services)
    core("svc_termsvc", "svchost.exe", "C:\\Windows\\System32\\svchost.exe -k termsvcs -s TermService", services)
    core("msmpeng", "C:\\ProgramData\\Microsoft\\Windows Defender\\Platform\\4.18.24010.12-0\\MsMpEng.exe",
         "\"C:\\ProgramData\\Microsoft\\Windows Defender\\Platform\\4.18.24010.12-0\\MsMpEng.exe\"", services)
    core("sysmon", "C:\\Windows\\Sysmon64.exe", "C:\\Windows\\Sysmon64.exe", services)
    core("ccmexec", "C:\\Windows\\CCM\\CcmExec.exe", "C:\\Windows\\CCM\\CcmExec.exe", services)
    core("wmiprvse", "WmiPrvSE.exe", "C:\\Windows\\system32\\wbem\\wmiprvse.exe -secured -Embedding",
         st.procs["svc_dcom"], Account("NETWORK SERVICE", "NT AUTHORITY", "S-1-5-20"), 0x3E4)
    if host.role == "dc":
        core("dns", "dns.exe", "C:\\Windows\\system32\\dns.exe", services)
    if host.role == "sql":
        core("sqlservr", "C:\\Program Files\\Microsoft SQL Server\\MSSQL15.MSSQLSERVER\\MSSQL\\Binn\\sqlservr.exe",
             "\"C:\\Program Files\\Microsoft SQL Server\\MSSQL15.MSSQLSERVER\\MSSQL\\Binn\\sqlservr.exe\" "
             "-sMSSQLSERVER", services, org.service_accounts["svc_sql"].account, 0x5A3C1)
    if host.role == "web":
        core("w3wp", "w3wp.exe", "c:\\windows\\system32\\inetsrv\\w3wp.exe -ap \"DefaultAppPool\" -v \"v4.0\" "
             "-l \"webengine4.dll\" -a \\\\.\\pipe\\iisipm2b1e0c1d-4c1b-4f7e-9b8d-3c2f1a0e7d6c -h "
             "\"C:\\inetpub\\temp\\apppools\\DefaultAppPool\\DefaultAppPool.config\" -w \"\" -m 0",
             services, Account("DefaultAppPool", "IIS APPPOOL", "S-1-5-82-3006700770-424185619-1745488364-"
                               "794895919-4004696415"), 0x3E4)
    if host.role == "backup":
        core("veeam", "C:\\Program Files\\Veeam\\Backup and Replication\\Backup\\Veeam.Backup.Manager.exe",
             "\"C:\\Program Files\\Veeam\\Backup and Replication\\Backup\\Veeam.Backup.Manager.exe\"", services,
             org.service_accounts["svc_backup"].account, 0x61B22)
    return st


# ------------------------------------------------------------------------------------------
# Sysmon
# ------------------------------------------------------------------------------------------
def _logon_guid(st: WinState, p: Proc) -> str:
    if p.logon_id in (0x3E7, 0x3E4, 0x3E5):
        return st.logon_guid(p.logon_id, st.boot)
    s = st.session
    start = s.start if s is not None and s.logon_id == p.logon_id else p.start
    return st.logon_guid(p.logon_id, start)


def spawn(sink: Sink, st: WinState, t: float, parent: Proc, image: str | Binary, cmd: str, *,
          user: Account | None = None, logon_id: int | None = None, integrity: str | None = None,
          cwd: str | None = None, hashes: FileHashes | None = None, session: int | None = None) -> Proc:
    """A new process: Sysmon 1 and (if audited) Security 4688."""
    b = image if isinstance(image, Binary) else catalog.binary(image)
    u = user or parent.user
    lid = logon_id if logon_id is not None else parent.logon_id
    il = integrity or parent.integrity
    p = Proc(st.host, st.new_pid(), st.new_guid(t), b, cmd, u, lid, il,
             parent.session if session is None else session, parent, t, cwd or parent.cwd, hashes)
    h = hashes or file_hashes(b.path)
    sink.win(t, st.host, SYSMON, 1, {
        "RuleName": "-", "UtcTime": utc_ms(t), "ProcessGuid": p.guid, "ProcessId": str(p.pid), "Image": b.path,
        "FileVersion": b.version, "Description": b.description, "Product": b.product, "Company": b.company,
        "OriginalFileName": b.original, "CommandLine": cmd, "CurrentDirectory": p.cwd, "User": u.qualified,
        "LogonGuid": _logon_guid(st, p), "LogonId": hex(lid), "TerminalSessionId": str(p.session),
        "IntegrityLevel": il, "Hashes": h.sysmon(), "ParentProcessGuid": parent.guid,
        "ParentProcessId": str(parent.pid), "ParentImage": parent.path, "ParentCommandLine": parent.cmd,
        "ParentUser": parent.user.qualified,
    }, user=SYSTEM, exec_pid=st.procs["sysmon"].pid)
    if st.security_4688:
        creator = st.host.computer_account if u.sid == SYSTEM.sid else u
        sink.win(t + 0.001, st.host, SECURITY, 4688, {
            "SubjectUserSid": creator.sid if creator is u else "S-1-5-18", "SubjectUserName": creator.name,
            "SubjectDomainName": creator.domain, "SubjectLogonId": hex(lid), "NewProcessId": hex(p.pid),
            "NewProcessName": b.path, "TokenElevationType": ELEVATION.get(il, "%%1938"), "ProcessId": hex(parent.pid),
            "CommandLine": cmd, "TargetUserSid": "S-1-0-0", "TargetUserName": "-", "TargetDomainName": "-",
            "TargetLogonId": "0x0", "ParentProcessName": parent.path, "MandatoryLabel": INTEGRITY_LABEL.get(il, ""),
        }, exec_pid=4)
    return p


def terminate(sink: Sink, st: WinState, t: float, p: Proc) -> None:
    sink.win(t, st.host, SYSMON, 5, {
        "RuleName": "-", "UtcTime": utc_ms(t), "ProcessGuid": p.guid, "ProcessId": str(p.pid), "Image": p.path,
        "User": p.user.qualified}, user=SYSTEM, exec_pid=st.procs["sysmon"].pid)


def sysmon_logs_connection(p: Proc, dport: int) -> bool:
    """The Sysmon config's NetworkConnect include/exclude rules."""
    name = p.name.lower()
    if name in NET_EXCLUDED:
        return False
    if name in NET_IMAGES or dport in NET_PORTS:
        return True
    path = p.path.lower()
    return "\\users\\" in path or "\\programdata\\" in path or "\\temp\\" in path or "\\perflogs\\" in path


def net_connect(sink: Sink, st: WinState, t: float, p: Proc, src_ip: str, sport: int, dst_ip: str, dport: int,
                dst_host: str = "-", proto: str = "tcp", force: bool = False) -> None:
    """Sysmon 3 for an outbound connection, when the config records it."""
    if not force and not sysmon_logs_connection(p, dport):
        return
    port_names = {443: "https", 80: "http", 445: "microsoft-ds", 3389: "ms-wbt-server", 5985: "-", 53: "domain",
                  135: "epmap", 22: "ssh", 88: "kerberos", 389: "ldap"}
    sink.win(t, st.host, SYSMON, 3, {
        "RuleName": "-", "UtcTime": utc_ms(t), "ProcessGuid": p.guid, "ProcessId": str(p.pid), "Image": p.path,
        "User": p.user.qualified, "Protocol": proto, "Initiated": "true", "SourceIsIpv6": "false",
        "SourceIp": src_ip, "SourceHostname": st.host.fqdn, "SourcePort": str(sport), "SourcePortName": "-",
        "DestinationIsIpv6": "false", "DestinationIp": dst_ip, "DestinationHostname": dst_host,
        "DestinationPort": str(dport), "DestinationPortName": port_names.get(dport, "-"),
    }, user=SYSTEM, exec_pid=st.procs["sysmon"].pid)


def sysmon_logs_dns(name: str, org_domain: str) -> bool:
    n = name.lower()
    if n.endswith(org_domain) or "." not in n:
        return False
    return not any(n == s or n.endswith("." + s) for s in DNS_EXCLUDED)


def dns_query(sink: Sink, st: WinState, t: float, p: Proc, name: str, results: str, status: str = "0",
              force: bool = False) -> None:
    """Sysmon 22. `results` as Sysmon writes them (`::ffff:1.2.3.4;` or `type:  5 cname;...`)."""
    if not force and not sysmon_logs_dns(name, st.org.domain):
        return
    sink.win(t, st.host, SYSMON, 22, {
        "RuleName": "-", "UtcTime": utc_ms(t), "ProcessGuid": p.guid, "ProcessId": str(p.pid), "QueryName": name,
        "QueryStatus": status, "QueryResults": results, "Image": p.path, "User": p.user.qualified,
    }, user=SYSTEM, exec_pid=st.procs["sysmon"].pid)


def file_create(sink: Sink, st: WinState, t: float, p: Proc, path: str, created: float | None = None) -> None:
    sink.win(t, st.host, SYSMON, 11, {
        "RuleName": "-", "UtcTime": utc_ms(t), "ProcessGuid": p.guid, "ProcessId": str(p.pid), "Image": p.path,
        "TargetFilename": path, "CreationUtcTime": utc_ms(created if created is not None else t),
        "User": p.user.qualified}, user=SYSTEM, exec_pid=st.procs["sysmon"].pid)


def file_stream(sink: Sink, st: WinState, t: float, p: Proc, path: str, url: str) -> None:
    """Sysmon 15: the Zone.Identifier stream a browser writes on a download (mark of the web)."""
    sink.win(t, st.host, SYSMON, 15, {
        "RuleName": "-", "UtcTime": utc_ms(t), "ProcessGuid": p.guid, "ProcessId": str(p.pid), "Image": p.path,
        "TargetFilename": path + ":Zone.Identifier", "CreationUtcTime": utc_ms(t),
        "Hash": "SHA1=" + file_hashes(path + ":zone").sha1.upper(),
        "Contents": f"[ZoneTransfer]  ZoneId=3  HostUrl={url}  ", "User": p.user.qualified,
    }, user=SYSTEM, exec_pid=st.procs["sysmon"].pid)


def file_time_changed(sink: Sink, st: WinState, t: float, p: Proc, path: str, new: float, previous: float) -> None:
    sink.win(t, st.host, SYSMON, 2, {
        "RuleName": "-", "UtcTime": utc_ms(t), "ProcessGuid": p.guid, "ProcessId": str(p.pid), "Image": p.path,
        "TargetFilename": path, "CreationUtcTime": utc_ms(new), "PreviousCreationUtcTime": utc_ms(previous),
        "User": p.user.qualified}, user=SYSTEM, exec_pid=st.procs["sysmon"].pid)


def file_delete(sink: Sink, st: WinState, t: float, p: Proc, path: str, executable: bool = False) -> None:
    h = file_hashes(path)
    sink.win(t, st.host, SYSMON, 26, {
        "RuleName": "-", "UtcTime": utc_ms(t), "ProcessGuid": p.guid, "ProcessId": str(p.pid),
        "User": p.user.qualified, "Image": p.path, "TargetFilename": path, "Hashes": h.sysmon(),
        "IsExecutable": "true" if executable else "false"}, user=SYSTEM, exec_pid=st.procs["sysmon"].pid)


def reg_set(sink: Sink, st: WinState, t: float, p: Proc, key: str, details: str) -> None:
    sink.win(t, st.host, SYSMON, 13, {
        "RuleName": "-", "EventType": "SetValue", "UtcTime": utc_ms(t), "ProcessGuid": p.guid,
        "ProcessId": str(p.pid), "Image": p.path, "TargetObject": key, "Details": details,
        "User": p.user.qualified}, user=SYSTEM, exec_pid=st.procs["sysmon"].pid)


def reg_key(sink: Sink, st: WinState, t: float, p: Proc, key: str, event_type: str = "CreateKey") -> None:
    sink.win(t, st.host, SYSMON, 12, {
        "RuleName": "-", "EventType": event_type, "UtcTime": utc_ms(t), "ProcessGuid": p.guid,
        "ProcessId": str(p.pid), "Image": p.path, "TargetObject": key, "User": p.user.qualified,
    }, user=SYSTEM, exec_pid=st.procs["sysmon"].pid)


def process_access(sink: Sink, st: WinState, t: float, src: Proc, target: Proc, access: str, call_trace: str) -> None:
    sink.win(t, st.host, SYSMON, 10, {
        "RuleName": "-", "UtcTime": utc_ms(t), "SourceProcessGUID": src.guid, "SourceProcessId": str(src.pid),
        "SourceThreadId": str(st.rng.randint(1000, 12000)), "SourceImage": src.path,
        "TargetProcessGUID": target.guid, "TargetProcessId": str(target.pid), "TargetImage": target.path,
        "GrantedAccess": access, "CallTrace": call_trace, "SourceUser": src.user.qualified,
        "TargetUser": target.user.qualified}, user=SYSTEM, exec_pid=st.procs["sysmon"].pid)


def image_load(sink: Sink, st: WinState, t: float, p: Proc, dll: Binary, signed: bool,
               hashes: FileHashes | None = None) -> None:
    h = hashes or file_hashes(dll.path)
    sink.win(t, st.host, SYSMON, 7, {
        "RuleName": "-", "UtcTime": utc_ms(t), "ProcessGuid": p.guid, "ProcessId": str(p.pid), "Image": p.path,
        "ImageLoaded": dll.path, "FileVersion": dll.version, "Description": dll.description, "Product": dll.product,
        "Company": dll.company, "OriginalFileName": dll.original, "Hashes": h.sysmon(),
        "Signed": "true" if signed else "false", "Signature": dll.signed_by if signed else "-",
        "SignatureStatus": "Valid" if signed else "Unavailable", "User": p.user.qualified,
    }, user=SYSTEM, exec_pid=st.procs["sysmon"].pid)


def remote_thread(sink: Sink, st: WinState, t: float, src: Proc, target: Proc) -> None:
    sink.win(t, st.host, SYSMON, 8, {
        "RuleName": "-", "UtcTime": utc_ms(t), "SourceProcessGuid": src.guid, "SourceProcessId": str(src.pid),
        "SourceImage": src.path, "TargetProcessGuid": target.guid, "TargetProcessId": str(target.pid),
        "TargetImage": target.path, "NewThreadId": str(st.rng.randint(1000, 12000)),
        "StartAddress": f"0x{st.rng.getrandbits(40):016X}", "StartModule": "-", "StartFunction": "-",
        "SourceUser": src.user.qualified, "TargetUser": target.user.qualified,
    }, user=SYSTEM, exec_pid=st.procs["sysmon"].pid)


def pipe(sink: Sink, st: WinState, t: float, p: Proc, name: str, connected: bool = False) -> None:
    sink.win(t, st.host, SYSMON, 18 if connected else 17, {
        "RuleName": "-", "EventType": "ConnectPipe" if connected else "CreatePipe", "UtcTime": utc_ms(t),
        "ProcessGuid": p.guid, "ProcessId": str(p.pid), "PipeName": name, "Image": p.path,
        "User": p.user.qualified}, user=SYSTEM, exec_pid=st.procs["sysmon"].pid)


def wmi_subscription(sink: Sink, st: WinState, t: float, user: Account, name: str, query: str, command: str) -> None:
    """Sysmon 19/20/21: a permanent WMI event subscription (filter, consumer, binding)."""
    sp = st.procs["sysmon"].pid
    sink.win(t, st.host, SYSMON, 19, {
        "RuleName": "-", "EventType": "WmiFilterEvent", "UtcTime": utc_ms(t), "Operation": "Created",
        "User": user.qualified, "EventNamespace": "\"root\\\\cimv2\"", "Name": f"\"{name}\"",
        "Query": f"\"{query}\""}, user=SYSTEM, exec_pid=sp)
    sink.win(t + 0.02, st.host, SYSMON, 20, {
        "RuleName": "-", "EventType": "WmiConsumerEvent", "UtcTime": utc_ms(t + 0.02), "Operation": "Created",
        "User": user.qualified, "Name": f"\"{name}\"", "Type": "Command Line",
        "Destination": f"\"{command}\""}, user=SYSTEM, exec_pid=sp)
    sink.win(t + 0.04, st.host, SYSMON, 21, {
        "RuleName": "-", "EventType": "WmiBindingEvent", "UtcTime": utc_ms(t + 0.04), "Operation": "Created",
        "User": user.qualified,
        "Consumer": f"\"CommandLineEventConsumer.Name=\\\"{name}\\\"\"",
        "Filter": f"\"__EventFilter.Name=\\\"{name}\\\"\""}, user=SYSTEM, exec_pid=sp)


# ------------------------------------------------------------------------------------------
# Security
# ------------------------------------------------------------------------------------------
def _lsass(st: WinState) -> int:
    return st.procs["lsass"].pid


def logon(sink: Sink, st: WinState, t: float, user: Account, logon_type: int, *, ip: str = "-", port: str = "-",
          auth: str = "Kerberos", workstation: str = "-", process: Proc | None = None, privileged: bool = False,
          elevated: bool = True, outbound: Account | None = None, logon_id: int | None = None) -> int:
    """Security 4624 (and 4672 for privileged accounts). Returns the new logon id."""
    lid = logon_id if logon_id is not None else st.new_logon_id()
    host = st.host
    if logon_type in (2, 7, 10, 11):
        subject = (host.computer_account.sid, host.computer_account.name, host.computer_account.domain, "0x3e7")
        lproc, lpack, lm, klen = "User32 ", "Negotiate", "-", "0"
        pname, ppid = "C:\\Windows\\System32\\svchost.exe", hex(st.procs["svc_netsvcs"].pid)
    elif logon_type == 5:
        subject = (host.computer_account.sid, host.computer_account.name, host.computer_account.domain, "0x3e7")
        lproc, lpack, lm, klen = "Advapi  ", "Negotiate", "-", "0"
        pname, ppid = "C:\\Windows\\System32\\services.exe", hex(st.procs["services"].pid)
    elif logon_type == 9:
        subject = (user.sid, user.name, user.domain, hex(process.logon_id if process else 0x3E7))
        lproc, lpack, lm, klen = "seclogo", "Negotiate", "-", "0"
        pname, ppid = (process.path, hex(process.pid)) if process else ("-", "0x0")
    else:
        subject = ("S-1-0-0", "-", "-", "0x0")
        if auth == "NTLM":
            lproc, lpack, lm, klen = "NtLmSsp ", "NTLM", "NTLM V2", "128"
        else:
            lproc, lpack, lm, klen = "Kerberos", "Kerberos", "-", "0"
        pname, ppid = "-", "0x0"
    lguid = "{00000000-0000-0000-0000-000000000000}" if lpack == "NTLM" or logon_type in (5, 9) else st.rng.guid()
    sink.win(t, host, SECURITY, 4624, {
        "SubjectUserSid": subject[0], "SubjectUserName": subject[1], "SubjectDomainName": subject[2],
        "SubjectLogonId": subject[3], "TargetUserSid": user.sid, "TargetUserName": user.name,
        "TargetDomainName": user.domain, "TargetLogonId": hex(lid), "LogonType": str(logon_type),
        "LogonProcessName": lproc, "AuthenticationPackageName": lpack, "WorkstationName": workstation,
        "LogonGuid": lguid, "TransmittedServices": "-", "LmPackageName": lm, "KeyLength": klen, "ProcessId": ppid,
        "ProcessName": pname, "IpAddress": ip, "IpPort": port, "ImpersonationLevel": "%%1833",
        "RestrictedAdminMode": "%%1843" if logon_type == 10 else "-",
        "TargetOutboundUserName": outbound.name if outbound else "-",
        "TargetOutboundDomainName": outbound.domain if outbound else "-", "VirtualAccount": "%%1843",
        "TargetLinkedLogonId": "0x0", "ElevatedToken": "%%1842" if elevated else "%%1843",
    }, exec_pid=_lsass(st))
    if privileged:
        privs = SYSTEM_PRIVS if user.sid == SYSTEM.sid else (DC_PRIVS if host.role == "dc" else ADMIN_PRIVS)
        sink.win(t, host, SECURITY, 4672, {
            "SubjectUserSid": user.sid, "SubjectUserName": user.name, "SubjectDomainName": user.domain,
            "SubjectLogonId": hex(lid), "PrivilegeList": privs}, exec_pid=_lsass(st))
    return lid


def logoff(sink: Sink, st: WinState, t: float, user: Account, logon_id: int, logon_type: int,
           user_initiated: bool = False) -> None:
    if user_initiated:
        sink.win(t - 0.05, st.host, SECURITY, 4647, {
            "TargetUserSid": user.sid, "TargetUserName": user.name, "TargetDomainName": user.domain,
            "TargetLogonId": hex(logon_id)}, exec_pid=_lsass(st))
    sink.win(t, st.host, SECURITY, 4634, {
        "TargetUserSid": user.sid, "TargetUserName": user.name, "TargetDomainName": user.domain,
        "TargetLogonId": hex(logon_id), "LogonType": str(logon_type)}, exec_pid=_lsass(st))


def logon_failed(sink: Sink, st: WinState, t: float, user: str, domain: str, logon_type: int, ip: str, port: str,
                 status: str = "0xc000006d", sub_status: str = "0xc000006a", auth: str = "NTLM",
                 workstation: str = "-") -> None:
    sink.win(t, st.host, SECURITY, 4625, {
        "SubjectUserSid": "S-1-0-0", "SubjectUserName": "-", "SubjectDomainName": "-", "SubjectLogonId": "0x0",
        "TargetUserSid": "S-1-0-0", "TargetUserName": user, "TargetDomainName": domain, "Status": status,
        "FailureReason": "%%2313", "SubStatus": sub_status, "LogonType": str(logon_type),
        "LogonProcessName": "NtLmSsp " if auth == "NTLM" else "Kerberos", "AuthenticationPackageName": auth,
        "WorkstationName": workstation, "TransmittedServices": "-", "LmPackageName": "-", "KeyLength": "0",
        "ProcessId": "0x0", "ProcessName": "-", "IpAddress": ip, "IpPort": port}, exec_pid=_lsass(st))


def explicit_logon(sink: Sink, st: WinState, t: float, p: Proc, target: Account, server: str, ip: str = "-",
                   port: str = "-") -> None:
    """4648: a process used explicit credentials (runas, PsExec -u, mapped drive with creds)."""
    sink.win(t, st.host, SECURITY, 4648, {
        "SubjectUserSid": p.user.sid, "SubjectUserName": p.user.name, "SubjectDomainName": p.user.domain,
        "SubjectLogonId": hex(p.logon_id), "LogonGuid": "{00000000-0000-0000-0000-000000000000}",
        "TargetUserName": target.name, "TargetDomainName": target.domain,
        "TargetLogonGuid": "{00000000-0000-0000-0000-000000000000}", "TargetServerName": server,
        "TargetInfo": server, "ProcessId": hex(p.pid), "ProcessName": p.path, "IpAddress": ip, "IpPort": port,
    }, exec_pid=_lsass(st))


def kerberos_tgt(sink: Sink, st: WinState, t: float, user: User | Account, realm: str, ip: str, port: int,
                 enc: str = "0x12", status: str = "0x0", krbtgt_sid: str = "") -> None:
    """4768 on a DC."""
    name = user.sam if isinstance(user, User) else user.name
    sink.win(t, st.host, SECURITY, 4768, {
        "TargetUserName": name, "TargetDomainName": realm, "TargetSid": user.sid, "ServiceName": "krbtgt",
        "ServiceSid": krbtgt_sid, "TicketOptions": "0x40810010", "Status": status, "TicketEncryptionType": enc,
        "PreAuthType": "2", "IpAddress": f"::ffff:{ip}", "IpPort": str(port), "CertIssuerName": "",
        "CertSerialNumber": "", "CertThumbprint": ""}, exec_pid=_lsass(st))


def kerberos_tgs(sink: Sink, st: WinState, t: float, user_name: str, realm: str, service: str, service_sid: str,
                 ip: str, port: int, enc: str = "0x12", options: str = "0x40810000", status: str = "0x0") -> None:
    """4769 on a DC."""
    sink.win(t, st.host, SECURITY, 4769, {
        "TargetUserName": f"{user_name}@{realm}", "TargetDomainName": realm, "ServiceName": service,
        "ServiceSid": service_sid, "TicketOptions": options, "TicketEncryptionType": enc,
        "IpAddress": f"::ffff:{ip}", "IpPort": str(port), "Status": status, "LogonGuid": st.rng.guid(),
        "TransmittedServices": "-"}, exec_pid=_lsass(st))


def ntlm_validate(sink: Sink, st: WinState, t: float, user: str, workstation: str, status: str = "0x0") -> None:
    sink.win(t, st.host, SECURITY, 4776, {
        "PackageName": "MICROSOFT_AUTHENTICATION_PACKAGE_V1_0", "TargetUserName": user, "Workstation": workstation,
        "Status": status}, exec_pid=_lsass(st))


def share_access(sink: Sink, st: WinState, t: float, user: Account, logon_id: int, ip: str, port: int, share: str,
                 local_path: str, relative: str | None = None, access_mask: str = "0x1") -> None:
    """5140 (share opened) or, with `relative`, 5145 (object in share checked)."""
    base = {"SubjectUserSid": user.sid, "SubjectUserName": user.name, "SubjectDomainName": user.domain,
            "SubjectLogonId": hex(logon_id), "ObjectType": "File", "IpAddress": ip, "IpPort": str(port),
            "ShareName": f"\\\\*\\{share}", "ShareLocalPath": local_path}
    if relative is None:
        sink.win(t, st.host, SECURITY, 5140, {**base, "AccessMask": access_mask, "AccessList": "%%4416\r\n\t\t\t\t"},
                 exec_pid=4)
    else:
        access = "%%4417\r\n\t\t\t\t%%4418\r\n\t\t\t\t" if access_mask in ("0x2", "0x6", "0x13019f") \
            else "%%4416\r\n\t\t\t\t"
        sink.win(t, st.host, SECURITY, 5145, {**base, "RelativeTargetName": relative, "AccessMask": access_mask,
                                             "AccessList": access, "AccessReason": "-"}, exec_pid=4)


def service_installed(sink: Sink, st: WinState, t: float, name: str, image_path: str, *, account: str = "LocalSystem",
                      start_type: str = "demand start", installer: Account | None = None,
                      installer_logon: int = 0x3E7) -> None:
    """System 7045 and Security 4697."""
    sink.win(t, st.host, SYSTEM_CH, 7045, {
        "ServiceName": name, "ImagePath": image_path, "ServiceType": "user mode service", "StartType": start_type,
        "AccountName": account}, user=installer or SYSTEM, exec_pid=st.procs["services"].pid)
    inst = installer or st.host.computer_account
    sink.win(t + 0.001, st.host, SECURITY, 4697, {
        "SubjectUserSid": inst.sid if installer else "S-1-5-18", "SubjectUserName": inst.name,
        "SubjectDomainName": inst.domain, "SubjectLogonId": hex(installer_logon), "ServiceName": name,
        "ServiceFileName": image_path, "ServiceType": "0x10",
        "ServiceStartType": {"auto start": "2", "demand start": "3"}.get(start_type, "3"),
        "ServiceAccount": account}, exec_pid=_lsass(st))


def task_xml(author: str, command: str, arguments: str, when: str, trigger: str = "CalendarTrigger",
             user: str = "S-1-5-18") -> str:
    args = f"\r\n      <Arguments>{arguments}</Arguments>" if arguments else ""
    return (f"<?xml version=\"1.0\" encoding=\"UTF-16\"?>\r\n<Task version=\"1.2\" "
            f"xmlns=\"http://schemas.microsoft.com/windows/2004/02/mit/task\">\r\n  <RegistrationInfo>\r\n    "
            f"<Date>{when}</Date>\r\n    <Author>{author}</Author>\r\n  </RegistrationInfo>\r\n  <Triggers>\r\n    "
            f"<{trigger}>\r\n      <StartBoundary>{when}</StartBoundary>\r\n      <Enabled>true</Enabled>\r\n    "
            f"</{trigger}>\r\n  </Triggers>\r\n  <Principals>\r\n    <Principal id=\"Author\">\r\n      "
            f"<UserId>{user}</UserId>\r\n      <RunLevel>HighestAvailable</RunLevel>\r\n    </Principal>\r\n  "
            f"</Principals>\r\n  <Actions Context=\"Author\">\r\n    <Exec>\r\n      <Command>{command}</Command>"
            f"{args}\r\n    </Exec>\r\n  </Actions>\r\n</Task>")


def task_created(sink: Sink, st: WinState, t: float, user: Account, logon_id: int, name: str, content: str) -> None:
    sink.win(t, st.host, SECURITY, 4698, {
        "SubjectUserSid": user.sid, "SubjectUserName": user.name, "SubjectDomainName": user.domain,
        "SubjectLogonId": hex(logon_id), "TaskName": name, "TaskContent": content}, exec_pid=_lsass(st))


def account_event(sink: Sink, st: WinState, t: float, eid: int, actor: Account, actor_logon: int,
                  target: User | Account, group: tuple[str, str] | None = None) -> None:
    """4720/4722/4724/4738 (account) or 4728/4732 (group membership, `group` = (name, sid))."""
    name = target.sam if isinstance(target, User) else target.name
    subj = {"SubjectUserSid": actor.sid, "SubjectUserName": actor.name, "SubjectDomainName": actor.domain,
            "SubjectLogonId": hex(actor_logon)}
    if group is not None:
        data = {"MemberName": f"CN={name},CN=Users,DC=" + ",DC=".join(st.org.domain.split(".")),
                "MemberSid": target.sid, "TargetUserName": group[0], "TargetDomainName": st.org.netbios,
                "TargetSid": group[1], **subj, "PrivilegeList": "-"}
    else:
        data = {"TargetUserName": name, "TargetDomainName": st.org.netbios, "TargetSid": target.sid, **subj,
                "PrivilegeList": "-"}
        if eid == 4720:
            data.update({"SamAccountName": name, "DisplayName": getattr(target, "display", name),
                         "UserPrincipalName": f"{name}@{st.org.domain}", "HomeDirectory": "-", "HomePath": "-",
                         "ScriptPath": "-", "ProfilePath": "-", "UserWorkstations": "-",
                         "PasswordLastSet": "%%1794", "AccountExpires": "%%1794", "PrimaryGroupId": "513",
                         "AllowedToDelegateTo": "-", "OldUacValue": "0x0", "NewUacValue": "0x15",
                         "UserAccountControl": "\r\n\t\t%%2080\r\n\t\t%%2082\r\n\t\t%%2084",
                         "UserParameters": "%%1793", "SidHistory": "-", "LogonHours": "%%1797"})
    sink.win(t, st.host, SECURITY, eid, data, exec_pid=_lsass(st))


#: DS-Replication-Get-Changes, -All, -In-Filtered-Set: what DCSync (and DC replication) asks for
REPLICATION_RIGHTS = ("{1131f6aa-9c07-11d1-f79f-00c04fc2dcd2}", "{1131f6ad-9c07-11d1-f79f-00c04fc2dcd2}",
                      "{89e95b76-444d-4c62-991a-0facbeda640c}")


def ds_replication(sink: Sink, st: WinState, t: float, actor: Account, actor_logon: int, right: str,
                   domain_guid: str) -> None:
    """4662 for a directory replication right on the domain object."""
    sink.win(t, st.host, SECURITY, 4662, {
        "SubjectUserSid": actor.sid, "SubjectUserName": actor.name, "SubjectDomainName": actor.domain,
        "SubjectLogonId": hex(actor_logon), "ObjectServer": "DS",
        "ObjectType": "%{19195a5b-6da0-11d0-afd3-00c04fd930c9}", "ObjectName": f"%{domain_guid}",
        "OperationType": "Object Access", "HandleId": "0x0", "AccessList": "%%7688\r\n\t\t\t\t",
        "AccessMask": "0x100",
        "Properties": f"%%7688\r\n\t\t{right}\r\n\t{{19195a5b-6da0-11d0-afd3-00c04fd930c9}}\r\n",
        "AdditionalInfo": "-", "AdditionalInfo2": ""}, exec_pid=_lsass(st))


def log_cleared(sink: Sink, st: WinState, t: float, actor: Account, actor_logon: int, channel: str) -> None:
    """1102 (Security log cleared) or 104 (another log cleared)."""
    data = {"SubjectUserSid": actor.sid, "SubjectUserName": actor.name, "SubjectDomainName": actor.domain,
            "SubjectLogonId": hex(actor_logon)}
    if channel == "Security":
        sink.win(t, st.host, SECURITY, 1102, data, exec_pid=st.procs["svc_netsvcs"].pid, user_data="LogFileCleared")
    else:
        sink.win(t, st.host, SYSTEM_CH, 104, {"SubjectUserName": actor.name, "SubjectDomainName": actor.domain,
                                             "Channel": channel, "BackupPath": ""}, user=actor,
                 exec_pid=st.procs["svc_netsvcs"].pid, user_data="LogFileCleared")


# ------------------------------------------------------------------------------------------
# PowerShell
# ------------------------------------------------------------------------------------------
def script_block(sink: Sink, st: WinState, t: float, p: Proc, text: str, path: str = "") -> None:
    """4104, split in parts of at most 16 kB like PowerShell does."""
    sid = st.rng.guid()
    parts = [text[i:i + 16000] for i in range(0, max(len(text), 1), 16000)] or [""]
    for i, part in enumerate(parts, 1):
        sink.win(t + i * 0.001, st.host, PS_OP, 4104, {
            "MessageNumber": str(i), "MessageTotal": str(len(parts)), "ScriptBlockText": part, "ScriptBlockId": sid,
            "Path": path}, user=p.user, exec_pid=p.pid)


def engine_started(sink: Sink, st: WinState, t: float, p: Proc) -> None:
    """Windows PowerShell 400 (engine state Available) with the host application."""
    details = (f"\tNewEngineState=Available\r\n\tPreviousEngineState=None\r\n\r\n\tSequenceNumber=13\r\n\r\n\t"
               f"HostName=ConsoleHost\r\n\tHostVersion=5.1.19041.3803\r\n\tHostId={st.rng.guid()[1:-1]}\r\n\t"
               f"HostApplication={p.cmd}\r\n\tEngineVersion=5.1.19041.3803\r\n\tRunspaceId={st.rng.guid()[1:-1]}"
               f"\r\n\tPipelineId=\r\n\tCommandName=\r\n\tCommandType=\r\n\tScriptName=\r\n\tCommandPath=\r\n\t"
               f"CommandLine=")
    sink.win(t, st.host, PS_CLASSIC, 400, {"param1": "Available", "param2": "None", "param3": details},
             exec_pid=p.pid)


def defender_disabled(sink: Sink, st: WinState, t: float) -> None:
    sink.win(t, st.host, DEFENDER, 5001, {"Product Name": "Microsoft Defender Antivirus",
                                          "Product Version": "4.18.24010.12"}, user=SYSTEM,
             exec_pid=st.procs["msmpeng"].pid)
