"""Benign background life of every Windows machine, with or without a user at the keyboard:
telemetry and push-notification call-homes, Defender signature updates, Windows Update
(Patch Tuesday downloads and the reboot after), scheduled tasks, Group Policy refresh,
SCCM client polling and its encoded PowerShell, service logons, software that updates
itself and installs services. The server roles add their own: DC replication, nightly
backups with an offsite copy to cloud storage, IIS with Internet customers, SQL clients.

These are what make detectors cry wolf: periodic connections to Microsoft, PowerShell with
`-EncodedCommand` from a management agent, new services in Program Files, DC-to-DC
replication that looks like DCSync to a naive rule, backups moving gigabytes off-site.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import date, timedelta

from aptwatch.simulate import catalog, winlog
from aptwatch.simulate.org import LOCAL_SERVICE, NETWORK_SERVICE, SYSTEM, Host
from aptwatch.simulate.rand import Rng, file_hashes
from aptwatch.simulate.world import Activity, World, https, lookup, network_logon, smb_session

Add = Callable[[float, Activity], None]

SCCM_SCRIPT = ("$ErrorActionPreference = 'SilentlyContinue'\n$inv = Get-CimInstance -ClassName Win32_Product | "
               "Select-Object Name, Version, Vendor\n$disk = Get-CimInstance Win32_LogicalDisk -Filter \"DriveType=3\" "
               "| Select-Object DeviceID, FreeSpace, Size\n[pscustomobject]@{ Products = $inv.Count; Disks = $disk } "
               "| ConvertTo-Json -Compress")


def patch_tuesday(d: date) -> date:
    first = d.replace(day=1)
    offset = (1 - first.weekday()) % 7
    return first + timedelta(days=offset + 7)


def periodic(add: Add, rng: Rng, t0: float, t1: float, mean: float, jitter: float, fn: Activity) -> None:
    """Occurrences of `fn` from t0 to t1, `mean` seconds apart with +-`jitter` fraction."""
    t = t0 + rng.uniform(0, mean)
    while t < t1:
        add(t, fn)
        t += max(5.0, rng.jitter(mean, jitter))


# ------------------------------------------------------------------------------------------
# Activities (each: World, Rng, start time)
# ------------------------------------------------------------------------------------------
def make_call_home(host: Host, domain: str, key: str, ob: tuple[int, int], rb: tuple[int, int],
                   resolve_p: float = 0.3) -> Activity:
    def run(w: World, rng: Rng, t: float) -> None:
        st = w.st(host)
        proc = st.procs.get(key) or st.procs["svc_netsvcs"]
        https(w, rng, t, host, proc, domain, rng.randint(*ob), rng.randint(*rb), rng.uniform(0.2, 3.0),
              resolve=rng.chance(resolve_p))
    return run


def defender_update(host: Host) -> Activity:
    def run(w: World, rng: Rng, t: float) -> None:
        st = w.st(host)
        mp = st.procs["msmpeng"]
        ver = f"1.409.{rng.randint(100, 699)}.0"
        stub = winlog.spawn(w.sink, st, t, mp, "MpSigStub.exe",
                            f"C:\\Windows\\system32\\MpSigStub.exe /stub 1.1.24010.2 /payload {ver} /program "
                            f"C:\\Windows\\SoftwareDistribution\\Download\\Install\\AM_Delta_Patch_{ver}.exe",
                            cwd="C:\\Windows\\SoftwareDistribution\\Download\\Install\\")
        https(w, rng, t + 0.5, host, mp, "definitionupdates.microsoft.com", rng.randint(900, 2000),
              rng.randint(300_000, 9_000_000), rng.uniform(1, 12))
        winlog.terminate(w.sink, st, t + rng.uniform(15, 60), stub)
    return run


def update_check(host: Host) -> Activity:
    def run(w: World, rng: Rng, t: float) -> None:
        st = w.st(host)
        uso = winlog.spawn(w.sink, st, t, st.procs["svc_dcom"], "usocoreworker.exe",
                           "C:\\Windows\\System32\\usocoreworker.exe -Embedding")
        https(w, rng, t + 1, host, st.procs["svc_wuauserv"], "fe3cr.delivery.mp.microsoft.com",
              rng.randint(3000, 9000), rng.randint(8000, 90000), rng.uniform(1, 6))
        winlog.reg_set(w.sink, st, t + 2, uso,
                       "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\WindowsUpdate\\Orchestrator\\"
                       "Scheduler\\Cleanup the UsoSession map", f"QWORD (0x01da{rng.hexstr(4)}-0x{rng.hexstr(8)})")
        winlog.terminate(w.sink, st, t + rng.uniform(20, 90), uso)
    return run


def patch_download(host: Host) -> Activity:
    """Patch Tuesday: cumulative update from the management server (WSUS) and TiWorker."""
    def run(w: World, rng: Rng, t: float) -> None:
        st = w.st(host)
        cm = w.org.first("mgmt")
        kb = f"KB50{rng.randint(30000, 39999)}"
        size = rng.randint(300_000_000, 900_000_000)
        if cm is not None:
            uid = w.net.http(w.sink, t, rng, host.ip, cm.ip, f"{cm.name.lower()}.{w.org.domain}:8530",
                             f"/Content/{rng.hexstr(2).upper()}/{rng.hexstr(40).upper()}.cab", method="GET",
                             user_agent="Windows-Update-Agent/10.0.10011.16384 Client-Protocol/2.71", resp_len=size,
                             mime="application/vnd.ms-cab-compressed", filename=f"windows10.0-{kb}-x64.cab",
                             dport=8530, duration=rng.uniform(60, 600), host=host.key)
            del uid
        else:
            w.net.http(w.sink, t, rng, host.ip, w.org.internet.ip("tlu.dl.delivery.mp.microsoft.com"),
                       "tlu.dl.delivery.mp.microsoft.com", f"/filestreamingservice/files/{rng.guid()[1:-1]}",
                       user_agent=catalog.WU_UA, resp_len=size, mime="application/vnd.ms-cab-compressed",
                       duration=rng.uniform(60, 600), host=host.key)
        ti = winlog.spawn(w.sink, st, t + 700, st.procs["services"], "TrustedInstaller.exe",
                          "C:\\Windows\\servicing\\TrustedInstaller.exe")
        tiw = winlog.spawn(w.sink, st, t + 703, st.procs["svc_dcom"], "TiWorker.exe",
                           f"{catalog.binary('TiWorker.exe').path} -Embedding")
        winlog.terminate(w.sink, st, t + rng.uniform(1500, 3000), tiw)
        winlog.terminate(w.sink, st, t + 3100, ti)
    return run


BOOT_ORDER: tuple[tuple[str, str], ...] = (
    ("wininit", "smss0"), ("services", "wininit"), ("lsass", "wininit"), ("winlogon", "smss1"),
    ("svc_dcom", "services"), ("svc_netsvcs", "services"), ("svc_schedule", "services"),
    ("svc_wuauserv", "services"), ("svc_winrm", "services"), ("svc_termsvc", "services"), ("msmpeng", "services"),
    ("sysmon", "services"), ("ccmexec", "services"), ("wmiprvse", "svc_dcom"), ("dns", "services"),
    ("sqlservr", "services"), ("w3wp", "services"), ("veeam", "services"),
)


def reboot(host: Host) -> Activity:
    """A restart: the boot sequence as Sysmon and Security record it; core processes get new PIDs."""
    def run(w: World, rng: Rng, t: float) -> None:
        old = w.st(host)
        boot = t + 40
        st = winlog.start_host(host, w.org, w.cfg.seed + int(t), boot, old.security_4688)
        st.logon_counter = old.logon_counter
        st.guid_counter = old.guid_counter
        st.logon_hooks = old.logon_hooks
        w.win[host.idx] = st
        template = dict(st.procs)
        tt = boot
        # System -> smss.exe -> a per-session smss.exe -> csrss.exe and wininit.exe / winlogon.exe
        smss = winlog.spawn(w.sink, st, tt, st.procs["system"], "smss.exe", "\\SystemRoot\\System32\\smss.exe",
                            user=SYSTEM, logon_id=0x3E7, integrity="System")
        for i in (0, 1):
            tt += rng.uniform(0.2, 1.0)
            child = winlog.spawn(w.sink, st, tt, smss, "smss.exe", f"\\SystemRoot\\System32\\smss.exe 000000{i}0 "
                                 f"000000{rng.hexstr(2)}", user=SYSTEM, logon_id=0x3E7, integrity="System")
            csrss = winlog.spawn(w.sink, st, tt + 0.1, child, "csrss.exe",
                                 "%SystemRoot%\\system32\\csrss.exe ObjectDirectory=\\Windows SharedSection=1024,"
                                 "20480,768 Windows=On SubSystemType=Windows ServerDll=basesrv,1 ServerDll=winsrv:"
                                 "UserServerDllInitialization,3 ServerDll=sxssrv,4 ProfileControl=Off "
                                 "MaxRequestThreads=16", user=SYSTEM, logon_id=0x3E7, integrity="System")
            st.procs[f"smss{i}"] = child
            del csrss
        for key, parent_key in BOOT_ORDER:
            p = template.get(key)
            if p is None:
                continue
            tt += rng.uniform(0.05, 1.5)
            st.procs[key] = winlog.spawn(w.sink, st, tt, st.procs[parent_key], p.image, p.cmd, user=p.user,
                                         logon_id=p.logon_id, integrity="System", cwd="C:\\Windows\\system32\\")
        for i in (0, 1):  # the session smss.exe instances exit once their children are up
            winlog.terminate(w.sink, st, tt + 0.5, st.procs.pop(f"smss{i}"))
        winlog.logon(w.sink, st, tt + 1, SYSTEM, 5, privileged=True)
        winlog.logon(w.sink, st, tt + 1.2, NETWORK_SERVICE, 5, logon_id=0x3E4, privileged=True)
        winlog.logon(w.sink, st, tt + 1.3, LOCAL_SERVICE, 5, logon_id=0x3E5, privileged=True)
    return run


def scheduled_task(host: Host, kind: str) -> Activity:
    """A Windows or third-party scheduled task firing (taskhostw / the task's own binary)."""
    def run(w: World, rng: Rng, t: float) -> None:
        st = w.st(host)
        sched = st.procs["svc_schedule"]
        if kind == "defender_scan":
            p = winlog.spawn(w.sink, st, t, sched, "MpCmdRun.exe",
                             f"\"{catalog.binary('MpCmdRun.exe').path}\" -IdleTask -TaskName WdCacheMaintenance",
                             cwd="C:\\Windows\\system32\\")
            winlog.terminate(w.sink, st, t + rng.uniform(5, 60), p)
        elif kind == "telemetry":
            p = winlog.spawn(w.sink, st, t, sched, "CompatTelRunner.exe",
                             "C:\\Windows\\system32\\compattelrunner.exe -m:appraiser.dll -f:DoScheduledTelemetryRun "
                             "-cv:" + rng.b64ish(22) + ".1")
            https(w, rng, t + 20, host, st.procs["svc_netsvcs"], "v10.events.data.microsoft.com",
                  rng.randint(20_000, 400_000), rng.randint(2000, 9000), rng.uniform(1, 5))
            winlog.terminate(w.sink, st, t + rng.uniform(60, 400), p)
        elif kind == "google_update":
            gu = winlog.spawn(w.sink, st, t, sched, "GoogleUpdate.exe",
                              "\"C:\\Program Files (x86)\\Google\\Update\\GoogleUpdate.exe\" /ua /installsource "
                              "scheduler", cwd="C:\\Windows\\system32\\")
            https(w, rng, t + 1, host, gu, "update.googleapis.com", rng.randint(1500, 4000), rng.randint(800, 6000),
                  rng.uniform(0.3, 2))
            winlog.terminate(w.sink, st, t + rng.uniform(5, 40), gu)
        elif kind == "taskhost":
            p = winlog.spawn(w.sink, st, t, sched, "taskhostw.exe", "taskhostw.exe Install $(Arg0)")
            winlog.terminate(w.sink, st, t + rng.uniform(2, 30), p)
        elif kind == "onedrive_updater" and host.user is not None:
            u = host.user
            img = f"C:\\Users\\{u.sam}\\AppData\\Local\\Microsoft\\OneDrive\\OneDriveStandaloneUpdater.exe"
            b = catalog.Binary(img, "Standalone Updater", "Microsoft OneDrive", catalog.MS,
                               "OneDriveStandaloneUpdater.exe", "24.020.0128.0003", "Microsoft Corporation")
            p = winlog.spawn(w.sink, st, t, sched, b, f"\"{img}\" /reporting", user=u.account,
                             logon_id=st.session.logon_id if st.session else 0x3E7, integrity="Medium",
                             hashes=file_hashes(b.path.replace(u.sam, "user")))
            https(w, rng, t + 2, host, p, "oneclient.sfx.ms", rng.randint(900, 3000), rng.randint(2000, 40_000),
                  rng.uniform(0.3, 3))
            winlog.terminate(w.sink, st, t + rng.uniform(10, 60), p)
    return run


def gpo_refresh(host: Host) -> Activity:
    """Background Group Policy refresh: the computer account reads SYSVOL on its DC."""
    def run(w: World, rng: Rng, t: float) -> None:
        dc = w.org.dc_for(host)
        if dc is host:
            return
        acct = host.computer_account
        gpt = f"{w.org.domain}\\Policies\\{{31B2F340-016D-11D2-945F-00C04FB984F9}}\\gpt.ini"
        lookup(w, rng, t, host, None, f"{dc.name.lower()}.{w.org.domain}")
        w.net.conn(w.sink, t + 0.05, rng, host.ip, dc.ip, 389, proto="udp", service="cldap", duration=0.002,
                   ob=rng.randint(180, 260), rb=rng.randint(150, 300), host=host.key)
        smb_session(w, rng, t + 0.1, host, dc, acct, "SYSVOL", "\\??\\C:\\Windows\\SYSVOL\\sysvol",
                    [(gpt, rng.randint(22, 60), False)], rng.uniform(0.2, 2.5), audit_files=False)
    return run


def sccm_poll(host: Host) -> Activity:
    def run(w: World, rng: Rng, t: float) -> None:
        cm = w.org.first("mgmt")
        if cm is None or cm is host:
            return
        w.net.http(w.sink, t, rng, host.ip, cm.ip, cm.name, "/SMS_MP/.sms_aut?MPLIST", user_agent="SMS CCM 5.0 TS",
                   resp_len=rng.randint(600, 1400), mime="text/xml", host=host.key)
        if rng.chance(0.3):
            w.net.http(w.sink, t + 0.4, rng, host.ip, cm.ip, cm.name, "/ccm_system/request", method="CCM_POST",
                       user_agent="ccmhttp", req_len=rng.randint(1200, 9000), resp_len=rng.randint(300, 5000),
                       mime="application/octet-stream", host=host.key)
    return run


def sccm_inventory(host: Host) -> Activity:
    """The SCCM client runs a compliance script: PowerShell with -EncodedCommand (a classic FP)."""
    def run(w: World, rng: Rng, t: float) -> None:
        st = w.st(host)
        exe = "\"C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe\""
        path = ""
        if rng.chance(0.5):  # a configuration item's script, run from CCM's temp folder
            path = f"C:\\WINDOWS\\CCM\\SystemTemp\\{rng.guid()[1:-1]}.ps1"
            cmd = f"{exe} -NoLogo -Noninteractive -NoProfile -ExecutionPolicy Bypass \"& '{path}'\""
        else:  # a management script pushed as an encoded command
            enc = base64.b64encode(SCCM_SCRIPT.encode("utf-16-le")).decode()
            cmd = f"{exe} -NoLogo -NonInteractive -NoProfile -ExecutionPolicy Bypass -EncodedCommand {enc}"
        ps = winlog.spawn(w.sink, st, t, st.procs["ccmexec"], "powershell.exe", cmd, cwd="C:\\Windows\\CCM\\")
        winlog.engine_started(w.sink, st, t + 0.4, ps)
        winlog.script_block(w.sink, st, t + 0.6, ps, SCCM_SCRIPT, path)
        winlog.terminate(w.sink, st, t + rng.uniform(3, 40), ps)
    return run


def service_logon(host: Host) -> Activity:
    def run(w: World, rng: Rng, t: float) -> None:
        winlog.logon(w.sink, w.st(host), t, SYSTEM, 5, privileged=True)
    return run


def software_update(host: Host) -> Activity:
    """Third-party software updating itself: download, installer, a service (re)installed."""
    def run(w: World, rng: Rng, t: float) -> None:
        st = w.st(host)
        vendor = rng.choice(("chrome", "adobe", "notepadpp"))
        if vendor == "chrome":
            gu = winlog.spawn(w.sink, st, t, st.procs["svc_schedule"], "GoogleUpdate.exe",
                              "\"C:\\Program Files (x86)\\Google\\Update\\GoogleUpdate.exe\" /ua /installsource "
                              "scheduler")
            https(w, rng, t + 1, host, gu, "dl.google.com", rng.randint(2000, 5000),
                  rng.randint(90_000_000, 110_000_000), rng.uniform(20, 120))
            d = f"C:\\Program Files (x86)\\Google\\Update\\Install\\{rng.guid().upper()}\\"
            setup = winlog.spawn(w.sink, st, t + 130, gu, catalog.Binary(
                d + "122.0.6261.129_chrome_installer.exe", "Google Chrome Installer", "Google Chrome Installer",
                "Google LLC", "mini_installer.exe", "122.0.6261.129", "Google LLC"),
                f"\"{d}122.0.6261.129_chrome_installer.exe\" --system-level --verbose-logging", cwd=d)
            winlog.service_installed(w.sink, st, t + 160, "GoogleChromeElevationService",
                                     "\"C:\\Program Files\\Google\\Chrome\\Application\\122.0.6261.129\\"
                                     "elevation_service.exe\"", start_type="demand start")
            winlog.terminate(w.sink, st, t + 170, setup)
            winlog.terminate(w.sink, st, t + 175, gu)
        elif vendor == "adobe":
            arm = winlog.spawn(w.sink, st, t, st.procs["svc_schedule"], "AdobeARM.exe",
                               "\"C:\\Program Files (x86)\\Common Files\\Adobe\\ARM\\1.0\\AdobeARM.exe\"")
            https(w, rng, t + 1, host, arm, "armmf.adobe.com", rng.randint(1000, 3000), rng.randint(2000, 20_000),
                  rng.uniform(0.3, 2))
            https(w, rng, t + 5, host, arm, "ardownload2.adobe.com", rng.randint(1000, 3000),
                  rng.randint(40_000_000, 300_000_000), rng.uniform(20, 200))
            msi = winlog.spawn(w.sink, st, t + 240, st.procs["services"], "msiexec.exe",
                               "C:\\Windows\\system32\\msiexec.exe /V")
            winlog.service_installed(w.sink, st, t + 260, "AdobeARMservice",
                                     "\"C:\\Program Files (x86)\\Common Files\\Adobe\\ARM\\1.0\\armsvc.exe\"",
                                     start_type="auto start")
            winlog.terminate(w.sink, st, t + 300, msi)
            winlog.terminate(w.sink, st, t + 310, arm)
        else:
            if host.user is None or st.session is None or st.session.explorer is None:
                return
            ex = st.session.explorer
            https(w, rng, t, host, None, "notepad-plus-plus.org", 2000, rng.randint(4_000_000, 5_000_000), 4.0)
            dl = f"C:\\Users\\{host.user.sam}\\Downloads\\npp.8.6.4.Installer.x64.exe"
            inst = winlog.spawn(w.sink, st, t + 30, ex, catalog.Binary(
                dl, "Notepad++ : a free (GNU) source code editor", "Notepad++", "Don HO don.h@free.fr",
                "npp.8.6.4.Installer.x64.exe", "8.6.4", "Notepad++"), f"\"{dl}\"",
                cwd=f"C:\\Users\\{host.user.sam}\\Downloads\\", integrity="High")
            winlog.terminate(w.sink, st, t + rng.uniform(40, 120), inst)
    return run


#: background processes Windows starts all day (image, command line, parent key, user)
BACKGROUND: tuple[tuple[str, str, str, float], ...] = (
    ("SearchProtocolHost.exe", "\"C:\\Windows\\system32\\SearchProtocolHost.exe\" Global\\UsGthrFltPipeMssGthrPipe{n} "
     "Global\\UsGthrCtrlFltPipeMssGthrPipe{n} 1 -2147483646 \"Software\\Microsoft\\Windows Search\" "
     "\"Mozilla/4.0 (compatible; MSIE 6.0; Windows NT; MS Search 4.0 Robot)\" \"C:\\ProgramData\\Microsoft\\Search"
     "\\Data\\Temp\\usgthrsvc\" \"DownLevelDaemon\"", "services", 4),
    ("backgroundTaskHost.exe", "\"C:\\Windows\\system32\\backgroundTaskHost.exe\" "
     "-ServerName:BackgroundTaskHost.WebAccountProvider", "svc_dcom", 3),
    ("dllhost.exe", "C:\\Windows\\system32\\DllHost.exe /Processid:{{AB8902B4-09CA-4BB6-B78D-A8F59079A8D5}}",
     "svc_dcom", 3),
    ("taskhostw.exe", "taskhostw.exe -RegisterDevice -ProtectionStateChanged -FreeNetworkOnly", "svc_schedule", 2),
    ("WmiPrvSE.exe", "C:\\Windows\\system32\\wbem\\wmiprvse.exe -Embedding", "svc_dcom", 2),
    ("rundll32.exe", "C:\\Windows\\system32\\rundll32.exe C:\\Windows\\system32\\PcaSvc.dll,PcaPatchSniffer",
     "svc_schedule", 0.6),
    ("rundll32.exe", "C:\\Windows\\System32\\rundll32.exe C:\\Windows\\System32\\shell32.dll,"
     "SHCreateLocalServerRunDll {{9aa46009-3ce0-458a-a354-715610a075e6}} -Embedding", "svc_dcom", 0.6),
    ("sppsvc.exe", "C:\\Windows\\system32\\sppsvc.exe", "services", 0.5),
    ("MusNotification.exe", "C:\\Windows\\system32\\MusNotification.exe", "svc_schedule", 0.4),
    ("CompatTelRunner.exe", "C:\\Windows\\system32\\CompatTelRunner.exe -m:aeinv.dll -f:UpdateSoftwareInventoryW "
     "invsvc", "svc_schedule", 0.3),
)
_BG_WEIGHTS = tuple((str(i), w) for i, (_, _, _, w) in enumerate(BACKGROUND))


def background_process(host: Host) -> Activity:
    """One of the short-lived processes Windows runs in the background all day."""
    def run(w: World, rng: Rng, t: float) -> None:
        st = w.st(host)
        image, cmd, parent, _ = BACKGROUND[int(rng.weighted(_BG_WEIGHTS))]
        p = winlog.spawn(w.sink, st, t, st.procs[parent], image, cmd.format(n=rng.randint(1, 99)))
        winlog.terminate(w.sink, st, t + rng.uniform(0.5, 120), p)
    return run


REG_NOISE: tuple[tuple[str, str, str], ...] = (
    ("svc_netsvcs", "HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\Schedule\\TaskCache\\Tree\\"
     "Microsoft\\Windows\\UpdateOrchestrator\\Schedule Scan\\Index", "DWORD (0x00000003)"),
    ("svc_netsvcs", "HKLM\\System\\CurrentControlSet\\Services\\bam\\State\\UserSettings\\{sid}\\"
     "\\Device\\HarddiskVolume3\\Windows\\System32\\cmd.exe", "Binary Data"),
    ("msmpeng", "HKLM\\SOFTWARE\\Microsoft\\Windows Defender\\Signature Updates\\SignaturesLastUpdated",
     "Binary Data"),
    ("svc_dcom", "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Component Based Servicing\\"
     "SessionsPending\\Exclusive", "DWORD (0x00000000)"),
)


def registry_noise(host: Host) -> Activity:
    def run(w: World, rng: Rng, t: float) -> None:
        st = w.st(host)
        key, target, details = rng.choice(REG_NOISE)
        user_sid = host.user.sid if host.user else "S-1-5-18"
        winlog.reg_set(w.sink, st, t, st.procs[key], target.format(sid=user_sid), details)
    return run


def lsass_benign_access(host: Host) -> Activity:
    """Security products and WMI touching LSASS with read masks (FPs for naive LSASS rules)."""
    def run(w: World, rng: Rng, t: float) -> None:
        st = w.st(host)
        src = st.procs["wmiprvse"] if rng.chance(0.5) else st.procs["msmpeng"]
        access = "0x1010" if src is st.procs["wmiprvse"] else "0x1410"
        winlog.process_access(w.sink, st, t, src, st.procs["lsass"], access,
                              "C:\\Windows\\SYSTEM32\\ntdll.dll+9d4c4|C:\\Windows\\System32\\KERNELBASE.dll+2c13e|"
                              "C:\\Windows\\System32\\cimwin32.dll+1a5e3|UNKNOWN(00007FF8C2A1B2C3)")
    return run


# ------------------------------------------------------------------------------------------
# Server roles
# ------------------------------------------------------------------------------------------
def dc_replication(src: Host, dst: Host) -> Activity:
    """DC-to-DC replication: RPC to the partner and 4662 replication rights by the DC account."""
    def run(w: World, rng: Rng, t: float) -> None:
        w.net.conn(w.sink, t, rng, src.ip, dst.ip, 135, service="dce_rpc", duration=0.01, ob=220, rb=180,
                   host=src.key)
        w.net.conn(w.sink, t + 0.02, rng, src.ip, dst.ip, rng.randint(49664, 49700), service="dce_rpc",
                   duration=rng.uniform(0.05, 2), ob=rng.randint(2000, 20000), rb=rng.randint(4000, 400_000),
                   host=src.key)
        lid = network_logon(w, rng, t + 0.01, src, dst, src.computer_account,
                            spn=f"E3514235-4B06-11D1-AB04-00C04FC2DCD2/{rng.guid()[1:-1]}/{w.org.domain}",
                            privileged=True)
        if rng.chance(0.25):
            for right in winlog.REPLICATION_RIGHTS[:2]:
                winlog.ds_replication(w.sink, w.st(dst), t + 0.05, src.computer_account, lid, right, w.domain_guid)
    return run


def nightly_backup(backup: Host) -> Activity:
    """Veeam pulls every server's changed blocks, then copies the backup chain off-site."""
    def run(w: World, rng: Rng, t: float) -> None:
        st = w.st(backup)
        svc = w.org.service_accounts["svc_backup"]
        mgr = st.procs.get("veeam") or st.procs["services"]
        tt = t
        for server in w.org.windows_servers:
            if server is backup:
                continue
            agent = winlog.spawn(w.sink, st, tt, mgr, "C:\\Program Files (x86)\\Veeam\\Backup Transport\\x64\\"
                                 "VeeamAgent.exe", f"\"C:\\Program Files (x86)\\Veeam\\Backup Transport\\x64\\"
                                 f"VeeamAgent.exe\" -l {server.name}_{rng.hexstr(8)}.log -s 2500 -p 3300")
            network_logon(w, rng, tt + 0.5, backup, server, svc, privileged=True)
            size = rng.randint(2_000_000_000, 40_000_000_000) if server.role in ("file", "sql") \
                else rng.randint(200_000_000, 4_000_000_000)
            dur = size / rng.uniform(80e6, 250e6)
            w.net.conn(w.sink, tt + 1, rng, backup.ip, server.ip, 6160, service="-", duration=0.4, ob=900, rb=2400,
                       host=backup.key)
            w.net.conn(w.sink, tt + 2, rng, backup.ip, server.ip, rng.randint(2500, 3300), service="-",
                       duration=dur, ob=rng.randint(2_000_000, 20_000_000), rb=size, host=backup.key)
            winlog.terminate(w.sink, st, tt + dur + 5, agent)
            tt += dur + rng.uniform(10, 60)
        # offsite copy to cloud object storage (a large, regular, benign upload)
        total = rng.randint(8_000_000_000, 60_000_000_000)
        acct = f"{w.org.netbios.lower()}backup{w.cfg.seed % 97:02d}"
        https(w, rng, tt + 120, backup, mgr, f"{acct}.blob.core.windows.net", total, rng.randint(2_000_000, 9_000_000),
              total / rng.uniform(40e6, 120e6))
    return run


def sql_clients(sql: Host, apps: list[Host]) -> Activity:
    def run(w: World, rng: Rng, t: float) -> None:
        for app in apps:
            w.net.conn(w.sink, t + rng.uniform(0, 30), rng, app.ip, sql.ip, 1433, service="-",
                       duration=rng.uniform(0.1, 40), ob=rng.randint(2000, 200_000), rb=rng.randint(4000, 2_000_000),
                       host=app.key)
    return run


def web_traffic(web: Host) -> Activity:
    """Internet customers on the public web site (inbound TLS)."""
    def run(w: World, rng: Rng, t: float) -> None:
        for _ in range(rng.randint(1, 6)):
            client = w.org.internet.random_ip(rng)
            w.net.https(w.sink, t + rng.uniform(0, 50), rng, client, web.ip, f"www.{w.org.domain.split('.', 1)[1]}",
                        rng.randint(600, 4000), rng.randint(5000, 900_000), rng.uniform(0.2, 20), host=web.key)
    return run


def iis_recycle(web: Host) -> Activity:
    """An app pool recycle compiles ASP.NET pages: w3wp.exe -> csc.exe -> cvtres.exe (webshell-rule FP)."""
    def run(w: World, rng: Rng, t: float) -> None:
        st = w.st(web)
        w3 = st.procs.get("w3wp")
        if w3 is None:
            return
        tmp = f"C:\\Windows\\Microsoft.NET\\Framework64\\v4.0.30319\\Temporary ASP.NET Files\\root\\{rng.hexstr(8)}"
        csc = winlog.spawn(w.sink, st, t, w3, catalog.Binary(
            "C:\\Windows\\Microsoft.NET\\Framework64\\v4.0.30319\\csc.exe", "Visual C# Command Line Compiler",
            "Microsoft® .NET Framework", catalog.MS, "csc.exe", "4.8.4161.0 built by: NET48REL1",
            "Microsoft Corporation"),
            f"\"C:\\Windows\\Microsoft.NET\\Framework64\\v4.0.30319\\csc.exe\" /noconfig /fullpaths "
            f"@\"{tmp}\\{rng.hexstr(8)}.cmdline\"", cwd="C:\\Windows\\system32\\inetsrv\\")
        cvt = winlog.spawn(w.sink, st, t + 0.8, csc, catalog.Binary(
            "C:\\Windows\\Microsoft.NET\\Framework64\\v4.0.30319\\cvtres.exe", "Microsoft® Resource File To COFF "
            "Object Conversion Utility", "Microsoft® .NET Framework", catalog.MS, "CVTRES.EXE",
            "14.10.25028.0 built by: VCTOOLSD15RTM", "Microsoft Corporation"),
            f"C:\\Windows\\Microsoft.NET\\Framework64\\v4.0.30319\\cvtres.exe /NOLOGO /READONLY /MACHINE:IX86 "
            f"\"/OUT:C:\\Windows\\TEMP\\RES{rng.hexstr(4).upper()}.tmp\"")
        winlog.terminate(w.sink, st, t + 1.2, cvt)
        winlog.terminate(w.sink, st, t + 1.6, csc)
    return run


def wsus_sync(cm: Host) -> Activity:
    def run(w: World, rng: Rng, t: float) -> None:
        st = w.st(cm)
        for host in rng.sample(catalog.UPDATE_HOSTS, 3):
            https(w, rng, t + rng.uniform(0, 300), cm, st.procs["svc_netsvcs"], host, rng.randint(3000, 30000),
                  rng.randint(5_000_000, 900_000_000), rng.uniform(30, 900))
    return run


# ------------------------------------------------------------------------------------------
# Plan for one Windows host and day
# ------------------------------------------------------------------------------------------
def plan_windows_background(w: World, host: Host, day: date, t0: float, rng: Rng, add: Add) -> None:
    """Schedule the background activities of one Windows host for one day."""
    noise = w.cfg.noise
    t1 = t0 + 86400.0
    st = w.st(host)
    periodic(add, rng, t0, t1, 1800.0 / noise, 0.4,
             make_call_home(host, "v10.events.data.microsoft.com", "svc_netsvcs", (2000, 60_000), (700, 3000)))
    periodic(add, rng, t0, t1, 1800.0 / noise, 0.5,
             make_call_home(host, "client.wns.windows.com", "svc_netsvcs", (300, 900), (200, 1200), 0.1))
    periodic(add, rng, t0, t1, 3600.0 * 6, 0.3, defender_update(host))
    periodic(add, rng, t0, t1, 480.0 / noise, 0.8, background_process(host))
    periodic(add, rng, t0, t1, 2400.0 / noise, 0.8, registry_noise(host))
    periodic(add, rng, t0, t1, 3600.0 * 5, 0.2, make_call_home(host, "wdcp.microsoft.com", "msmpeng",
                                                                 (1500, 8000), (900, 4000)))
    periodic(add, rng, t0, t1, 3600.0 * 10, 0.5, update_check(host))
    periodic(add, rng, t0, t1, 5400.0, 0.33, gpo_refresh(host))
    periodic(add, rng, t0, t1, 3600.0 / noise, 0.1, sccm_poll(host))
    periodic(add, rng, t0, t1, 3600.0 * 3, 0.6, service_logon(host))
    add(t0 + rng.uniform(3600 * 10, 3600 * 16), sccm_inventory(host))
    for kind, p in (("defender_scan", 0.8), ("telemetry", 0.6), ("google_update", 0.9), ("taskhost", 0.9),
                    ("onedrive_updater", 0.7)):
        if rng.chance(p):
            add(t0 + rng.uniform(0, 86400), scheduled_task(host, kind))
    if rng.chance(0.3):
        add(t0 + rng.uniform(0, 86400), lsass_benign_access(host))
    if rng.chance(0.03 * noise):
        add(t0 + rng.uniform(3600 * 9, 3600 * 17), software_update(host))
    pt = patch_tuesday(day)
    if day == pt:
        add(t0 + rng.uniform(3600 * 12, 3600 * 20), patch_download(host))
    if day == pt + timedelta(days=1) or (host.laptop and day.weekday() == 0 and rng.chance(0.5)):
        add(t0 + 3600 * 3 + rng.uniform(0, 1800), reboot(host))
    # server roles
    if host.role == "dc" and len(w.org.dcs) > 1:
        partner = next(d for d in w.org.dcs if d is not host)
        periodic(add, rng, t0, t1, 900.0, 0.1, dc_replication(host, partner))
    elif host.role == "backup":
        add(t0 + 3600 + rng.uniform(0, 900), nightly_backup(host))
    elif host.role == "sql":
        apps = [h for h in w.org.hosts if h.role in ("app", "web")][:8]
        if apps:
            periodic(add, rng, t0, t1, 600.0, 0.3, sql_clients(host, apps))
    elif host.role == "web":
        periodic(add, rng, t0, t1, 240.0 / noise, 0.8, web_traffic(host))
        if rng.chance(0.3):
            add(t0 + rng.uniform(0, 86400), iis_recycle(host))
    elif host.role == "mgmt":
        add(t0 + 3600 * 2 + rng.uniform(0, 600), wsus_sync(host))
    del st
