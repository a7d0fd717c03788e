"""What an attack step is given (`AttackCtx`) and the attacker's footholds.

A technique emitter (techniques_*.py) receives the context of one step: the world, the step,
its ground-truth label (already active on the sink), the host it runs on and the campaign's
state (infrastructure, footholds, stolen credentials). Helpers here run commands the way
operators do through an implant: a `cmd.exe /c` child, a hidden PowerShell with an encoded
command, a new implant instance with its persistence.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aptwatch.simulate import catalog, winlog
from aptwatch.simulate.catalog import Binary
from aptwatch.simulate.events import Truth
from aptwatch.simulate.org import SYSTEM, Account, Host, User
from aptwatch.simulate.profiles import Step
from aptwatch.simulate.rand import FileHashes, Rng, file_hashes
from aptwatch.simulate.winlog import Proc, WinState
from aptwatch.simulate.world import World, https, lookup

if TYPE_CHECKING:
    from aptwatch.simulate.campaign import CampaignRunner

PS = "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"


@dataclass(eq=False)
class Foothold:
    """The attacker's presence on a host."""

    host: Host
    account: Account
    logon_id: int
    integrity: str
    image: Binary
    implant_cmd: str
    hashes: FileHashes
    persistence: str = "none"
    proc: Proc | None = None
    beacon: bool = False
    since: float = 0.0
    extra_procs: list[Proc] = field(default_factory=list)
    #: identity of the host state the implant runs in (changes when the host reboots)
    state_id: int = 0

    @property
    def needs_session(self) -> bool:
        return self.persistence in ("logon", "none") and self.host.role == "workstation"


