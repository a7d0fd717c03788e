"""aptwatch's own Sigma rules (src/aptwatch/rules): each matches its positive event and not its negatives.

The events are written here from the techniques' documented artefacts (field names and values as
Windows logs them), not copied from any sample file; tests/detect/test_own_rules_real.py runs
them over real recordings.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from aptwatch.detect.base import DetectSettings
from aptwatch.detect.runner import run_detectors
from aptwatch.detect.sigma.compiler import compile_rules, validate
from aptwatch.detect.sigma.engine import Evaluator, rules_for_table
from aptwatch.detect.sigma.loader import BUILTIN_RULES, load_rules
from aptwatch.model.schema import EVENTS
from aptwatch.store import Store
from aptwatch.store.read import load_findings
from tests.detect.sigma_store import T0, make_store

SEC, SYS, SYSMON = "Security", "System", "Microsoft-Windows-Sysmon/Operational"
W32 = "C:\\Windows\\System32\\"
RCM = "Microsoft-Windows-TerminalServices-RemoteConnectionManager/Operational"


def share(rel: str, share_name: str = "\\\\*\\IPC$", ip: str = "10.1.1.5", access: str = "%%4417") -> dict[str, Any]:
    return {"channel": SEC, "event_code": 5145, "share_name": share_name, "relative_target": rel, "src_ip": ip,
            "action": "share_access", "data": {"AccessList": f"%%1538\r\n\t{access}\r\n"}}


# rule title -> (table, positive rows, negative rows)
CASES: dict[str, tuple[str, list[dict[str, Any]], list[dict[str, Any]]]] = {
    "Remote Service Control Manager Access Over SMB": (
        "file", [share("svcctl")], [share("svcctl", ip="::1"), share("spoolss")]),
    "Executable Written To An Administrative Share From Another Host": (
        "file", [share("Windows\\Temp\\tool.exe", "\\\\*\\ADMIN$"), share("x.ps1", "\\\\*\\C$")],
        [share("report.docx", "\\\\*\\C$"), share("tool.exe", "\\\\*\\ADMIN$", access="%%4416"),
         share("tool.exe", "\\\\*\\DATA$")]),
    "Inbound Remote Desktop Connection Accepted": (
        "generic", [{"channel": "Microsoft-Windows-RemoteDesktopServices-RdpCoreTS/Operational", "event_code": 131,
                     "data": {"ConnType": "TCP", "ClientIP": "10.9.8.7:50123"}}],
        [{"channel": "Microsoft-Windows-RemoteDesktopServices-RdpCoreTS/Operational", "event_code": 131,
          "data": {"ClientIP": "127.0.0.1:50123"}},
         {"channel": "Microsoft-Windows-RemoteDesktopServices-RdpCoreTS/Operational", "event_code": 168}]),
    "Remote Desktop Session From A Loopback Address (RDP Tunnelling)": (
        "auth", [{"channel": RCM, "event_code": 1149, "target_user": "admin01", "src_ip": "127.0.0.1"},
                 {"channel": RCM, "event_code": 1149, "target_user": "admin01", "src_ip": "::1"}],
        [{"channel": RCM, "event_code": 1149, "target_user": "admin01", "src_ip": "10.0.2.15"},
         {"channel": RCM, "event_code": 1149, "target_user": "admin01", "src_ip": "fe80::80ac:1b81%10"},
         {"channel": RCM, "event_code": 1148, "src_ip": "127.0.0.1"}]),
    "Remote Desktop Logon From A Loopback Address (RDP Tunnelling)": (
        "auth", [{"channel": SEC, "event_code": 4624, "logon_type": 10, "src_ip": "127.0.0.1"}],
        [{"channel": SEC, "event_code": 4624, "logon_type": 10, "src_ip": "10.0.0.7"},
         {"channel": SEC, "event_code": 4624, "logon_type": 3, "src_ip": "::1"},
         {"channel": SEC, "event_code": 4625, "logon_type": 10, "src_ip": "127.0.0.1"}]),
    "Inbound WinRM Session": (
        "generic", [{"channel": "Microsoft-Windows-WinRM/Operational", "event_code": 169,
                     "data": {"username": "corp\\bob", "authenticationMechanism": "Kerberos"}}],
        [{"channel": "Microsoft-Windows-WinRM/Operational", "event_code": 193}]),
    "Remote Launch Of A DCOM Object Used For Lateral Movement": (
        "generic", [{"channel": SYS, "event_code": 10016, "provider": "Microsoft-Windows-DistributedCOM",
                     "data": {"param2": "Remote", "param4": "{49B2791A-B1AE-4C90-9B8E-E860BA07F889}"}}],
        [{"channel": SYS, "event_code": 10016, "provider": "Microsoft-Windows-DistributedCOM",
          "data": {"param2": "Local", "param4": "{49B2791A-B1AE-4C90-9B8E-E860BA07F889}"}},
         {"channel": SYS, "event_code": 10016, "provider": "Microsoft-Windows-DistributedCOM",
          "data": {"param2": "Remote", "param4": "Windows.SecurityCenter.WscBrokerManager"}}]),
    "Named Pipes Opened To Anonymous SMB Access": (
        "registry", [{"action": "set_value", "target_object":
                      "HKLM\\System\\CurrentControlSet\\Services\\LanmanServer\\Parameters\\NullSessionPipes"}],
        [{"action": "set_value",
          "target_object": "HKLM\\System\\CurrentControlSet\\Services\\LanmanServer\\Parameters\\AutoShareWks"}]),
    "Remote Desktop ActiveX Control Loaded By An Unusual Process": (
        "image_load", [{"action": "image_load", "process_path": "C:\\Users\\a\\SharpRDP.exe",
                        "image_loaded": W32 + "mstscax.dll"}],
        [{"action": "image_load", "process_path": W32 + "mstsc.exe", "image_loaded": W32 + "mstscax.dll"},
         {"action": "image_load", "process_path": "C:\\Users\\a\\x.exe", "image_loaded": W32 + "ntdll.dll"}]),
    "LSASS Dumped Through Silent Process Exit": (
        "generic", [{"channel": "Application", "event_code": 3001, "provider": "Microsoft-Windows-ProcessExitMonitor",
                     "data": {"param1": W32 + "lsass.exe", "param2": "C:\\Temp\\d.exe"}}],
        [{"channel": "Application", "event_code": 3001, "provider": "Microsoft-Windows-ProcessExitMonitor",
          "data": {"param1": W32 + "notepad.exe"}}]),
    "Remote DPAPI Master Key Retrieval Over The protected_storage Pipe": (
        "file", [share("protected_storage")], [share("protected_storage", ip="127.0.0.1")]),
    "Remote Access Tool Process Memory Read By Another Process": (
        "process_access", [{"action": "access", "source_path": "C:\\Users\\a\\AppData\\Local\\Temp\\dump.exe",
                            "target_path": "C:\\Program Files\\TeamViewer\\TeamViewer.exe",
                            "granted_access": "0x1410"}],
        [{"action": "access", "source_path": "C:\\Users\\a\\AppData\\Local\\Temp\\dump.exe",
          "target_path": "C:\\Program Files\\TeamViewer\\TeamViewer.exe", "granted_access": "0x1000"},
         {"action": "access", "source_path": W32 + "csrss.exe",
          "target_path": "C:\\Program Files\\TeamViewer\\TeamViewer.exe", "granted_access": "0x1fffff"}]),
    "Local Accounts Or Group Members Enumerated By A Command-Line Tool Or Remotely": (
        "generic", [{"channel": SEC, "event_code": 4799, "data": {"CallerProcessName": W32 + "net1.exe",
                                                                  "SubjectUserName": "bob"}},
                    {"channel": SEC, "event_code": 4798, "data": {"CallerProcessName": "-", "SubjectUserName": "eve"}}],
        [{"channel": SEC, "event_code": 4799, "data": {"CallerProcessName": W32 + "mmc.exe", "SubjectUserName": "b"}},
         {"channel": SEC, "event_code": 4799, "data": {"CallerProcessName": "-", "SubjectUserName": "DC01$"}}]),
    "Inbound Connection To An Enumeration RPC Pipe": (
        "pipe", [{"action": "connected", "event_code": 18, "channel": SYSMON, "process_path": "System",
                  "pipe_name": "\\srvsvc"}],
        [{"action": "connected", "event_code": 18, "channel": SYSMON, "process_path": W32 + "svchost.exe",
          "pipe_name": "\\srvsvc"},
         {"action": "connected", "event_code": 18, "channel": SYSMON, "process_path": "System",
          "pipe_name": "\\spoolss"}]),
    "Windows Event Log Service Stopped Or Crashed": (
        "persistence", [{"channel": SYS, "event_code": 7036, "name": "Windows Event Log", "state": "stopped",
                         "action": "service_state_changed"},
                        {"channel": SYS, "event_code": 7034, "data": {"param1": "Windows Event Log"}}],
        [{"channel": SYS, "event_code": 7036, "name": "Windows Event Log", "state": "running",
          "action": "service_state_changed"},
         {"channel": SYS, "event_code": 7036, "name": "Print Spooler", "state": "stopped",
          "action": "service_state_changed"}]),
    "Boot Configuration With Kernel Debugging Or Test Signing Enabled": (
        "generic", [{"channel": SEC, "event_code": 4826, "data": {"KernelDebug": "%%1843", "TestSigning": "%%1842"}}],
        [{"channel": SEC, "event_code": 4826, "data": {"KernelDebug": "%%1843", "TestSigning": "%%1843"}}]),
    "PsExec-Style Service Pipes Created By A Renamed Service": (
        "pipe", [{"action": "created", "event_code": 17, "channel": SYSMON, "process_path": "C:\\Windows\\upd.exe",
                  "pipe_name": "\\upd-WS01-4242-stdin"}],
        [{"action": "created", "event_code": 17, "channel": SYSMON, "process_path": "C:\\Windows\\PSEXESVC.exe",
          "pipe_name": "\\PSEXESVC-WS01-4242-stdin"},
         {"action": "created", "event_code": 17, "channel": SYSMON, "process_path": "C:\\Windows\\upd.exe",
          "pipe_name": "\\upd-stdin"}]),
    "Process Opened With Suspend-Resume Right Only": (
        "process_access", [{"action": "access", "source_path": "C:\\Users\\a\\x.exe",
                            "target_path": "C:\\Program Files\\EDR\\agent.exe", "granted_access": "0x800"}],
        [{"action": "access", "source_path": "C:\\Users\\a\\x.exe", "target_path": W32 + "notepad.exe",
          "granted_access": "0x1000"},
         {"action": "access", "source_path": W32 + "taskmgr.exe", "target_path": W32 + "notepad.exe",
          "granted_access": "0x800"}]),
    "Creation Time Of An Executable Or Script Changed": (
        "file", [{"action": "time_change", "path": "C:\\Users\\a\\AppData\\Roaming\\svc.dll",
                  "process_path": "C:\\Users\\a\\Downloads\\setup.exe"}],
        [{"action": "time_change", "path": "C:\\Users\\a\\notes.txt", "process_path": "C:\\Users\\a\\x.exe"},
         {"action": "time_change", "path": "C:\\Program Files\\App\\a.dll",
          "process_path": W32 + "msiexec.exe"}]),
    "BITS Job Transferring From A Non-Microsoft URL": (
        "persistence", [{"channel": "Microsoft-Windows-Bits-Client/Operational", "event_code": 59,
                         "url": "http://203.0.113.9/payload.exe"}],
        [{"channel": "Microsoft-Windows-Bits-Client/Operational", "event_code": 59,
          "url": "http://download.windowsupdate.com/c/msdownload/update.cab"},
         {"channel": "Microsoft-Windows-Bits-Client/Operational", "event_code": 60,
          "url": "http://203.0.113.9/payload.exe"}]),
    "Local Account Created (SAM Registry Key)": (
        "registry", [{"action": "create_key", "target_object": "HKLM\\SAM\\SAM\\Domains\\Account\\Users\\Names\\svc"}],
        [{"action": "set_value", "target_object": "HKLM\\SAM\\SAM\\Domains\\Account\\Users\\Names\\svc"},
         {"action": "create_key", "target_object": "HKLM\\SOFTWARE\\Vendor\\Users\\Names\\svc"}]),
    "Debug Privilege Enabled By A Process Outside System Folders": (
        "generic", [{"channel": SEC, "event_code": 4703, "data": {"ProcessName": "C:\\Users\\a\\tool.exe",
                                                                  "EnabledPrivilegeList": "SeDebugPrivilege"}}],
        [{"channel": SEC, "event_code": 4703, "data": {"ProcessName": W32 + "svchost.exe",
                                                       "EnabledPrivilegeList": "SeDebugPrivilege"}},
         {"channel": SEC, "event_code": 4703, "data": {"ProcessName": "C:\\Users\\a\\tool.exe",
                                                       "EnabledPrivilegeList": "SeShutdownPrivilege"}}]),
    "Executable Or Script Written By The SMB Server": (
        "file", [{"action": "create", "process_path": "System", "path": "C:\\Windows\\svcupd.exe"}],
        [{"action": "create", "process_path": "System", "path": "C:\\Users\\a\\report.docx"},
         {"action": "create", "process_path": W32 + "svchost.exe", "path": "C:\\Windows\\svcupd.exe"}]),
    "Executable Written By The Remote Desktop Client": (
        "file", [{"action": "create", "process_path": W32 + "mstsc.exe",
                  "path": "C:\\Users\\adm\\AppData\\Roaming\\Microsoft\\Windows\\Start Menu\\Programs"
                          "\\Startup\\u.bat"}],
        [{"action": "create", "process_path": W32 + "mstsc.exe", "path": "C:\\Users\\adm\\Documents\\a.rdp"}]),
    "Network Share Created": (
        "generic", [{"channel": SEC, "event_code": 5142, "data": {"ShareName": "\\\\*\\stage"}}],
        [{"channel": SEC, "event_code": 5143, "data": {"ShareName": "\\\\*\\stage"}}]),
    "Network Share Created (Registry)": (
        "registry", [{"action": "set_value",
                      "target_object": "HKLM\\System\\CurrentControlSet\\Services\\LanmanServer\\Shares\\stage"}],
        [{"action": "set_value", "target_object":
          "HKLM\\System\\CurrentControlSet\\Services\\LanmanServer\\Shares\\Security\\stage"}]),
    "Unsigned DLL Loaded From A System Subfolder By A System Binary": (
        "image_load", [{"action": "image_load", "process_path": W32 + "oobe\\setup.exe",
                        "image_loaded": W32 + "oobe\\dwmapi.dll", "signed": "false"}],
        [{"action": "image_load", "process_path": W32 + "oobe\\setup.exe", "image_loaded": W32 + "oobe\\dwmapi.dll",
          "signed": "true"},
         {"action": "image_load", "process_path": W32 + "svchost.exe", "image_loaded": W32 + "dwmapi.dll",
          "signed": "false"}]),
    "Remote Thread Started Outside Any Loaded Module": (
        "process_access", [{"action": "remote_thread", "source_path": "\\\\files\\tools\\m.exe",
                            "target_path": "C:\\Windows\\explorer.exe", "start_module": ""},
                           {"action": "remote_thread", "source_path": W32 + "WindowsPowerShell\\v1.0\\powershell.exe",
                            "target_path": W32 + "notepad.exe"}],
        [{"action": "remote_thread", "source_path": "C:\\Users\\a\\x.exe", "target_path": W32 + "notepad.exe",
          "start_module": W32 + "kernel32.dll"},
         {"action": "remote_thread", "source_path": "C:\\Users\\a\\x.exe", "target_path": "C:\\Users\\a\\x.exe",
          "start_module": ""},
         {"action": "access", "source_path": "C:\\Users\\a\\x.exe", "target_path": W32 + "notepad.exe",
          "start_module": ""}]),
    "PowerShell Language Mode Or Execution Policy Weakened In The Registry": (
        "registry", [{"action": "delete", "target_object":
                      "HKLM\\System\\CurrentControlSet\\Control\\SESSION MANAGER\\Environment\\__PSLockdownPolicy"},
                     {"action": "set_value", "details": "Bypass", "target_object":
                      "HKLM\\SOFTWARE\\Microsoft\\PowerShell\\1\\ShellIds\\Microsoft.PowerShell\\ExecutionPolicy"}],
        [{"action": "set_value", "details": "DWORD (0x00000004)", "target_object":
          "HKLM\\System\\CurrentControlSet\\Control\\Session Manager\\Environment\\__PSLockdownPolicy"},
         {"action": "set_value", "details": "AllSigned", "target_object":
          "HKLM\\SOFTWARE\\Microsoft\\PowerShell\\1\\ShellIds\\Microsoft.PowerShell\\ExecutionPolicy"}]),
    "Kernel Driver File Written By A Process Outside System Folders": (
        "file", [{"action": "create", "process_path": "C:\\Users\\Public\\loader.exe",
                  "path": W32 + "drivers\\RTCore64.sys"}],
        [{"action": "create", "process_path": W32 + "DriverStore\\x.exe", "path": W32 + "drivers\\a.sys"},
         {"action": "create", "process_path": "C:\\Users\\Public\\loader.exe", "path": W32 + "drivers\\etc\\hosts"}]),
    "NTFS Transaction Used By A Process Outside System Folders": (
        "generic", [{"channel": SEC, "event_code": 4985, "data": {"ProcessName": "C:\\ProgramData\\d.exe"}}],
        [{"channel": SEC, "event_code": 4985, "data": {"ProcessName": W32 + "msiexec.exe"}}]),
    "Winsock Layered Service Provider Installed": (
        "generic", [{"channel": "Microsoft-Windows-Winsock-WS2HELP/Operational", "event_code": 1,
                     "data": {"LSPName": "X LSP", "Installer": W32 + "MsiExec.exe"}}],
        [{"channel": "Microsoft-Windows-Winsock-WS2HELP/Operational", "event_code": 2},
         {"channel": SYS, "event_code": 1}]),
    "Internet Explorer Administration Kit Pending GPO Registered": (
        "registry", [{"action": "set_value", "target_object":
                      "HKU\\S-1-5-21-1\\Software\\Microsoft\\IEAK\\GroupPolicy\\PendingGPOs\\Path1"}],
        [{"action": "set_value", "target_object": "HKU\\S-1-5-21-1\\Software\\Microsoft\\IEAK\\Other"}]),
    "Unexpected Child Process Of The Session Manager": (
        "process", [{"action": "start", "parent_path": W32 + "smss.exe", "process_path": W32 + "cmd.exe"}],
        [{"action": "start", "parent_path": W32 + "smss.exe", "process_path": W32 + "autochk.exe"},
         {"action": "start", "parent_path": W32 + "services.exe", "process_path": W32 + "cmd.exe"}]),
    "Per-User COM Server Registered From A User-Writable Folder": (
        "registry", [{"action": "set_value", "details": "C:\\ProgramData\\demo.dll", "target_object":
                      "HKU\\S-1-5-21-1_CLASSES\\CLSID\\{BCDE0395-E52F-467C-8E3D-C4579291692E}\\InprocServer32"
                      "\\(Default)"}],
        [{"action": "set_value", "details": "C:\\Program Files\\App\\a.dll", "target_object":
          "HKU\\S-1-5-21-1_CLASSES\\CLSID\\{BCDE0395-E52F-467C-8E3D-C4579291692E}\\InprocServer32\\(Default)"},
         {"action": "set_value", "details": "C:\\ProgramData\\demo.dll", "target_object":
          "HKLM\\SOFTWARE\\Classes\\CLSID\\{BCDE0395-E52F-467C-8E3D-C4579291692E}\\InprocServer32\\(Default)"}]),
    "Service Account Opening A Named Pipe Over Loopback SMB": (
        "file", [{**share("pipey", ip="::1"), "subject_sid": "S-1-5-20"}],
        [{**share("pipey", ip="10.1.1.5"), "subject_sid": "S-1-5-20"},
         {**share("pipey", ip="::1"), "subject_sid": "S-1-5-21-1-1000"}]),
    "Registry Symbolic Link Created By A Process Outside System Folders": (
        "registry", [{"action": "set_value", "process_path": "C:\\Users\\u\\Desktop\\x.exe",
                      "target_object": "HKLM\\SOFTWARE\\Microsoft\\DRM\\L\\SymbolicLinkValue"}],
        [{"action": "set_value", "process_path": W32 + "svchost.exe",
          "target_object": "HKLM\\SOFTWARE\\Microsoft\\DRM\\L\\SymbolicLinkValue"}]),
    "System Folder Variable Overridden In The User Environment": (
        "registry", [{"action": "set_value", "details": "c:\\users\\u\\appdata\\local\\temp",
                      "target_object": "HKU\\S-1-5-21-1\\Volatile Environment\\SYSTEMROOT"},
                     {"action": "set_value", "target_object": "HKCU\\Environment\\windir"}],
        [{"action": "set_value",
          "target_object": "HKLM\\SYSTEM\\CurrentControlSet\\Control\\Session Manager\\Environment\\windir"},
         {"action": "set_value", "target_object": "HKU\\S-1-5-21-1\\Volatile Environment\\USERNAME"}]),
    "Open Command Registered For A ProgID That Auto-Elevating Binaries Launch": (
        "registry", [{"action": "set_value", "target_object":
                      "HKU\\S-1-5-21-1_Classes\\ms-settings\\shell\\open\\command\\(Default)"},
                     {"action": "create_key", "target_object":
                      "HKCU\\Software\\Classes\\Launcher.SystemSettings\\shell\\open\\command"}],
        [{"action": "set_value", "target_object": "HKLM\\SOFTWARE\\Classes\\mscfile\\shell\\open\\command\\(Default)"},
         {"action": "set_value", "target_object": "HKU\\S-1-5-21-1_Classes\\txtfile\\shell\\open\\command"}]),
    "Inbound Network Connection To A DCOM Lateral Movement Host Process": (
        "network", [{"channel": SYSMON, "event_code": 3, "initiated": False,
                     "process_path": "C:\\Windows\\explorer.exe",
                     "src_ip": "10.0.2.17", "dst_ip": "10.0.2.16", "dst_port": 49158}],
        [{"channel": SYSMON, "event_code": 3, "initiated": True, "process_path": "C:\\Windows\\explorer.exe",
          "src_ip": "10.0.2.16", "dst_ip": "10.0.2.17", "dst_port": 443},
         {"channel": SYSMON, "event_code": 3, "initiated": False, "process_path": "C:\\Windows\\explorer.exe",
          "src_ip": "127.0.0.1", "dst_ip": "127.0.0.1", "dst_port": 49158}]),
    "Web Server Process Connecting To A Remote Administration Port": (
        "network", [{"channel": SYSMON, "event_code": 3, "initiated": True, "process_path": W32 + "inetsrv\\w3wp.exe",
                     "src_ip": "127.0.0.1", "dst_ip": "127.0.0.1", "dst_port": 3389}],
        [{"channel": SYSMON, "event_code": 3, "initiated": True, "process_path": W32 + "inetsrv\\w3wp.exe",
          "src_ip": "10.0.0.5", "dst_ip": "10.0.0.9", "dst_port": 1433},
         {"channel": SYSMON, "event_code": 3, "initiated": False, "process_path": W32 + "inetsrv\\w3wp.exe",
          "src_ip": "10.0.0.5", "dst_ip": "10.0.0.9", "dst_port": 445}]),
    "Computer Account Changed By An Anonymous Logon": (
        "account", [{"channel": SEC, "event_code": 4742, "subject_sid": "S-1-5-7", "target_user": "DC01$"}],
        [{"channel": SEC, "event_code": 4742, "subject_sid": "S-1-5-18", "target_user": "DC01$"}]),
    "Netlogon Secure Channel Authentication Refused": (
        "generic", [{"channel": SYS, "event_code": 5805, "provider": "NETLOGON"}],
        [{"channel": SYS, "event_code": 5805, "provider": "Service Control Manager"},
         {"channel": SYS, "event_code": 5719, "provider": "NETLOGON"}]),
    "Remote Access To An Enumeration RPC Pipe (File Share Audit)": (
        "file", [share("samr"), share("winreg")], [share("samr", ip="::1"), share("spoolss")]),
    "Script Host Or Management Console Started As A DCOM Server": (
        "process", [{"action": "start", "parent_path": W32 + "svchost.exe", "process_path": W32 + "mshta.exe",
                     "command_line": W32 + "mshta.exe -Embedding"}],
        [{"action": "start", "parent_path": "C:\\Windows\\explorer.exe", "process_path": W32 + "mshta.exe",
          "command_line": "mshta.exe C:\\Users\\a\\x.hta"},
         {"action": "start", "parent_path": W32 + "svchost.exe", "process_path": W32 + "slui.exe",
          "command_line": W32 + "slui.exe -Embedding"}]),
    "Accessibility Program Replaced By A Shell": (
        "process", [{"action": "start", "process_path": W32 + "osk.exe", "description": "Windows Command Processor",
                     "parent_path": W32 + "Utilman.exe"},
                    {"action": "start", "process_path": W32 + "sethc.exe", "original_file_name": "PowerShell.EXE"}],
        [{"action": "start", "process_path": W32 + "osk.exe", "description": "Accessibility On-Screen Keyboard",
          "parent_path": W32 + "Utilman.exe"},
         {"action": "start", "process_path": W32 + "cmd.exe", "description": "Windows Command Processor"}]),
}


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[int]]:
    compiled = compile_rules(load_rules([BUILTIN_RULES]))
    validate(compiled)
    assert not compiled.problems, compiled.problems
    rows: dict[str, list[dict[str, Any]]] = {}
    expect: dict[int, str] = {}
    rec = 0
    for title, (table, pos, neg) in CASES.items():
        for r in pos + neg:
            rec += 1
            rows.setdefault(table, []).append({**r, "record": rec, "host": "ws1"})
            if r in pos:
                expect[rec] = title
    store = make_store(tmp_path_factory.mktemp("own") / "s", rows)
    got: dict[str, set[int]] = {t: set() for t in CASES}
    titles = {r.uid: r.meta.title for r in compiled.rules}
    with store.session() as s:
        for table in rows:
            chans = {(r["channel"] or "").lower() for r in rows[table] if r.get("channel")}
            res = Evaluator(s, EVENTS[table]).run(rules_for_table(compiled.rules, table, chans))
            assert not res.errors
            for m in res.matches:
                for uid, record in zip(m.column("rule").to_pylist(), m.column("record").to_pylist(), strict=True):
                    got.setdefault(titles[uid], set()).add(record)
    want: dict[str, set[int]] = {t: set() for t in CASES}
    for record, title in expect.items():
        want[title].add(record)
    return {"__got__": got, "__want__": want}  # type: ignore[dict-item]


@pytest.mark.parametrize("title", list(CASES))
def test_own_rule_positive_and_negative(evaluated: dict[str, Any], title: str) -> None:
    got, want = evaluated["__got__"], evaluated["__want__"]
    assert want[title], "every rule has a positive case"
    assert got.get(title, set()) == want[title]


def test_every_own_detection_rule_has_cases() -> None:
    compiled = compile_rules(load_rules([BUILTIN_RULES]))
    standalone = {r.meta.title for r in compiled.rules if r.output}
    assert standalone == set(CASES), standalone ^ set(CASES)
    assert all(r.meta.tactics and r.meta.techniques for r in compiled.rules if r.output)
    assert all(c.meta.tactics for c in compiled.correlations)


def _auth_fail(i: int, ip: str, user: str, code: int = 4768, status: str = "0x6") -> dict[str, Any]:
    return {"channel": SEC, "event_code": code, "status": status, "src_ip": ip, "target_user": user,
            "host": "dc1", "record": i, "time": T0 + timedelta(seconds=20 * i)}


def _smb(i: int, dst: str, image: str = W32 + "WindowsPowerShell\\v1.0\\powershell.exe") -> dict[str, Any]:
    return {"channel": SYSMON, "event_code": 3, "initiated": True, "dst_port": 445, "dst_ip": dst,
            "process_path": image, "host": "ws7", "record": 100 + i, "time": T0 + timedelta(seconds=5 * i)}


def _query(i: int, guid: str, src: str, target: str) -> dict[str, Any]:
    return {"channel": SYSMON, "event_code": 10, "action": "access", "granted_access": "0x1410",
            "source_process_guid": guid, "source_path": src, "target_path": target, "host": "ws9",
            "record": 500 + i, "time": T0 + timedelta(seconds=i)}


def test_own_correlations_fire_on_spraying_and_sweeps_only(tmp_path: Path) -> None:
    users = ["adm", "bob", "eve", "svc_sql", "backup"]
    store: Store = make_store(tmp_path / "s", {
        "auth": [_auth_fail(i, "10.0.0.66", u) for i, u in enumerate(users, 1)]  # 5 accounts: spray
        + [_auth_fail(10 + i, "10.0.0.77", "carol", 4771, "0x18") for i in range(8)],  # one account: not
        "network": [_smb(i, f"10.2.0.{i}") for i in range(12)]  # 12 hosts: sweep
        + [_smb(50 + i, "10.3.0.1", W32 + "svchost.exe") for i in range(20)],  # one host: not
        "process_access": [_query(i, "{G1}", "D:\\m.exe", f"C:\\Apps\\p{i}.exe") for i in range(25)]  # ps
        + [_query(30 + i, "{G2}", "D:\\x.exe", W32 + "notepad.exe") for i in range(25)]  # one target: not
        + [_query(60 + i, "{G3}", W32 + "taskmgr.exe", f"C:\\Apps\\p{i}.exe") for i in range(25)],  # system
    })
    rep = run_detectors(store, DetectSettings(options={"sigma_builtin": True}))
    assert not rep.errors and not rep.failed
    with store.session(with_state=True) as s:
        found = load_findings(s)
    corr = {(f.title, tuple(sorted(f.extra["correlation"]["group"].items()))) for f in found
            if "correlation" in f.extra}
    assert corr == {
        ("Kerberos Password Spraying Or Account Enumeration", (("IpAddress", "10.0.0.66"),)),
        ("SMB Connections To Many Hosts In A Short Time",
         (("Computer", "ws7"), ("Image", W32 + "WindowsPowerShell\\v1.0\\powershell.exe"))),
        ("Many Processes Queried By One Process", (("Computer", "ws9"), ("SourceProcessGUID", "{G1}"))),
    }


def test_newer_defense_evasion_tags_map_to_ta0005() -> None:
    """SigmaHQ's `attack.defense-impairment` / `attack.stealth` split Defense Evasion: both are TA0005."""
    compiled = compile_rules(load_rules([BUILTIN_RULES]))
    meta = next(r.meta for r in compiled.rules if r.meta.title == "Process Opened With Suspend-Resume Right Only")
    assert meta.tactics == ("TA0005",) and meta.techniques == ("T1562.001",)
