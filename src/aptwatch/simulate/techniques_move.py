"""Techniques that find and reach things: discovery (commands and their network side effects),
lateral movement (SMB/service, WinRM, RDP, WMI, SSH, tool transfer, pass-the-hash), and
collection and staging before exfiltration.
"""

from __future__ import annotations

from collections.abc import Callable

from aptwatch.simulate import catalog, winlog
from aptwatch.simulate.attack import AttackCtx
from aptwatch.simulate.benign_linux import ssh_session
from aptwatch.simulate.benign_windows import psexec_remote, winrm_remote
from aptwatch.simulate.catalog import Binary
from aptwatch.simulate.org import SYSTEM, Account, Host
from aptwatch.simulate.world import network_logon, service_ticket, smb_session, tgt

Emitter = Callable[[AttackCtx, float], None]

#: technique -> command lines operators type for it ({dc}, {domain}, {fs}, {net} are filled in)
DISCOVERY: dict[str, tuple[str, ...]] = {
    "T1087": ("net user /domain",),
    "T1087.001": ("net user", "net localgroup administrators"),
    "T1087.002": ("net user /domain", "net group \"Domain Admins\" /domain", "net group \"Enterprise Admins\" "
                                                                              "/domain"),
    "T1069": ("net localgroup administrators",),
    "T1069.001": ("net localgroup administrators",),
    "T1069.002": ("net group /domain", "net group \"Domain Computers\" /domain"),
    "T1482": ("nltest /domain_trusts /all_trusts",),
    "T1018": ("net view /domain", "nltest /dclist:{domain}", "ping -n 1 {fs}"),
    "T1016": ("ipconfig /all", "route print", "arp -a"),
    "T1016.001": ("ping -n 1 8.8.8.8", "nslookup www.google.com"),
    "T1033": ("whoami /all", "quser"),
    "T1082": ("systeminfo", "hostname"),
    "T1083": ("dir /s /b \\\\{fs}\\Finance\\*.xlsx", "tree C:\\Users /f"),
    "T1135": ("net view \\\\{fs} /all", "net share"),
    "T1057": ("tasklist /v",),
    "T1049": ("netstat -ano",),
    "T1012": ("reg query \"HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\"",),
    "T1124": ("net time \\\\{dc}",),
    "T1007": ("sc query state= all",),
    "T1201": ("net accounts /domain",),
    "T1518": ("wmic product get name,version",),
    "T1518.001": ("wmic /namespace:\\\\root\\SecurityCenter2 path AntiVirusProduct get displayName",),
    "T1120": ("wmic path Win32_PnPEntity get name",),
    "T1010": ("tasklist /v /fi \"STATUS eq running\"",),
    "T1217": ("dir /s /b %LOCALAPPDATA%\\Google\\Chrome\\User Data\\Default\\Bookmarks",),
}
#: commands that talk to the DC over SMB/RPC (SAMR, LSARPC, NETLOGON)
DC_RPC = ("/domain", "nltest", "net time", "net view")


def discovery(ctx: AttackCtx, t: float) -> None:
    """Discovery commands through the implant; domain queries reach the DC (IPC$ named pipes),
    AdFind queries it over LDAP."""
    tech = ctx.step.technique
    org = ctx.w.org
    dc = org.dc_for(ctx.host)
    fs = org.first("file") or dc
    fill = {"dc": dc.name, "domain": org.domain, "fs": fs.name, "net": ctx.host.ip.rsplit(".", 1)[0]}
    if ctx.step.variant == "adfind":
        _adfind(ctx, t, dc)
        return
    commands = DISCOVERY.get(tech) or DISCOVERY.get(tech.split(".")[0]) or ("whoami",)
    tt = t
    for line in commands:
        cmd = line.format(**fill)
        _, tt = ctx.shell(tt, cmd)
        if any(k in cmd for k in DC_RPC) and ctx.host is not dc:
            pipe = "samr" if "net " in cmd else "NETLOGON"
            smb_session(ctx.w, ctx.rng, tt - 0.5, ctx.host, dc, _actor_account(ctx, tt), "IPC$", "",
                        [(pipe, 0, False)], ctx.rng.uniform(0.2, 2))
        tt += ctx.rng.uniform(5, 90)


def _actor_account(ctx: AttackCtx, t: float) -> Account:
    acct = ctx.actor(t).user
    return ctx.host.computer_account if acct.sid == SYSTEM.sid else acct


