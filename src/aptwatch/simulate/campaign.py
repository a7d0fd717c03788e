"""Planted campaigns: a profile turned into a schedule over the simulated weeks, run step by
step against the simulated organisation.

Planning (at start, from the seed): infrastructure (C2, staging and exfiltration domains on
VPS addresses), the patient-zero workstation, lateral-movement targets, and for each stage a
"not before" time spaced by the profile's pace (days to weeks), compressed when the window
is shorter than the campaign. Running: steps execute one after another - each schedules the
next - so a step that must wait (the victim is not logged on) delays the rest instead of
overtaking them. Beacons run from every foothold whose implant is alive, with jitter;
exfiltration is dripped in chunks over days.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aptwatch.model.killchain import STAGE_BY_TACTIC, STAGE_INDEX
from aptwatch.simulate import catalog, winlog
from aptwatch.simulate.attack import AttackCtx, Foothold, implant_binary
from aptwatch.simulate.events import Truth
from aptwatch.simulate.org import SYSTEM, Host, User
from aptwatch.simulate.profiles import ESCALATE, EXFIL, FOOTHOLD, INITIAL, LATERAL, PRESENCE, RECON, Profile, Step
from aptwatch.simulate.rand import FileHashes, Rng, file_hashes
from aptwatch.simulate.winlog import Proc, Session, WinState
from aptwatch.simulate.world import Activity, World
from aptwatch.simulate.writers import iso_ms

AddFn = Callable[[float, Activity, Rng], None]


def _needs_user() -> frozenset[object]:
    from aptwatch.simulate import techniques_host as th
    return frozenset({th.phish_attachment, th.phish_link, th.user_execution, th.template_injection})

IMPLANT_DIRS = ("Microsoft\\Network", "Intel\\Logs", "Packages\\Cache", "Microsoft\\Crypto\\Keys", "Adobe\\Setup",
                "Oracle\\Java\\Updates", "VMware\\Logs", "Microsoft\\DeviceSync", "Mozilla\\Updates")


@dataclass
class StageMark:
    first: float
    last: float
    steps: int = 0


class CampaignRunner:
    """One planted campaign."""

    def __init__(self, w: World, index: int, profile: Profile, start_day: int) -> None:
        from aptwatch.simulate.techniques import emitter  # late: techniques import this module's types

        self._emitter = emitter
        cfg = w.cfg
        self.profile = profile
        self.index = index
        self.id = f"sim-{profile.key}-s{cfg.seed}-{index + 1}"
        self._w = w
        self._org_hosts = w.org.hosts
        self.rng = Rng(cfg.seed, "campaign", index, profile.key)
        rng = self.rng
        tool = profile.tooling
        org = w.org
        # infrastructure
        self.c2_domains = tuple(self._domain(rng, tool.domain_style) for _ in range(2))
        self.c2_ips = tuple(org.internet.vps_ip(rng) for _ in range(2))
        self.staging_domain = self._domain(rng, ("files", "docs", "share", "download", "storage"))
        self.staging_ip = org.internet.vps_ip(rng)
        self.exfil_domain = self._domain(rng, ("backup", "sync", "upload", "archive", "drive"))
        self.exfil_ip = org.internet.vps_ip(rng)
        self.recon_ip = self.c2_ips[0] if tool.recon_reuses_c2 else org.internet.vps_ip(rng)
        for d, ip in ((self.c2_domains[0], self.c2_ips[0]), (self.c2_domains[1], self.c2_ips[1]),
                      (self.staging_domain, self.staging_ip), (self.exfil_domain, self.exfil_ip)):
            org.internet._cache[d] = ip
        self.implant_dir = rng.choice(IMPLANT_DIRS)
        # victims
        candidates = [h for h in org.workstations if h.user is not None and h.user.department != "it"] or \
            [h for h in org.workstations if h.user is not None]
        self.patient_zero = rng.choice(candidates)
        self.targets: list[Host] = []
        for role in tool.lateral_targets:
            h = self._target_for(org.hosts, role, rng)
            if h is not None and h not in self.targets:
                self.targets.append(h)
        self._next_target = 0
        self.stolen: list[User] = []
        self.footholds: dict[int, Foothold] = {}
        self.current: Host | None = None
        self.hosts_touched: list[str] = []
        self.timeline: dict[str, StageMark] = {}
        self.steps = list(self._ordered(profile.steps))
        self.step_done: list[bool] = [False] * len(self.steps)
        self.exfil_bytes = 0
        self.archive: tuple[Host, str, int] | None = None
        # schedule
        self.start = cfg.start_epoch + 86400.0 * start_day
        self.not_before = self._schedule(cfg.end_epoch)
        self.escalated_at: float | None = None
        self._started = False
        #: what earlier steps leave for later ones
        self.initial_proc: Proc | None = None
        self.lure: str | None = None
        self.webshell_uri = "/aspnet_client/system_web/errorFE.aspx"
        self.flags: dict[str, bool] = {}

    # -- planning ----------------------------------------------------------------------------
    @staticmethod
    def _domain(rng: Rng, style: tuple[str, ...]) -> str:
        a, s = rng.choice(catalog.WORDS), rng.choice(style)
        form = rng.randint(0, 2)
        name = (f"{a}-{s}", f"{s}{a}", f"{a}{s}{rng.randint(1, 99)}")[form]
        return f"{name}.{rng.choice(('com', 'net', 'org', 'info', 'io'))}"

    @staticmethod
    def _target_for(hosts: list[Host], role: str, rng: Rng) -> Host | None:
        if role == "linux":
            linux = [h for h in hosts if h.role == "linux"] or [h for h in hosts if h.os == "linux"]
            return linux[0] if linux else None
        exact = [h for h in hosts if h.role == role]
        if exact:
            return exact[0]
        servers = [h for h in hosts if h.os == "windows" and h.role not in ("workstation", "dc")]
        return rng.choice(servers) if servers else None

    @staticmethod
    def _ordered(steps: tuple[Step, ...]) -> list[Step]:
        return sorted(steps, key=lambda s: STAGE_INDEX[s.stage])

    def _schedule(self, end: float) -> dict[str, float]:
        rng, tool = self.rng, self.profile.tooling
        stages = sorted({s.stage for s in self.steps}, key=lambda s: STAGE_INDEX[s])
        gaps = [0.0] + [rng.uniform(*tool.pace.get(st, (1.0, 3.0))) * 86400.0 for st in stages[1:]]
        exfil = rng.uniform(*tool.exfil_days) * 86400.0 if EXFIL in stages else 0.0
        total = sum(gaps) + exfil + 43200.0
        avail = max(3600.0, end - self.start - 43200.0)
        scale = min(1.0, avail / total) if total > 0 else 1.0
        self.scale = scale
        self.exfil_span = exfil * scale
        out: dict[str, float] = {}
        t = self.start
        lo, hi = tool.active_hours
        for st, gap in zip(stages, gaps, strict=True):
            t += gap * scale
            if scale > 0.3:  # align to the operators' working hours when there is room
                day0 = t - t % 86400.0
                cand = day0 + rng.uniform(lo, hi) * 3600.0
                t = cand if cand >= t or gap == 0 else cand + 86400.0 * (1 if cand < t - 3600 else 0)
            else:
                t += rng.uniform(600.0, 4 * 3600.0) * scale
            out[st] = t
        return out

    def _target_host(self, step: Step) -> Host | None:
        if step.stage == RECON:
            return None
        if step.stage == INITIAL and self.current is None:
            if step.technique == "T1190":
                web = next((h for h in self.targets_all() if h.role == "web"), None)
                if web is not None:
                    return web
            return self.patient_zero
        return self.current or self.patient_zero

    def targets_all(self) -> list[Host]:
        return self._org_hosts

    # -- state --------------------------------------------------------------------------------
    def next_target(self, os: str = "windows") -> Host | None:
        """The next lateral-movement target (of the given OS) not yet reached."""
        for h in self.targets:
            if h.os == os and h.idx not in self.footholds and h.key not in self.hosts_touched:
                return h
        pool = [h for h in self._org_hosts if h.os == os and h.role not in ("workstation",)
                and h.idx not in self.footholds and h.key not in self.hosts_touched]
        return pool[0] if pool else None

    def stolen_account(self, domain_admin: bool = False) -> User:
        admins = self._w.org.admins
        pick = admins[0] if domain_admin or len(admins) < 3 else admins[2 + self.index % (len(admins) - 2)]
        if pick not in self.stolen:
            self.stolen.append(pick)
        return pick

    def touch(self, host: Host) -> None:
        if host.key not in self.hosts_touched:
            self.hosts_touched.append(host.key)

    def payload_hashes(self, name: str) -> FileHashes:
        return file_hashes(f"{self.id}:{name}")

    def recurring_stage(self, t: float) -> str:
        """Stage of recurring C2 and autostarts: foothold until escalation began, then presence."""
        if self.escalated_at is not None and t >= self.escalated_at:
            return PRESENCE
        return FOOTHOLD

    def truth(self, step: Step, stage: str | None = None) -> Truth:
        return Truth(self.id, self.profile.key, stage or step.stage, step.tactic, step.technique, step.name)

    def new_foothold(self, host: Host, t: float, *, account: Any = None, integrity: str | None = None,
                     logon_id: int | None = None) -> Foothold:
        tool = self.profile.tooling
        st = self._w.st(host) if host.os == "windows" else None
        session = st.session if st is not None else None
        if account is None:
            if host.role == "workstation" and session is not None:
                account, lid, il = session.user.account, session.logon_id, "Medium"
            else:
                account, lid, il = SYSTEM, 0x3E7, "System"
        else:
            lid, il = logon_id or 0x3E7, integrity or "High"
        user = account.name if account is not SYSTEM else "Public"
        if host.role == "workstation" and account is not SYSTEM:
            path = tool.implant_path.format(user=user, dir=self.implant_dir, name=tool.implant_name)
        else:
            path = f"C:\\ProgramData\\{self.implant_dir}\\{tool.implant_name}"
        hashes = self.payload_hashes(tool.implant_name)
        if tool.implant_kind == "dll":
            dll = path
            image = catalog.binary("rundll32.exe")
            cmd = f"\"C:\\Windows\\System32\\rundll32.exe\" \"{dll}\",{tool.implant_dll_export}"
        elif tool.implant_kind == "sideload":
            image = catalog.Binary(path, tool.masquerade[0], tool.masquerade[1], "VMware, Inc.", tool.masquerade[2],
                                   "12.1.0.20992", "VMware, Inc.")
            cmd = f"\"{path}\""
            hashes = file_hashes("vmwarexferlogs.exe")  # the genuine signed binary
        else:
            image = implant_binary(path, tool.masquerade)
            cmd = f"\"{path}\""
        fh = Foothold(host, account, lid if lid is not None else 0x3E7, il, image, cmd, hashes, since=t)
        self.footholds[host.idx] = fh
        self.touch(host)
        if host.os == "windows":
            self.current = host
        return fh

    def implant_dll(self, fh: Foothold) -> catalog.Binary:
        tool = self.profile.tooling
        folder = fh.image.path.rsplit("\\", 1)[0] if tool.implant_kind == "sideload" else \
            tool.implant_path.rsplit("\\", 1)[0]
        name = "vmtools.dll" if tool.implant_kind == "sideload" else tool.implant_name
        if tool.implant_kind == "dll":
            user = fh.account.name if fh.account is not SYSTEM else "Public"
            path = tool.implant_path.format(user=user, dir=self.implant_dir, name=name)
            if fh.host.role != "workstation" or fh.account is SYSTEM:
                path = f"C:\\ProgramData\\{self.implant_dir}\\{name}"
        else:
            path = f"{folder}\\{name}"
        return catalog.Binary(path, tool.masquerade[0], tool.masquerade[1], "-", tool.masquerade[2],
                              "1.0.0.1", "")

    def start_implant(self, w: World, rng: Rng, t: float, fh: Foothold, truth: Truth | None,
                      parent: Proc | None = None) -> Proc:
        """Start (or restart) the implant on a foothold, from the parent its persistence implies."""
        host = fh.host
        st = w.st(host)
        if parent is None:
            if fh.persistence == "service":
                parent = st.procs["services"]
            elif fh.persistence == "task":
                parent = st.procs["svc_schedule"]
            elif fh.persistence == "wmi":
                parent = st.procs["wmiprvse"]
            elif st.session is not None and st.session.explorer is not None and fh.account is not SYSTEM:
                parent = st.session.explorer
            else:
                parent = st.procs["services"]
        with w.sink.labelled(truth):
            p = winlog.spawn(w.sink, st, t, parent, fh.image, fh.implant_cmd, user=fh.account,
                             logon_id=fh.logon_id, integrity=fh.integrity, hashes=fh.hashes,
                             cwd=fh.image.path.rsplit("\\", 1)[0] + "\\")
            kind = self.profile.tooling.implant_kind
            if kind in ("dll", "sideload"):
                winlog.image_load(w.sink, st, t + 0.2, p, self.implant_dll(fh), signed=False,
                                  hashes=self.payload_hashes("payload.dll"))
        p.label = truth
        fh.proc = p
        fh.state_id = id(st)
        if fh.needs_session:
            st.procs[f"user:{self.id}"] = p
        return p

    def alive(self, w: World, fh: Foothold) -> bool:
        if fh.proc is None:
            return False
        st = w.st(fh.host)
        if fh.state_id != id(st):
            return False  # the host rebooted
        if fh.needs_session:
            return st.procs.get(f"user:{self.id}") is fh.proc
        return True

    def logon_hook(self, fh: Foothold, step: Step) -> Callable[[World, Rng, float, WinState, Session], None]:
        """Run-key persistence: the implant starts again at every interactive logon."""
        def hook(w: World, rng: Rng, t: float, st: WinState, session: Session) -> None:
            if session.user.account.sid != fh.account.sid:
                return
            self.start_implant(w, rng, t + rng.uniform(1, 8), fh,
                               self.truth(step, self.recurring_stage(t)))
        return hook

    def mark(self, stage: str, t: float) -> None:
        m = self.timeline.get(stage)
        if m is None:
            self.timeline[stage] = StageMark(t, t, 1)
        else:
            m.first, m.last, m.steps = min(m.first, t), max(m.last, t), m.steps + 1

    # -- running ------------------------------------------------------------------------------
    def plan_day(self, w: World, d: int, t0: float, add: AddFn) -> None:
        if not self._started and self.steps:
            first = self.not_before[self.steps[0].stage]
            if first < t0 + 86400.0:
                self._started = True
                add(max(first, t0), self._step_action(0, 0), Rng(w.cfg.seed, self.id, "step", 0))
        from aptwatch.simulate.techniques_net import plan_beacons
        for fh in list(self.footholds.values()):
            if fh.beacon:
                plan_beacons(w, self, fh, t0, t0 + 86400.0, add, Rng(w.cfg.seed, self.id, "beacon", fh.host.idx, d))

    def _step_action(self, i: int, tries: int) -> Activity:
        def run(w: World, rng: Rng, t: float) -> None:
            step = self.steps[i]
            host = self._target_host(step)
            if self._emitter(step) in NEEDS_USER and host is not None and host.role != "workstation":
                host = self.patient_zero  # a user has to open it
            fh = self.footholds.get(host.idx) if host is not None else None
            waiting = host is not None and host.role == "workstation" and w.st(host).session is None and (
                step.stage == INITIAL or fh is None or fh.needs_session or self._emitter(step) in NEEDS_USER)
            if waiting and tries < 240:
                w.schedule(t + rng.uniform(1800, 5400), self._step_action(i, tries + 1), rng)
                return
            truth = self.truth(step)
            if step.stage == ESCALATE and self.escalated_at is None:
                self.escalated_at = t
            ctx = AttackCtx(w, rng, self, step, truth, host or self._public_host())
            with w.sink.labelled(truth):
                self._emitter(step)(ctx, t)
            self.mark(step.stage, t)
            self.step_done[i] = True
            if i + 1 < len(self.steps):
                nxt = self.steps[i + 1]
                # minutes to an hour or so between steps of a stage (shorter when the window is tight)
                gap = rng.uniform(300, 5400) * max(self.scale, 0.05) if nxt.stage == step.stage else 0.0
                when = max(self.not_before.get(nxt.stage, t), t + gap + rng.uniform(30, 300))
                w.schedule(when, self._step_action(i + 1, 0), Rng(w.cfg.seed, self.id, "step", i + 1))
        return run

    def _public_host(self) -> Host:
        pub = [h for h in self._org_hosts if h.public]
        return pub[0] if pub else self.patient_zero

    def manifest(self, written: dict[tuple[str, str], list[float]] | None = None) -> dict[str, Any]:
        """The campaign as planted. With `written` (the writers' per-stage first/last event time and
        count), stage times are those of the events in the logs, beacons and drips included."""
        p = self.profile
        stages: dict[str, dict[str, Any]] = {}
        for k, v in sorted(self.timeline.items(), key=lambda kv: STAGE_INDEX[kv[0]]):
            first, last, events = v.first, v.last, 0
            if written and (self.id, k) in written:
                first, last, n = written[(self.id, k)]
                events = int(n)
            stages[k] = {"first": iso_ms(first), "last": iso_ms(last), "steps": v.steps, "events": events}
        firsts = [t for (c, _), (t, _, _) in (written or {}).items() if c == self.id]
        return {
            "id": self.id, "profile": p.key, "name": p.name, "group_id": p.group_id, "source": p.source,
            "description": p.description,
            "stages": stages,
            "first_activity": iso_ms(min(firsts) if firsts else
                                     min((m.first for m in self.timeline.values()), default=self.start)),
            "hosts": list(self.hosts_touched), "patient_zero": self.patient_zero.key,
            "accounts": [u.sam for u in self.stolen],
            "infrastructure": {"c2_domains": list(self.c2_domains), "c2_ips": list(self.c2_ips),
                               "staging": [self.staging_domain, self.staging_ip],
                               "exfil": [self.exfil_domain, self.exfil_ip], "recon_ip": self.recon_ip},
            "techniques": list(dict.fromkeys(s.technique for s in self.steps)),
            "steps": [{"technique": s.technique, "tactic": s.tactic, "stage": s.stage, "name": s.name,
                       "done": done, "filled": s.filled} for s, done in zip(self.steps, self.step_done, strict=True)],
            "exfiltrated_bytes": self.exfil_bytes,
        }


def stage_of(tactic: str) -> str:
    st = STAGE_BY_TACTIC.get(tactic)
    return st.value if st else FOOTHOLD


def plan_campaigns(w: World) -> list[CampaignRunner]:
    """One runner per configured profile, started on its configured (or a seeded) day."""
    from aptwatch.simulate.ctid import resolve_profile

    cfg = w.cfg
    runners = []
    rng = Rng(cfg.seed, "campaign-starts")
    for i, name in enumerate(cfg.profiles):
        profile = resolve_profile(name, cfg.plans_dir)
        if i < len(cfg.campaign_start_days):
            day = cfg.campaign_start_days[i]
        else:
            day = min(cfg.days - 1, rng.randint(1, max(1, cfg.days // 4)) if cfg.days > 4 else 0)
        runners.append(CampaignRunner(w, i, profile, day))
    return runners


class _NeedsUser:
    """Emitters that need a user at the keyboard (resolved lazily: techniques import this module)."""

    _cache: frozenset[object] | None = None

    def __contains__(self, item: object) -> bool:
        if _NeedsUser._cache is None:
            _NeedsUser._cache = _needs_user()
        return item in _NeedsUser._cache


NEEDS_USER = _NeedsUser()

__all__ = ["LATERAL", "CampaignRunner", "Foothold", "plan_campaigns", "stage_of"]
