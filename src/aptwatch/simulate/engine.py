"""The simulation loop: plan each day's activities for every host and campaign, run them in
time order, stream the events to disk.

Memory stays flat as days grow: per day the agenda holds that day's planned activities
(a few hundred per host), the sink holds only events later than the activity being run, and
the writers stream to one open file per log. Nothing accumulates across days except each
host's small state (counters, long-lived processes) and each campaign's state.

Determinism: every random stream is derived from the seed and a name (host and day,
campaign and step); activities run in (time, planning order); so the same config gives
byte-identical files.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

import orjson

from aptwatch import __version__
from aptwatch.simulate import benign_linux, benign_system, benign_windows, winlog
from aptwatch.simulate.campaign import CampaignRunner, plan_campaigns
from aptwatch.simulate.config import SimulationConfig
from aptwatch.simulate.events import Sink
from aptwatch.simulate.netlog import Net
from aptwatch.simulate.org import Org, build_org
from aptwatch.simulate.rand import Rng
from aptwatch.simulate.world import Activity, LinuxState, World
from aptwatch.simulate.writers import Outputs

#: an activity may emit events up to this many seconds before its start (a ticket request
#: before a logon, a file written before it runs); the sink holds events that long
LOOKBACK = 120.0


class SimProgress(Protocol):
    """Progress callbacks (the CLI renders them on stderr)."""

    def start(self, days: int) -> None: ...

    def day(self, index: int, events: int) -> None:
        """Day `index` is simulated; every file of the days before it is complete and closed."""


@dataclass
class SimulationReport:
    out: Path
    events: int
    by_stream: dict[str, int]
    malicious: int
    files: list[str]
    campaigns: list[dict[str, Any]]
    seconds: float
    peak_pending: int
    hosts: int
    days: int
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def _world(config: SimulationConfig, org: Org, sink: Sink) -> World:
    rng = Rng(config.seed, "boot")
    win = {}
    lin = {}
    for h in org.hosts:
        if h.os == "windows":
            boot = config.start_epoch - rng.uniform(3600, 86400 * 20)
            win[h.idx] = winlog.start_host(h, org, config.seed, boot, config.security_4688)
        else:
            lin[h.idx] = LinuxState(h, pid=rng.randint(900, 90_000))
    return World(config, org, Net(org), sink, win, lin, Rng(config.seed, "domain-guid").guid())


def simulate(config: SimulationConfig, out: Path, progress: SimProgress | None = None) -> SimulationReport:
    """Write the simulated telemetry and its ground truth under `out` (see writers.py for the layout)."""
    t_start = time.monotonic()
    out.mkdir(parents=True, exist_ok=True)
    org = build_org(config)
    outputs = Outputs(out, config.windows_format, config.compress, config.seed, f"wec.{config.domain}")
    sink = Sink(outputs, config.end_epoch)
    world = _world(config, org, sink)
    campaigns = plan_campaigns(world)
    agenda: list[tuple[float, int, Activity, Rng]] = []
    seq = itertools.count()
    if progress is not None:
        progress.start(config.days)
    now = config.start_epoch
    try:
        for d in range(config.days):
            day = config.start + timedelta(days=d)
            t0 = config.start_epoch + 86400.0 * d
            for host in org.hosts:
                rng = Rng(config.seed, "day", host.idx, d)
                add = _adder(agenda, seq, rng)
                if host.os == "windows":
                    benign_system.plan_windows_background(world, host, day, t0, rng, add)
                    if host.role == "workstation":
                        benign_windows.plan_workstation(world, host, day, t0, rng, add)
                else:
                    benign_linux.plan_linux(world, host, day, t0, rng, add)
                if host.public:
                    benign_linux.plan_internet_noise(world, host, t0, rng, add)
            for c in campaigns:
                c.plan_day(world, d, t0, lambda t, fn, r: heapq.heappush(agenda, (t, next(seq), fn, r)))
            end = t0 + 86400.0
            while agenda and agenda[0][0] < end:
                t, _, fn, rng = heapq.heappop(agenda)
                t = max(t, now)
                now = t
                sink.flush_until(t - LOOKBACK)
                fn(world, rng, t)
                if world.later:
                    for lt, lfn, lrng in world.later:
                        heapq.heappush(agenda, (max(lt, t), next(seq), lfn, lrng))
                    world.later.clear()
            sink.flush_until(end - LOOKBACK)
            outputs.close_before(day.isoformat())  # the previous days are complete on disk
            if progress is not None:
                progress.day(d, sum(sink.counts.values()))
        sink.flush_all()
    finally:
        outputs.close()
    report = SimulationReport(out, sum(sink.counts.values()), dict(sorted(sink.counts.items())), sink.malicious,
                              outputs.files(), [c.manifest(outputs.truth_stats) for c in campaigns],
                              time.monotonic() - t_start,
                              sink.peak_pending, len(org.hosts), config.days,
                              {"clamped": sink.clamped, "dropped_after_end": sink.dropped})
    _write_manifests(out, config, org, report, campaigns)
    return report


def _adder(agenda: list[tuple[float, int, Activity, Rng]], seq: itertools.count[int],
           rng: Rng) -> Callable[[float, Activity], None]:
    def add(t: float, fn: Activity) -> None:
        heapq.heappush(agenda, (t, next(seq), fn, rng))
    return add


def _write_manifests(out: Path, config: SimulationConfig, org: Org, report: SimulationReport,
                     campaigns: list[CampaignRunner]) -> None:
    truth = out / "truth"
    opts = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS
    (truth / "campaigns.json").write_bytes(orjson.dumps(report.campaigns, option=opts) + b"\n")
    inventory = {
        "domain": org.domain, "netbios": org.netbios, "domain_sid": org.domain_sid,
        "hosts": [{"name": h.name, "fqdn": h.fqdn, "key": h.key, "ip": h.ip, "role": h.role, "os": h.os,
                   "sid": h.sid, "public": h.public, "user": h.user.sam if h.user else None} for h in org.hosts],
        "users": [{"sam": u.sam, "display": u.display, "sid": u.sid, "department": u.department, "kind": u.kind,
                   "groups": list(u.groups)} for u in (*org.users, *org.admins, *org.service_accounts.values())],
        "internal_networks": [str(n) for n in org.internal_nets],
    }
    (truth / "org.json").write_bytes(orjson.dumps(inventory, option=opts) + b"\n")
    meta = {
        "generator": f"aptwatch {__version__} simulate",
        "config": {"hosts": config.hosts, "days": config.days, "seed": config.seed, "users": config.users,
                   "start": config.start.isoformat(), "profiles": list(config.profiles),
                   "windows_format": config.windows_format, "compress": config.compress, "domain": config.domain,
                   "linux": config.linux, "security_4688": config.security_4688, "noise": config.noise},
        "events": report.events, "by_stream": report.by_stream, "malicious_events": report.malicious,
        "files": report.files,
        "note": "Simulated telemetry: a test bench for aptwatch, never evidence of detection quality on real data.",
    }
    (out / "simulation.json").write_bytes(orjson.dumps(meta, option=opts) + b"\n")