def _adfind(ctx: AttackCtx, t: float, dc: Host) -> None:
    tool = Binary(f"C:\\ProgramData\\{ctx.camp.implant_dir}\\adfind.exe", "Joeware ADFind", "AdFind",
                  "www.joeware.net", "AdFind.exe", "01.52.00.00", "")
    actor = ctx.actor(t)
    if not ctx.camp.flags.get("adfind"):
        winlog.file_create(ctx.w.sink, ctx.st, t - 10, actor, tool.path)
        ctx.camp.flags["adfind"] = True
    queries = {"T1087.002": ("-f (objectcategory=person) > ad_users.txt",),
               "T1069.002": ("-f (objectcategory=group) > ad_group.txt", "-sc trustdmp > trustdmp.txt"),
               }.get(ctx.step.technique, ("-f (objectcategory=computer) > ad_computers.txt",))
    tt = t
    for q in queries:
        cmd, _ = ctx.shell(tt, f"{tool.path} {q}", child_image=tool.path, keep=True)
        ctx.w.net.conn(ctx.w.sink, tt + 0.2, ctx.rng, ctx.host.ip, dc.ip, 389, service="ldap",
                       duration=ctx.rng.uniform(1, 20), ob=ctx.rng.randint(3000, 20_000),
                       rb=ctx.rng.randint(400_000, 6_000_000), host=ctx.host.key)
        winlog.net_connect(ctx.w.sink, ctx.st, tt + 0.2, cmd, ctx.host.ip, ctx.rng.port(), dc.ip, 389, force=True)
        winlog.terminate(ctx.w.sink, ctx.st, tt + 3, cmd)
        tt += ctx.rng.uniform(20, 200)


def port_scan(ctx: AttackCtx, t: float) -> None:
    """T1046: a TCP sweep of server ports across the server subnet, seen by Zeek."""
    actor = ctx.actor(t)
    targets = [h for h in ctx.w.org.hosts if h is not ctx.host and h.os == "windows" and h.role != "workstation"]
    targets += ctx.rng.sample(ctx.w.org.workstations, min(8, len(ctx.w.org.workstations)))
    tt = t
    scanner = winlog.spawn(ctx.w.sink, ctx.st, t, actor, Binary(
        f"C:\\ProgramData\\{ctx.camp.implant_dir}\\ns.exe", "-", "-", "-", "-", "-", ""),
        f"C:\\ProgramData\\{ctx.camp.implant_dir}\\ns.exe {ctx.host.ip.rsplit('.', 2)[0]}.0.0/16 "
        "-p 135,139,445,1433,3389,5985", hashes=ctx.camp.payload_hashes("ns.exe"))
    for h in targets:
        for port in (135, 445, 1433, 3389, 5985):
            open_ = port in (135, 445, 5985) or (port == 1433 and h.role == "sql") or (port == 3389 and h.is_server)
            ctx.w.net.conn(ctx.w.sink, tt, ctx.rng, ctx.host.ip, h.ip, port,
                           state="RSTR" if open_ else "REJ", duration=0.002 if open_ else 0.0004, ob=0, rb=0,
                           host=ctx.host.key)
            tt += ctx.rng.uniform(0.005, 0.2)
    winlog.terminate(ctx.w.sink, ctx.st, tt + 1, scanner)


# ------------------------------------------------------------------------------------------
# Lateral movement
# ------------------------------------------------------------------------------------------
def _arrive(ctx: AttackCtx, t: float, target: Host, parent_key: str, persistence: str) -> None:
    """The implant started on the target as SYSTEM, a new foothold that beacons."""
    fh = ctx.camp.new_foothold(target, t, account=SYSTEM, integrity="System", logon_id=0x3E7)
    fh.persistence = persistence
    tst = ctx.w.st(target)
    smb_session(ctx.w, ctx.rng, t - 3, ctx.host, target, ctx.camp.stolen_account(True), "C$", "\\??\\C:\\",
                [(f"ProgramData\\{ctx.camp.implant_dir}\\{fh.image.name}", ctx.rng.randint(200_000, 900_000), True)],
                ctx.rng.uniform(1, 5), auth=_auth(ctx))
    parent = tst.procs.get(parent_key) or tst.procs["services"]
    ctx.camp.start_implant(ctx.w, ctx.rng, t, fh, ctx.truth, parent=parent)
    fh.beacon = True
    from aptwatch.simulate.techniques_net import plan_beacons
    plan_beacons(ctx.w, ctx.camp, fh, t + 120, t - t % 86400 + 86400.0,
                 lambda tt, fn, r: ctx.w.schedule(tt, fn, r), ctx.rng)


