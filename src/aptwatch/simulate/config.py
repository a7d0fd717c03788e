"""What a simulation is asked to produce: one frozen, validated value passed everywhere."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Literal

from aptwatch.errors import InputError

WindowsFormat = Literal["winlogbeat", "otrf"]
WINDOWS_FORMATS: tuple[str, ...] = ("winlogbeat", "otrf")


@dataclass(frozen=True)
class SimulationConfig:
    """An organisation, a time span and the campaigns planted in it.

    Attributes:
        hosts: total machines: domain controllers, Windows servers, Linux servers, workstations.
        days: simulated days, starting at `start` 00:00 UTC.
        seed: the only source of randomness; same seed and config -> byte-identical output.
        users: human user accounts (default: one per workstation).
        start: first simulated day (UTC).
        profiles: one planted campaign per entry: a built-in profile name (`apt29`), `ctid:<plan>`
            (a CTID emulation plan found under `plans_dir`), or a path to a plan YAML file.
        campaign_start_days: day (0-based) each campaign begins its reconnaissance; default:
            spread over the first third of the window.
        windows_format: JSON shape of Windows events: `winlogbeat` (ECS, `winlog.*`) or `otrf`
            (the OTRF Security-Datasets / NXLog shape).
        compress: gzip every log file (deterministic gzip headers).
        domain: Active Directory DNS domain; the NetBIOS name is its first label, upper case.
        linux: include Linux servers (auth.log).
        security_4688: also write Security 4688 for every process Sysmon 1 records.
        noise: multiplier on the volume of benign activity (1.0 = the documented baseline).
        plans_dir: folder holding CTID emulation plans (for `ctid:` profiles).
    """

    hosts: int = 50
    days: int = 30
    seed: int = 1
    users: int | None = None
    start: date = date(2024, 3, 4)
    profiles: tuple[str, ...] = ("apt29",)
    campaign_start_days: tuple[int, ...] = ()
    windows_format: WindowsFormat = "winlogbeat"
    compress: bool = False
    domain: str = "corp.example.com"
    linux: bool = True
    security_4688: bool = True
    noise: float = 1.0
    plans_dir: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.hosts < 8:
            raise InputError(f"--hosts {self.hosts}: an organisation needs at least 8 hosts "
                             "(domain controller, servers, workstations)")
        if self.days < 1:
            raise InputError(f"--days {self.days}: must be at least 1")
        if self.users is not None and self.users < 1:
            raise InputError(f"--users {self.users}: must be at least 1")
        if self.windows_format not in WINDOWS_FORMATS:
            raise InputError(f"--windows-format {self.windows_format!r}: one of {', '.join(WINDOWS_FORMATS)}")
        if not 0.05 <= self.noise <= 20:
            raise InputError(f"--noise {self.noise}: between 0.05 and 20")
        labels = self.domain.split(".")
        if len(labels) < 2 or not all(lab.isalnum() or "-" in lab for lab in labels):
            raise InputError(f"--domain {self.domain!r}: a DNS domain like corp.example.com")
        for d in self.campaign_start_days:
            if not 0 <= d < self.days:
                raise InputError(f"campaign start day {d} is outside the {self.days}-day window")

    @property
    def netbios(self) -> str:
        return self.domain.split(".", 1)[0].upper()

    @property
    def start_epoch(self) -> float:
        return datetime(self.start.year, self.start.month, self.start.day, tzinfo=UTC).timestamp()

    @property
    def end_epoch(self) -> float:
        return self.start_epoch + 86400.0 * self.days
