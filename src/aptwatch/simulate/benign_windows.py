"""People at work on Windows workstations, and IT administrators at work on servers.

A workday: the user arrives (interactive logon, Kerberos, Group Policy, the shell and
startup applications), reads mail, browses (popular sites and a long tail of rarely visited
ones), opens and saves documents on the file server, locks the screen at lunch, sometimes
opens a console (`ipconfig`, `ping`, `nslookup`, `git` - discovery-looking commands are part
of normal life), and logs off. IT staff also administer servers: RDP, PsExec, WinRM /
PowerShell remoting, Active Directory changes - the same techniques attackers use for
lateral movement, which is exactly why detectors need baselines.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from aptwatch.simulate import catalog, winlog
from aptwatch.simulate.org import SYSTEM, Account, Host, User
from aptwatch.simulate.rand import FileHashes, Rng, file_hashes
from aptwatch.simulate.winlog import Proc, Session, WinState
from aptwatch.simulate.world import Activity, World, https, lookup, network_logon, service_ticket, smb_session, tgt

Add = Callable[[float, Activity], None]

LogonHook = Callable[[World, Rng, float, WinState, Session], None]


def _user_binary(path: str, desc: str, product: str, original: str, version: str) -> catalog.Binary:
    return catalog.Binary(path, desc, product, catalog.MS, original, version, "Microsoft Corporation")


def interactive_logon(host: Host, user: User) -> Activity:
    """The user signs in: TGT, 4624 type 2, Group Policy, userinit -> explorer -> startup apps."""
    def run(w: World, rng: Rng, t: float) -> None:
        st = w.st(host)
        if st.session is not None:
            return
        tgt(w, rng, t - 0.3, host, user)
        service_ticket(w, rng, t - 0.2, host, user.sam, f"host/{host.fqdn.lower()}", host.name + "$", host.sid)
        lid = winlog.logon(w.sink, st, t, user.account, 2, ip="127.0.0.1", port="0", auth="Negotiate",
                           workstation=host.name, privileged=user.privileged, elevated=False)
        session = Session(user, lid, 2, t)
        st.session = session
        ui = winlog.spawn(w.sink, st, t + 1.2, st.procs["winlogon"], "userinit.exe",
                          "C:\\Windows\\system32\\userinit.exe", user=user.account, logon_id=lid, integrity="Medium",
                          session=1)
        ex = winlog.spawn(w.sink, st, t + 2.0, ui, "explorer.exe", "C:\\Windows\\Explorer.EXE",
                          cwd="C:\\Windows\\system32\\")
        session.explorer = ex
        winlog.terminate(w.sink, st, t + 9.0, ui)
        winlog.spawn(w.sink, st, t + 2.5, st.procs["svc_netsvcs"], "sihost.exe", "sihost.exe", user=user.account,
                     logon_id=lid, integrity="Medium")
        winlog.spawn(w.sink, st, t + 3.0, st.procs["svc_dcom"], "RuntimeBroker.exe",
                     "C:\\Windows\\System32\\RuntimeBroker.exe -Embedding", user=user.account, logon_id=lid,
                     integrity="Medium")
        winlog.spawn(w.sink, st, t + 3.2, ex, "ctfmon.exe", "\"ctfmon.exe\"")
        od = f"C:\\Users\\{user.sam}\\AppData\\Local\\Microsoft\\OneDrive\\OneDrive.exe"
        st.procs["onedrive"] = winlog.spawn(
            w.sink, st, t + 6.0, ex, _user_binary(od, "Microsoft OneDrive", "Microsoft OneDrive", "OneDrive.exe",
                                                  "24.020.0128.0003"), f"\"{od}\" /background",
            hashes=file_hashes("onedrive.exe"))
        st.procs["teams"] = winlog.spawn(w.sink, st, t + 7.0, ex,
                                         "C:\\Program Files (x86)\\Microsoft\\Teams\\current\\Teams.exe",
                                         "\"C:\\Program Files (x86)\\Microsoft\\Teams\\current\\Teams.exe\" "
                                         "--process-start-args \"--system-initiated\"")
        https(w, rng, t + 8, host, st.procs["teams"], "teams.microsoft.com", rng.randint(4000, 20000),
              rng.randint(40_000, 900_000), rng.uniform(2, 30))
        https(w, rng, t + 9, host, st.procs["onedrive"], f"{w.org.netbios.lower()}-my.sharepoint.com",
              rng.randint(4000, 40000), rng.randint(40_000, 4_000_000), rng.uniform(2, 60))
        for hook in list(st.logon_hooks):
            hook(w, rng, t + 10, st, session)  # type: ignore[operator]
    return run


def start_outlook(host: Host) -> Activity:
    def run(w: World, rng: Rng, t: float) -> None:
        st = w.st(host)
        if st.session is None or st.session.explorer is None or "outlook" in st.procs:
            return
        ol = winlog.spawn(w.sink, st, t, st.session.explorer,
                          "C:\\Program Files\\Microsoft Office\\root\\Office16\\OUTLOOK.EXE",
                          "\"C:\\Program Files\\Microsoft Office\\root\\Office16\\OUTLOOK.EXE\" ")
        st.procs["outlook"] = ol
        https(w, rng, t + 2, host, ol, "outlook.office365.com", rng.randint(40_000, 900_000),
              rng.randint(200_000, 20_000_000), rng.uniform(1800, 20000))
    return run


def browse(host: Host) -> Activity:
    """A few minutes of browsing: popular sites, now and then a rarely visited one."""
    def run(w: World, rng: Rng, t: float) -> None:
        st = w.st(host)
        s = st.session
        if s is None or s.explorer is None:
            return
        key = "chrome" if host.idx % 3 else "msedge"
        br = st.procs.get(key)
        if br is None:
            path = catalog.binary(f"{key}.exe").path
            br = winlog.spawn(w.sink, st, t, s.explorer, path, f"\"{path}\" ")
            st.procs[key] = br
            for i in range(rng.randint(2, 4)):
                child = winlog.spawn(w.sink, st, t + 0.3 + i * 0.1, br, path,
                                     f"\"{path}\" --type=renderer --lang=en-US --num-raster-threads=4 "
                                     f"--renderer-client-id={i + 5} --launch-time-ticks={rng.randint(10**9, 10**10)} "
                                     "/prefetch:1")
                winlog.terminate(w.sink, st, t + rng.uniform(600, 7200), child)
        sites = rng.randint(1, 5)
        tt = t + 1
        for _ in range(sites):
            domain = rng.choice(w.org.internet.long_tail) if rng.chance(0.12) else rng.weighted(w.org.internet.popular)
            https(w, rng, tt, host, br, domain, rng.randint(800, 30_000), rng.randint(5_000, 3_000_000),
                  rng.uniform(0.5, 90))
            if rng.chance(0.5):
                https(w, rng, tt + 0.4, host, br, rng.choice(("www.gstatic.com", "fonts.googleapis.com",
                                                              "cdnjs.cloudflare.com", "ajax.googleapis.com")),
                      rng.randint(500, 2000), rng.randint(5000, 200_000), rng.uniform(0.1, 5))
            tt += rng.uniform(5, 120)
        if rng.chance(0.15):
            ocsp, uri, mime = rng.choice(catalog.HTTP_SYSTEM)
            ip = lookup(w, rng, tt, host, None, ocsp)
            w.net.http(w.sink, tt + 0.05, rng, host.ip, ip, ocsp, uri, user_agent=catalog.CRYPTOAPI_UA,
                       resp_len=rng.randint(400, 6000), mime=mime, host=host.key)
    return run


def office_document(host: Host) -> Activity:
    """Open (and sometimes save) a document from the department share on the file server."""
    def run(w: World, rng: Rng, t: float) -> None:
        st = w.st(host)
        s = st.session
        fs = w.org.first("file")
        if s is None or s.explorer is None or fs is None:
            return
        app = rng.choice(("WINWORD.EXE", "EXCEL.EXE", "EXCEL.EXE", "POWERPNT.EXE"))
        ext = {"WINWORD.EXE": ".docx", "EXCEL.EXE": ".xlsx", "POWERPNT.EXE": ".pptx"}[app]
        doc = f"{rng.choice(catalog.DOC_WORDS)}_{rng.choice(catalog.DOC_WORDS)}_{rng.randint(2019, 2024)}{ext}"
        share = s.user.department.capitalize()
        unc = f"\\\\{fs.name}\\{share}\\{doc}"
        key = app.lower()
        proc = st.procs.get(key)
        if proc is None:
            path = catalog.binary(app).path
            proc = winlog.spawn(w.sink, st, t, s.explorer, path, f"\"{path}\" /n \"{unc}\" /o \"\"")
            st.procs[key] = proc
        size = rng.randint(20_000, 4_000_000)
        files = [(f"{doc}", size, False)]
        if rng.chance(0.35):
            files.append((f"~${doc[2:]}", 162, True))
            files.append((doc, size + rng.randint(-5000, 50_000), True))
        smb_session(w, rng, t + 0.5, host, fs, s.user, share, f"\\??\\D:\\Shares\\{share}", files,
                    rng.uniform(2, 600), audit_files=rng.chance(0.5))
    return run


def lock_unlock(host: Host, away: float) -> Activity:
    def run(w: World, rng: Rng, t: float) -> None:
        st = w.st(host)
        s = st.session
        if s is None:
            return
        a = s.user.account
        sink = w.sink
        sink.win(t, host, winlog.SECURITY, 4800, {"TargetUserSid": a.sid, "TargetUserName": a.name,
                                                  "TargetDomainName": a.domain, "TargetLogonId": hex(s.logon_id),
                                                  "SessionId": "1"}, exec_pid=st.procs["lsass"].pid)
        back = t + away
        lid = winlog.logon(sink, st, back, a, 7, ip="127.0.0.1", port="0", auth="Negotiate", workstation=host.name,
                           elevated=False)
        sink.win(back + 0.2, host, winlog.SECURITY, 4801, {"TargetUserSid": a.sid, "TargetUserName": a.name,
                                                           "TargetDomainName": a.domain,
                                                           "TargetLogonId": hex(s.logon_id), "SessionId": "1"},
                 exec_pid=st.procs["lsass"].pid)
        winlog.logoff(sink, st, back + 1.5, a, lid, 7)
    return run


def console_work(host: Host) -> Activity:
    """A power user opens a console: ipconfig, ping, nslookup, git, tasklist - normal discovery."""
    def run(w: World, rng: Rng, t: float) -> None:
        st = w.st(host)
        s = st.session
        if s is None or s.explorer is None:
            return
        home = f"C:\\Users\\{s.user.sam}\\"
        if rng.chance(0.6):
            cmd = winlog.spawn(w.sink, st, t, s.explorer, "cmd.exe", "\"C:\\Windows\\system32\\cmd.exe\" ", cwd=home)
            con = winlog.spawn(w.sink, st, t + 0.05, cmd, "conhost.exe", "\\??\\C:\\Windows\\system32\\conhost.exe "
                               "0xffffffff -ForceV1")
            tt = t + 3
            for _ in range(rng.randint(1, 4)):
                choice = rng.choice(("ipconfig /all", "ping -n 4 {fs}", "nslookup {dc}", "ipconfig /flushdns",
                                     "tasklist", "whoami", "netstat -ano", "git pull", "hostname", "ping 8.8.8.8"))
                fs = w.org.first("file")
                line = choice.format(fs=fs.name if fs else "8.8.8.8", dc=w.org.dc_for(host).fqdn.lower())
                exe = line.split()[0] + ".exe"
                image = "C:\\Program Files\\Git\\cmd\\git.exe" if exe == "git.exe" else exe
                p = winlog.spawn(w.sink, st, tt, cmd, image, line, cwd=home)
                if exe == "git.exe":
                    https(w, rng, tt + 0.3, host, p, "github.com", rng.randint(1000, 5000),
                          rng.randint(2000, 500_000), rng.uniform(0.5, 8))
                winlog.terminate(w.sink, st, tt + rng.uniform(0.2, 8), p)
                tt += rng.uniform(5, 120)
            winlog.terminate(w.sink, st, tt + 5, con)
            winlog.terminate(w.sink, st, tt + 5.1, cmd)
        else:
            ps_path = catalog.binary("powershell.exe").path
            ps = winlog.spawn(w.sink, st, t, s.explorer, ps_path, f"\"{ps_path}\" ", cwd=home)
            winlog.engine_started(w.sink, st, t + 0.6, ps)
            scripts = ["Get-Process | Sort-Object CPU -Descending | Select-Object -First 10",
                       "Get-ChildItem -Path $env:USERPROFILE\\Documents -Recurse -Filter *.xlsx | Measure-Object",
                       "Test-NetConnection -ComputerName {fs} -Port 445", "Get-Service | Where-Object Status -eq "
                       "'Stopped'", "Get-EventLog -LogName System -Newest 20", "Resolve-DnsName {dc}"]
            if s.user.department == "it":
                scripts += ["Get-ADUser -Filter * -Properties LastLogonDate | Where-Object LastLogonDate -lt "
                            "(Get-Date).AddDays(-90)", "Get-ADGroupMember -Identity 'Domain Admins'",
                            "Get-ADComputer -Filter 'OperatingSystem -like \"*Server*\"' | Select-Object Name"]
            fs = w.org.first("file")
            for i in range(rng.randint(1, 3)):
                text = rng.choice(scripts).format(fs=fs.name if fs else "localhost",
                                                  dc=w.org.dc_for(host).fqdn.lower())
                winlog.script_block(w.sink, st, t + 5 + i * rng.uniform(10, 200), ps, text)
            winlog.terminate(w.sink, st, t + rng.uniform(300, 1800), ps)
    return run


def download_tool(host: Host) -> Activity:
    """A user downloads a utility and runs it from Downloads (mark of the web, user-path binary)."""
    def run(w: World, rng: Rng, t: float) -> None:
        st = w.st(host)
        s = st.session
        if s is None or s.explorer is None:
            return
        name, site, desc = rng.choice((("putty.exe", "the.earth.li", "SSH, Telnet, Rlogin, and SUPDUP client"),
                                       ("WinSCP-6.3-Setup.exe", "winscp.net", "Setup for WinSCP"),
                                       ("vlc-3.0.20-win64.exe", "get.videolan.org", "VLC media player"),
                                       ("npp.8.6.4.Installer.x64.exe", "github.com", "Notepad++ installer")))
        br = st.procs.get("chrome") or st.procs.get("msedge") or s.explorer
        path = f"C:\\Users\\{s.user.sam}\\Downloads\\{name}"
        https(w, rng, t, host, br, site, rng.randint(1000, 4000), rng.randint(1_000_000, 40_000_000),
              rng.uniform(2, 30))
        winlog.file_create(w.sink, st, t + 10, br, path)
        winlog.file_stream(w.sink, st, t + 10.1, br, path, f"https://{site}/{name}")
        p = winlog.spawn(w.sink, st, t + rng.uniform(20, 300), s.explorer,
                         catalog.Binary(path, desc, name.split(".")[0], "-", name, "1.0.0.0", ""), f"\"{path}\"",
                         cwd=f"C:\\Users\\{s.user.sam}\\Downloads\\", hashes=file_hashes(name))
        if name == "putty.exe":
            srv = [h for h in w.org.hosts if h.os == "linux"]
            if srv:
                target = rng.choice(srv)
                _uid, sport = w.net.conn(w.sink, p.start + 5, rng, host.ip, target.ip, 22, service="ssh",
                                        duration=rng.uniform(60, 1800), ob=rng.randint(5000, 90_000),
                                        rb=rng.randint(10_000, 400_000), host=host.key)
                winlog.net_connect(w.sink, st, p.start + 5, p, host.ip, sport, target.ip, 22)
        winlog.terminate(w.sink, st, p.start + rng.uniform(30, 1200), p)
    return run


USER_APPS: tuple[tuple[str, str], ...] = (
    ("notepad.exe", "\"C:\\Windows\\system32\\NOTEPAD.EXE\" C:\\Users\\{u}\\Documents\\notes.txt"),
    ("C:\\Program Files\\Notepad++\\notepad++.exe", "\"C:\\Program Files\\Notepad++\\notepad++.exe\" "),
    ("C:\\Program Files\\Adobe\\Acrobat DC\\Acrobat\\Acrobat.exe",
     "\"C:\\Program Files\\Adobe\\Acrobat DC\\Acrobat\\Acrobat.exe\" \"C:\\Users\\{u}\\Downloads\\"
     "invoice_{n}.pdf\""),
    ("C:\\Program Files\\7-Zip\\7z.exe", "\"C:\\Program Files\\7-Zip\\7z.exe\" x -o\"C:\\Users\\{u}\\"
     "Downloads\\photos_{n}\" \"C:\\Users\\{u}\\Downloads\\photos_{n}.zip\""),
    ("smartscreen.exe", "C:\\Windows\\System32\\smartscreen.exe -Embedding"),
    ("C:\\Program Files\\Microsoft VS Code\\Code.exe", "\"C:\\Program Files\\Microsoft VS Code\\Code.exe\" "),
)


def user_app(host: Host) -> Activity:
    """The user opens a local application for a while."""
    def run(w: World, rng: Rng, t: float) -> None:
        st = w.st(host)
        s = st.session
        if s is None or s.explorer is None:
            return
        image, cmd = rng.choice(USER_APPS)
        if "Code.exe" in image and s.user.department not in ("it", "engineering", "research"):
            image, cmd = USER_APPS[0]
        parent = st.procs["svc_dcom"] if image == "smartscreen.exe" else s.explorer  # COM-activated
        p = winlog.spawn(w.sink, st, t, parent, image, cmd.format(u=s.user.sam, n=rng.randint(1000, 9999)),
                         user=s.user.account, logon_id=s.logon_id, integrity="Medium",
                         cwd=f"C:\\Users\\{s.user.sam}\\")
        winlog.terminate(w.sink, st, t + rng.uniform(20, 5400), p)
    return run


def evening_logoff(host: Host) -> Activity:
    def run(w: World, rng: Rng, t: float) -> None:
        st = w.st(host)
        s = st.session
        if s is None:
            return
        tt = t
        for key in ("outlook", "teams", "onedrive", "chrome", "msedge", "winword.exe", "excel.exe", "powerpnt.exe"):
            p = st.procs.pop(key, None)
            if p is not None:
                tt += rng.uniform(0.1, 2.0)
                winlog.terminate(w.sink, st, tt, p)
        if s.explorer is not None:
            winlog.terminate(w.sink, st, tt + 1, s.explorer)
        for key in [k for k in st.procs if k.startswith("user:")]:
            p = st.procs.pop(key)
            with w.sink.labelled(p.label):  # type: ignore[arg-type]
                winlog.terminate(w.sink, st, tt + 1.1, p)
        winlog.logoff(w.sink, st, tt + 2, s.user.account, s.logon_id, 2, user_initiated=True)
        st.session = None
    return run


# ------------------------------------------------------------------------------------------
# IT administration
# ------------------------------------------------------------------------------------------
def admin_rdp(host: Host, admin: User, target: Host) -> Activity:
    def run(w: World, rng: Rng, t: float) -> None:
        st = w.st(host)
        s = st.session
        if s is None or s.explorer is None or target.os != "windows":
            return
        mstsc = winlog.spawn(w.sink, st, t, s.explorer, "mstsc.exe",
                             f"\"C:\\Windows\\system32\\mstsc.exe\" /v:{target.name}")
        winlog.explicit_logon(w.sink, st, t + 6, mstsc, admin.account, target.fqdn, target.ip, "3389")
        tgt(w, rng, t + 6.1, host, admin)
        service_ticket(w, rng, t + 6.2, host, admin.sam, f"TERMSRV/{target.fqdn}", target.name + "$", target.sid)
        dur = rng.uniform(300, 3600)
        _uid, sport = w.net.conn(w.sink, t + 6.3, rng, host.ip, target.ip, 3389, service="ssl", duration=dur,
                                ob=rng.randint(200_000, 8_000_000), rb=rng.randint(1_000_000, 90_000_000),
                                host=host.key)
        winlog.net_connect(w.sink, st, t + 6.3, mstsc, host.ip, sport, target.ip, 3389)
        tst = w.st(target)
        lid = winlog.logon(w.sink, tst, t + 7, admin.account, 10, ip=host.ip, port=str(sport), auth="Negotiate",
                           workstation=host.name, privileged=True)
        ui = winlog.spawn(w.sink, tst, t + 8, tst.procs["winlogon"], "userinit.exe",
                          "C:\\Windows\\system32\\userinit.exe", user=admin.account, logon_id=lid, integrity="High",
                          session=2)
        ex = winlog.spawn(w.sink, tst, t + 8.5, ui, "explorer.exe", "C:\\Windows\\Explorer.EXE")
        winlog.spawn(w.sink, tst, t + 9, tst.procs["svc_termsvc"], "rdpclip.exe", "rdpclip", user=admin.account,
                     logon_id=lid, integrity="High")
        tool = rng.choice((("mmc.exe", "\"C:\\Windows\\system32\\mmc.exe\" C:\\Windows\\system32\\services.msc"),
                           ("powershell.exe", "\"C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe\" "),
                           ("mmc.exe", "\"C:\\Windows\\system32\\mmc.exe\" C:\\Windows\\system32\\eventvwr.msc"),
                           ("notepad.exe", "\"C:\\Windows\\system32\\NOTEPAD.EXE\" C:\\inetpub\\logs\\readme.txt")))
        p = winlog.spawn(w.sink, tst, t + 30, ex, tool[0] if tool[0] != "mmc.exe" else catalog.Binary(
            "C:\\Windows\\System32\\mmc.exe", "Microsoft Management Console", catalog.WINPROD, catalog.MS, "MMC.EXE",
            catalog.SRVVER), tool[1])
        if tool[0] == "powershell.exe":
            winlog.script_block(w.sink, tst, t + 40, p, rng.choice(("Get-Service | Where-Object Status -eq 'Stopped'",
                                                                     "Restart-Service -Name Spooler",
                                                                     "Get-Volume", "Get-WindowsUpdateLog")))
        winlog.terminate(w.sink, tst, t + dur - 20, p)
        winlog.terminate(w.sink, tst, t + dur - 5, ex)
        winlog.logoff(w.sink, tst, t + dur, admin.account, lid, 10)
        winlog.terminate(w.sink, st, t + dur + 1, mstsc)
    return run


def admin_psexec(host: Host, admin: User, target: Host) -> Activity:
    """PsExec by an administrator: ADMIN$ write, PSEXESVC service, a remote command."""
    def run(w: World, rng: Rng, t: float) -> None:
        st = w.st(host)
        s = st.session
        if s is None or s.explorer is None or target.os != "windows":
            return
        remote_cmd = rng.choice(("ipconfig /flushdns", "gpupdate /force", "net stop spooler", "shutdown /r /t 600",
                                 "wuauclt /detectnow", "sc query wuauserv"))
        cmd = winlog.spawn(w.sink, st, t, s.explorer, "cmd.exe", "\"C:\\Windows\\system32\\cmd.exe\" ",
                           user=admin.account, integrity="High")
        px = winlog.spawn(w.sink, st, t + 4, cmd, "C:\\Tools\\Sysinternals\\PsExec.exe",
                          f"PsExec.exe \\\\{target.name} -accepteula -s cmd /c \"{remote_cmd}\"",
                          cwd="C:\\Tools\\Sysinternals\\")
        psexec_remote(w, rng, t + 5, host, px, target, admin, remote_cmd, service_name="PSEXESVC",
                      binary="PSEXESVC.exe")
        winlog.terminate(w.sink, st, t + 20, px)
        winlog.terminate(w.sink, st, t + 40, cmd)
    return run


def psexec_remote(w: World, rng: Rng, t: float, client: Host, client_proc: Proc, target: Host, user: User,
                  command: str, *, service_name: str, binary: str, image_hashes: FileHashes | None = None,
                  auth: str = "Kerberos") -> None:
    """What PsExec-style execution leaves: SMB ADMIN$ write, service install, remote process."""
    tst = w.st(target)
    size = rng.randint(300_000, 400_000)
    uid, sport, lid = smb_session(w, rng, t, client, target, user, "ADMIN$", "\\??\\C:\\Windows",
                                  [(binary, size, True)], rng.uniform(5, 20), auth=auth)
    winlog.net_connect(w.sink, w.st(client), t, client_proc, client.ip, sport, target.ip, 445)
    w.net.smb_mapping(w.sink, t + 0.5, uid, client.ip, sport, target.ip, f"\\\\{target.name}\\IPC$", "PIPE",
                      host=client.key)
    image = f"%SystemRoot%\\{binary}"
    winlog.service_installed(w.sink, tst, t + 1.0, service_name, image, installer=user.account, installer_logon=lid)
    svc = winlog.spawn(w.sink, tst, t + 1.4, tst.procs["services"],
                       catalog.Binary(f"C:\\Windows\\{binary}", *_psexesvc_meta(binary)),
                       f"C:\\Windows\\{binary}", user=SYSTEM, logon_id=0x3E7, integrity="System",
                       hashes=image_hashes)
    winlog.pipe(w.sink, tst, t + 1.6, svc, f"\\{service_name}-{client.name}-{rng.randint(1000, 9999)}-stdin")
    child = winlog.spawn(w.sink, tst, t + 2.0, svc, "cmd.exe", f"cmd /c \"{command}\"")
    winlog.terminate(w.sink, tst, t + rng.uniform(3, 9), child)
    winlog.terminate(w.sink, tst, t + 10, svc)


def _psexesvc_meta(binary: str) -> tuple[str, str, str, str, str, str]:
    if binary.upper() == "PSEXESVC.EXE":
        return ("PsExec Service", "Sysinternals PsExec", "Sysinternals - www.sysinternals.com", "psexesvc.exe",
                "2.43", "Microsoft Corporation")
    return ("-", "-", "-", "-", "-", "")


def admin_winrm(host: Host, admin: User, target: Host) -> Activity:
    """PowerShell remoting by an administrator (WinRM over HTTP 5985)."""
    def run(w: World, rng: Rng, t: float) -> None:
        st = w.st(host)
        s = st.session
        if s is None or s.explorer is None or target.os != "windows":
            return
        block = rng.choice(("Get-Service -Name W3SVC,MSSQLSERVER -ErrorAction SilentlyContinue",
                            "Get-HotFix | Sort-Object InstalledOn -Descending | Select-Object -First 5",
                            "Get-PSDrive -PSProvider FileSystem", "Restart-Service -Name Spooler -Force"))
        ps_path = catalog.binary("powershell.exe").path
        ps = winlog.spawn(w.sink, st, t, s.explorer, ps_path, f"\"{ps_path}\" ", user=admin.account,
                          integrity="High")
        text = f"Invoke-Command -ComputerName {target.name} -ScriptBlock {{ {block} }}"
        winlog.script_block(w.sink, st, t + 5, ps, text)
        winrm_remote(w, rng, t + 6, host, ps, target, admin, block)
        winlog.terminate(w.sink, st, t + rng.uniform(60, 900), ps)
    return run


def winrm_remote(w: World, rng: Rng, t: float, client: Host, client_proc: Proc, target: Host,
                 user: User | Account, block: str) -> Proc:
    """What WinRM remoting leaves: HTTP 5985 to /wsman, a type 3 logon, wsmprovhost.exe, 4104."""
    tst = w.st(target)
    spn = f"HTTP/{target.fqdn.lower()}"
    acct = user.account if isinstance(user, User) else user
    w.net.http(w.sink, t, rng, client.ip, target.ip, f"{target.fqdn.lower()}:5985", "/wsman", method="POST",
                     user_agent="Microsoft WinRM Client", req_len=rng.randint(3000, 9000),
                     resp_len=rng.randint(2000, 40_000), mime="application/soap+xml", dport=5985,
                     duration=rng.uniform(1, 20), host=client.key)
    lid = network_logon(w, rng, t + 0.05, client, target, user, spn=spn,
                        privileged=isinstance(user, User) and user.privileged)
    host_proc = winlog.spawn(w.sink, tst, t + 0.4, tst.procs["svc_dcom"], "wsmprovhost.exe",
                             "C:\\Windows\\system32\\wsmprovhost.exe -Embedding", user=acct, logon_id=lid,
                             integrity="High")
    winlog.script_block(w.sink, tst, t + 0.8, host_proc, block)
    winlog.terminate(w.sink, tst, t + rng.uniform(5, 30), host_proc)
    winlog.logoff(w.sink, tst, t + 35, acct, lid, 3)
    return host_proc


def admin_ad_change(host: Host, admin: User) -> Activity:
    """Account administration through ADUC: user creation, password reset, group membership."""
    def run(w: World, rng: Rng, t: float) -> None:
        dc = w.org.dc_for(host)
        dst = w.st(dc)
        lid = network_logon(w, rng, t, host, dc, admin, spn=f"ldap/{dc.fqdn.lower()}", privileged=True)
        w.net.conn(w.sink, t, rng, host.ip, dc.ip, 389, service="ldap", duration=rng.uniform(5, 200),
                   ob=rng.randint(4000, 40_000), rb=rng.randint(20_000, 900_000), host=host.key)
        kind = rng.choice(("reset", "reset", "group", "create"))
        target = rng.choice(w.org.users)
        if kind == "reset":
            winlog.account_event(w.sink, dst, t + 30, 4724, admin.account, lid, target)
            winlog.account_event(w.sink, dst, t + 30.1, 4738, admin.account, lid, target)
        elif kind == "group":
            group = (f"{target.department.capitalize()}-RW", f"{w.org.domain_sid}-{rng.randint(2000, 2100)}")
            winlog.account_event(w.sink, dst, t + 40, 4728, admin.account, lid, target, group)
        else:
            first, last = rng.choice(catalog.FIRST_NAMES), rng.choice(catalog.LAST_NAMES)
            new = User(f"{first[0]}{last}{rng.randint(10, 99)}", f"{first.title()} {last.title()}",
                       f"{w.org.domain_sid}-{rng.randint(20000, 90000)}", 0, "sales", "user", w.org.netbios)
            winlog.account_event(w.sink, dst, t + 60, 4720, admin.account, lid, new)
            winlog.account_event(w.sink, dst, t + 61, 4722, admin.account, lid, new)
            winlog.account_event(w.sink, dst, t + 62, 4738, admin.account, lid, new)
        winlog.logoff(w.sink, dst, t + 300, admin.account, lid, 3)
    return run


# ------------------------------------------------------------------------------------------
# Plan for one workstation and day
# ------------------------------------------------------------------------------------------
def plan_workstation(w: World, host: Host, day: date, t0: float, rng: Rng, add: Add) -> None:
    user = host.user
    if user is None:
        return
    workday = day.weekday() < 5
    if not workday and not rng.chance(0.04):
        return
    if workday and rng.chance(0.04):
        return  # leave, sick day
    noise = w.cfg.noise
    arrive = t0 + rng.gauss(8.4 * 3600, 2400)
    leave = t0 + rng.gauss(17.3 * 3600, 2700) if workday else arrive + rng.uniform(1800, 7200)
    if leave <= arrive + 1800:
        leave = arrive + 1800
    add(arrive, interactive_logon(host, user))
    add(arrive + rng.uniform(60, 900), start_outlook(host))
    span = leave - arrive - 1200
    for _ in range(int(rng.randint(6, 22) * noise)):
        add(arrive + 600 + rng.uniform(0, span), browse(host))
    for _ in range(int(rng.randint(1, 8) * noise)):
        add(arrive + 900 + rng.uniform(0, span), office_document(host))
    for _ in range(int(rng.randint(2, 10) * noise)):
        add(arrive + 600 + rng.uniform(0, span), user_app(host))
    lunch = t0 + rng.gauss(12.5 * 3600, 1200)
    if arrive < lunch < leave - 3600:
        add(lunch, lock_unlock(host, rng.uniform(1200, 3600)))
    if rng.chance(0.5):
        add(arrive + rng.uniform(0, span), lock_unlock(host, rng.uniform(120, 900)))
    power = user.department in ("it", "engineering", "research")
    if rng.chance(0.55 if power else 0.08):
        add(arrive + 1200 + rng.uniform(0, span), console_work(host))
    if rng.chance(0.03):
        add(arrive + 1200 + rng.uniform(0, span), download_tool(host))
    if user.department == "it" and workday:
        plan_admin(w, host, user, arrive, leave, rng, add)
    add(leave, evening_logoff(host))


def plan_admin(w: World, host: Host, user: User, arrive: float, leave: float, rng: Rng, add: Add) -> None:
    admin = next((a for a in w.org.admins if a.sam == f"adm-{user.sam}"), None)
    if admin is None:
        return
    servers = [h for h in w.org.windows_servers]
    span = max(600.0, leave - arrive - 3600)
    for _ in range(rng.randint(0, 3)):
        add(arrive + 1800 + rng.uniform(0, span), admin_rdp(host, admin, rng.choice(servers)))
    if rng.chance(0.35):
        add(arrive + 1800 + rng.uniform(0, span), admin_psexec(host, admin, rng.choice(servers)))
    if rng.chance(0.5):
        add(arrive + 1800 + rng.uniform(0, span), admin_winrm(host, admin, rng.choice(servers)))
    if rng.chance(0.4):
        add(arrive + 1800 + rng.uniform(0, span), admin_ad_change(host, admin))
    if rng.chance(0.05):
        # helpdesk: an RDP session to a user's workstation (a first-seen edge)
        add(arrive + 1800 + rng.uniform(0, span), admin_rdp(host, admin, rng.choice(w.org.workstations)))