def _auth(ctx: AttackCtx) -> str:
    return "NTLM" if ctx.camp.flags.get("pth") else "Kerberos"


def smb_exec(ctx: AttackCtx, t: float) -> None:
    """T1021.002 (+T1569.002): ADMIN$ write and a randomly named service, as impacket/PsExec do."""
    target = ctx.camp.next_target()
    if target is None:
        return
    user = ctx.camp.stolen_account(True)
    actor = ctx.actor(t)
    svc = "".join(ctx.rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") for _ in range(8))
    binary = f"{svc}.exe"
    psexec_remote(ctx.w, ctx.rng, t, ctx.host, actor, target, user, f"{ctx.camp.profile.tooling.implant_name}",
                  service_name=svc, binary=binary, image_hashes=ctx.camp.payload_hashes(binary), auth=_auth(ctx))
    _arrive(ctx, t + 30, target, "services", "service")


def winrm(ctx: AttackCtx, t: float) -> None:
    """T1021.006: PowerShell remoting with stolen credentials; the remote shell starts the implant."""
    target = ctx.camp.next_target()
    if target is None:
        return
    user = ctx.camp.stolen_account(True)
    actor = ctx.actor(t)
    block = f"Start-Process -WindowStyle Hidden -FilePath C:\\ProgramData\\{ctx.camp.implant_dir}\\" \
            f"{ctx.camp.profile.tooling.implant_name}"
    ps, _ = ctx.powershell(t, f"$p=ConvertTo-SecureString '********' -AsPlainText -Force;$c=New-Object "
                              f"System.Management.Automation.PSCredential('{ctx.w.org.netbios}\\{user.sam}',$p);"
                              f"Invoke-Command -ComputerName {target.name} -Credential $c -ScriptBlock {{{block}}}",
                           parent=actor, keep=True)
    winlog.net_connect(ctx.w.sink, ctx.st, t + 1, ps, ctx.host.ip, ctx.rng.port(), target.ip, 5985)
    tgt(ctx.w, ctx.rng, t + 0.8, ctx.host, user)
    host_proc = winrm_remote(ctx.w, ctx.rng, t + 1, ctx.host, ps, target, user, block)
    winlog.terminate(ctx.w.sink, ctx.st, t + 40, ps)
    del host_proc
    _arrive(ctx, t + 6, target, "services", "service")


def rdp(ctx: AttackCtx, t: float) -> None:
    """T1021.001: an RDP session through the implant's tunnel; the operator starts the implant."""
    target = ctx.camp.next_target()
    if target is None:
        return
    user = ctx.camp.stolen_account(True)
    service_ticket(ctx.w, ctx.rng, t - 0.2, ctx.host, user.sam, f"TERMSRV/{target.fqdn}", target.name + "$",
                   target.sid)
    dur = ctx.rng.uniform(600, 3600)
    _uid, sport = ctx.w.net.conn(ctx.w.sink, t, ctx.rng, ctx.host.ip, target.ip, 3389, service="ssl", duration=dur,
                                ob=ctx.rng.randint(300_000, 3_000_000), rb=ctx.rng.randint(2_000_000, 40_000_000),
                                host=ctx.host.key)
    winlog.net_connect(ctx.w.sink, ctx.st, t, ctx.actor(t), ctx.host.ip, sport, target.ip, 3389)
    tst = ctx.w.st(target)
    lid = winlog.logon(ctx.w.sink, tst, t + 1, user.account, 10, ip=ctx.host.ip, port=str(sport), auth="Negotiate",
                       workstation=ctx.host.name, privileged=True)
    ui = winlog.spawn(ctx.w.sink, tst, t + 2, tst.procs["winlogon"], "userinit.exe",
                      "C:\\Windows\\system32\\userinit.exe", user=user.account, logon_id=lid, integrity="High",
                      session=2)
    ex = winlog.spawn(ctx.w.sink, tst, t + 2.5, ui, "explorer.exe", "C:\\Windows\\Explorer.EXE")
    winlog.spawn(ctx.w.sink, tst, t + 3, tst.procs["svc_termsvc"], "rdpclip.exe", "rdpclip", user=user.account,
                 logon_id=lid, integrity="High")
    cmd = winlog.spawn(ctx.w.sink, tst, t + 60, ex, "cmd.exe", "\"C:\\Windows\\system32\\cmd.exe\" ")
    ctx.camp.flags["rdp_parent"] = True
    _arrive(ctx, t + 90, target, "services", "service")
    winlog.terminate(ctx.w.sink, tst, t + dur - 30, cmd)
    winlog.logoff(ctx.w.sink, tst, t + dur, user.account, lid, 10)


def wmi_remote(ctx: AttackCtx, t: float) -> None:
    """T1047 remote: wmic /node ... process call create; WmiPrvSE.exe spawns the payload on the target."""
    target = ctx.camp.next_target()
    if target is None:
        return
    user = ctx.camp.stolen_account(True)
    actor = ctx.actor(t)
    line = f"wmic /node:{target.name} /user:{ctx.w.org.netbios}\\{user.sam} process call create " \
           f"\"C:\\ProgramData\\{ctx.camp.implant_dir}\\{ctx.camp.profile.tooling.implant_name}\""
    wm, _ = ctx.shell(t, line, parent=actor, keep=True)
    ctx.w.net.conn(ctx.w.sink, t + 0.2, ctx.rng, ctx.host.ip, target.ip, 135, service="dce_rpc", duration=0.02,
                   ob=420, rb=360, host=ctx.host.key)
    _uid, sport = ctx.w.net.conn(ctx.w.sink, t + 0.3, ctx.rng, ctx.host.ip, target.ip, ctx.rng.randint(49664, 49700),
                                service="dce_rpc", duration=ctx.rng.uniform(0.5, 4), ob=ctx.rng.randint(4000, 12000),
                                rb=ctx.rng.randint(3000, 9000), host=ctx.host.key)
    winlog.net_connect(ctx.w.sink, ctx.st, t + 0.2, wm, ctx.host.ip, sport, target.ip, 135)
    network_logon(ctx.w, ctx.rng, t + 0.25, ctx.host, target, user, spn=f"RPCSS/{target.fqdn.lower()}",
                  privileged=True)
    winlog.terminate(ctx.w.sink, ctx.st, t + 5, wm)
    _arrive(ctx, t + 1, target, "wmiprvse", "wmi")


def ssh_lateral(ctx: AttackCtx, t: float) -> None:
    """T1021.004: SSH with stolen credentials to a Linux server (auth.log, Zeek)."""
    target = ctx.camp.next_target(os="linux")
    if target is None:
        return
    user = ctx.camp.stolen_account(False)
    actor = ctx.actor(t)
    ssh, _ = ctx.shell(t, f"ssh.exe -o StrictHostKeyChecking=no {user.sam}@{target.ip}",
                       child_image="C:\\Windows\\System32\\OpenSSH\\ssh.exe", keep=True, parent=actor)
    winlog.net_connect(ctx.w.sink, ctx.st, t + 0.2, ssh, ctx.host.ip, ctx.rng.port(), target.ip, 22)
    ssh_session(ctx.w, ctx.rng, t + 0.5, target, user.sam, 1000 + user.rid % 500, ctx.host.ip, "password",
                ("/usr/bin/cat /etc/shadow", "/usr/bin/tar czf /tmp/.c.tgz /etc /home"), ctx.rng.uniform(120, 900),
                "")
    winlog.terminate(ctx.w.sink, ctx.st, t + 600, ssh)
    ctx.camp.touch(target)


def tool_transfer(ctx: AttackCtx, t: float) -> None:
    """T1570: tools copied to the next target's C$ over SMB (smb_files, 5145 write)."""
    target = ctx.camp.next_target()
    if target is None:
        return
    user = ctx.camp.stolen_account(True)
    actor = ctx.actor(t)
    name = ctx.camp.profile.tooling.implant_name
    ctx.shell(t, f"copy C:\\ProgramData\\{ctx.camp.implant_dir}\\{name} \\\\{target.name}\\C$\\ProgramData\\"
                 f"{ctx.camp.implant_dir}\\{name}", parent=actor)
    smb_session(ctx.w, ctx.rng, t + 0.5, ctx.host, target, user, "C$", "\\??\\C:\\",
                [(f"ProgramData\\{ctx.camp.implant_dir}\\{name}", ctx.rng.randint(200_000, 900_000), True),
                 (f"ProgramData\\{ctx.camp.implant_dir}\\vmtools.dll", ctx.rng.randint(90_000, 400_000), True)],
                ctx.rng.uniform(1, 6), auth=_auth(ctx))


def pass_the_hash(ctx: AttackCtx, t: float) -> None:
    """T1550.002: Mimikatz sekurlsa::pth - a logon type 9 on the source, NTLM from now on."""
    user = ctx.camp.stolen_account(True)
    actor = ctx.actor(t)
    tool = Binary(f"C:\\ProgramData\\{ctx.camp.implant_dir}\\m64.exe", "mimikatz for Windows", "mimikatz",
                  "gentilkiwi (Benjamin DELPY)", "mimikatz.exe", "2.2.0.0", "")
    p = winlog.spawn(ctx.w.sink, ctx.st, t, actor, tool, f"{tool.path} \"sekurlsa::pth /user:{user.sam} "
                     f"/domain:{ctx.w.org.netbios} /ntlm:{ctx.rng.hexstr(32)} /run:cmd.exe\" exit",
                     integrity="High", hashes=ctx.camp.payload_hashes("mimikatz.exe"))
    winlog.process_access(ctx.w.sink, ctx.st, t + 0.2, p, ctx.st.procs["lsass"], "0x1438",
                          "C:\\Windows\\SYSTEM32\\ntdll.dll+9d234|UNKNOWN(00000209A8E6B0F5)")
    winlog.logon(ctx.w.sink, ctx.st, t + 0.5, actor.user, 9, process=p, outbound=user.account)
    cmd = winlog.spawn(ctx.w.sink, ctx.st, t + 0.6, p, "cmd.exe", "cmd.exe")
    winlog.terminate(ctx.w.sink, ctx.st, t + 3, p)
    winlog.terminate(ctx.w.sink, ctx.st, t + 1200, cmd)
    ctx.camp.flags["pth"] = True


def remote_task(ctx: AttackCtx, t: float) -> None:
    """T1053.005 remote: schtasks /create /s TARGET (4698 on the target)."""
    target = ctx.camp.next_target()
    if target is None:
        return
    user = ctx.camp.stolen_account(True)
    name = "\\Microsoft\\Windows\\WDI\\SrvSetupResults"
    ctx.shell(t, f"schtasks /create /s {target.name} /tn {name} /tr C:\\ProgramData\\{ctx.camp.implant_dir}\\"
                 f"{ctx.camp.profile.tooling.implant_name} /sc onstart /ru SYSTEM /f")
    _uid, _sport, lid = smb_session(ctx.w, ctx.rng, t + 0.2, ctx.host, target, user, "IPC$", "",
                                  [("atsvc", 0, False)], 1.0, auth=_auth(ctx))
    winlog.task_created(ctx.w.sink, ctx.w.st(target), t + 0.5, user.account, lid, name,
                        winlog.task_xml(user.account.qualified, f"C:\\ProgramData\\{ctx.camp.implant_dir}\\"
                                        f"{ctx.camp.profile.tooling.implant_name}", "", "2024-01-01T00:00:00",
                                        "BootTrigger"))
    _arrive(ctx, t + 60, target, "svc_schedule", "task")


# ------------------------------------------------------------------------------------------
# Collection and staging
# ------------------------------------------------------------------------------------------
def collect(ctx: AttackCtx, t: float) -> None:
    """T1005 / T1039 / T1119 / T1213: documents copied to a staging folder (from a share: SMB reads)."""
    org = ctx.w.org
    fs = org.first("file")
    stage = f"C:\\ProgramData\\{ctx.camp.implant_dir}\\s"
    actor = ctx.actor(t)
    total = 0
    if fs is not None and fs is not ctx.host:
        files = [(f"{ctx.rng.choice(catalog.DOC_WORDS)}_{ctx.rng.choice(catalog.DOC_WORDS)}_{i}"
                  f"{ctx.rng.choice(catalog.DOC_EXTS)}", ctx.rng.randint(50_000, 20_000_000), False)
                 for i in range(ctx.rng.randint(20, 80))]
        total = sum(s for _, s, _ in files)
        ctx.shell(t, f"robocopy \\\\{fs.name}\\Finance {stage} *.xlsx *.docx *.pdf /S /MT:4 /R:0 /NP",
                  child_image="C:\\Windows\\System32\\Robocopy.exe", parent=actor)
        smb_session(ctx.w, ctx.rng, t + 1, ctx.host, fs, _actor_account(ctx, t), "Finance", "\\??\\D:\\Shares\\Finance",
                    files, ctx.rng.uniform(60, 900), audit_files=False)
    else:
        total = ctx.rng.randint(200, 900) * 1_000_000
        ps, _ = ctx.powershell(t, f"Get-ChildItem -Path D:\\Shares -Recurse -Include *.docx,*.xlsx,*.pdf,*.pst | "
                                  f"Where-Object {{ $_.LastWriteTime -gt (Get-Date).AddDays(-365) }} | "
                                  f"Copy-Item -Destination {stage} -Force", parent=actor)
        for i in range(ctx.rng.randint(5, 15)):
            winlog.file_create(ctx.w.sink, ctx.st, t + 2 + i * 0.3, ps,
                               f"{stage}\\{ctx.rng.choice(catalog.DOC_WORDS)}_{i}.xlsx")
    ctx.camp.archive = (ctx.host, stage, max(total, ctx.camp.archive[2] if ctx.camp.archive else 0))


def stage_local(ctx: AttackCtx, t: float) -> None:
    """T1074.001 / T1074.002: a staging folder prepared."""
    folder = f"C:\\ProgramData\\{ctx.camp.implant_dir}\\s"
    _p, _ = ctx.shell(t, f"mkdir {folder}")
    winlog.file_create(ctx.w.sink, ctx.st, t + 0.2, ctx.actor(t), f"{folder}\\desktop.ini")
    if ctx.camp.archive is None:
        ctx.camp.archive = (ctx.host, folder, ctx.rng.randint(150, 700) * 1_000_000)


def archive(ctx: AttackCtx, t: float) -> None:
    """T1560 / T1560.001: the staged data archived with a password (7-Zip or WinRAR volumes)."""
    folder = f"C:\\ProgramData\\{ctx.camp.implant_dir}"
    size = ctx.camp.archive[2] if ctx.camp.archive else ctx.rng.randint(150, 700) * 1_000_000
    size = int(size * ctx.rng.uniform(0.35, 0.7))
    pw = ctx.rng.b64ish(10).replace("/", "x").replace("+", "y")
    if ctx.step.variant == "rar" or ctx.camp.profile.tooling.archive_tool == "rar":
        tool = Binary(f"{folder}\\rar.exe", "Command line RAR", "WinRAR", "Alexander Roshal", "rar.exe", "6.24.0", "")
        line = f"{tool.path} a -hp{pw} -m5 -v100m -r {folder}\\data.rar {folder}\\s\\*"
        outs = [f"{folder}\\data.part{i + 1:02d}.rar" for i in range(max(1, size // 100_000_000))]
    else:
        tool = Binary(f"{folder}\\7za.exe", "7-Zip Standalone Console", "7-Zip", "Igor Pavlov", "7za.exe", "23.01", "")
        line = f"{tool.path} a -t7z -p{pw} -mhe=on -mx=9 {folder}\\data.7z {folder}\\s\\*"
        outs = [f"{folder}\\data.7z"]
    actor = ctx.actor(t)
    winlog.file_create(ctx.w.sink, ctx.st, t - 15, actor, tool.path)
    p = winlog.spawn(ctx.w.sink, ctx.st, t, actor, tool, line, hashes=ctx.camp.payload_hashes(tool.name))
    for i, out in enumerate(outs[:20]):
        winlog.file_create(ctx.w.sink, ctx.st, t + 5 + i * 3, p, out)
    winlog.terminate(ctx.w.sink, ctx.st, t + 8 + 3 * len(outs[:20]), p)
    ctx.camp.archive = (ctx.host, outs[0], size)


EMITTERS: dict[str, Emitter] = {
    **{tech: discovery for tech in DISCOVERY},
    "T1046": port_scan,
    "T1021": smb_exec, "T1021.002": smb_exec, "T1021.006": winrm, "T1021.001": rdp, "T1021.004": ssh_lateral,
    "T1021.003": wmi_remote, "T1570": tool_transfer, "T1550": pass_the_hash, "T1550.002": pass_the_hash,
    "T1550.003": pass_the_hash, "T1563": rdp, "T1563.002": rdp,
    "T1005": collect, "T1039": collect, "T1119": collect, "T1213": collect, "T1025": collect, "T1114": collect,
    "T1074": stage_local, "T1074.001": stage_local, "T1074.002": stage_local,
    "T1560": archive, "T1560.001": archive, "T1560.002": archive, "T1560.003": archive,
}
LATERAL_REMOTE: dict[str, Emitter] = {"T1047": wmi_remote, "T1053.005": remote_task}