@dataclass
class AttackCtx:
    w: World
    rng: Rng
    camp: CampaignRunner
    step: Step
    truth: Truth
    host: Host

    @property
    def st(self) -> WinState:
        return self.w.st(self.host)

    @property
    def foothold(self) -> Foothold | None:
        return self.camp.footholds.get(self.host.idx)

    def actor(self, t: float) -> Proc:
        """The process the operator acts from on this host: the implant, else the web shell's
        worker, else an implant started now from the user's shell."""
        fh = self.foothold
        if fh is not None and fh.proc is not None:
            return fh.proc
        st = self.st
        if fh is not None and fh.persistence == "webshell" and "w3wp" in st.procs:
            return st.procs["w3wp"]
        if fh is None:
            fh = self.camp.new_foothold(self.host, t)
        return self.camp.start_implant(self.w, self.rng, t, fh, self.truth)

    def fill(self, command: str) -> str:
        """Fill `#{...}` placeholders a plan left open with this organisation's values."""
        if "#{" not in command:
            return command
        host = self.host
        user = self.st.session.user.sam if host.os == "windows" and self.st.session else "Administrator"

        def value(name: str) -> str:
            n = name.lower()
            if "domain" in n:
                return self.w.org.domain
            if "user" in n:
                return user
            if "pass" in n:
                return "Winter2024!"
            if any(k in n for k in ("server", "c2", "ip", "url", "address")):
                return self.camp.c2_domains[0]
            if "host" in n or "target" in n or "computer" in n:
                nxt = self.camp.next_target()
                return nxt.name if nxt else host.name
            if "path" in n or "dir" in n or "folder" in n:
                return f"C:\\ProgramData\\{self.camp.implant_dir}"
            return name.rsplit(".", 1)[-1]

        out, i = [], 0
        while True:
            j = command.find("#{", i)
            k = command.find("}", j + 2) if j >= 0 else -1
            if j < 0 or k < 0:
                out.append(command[i:])
                return "".join(out)
            out.append(command[i:j])
            out.append(value(command[j + 2:k]))
            i = k + 1

    def shell(self, t: float, command: str, parent: Proc | None = None, *, child_image: str | None = None,
              keep: bool = False) -> tuple[Proc, float]:
        """`cmd.exe /c <command>` from the actor, with the command's own process as a child."""
        st = self.st
        par = parent or self.actor(t)
        cmd = winlog.spawn(self.w.sink, st, t, par, "cmd.exe", f"C:\\Windows\\system32\\cmd.exe /c {command}",
                           cwd=par.cwd)
        tt = t + self.rng.uniform(0.03, 0.2)
        first = command.split()[0].strip("\"")
        image = child_image or _image_for(first)
        child = cmd
        if image is not None:
            child = winlog.spawn(self.w.sink, st, tt, cmd, image, command)
            if image.lower().endswith("net.exe") and " /domain" in command.lower():
                sub = winlog.spawn(self.w.sink, st, tt + 0.02, child, "net1.exe",
                                   "C:\\Windows\\system32\\net1 " + command.split(None, 1)[1])
                winlog.terminate(self.w.sink, st, tt + self.rng.uniform(0.3, 3), sub)
        end = tt + self.rng.uniform(0.4, 6)
        if not keep:
            if child is not cmd:
                winlog.terminate(self.w.sink, st, end, child)
            winlog.terminate(self.w.sink, st, end + 0.05, cmd)
        return child, end + 0.1

    def powershell(self, t: float, script: str, *, encoded: bool = True, parent: Proc | None = None,
                   keep: bool = False) -> tuple[Proc, float]:
        """A hidden PowerShell running `script` (encoded command by default): Sysmon 1, 4688, 400, 4104."""
        st = self.st
        par = parent or self.actor(t)
        if encoded:
            b64 = base64.b64encode(script.encode("utf-16-le")).decode()
            cmd = f"{PS} -nop -w hidden -enc {b64}"
        else:
            cmd = f"{PS} -NoProfile -ExecutionPolicy Bypass -Command \"{script}\""
        ps = winlog.spawn(self.w.sink, st, t, par, PS, cmd, cwd=par.cwd)
        winlog.engine_started(self.w.sink, st, t + 0.3, ps)
        winlog.script_block(self.w.sink, st, t + 0.5, ps, script)
        end = t + self.rng.uniform(1.0, 20.0)
        if not keep:
            winlog.terminate(self.w.sink, st, end, ps)
        return ps, end + 0.1

    def download(self, t: float, proc: Proc, domain: str, path: str, size: int, *, http: bool = False,
                 dest: str | None = None, pe: bool = True) -> None:
        """`proc` fetches a payload from attacker infrastructure (and writes it to `dest`)."""
        host = self.host
        if http:
            ip = lookup(self.w, self.rng, t, host, proc, domain, force_sysmon=True)
            uid, sport = self.w.net.conn(self.w.sink, t + 0.05, self.rng, host.ip, ip, 80, service="http",
                                         duration=self.rng.uniform(0.3, 4), ob=400, rb=size + 300, host=host.key)
            winlog.net_connect(self.w.sink, self.st, t + 0.05, proc, host.ip, sport, ip, 80)
            self.w.net.http(self.w.sink, t + 0.06, self.rng, host.ip, ip, domain, path,
                            user_agent="Microsoft-CryptoAPI/10.0" if proc.name.lower() == "certutil.exe"
                            else catalog.PS_UA, resp_len=size,
                            mime="application/x-dosexec" if pe else "text/plain",
                            filename=path.rsplit("/", 1)[-1], hashes=self.camp.payload_hashes(path), uid=uid,
                            sport=sport, conn=False, host=host.key)
        else:
            https(self.w, self.rng, t, host, proc, domain, self.rng.randint(500, 1500), size + 4000,
                  self.rng.uniform(0.5, 6), force_sysmon=True)
        if dest:
            winlog.file_create(self.w.sink, self.st, t + 1.0, proc, dest)


def _image_for(first: str) -> str | None:
    """The executable a command line starts (None for cmd built-ins)."""
    name = first.lower().rsplit("\\", 1)[-1]
    if name in ("dir", "echo", "type", "copy", "del", "move", "set", "cd", "md", "mkdir", "for", "ren", "rd"):
        return None
    if not name.endswith(".exe"):
        name += ".exe"
    if "\\" in first:
        return first
    b = catalog.BY_NAME.get(name)
    return b.path if b else "C:\\Windows\\System32\\" + name


def stolen_admin(camp: CampaignRunner, domain_admin: bool = False) -> User:
    """The privileged account the campaign has obtained (recorded on first use)."""
    return camp.stolen_account(domain_admin)


def system_account() -> Account:
    return SYSTEM


def implant_binary(path: str, masquerade: tuple[str, str, str]) -> Binary:
    desc, product, original = masquerade
    return Binary(path, desc, product, "Microsoft Corporation" if "Microsoft" in product else "-", original,
                  "10.0.19041.1", "")


def payload_hashes(campaign_id: str, name: str) -> FileHashes:
    return file_hashes(f"{campaign_id}:{name}")
