"""Group profiles: what a campaign does, in order, with ATT&CK technique ids, and how it
operates (C2 protocol and cadence, implant, tools, pace between stages).

The built-in profiles use techniques ATT&CK attributes to each group (or to software the
group uses: Mimikatz, Cobalt Strike, AdFind), procedures from public reporting, and the
low-and-slow pace of espionage campaigns: days to weeks between stages, jittered beacons,
exfiltration dripped over weeks. `ctid.py` turns MITRE CTID emulation plans into profiles.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from aptwatch.model.killchain import STAGE_BY_TACTIC, STAGE_INDEX, Stage

RECON, INITIAL, FOOTHOLD, ESCALATE, DISCOVER, LATERAL, EXFIL, PRESENCE = (
    Stage.RECONNAISSANCE.value, Stage.INITIAL_COMPROMISE.value, Stage.ESTABLISH_FOOTHOLD.value,
    Stage.ESCALATE_PRIVILEGES.value, Stage.INTERNAL_RECON.value, Stage.LATERAL_MOVEMENT.value,
    Stage.DATA_EXFILTRATION.value, Stage.MAINTAIN_PRESENCE.value)


@dataclass(frozen=True)
class Step:
    """One procedure: a technique run at a point of the lifecycle.

    Attributes:
        technique: ATT&CK technique id (`T1003.001`).
        tactic: ATT&CK tactic id the procedure serves (`TA0006`).
        stage: lifecycle stage (model/killchain.py); defaults from the tactic.
        name: the procedure's name (shown in the ground truth).
        variant: which flavour of the technique the emitter produces (`comsvcs`, `mimikatz`, ...).
        command: a literal command line or script (CTID plans carry them).
        executor: how `command` runs: `cmd`, `powershell`, `sh` or empty.
        filled: True when a loader added the step to cover a stage the source plan lacks.
    """

    technique: str
    tactic: str
    name: str
    stage: str = ""
    variant: str = ""
    command: str = ""
    executor: str = ""
    filled: bool = False

    def __post_init__(self) -> None:
        if not self.stage:
            st = STAGE_BY_TACTIC.get(self.tactic)
            object.__setattr__(self, "stage", st.value if st else FOOTHOLD)


@dataclass(frozen=True)
class Tooling:
    """How a group operates.

    `pace` maps a stage to the (min, max) days between the previous stage and this one;
    `exfil_days` is how long the exfiltration drip lasts; `active_hours` are the UTC hours
    the operators work in.
    """

    c2_protocol: str = "https"
    c2_port: int = 443
    beacon_interval: float = 1800.0
    beacon_jitter: float = 0.4
    user_agent: str = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                       "Chrome/120.0.0.0 Safari/537.36")
    uri_patterns: tuple[str, ...] = ("/api/v2/status", "/cdn/assets/{r}.js", "/updates/check?id={r}")
    domain_style: tuple[str, ...] = ("cdn", "update", "cloud", "sync", "static")
    implant_kind: str = "exe"
    implant_path: str = "C:\\Users\\{user}\\AppData\\Roaming\\Microsoft\\{dir}\\{name}"
    implant_name: str = "OneDriveStandaloneUpdater.exe"
    implant_dll_export: str = "DllRegisterServer"
    masquerade: tuple[str, str, str] = ("Standalone Updater", "Microsoft OneDrive", "OneDriveStandaloneUpdater.exe")
    archive_tool: str = "7z"
    exfil_chunk_mb: tuple[float, float] = (4.0, 25.0)
    exfil_days: tuple[float, float] = (7.0, 18.0)
    pace: dict[str, tuple[float, float]] = field(default_factory=lambda: {
        INITIAL: (5.0, 14.0), FOOTHOLD: (0.0, 0.0), ESCALATE: (4.0, 12.0), DISCOVER: (1.0, 5.0),
        LATERAL: (3.0, 10.0), EXFIL: (4.0, 12.0), PRESENCE: (3.0, 9.0)})
    active_hours: tuple[int, int] = (7, 16)
    lateral_targets: tuple[str, ...] = ("file", "dc")
    recon_reuses_c2: bool = False


@dataclass(frozen=True)
class Profile:
    key: str
    name: str
    group_id: str | None
    description: str
    steps: tuple[Step, ...]
    tooling: Tooling = field(default_factory=Tooling)
    source: str = "built-in"
    aliases: tuple[str, ...] = ()

    def stages(self) -> list[str]:
        """Stages the profile covers, in lifecycle order."""
        return sorted({s.stage for s in self.steps}, key=lambda s: STAGE_INDEX[s])


def S(technique: str, tactic: str, name: str, stage: str = "", variant: str = "") -> Step:
    return Step(technique, tactic, name, stage, variant)


APT29 = Profile(
    "apt29", "APT29", "G0016",
    "Russian SVR espionage (Cozy Bear / NOBELIUM): HTML-smuggled ISO with an LNK that side-runs a DLL "
    "through rundll32, quiet HTTPS C2 with long sleeps, WMI subscriptions and timestomping, AdFind "
    "for domain discovery, WinRM and WMI to move, collection compressed with 7-Zip and trickled out over C2.",
    (
        S("T1595.002", "TA0043", "Vulnerability scanning of the public web server"),
        S("T1566.002", "TA0001", "Spearphishing link: HTML smuggling drops an ISO", variant="iso"),
        S("T1204.002", "TA0002", "User opens the LNK in the mounted ISO", INITIAL, "lnk_rundll32"),
        S("T1071.001", "TA0011", "HTTPS C2 beacon established"),
        S("T1547.001", "TA0003", "Registry Run key persistence", variant="reg"),
        S("T1059.001", "TA0002", "PowerShell host survey", variant="survey"),
        S("T1548.002", "TA0004", "UAC bypass via fodhelper", variant="fodhelper"),
        S("T1003.002", "TA0006", "SAM and SYSTEM hives saved with reg.exe"),
        S("T1003.004", "TA0006", "LSA secrets saved with reg.exe", variant="lsa"),
        S("T1087.002", "TA0007", "AdFind domain account enumeration", variant="adfind"),
        S("T1069.002", "TA0007", "Domain groups enumeration", variant="adfind"),
        S("T1482", "TA0007", "Domain trust discovery with nltest"),
        S("T1016.001", "TA0007", "Internet connection discovery"),
        S("T1021.006", "TA0008", "PowerShell remoting to the file server with stolen admin credentials"),
        S("T1047", "TA0008", "WMI process creation on the domain controller", LATERAL),
        S("T1005", "TA0009", "Documents collected from the file server share", variant="share"),
        S("T1560.001", "TA0009", "Collection compressed with 7-Zip and a password", variant="7z"),
        S("T1041", "TA0010", "Exfiltration over the C2 channel, in small chunks over days"),
        S("T1546.003", "TA0003", "WMI event subscription persistence on the server", PRESENCE),
        S("T1070.006", "TA0005", "Timestomp the implant"),
        S("T1070.004", "TA0005", "Staged archives deleted"),
    ),
    Tooling(c2_protocol="https", beacon_interval=3600.0 * 2.5, beacon_jitter=0.5,
            uri_patterns=("/wp-content/themes/api/{r}", "/assets/js/analytics.min.js?v={r}", "/news/rss?id={r}"),
            domain_style=("news", "cloud", "portal", "event", "health"), implant_kind="dll",
            implant_path="C:\\Users\\{user}\\AppData\\Local\\{dir}\\{name}", implant_name="NetSetup.dll",
            implant_dll_export="InitializeNetwork", masquerade=("Network Setup Helper", "Network Setup",
                                                                 "netsetup.dll"),
            archive_tool="7z", exfil_chunk_mb=(2.0, 12.0), exfil_days=(10.0, 21.0),
            pace={INITIAL: (7.0, 20.0), FOOTHOLD: (0.0, 0.0), ESCALATE: (6.0, 14.0), DISCOVER: (1.0, 6.0),
                  LATERAL: (4.0, 12.0), EXFIL: (5.0, 14.0), PRESENCE: (2.0, 8.0)},
            active_hours=(6, 15), lateral_targets=("file", "dc")),
    aliases=("Cozy Bear", "NOBELIUM", "Midnight Blizzard", "The Dukes"),
)

APT28 = Profile(
    "apt28", "APT28", "G0007",
    "Russian GRU espionage (Fancy Bear): macro document with remote template injection, an X-Agent-like "
    "implant masquerading in AppData with HTTP C2, Mimikatz against LSASS, pass-the-hash and PsExec-style "
    "service execution over ADMIN$, share collection with WinRAR, exfiltration to a separate server, logs cleared.",
    (
        S("T1595.002", "TA0043", "Vulnerability scanning of public hosts"),
        S("T1566.001", "TA0001", "Spearphishing attachment: macro document", variant="macro"),
        S("T1221", "TA0005", "Remote template injection", INITIAL),
        S("T1059.003", "TA0002", "Windows command shell launcher", FOOTHOLD),
        S("T1105", "TA0011", "Implant downloaded with certutil", variant="certutil"),
        S("T1036.005", "TA0005", "Implant masquerades as a Microsoft binary", FOOTHOLD),
        S("T1547.001", "TA0003", "Registry Run key persistence", variant="reg"),
        S("T1071.001", "TA0011", "HTTP C2 beacon established"),
        S("T1057", "TA0007", "Process discovery", ESCALATE),
        S("T1003.001", "TA0006", "Mimikatz reads LSASS memory", variant="mimikatz"),
        S("T1550.002", "TA0008", "Pass the hash with a stolen admin NTLM hash", ESCALATE),
        S("T1083", "TA0007", "File and directory discovery on shares"),
        S("T1135", "TA0007", "Network share discovery"),
        S("T1018", "TA0007", "Remote system discovery"),
        S("T1021.002", "TA0008", "SMB admin share and service execution on the file server", variant="psexec"),
        S("T1039", "TA0009", "Data from network shared drive", variant="share"),
        S("T1560.001", "TA0009", "Collection archived with WinRAR", variant="rar"),
        S("T1074.001", "TA0009", "Local data staging"),
        S("T1048.002", "TA0010", "Exfiltration over HTTPS to a separate server, in chunks"),
        S("T1070.001", "TA0005", "Security and System logs cleared"),
        S("T1564.001", "TA0005", "Staging folder hidden"),
        S("T1053.005", "TA0003", "Scheduled task persistence on the server", PRESENCE, "schtasks"),
    ),
    Tooling(c2_protocol="http", c2_port=80, beacon_interval=900.0, beacon_jitter=0.3,
            user_agent="Mozilla/5.0 (Windows NT 6.1; WOW64; Trident/7.0; rv:11.0) like Gecko",
            uri_patterns=("/watch/?v={r}&ti={r2}", "/search/?q={r}", "/results/?btnG={r}&oe={r2}"),
            domain_style=("mail", "login", "secure", "office", "account"), implant_kind="exe",
            implant_path="C:\\Users\\{user}\\AppData\\Roaming\\{dir}\\{name}", implant_name="svchost.exe",
            masquerade=("Host Process for Windows Services", "Microsoft® Windows® Operating System", "svchost.exe"),
            archive_tool="rar", exfil_chunk_mb=(5.0, 30.0), exfil_days=(6.0, 14.0),
            pace={INITIAL: (4.0, 10.0), FOOTHOLD: (0.0, 0.0), ESCALATE: (2.0, 7.0), DISCOVER: (1.0, 4.0),
                  LATERAL: (2.0, 8.0), EXFIL: (3.0, 9.0), PRESENCE: (2.0, 7.0)},
            active_hours=(6, 16), lateral_targets=("file", "sql")),
    aliases=("Fancy Bear", "Sofacy", "STRONTIUM", "Forest Blizzard"),
)

APT41 = Profile(
    "apt41", "APT41", "G0096",
    "Chinese state-sponsored espionage with criminal operations (Winnti / BARIUM): wordlist and vulnerability "
    "scanning, exploitation of the public IIS server and a webshell, certutil downloads, DLL side-loading "
    "under a signed binary, service persistence, procdump against LSASS, RDP and SMB lateral movement with "
    "tool transfer, WinRAR collection, chunked exfiltration over C2, log clearing.",
    (
        S("T1595.003", "TA0043", "Wordlist scanning of the web site"),
        S("T1595.002", "TA0043", "Vulnerability scanning"),
        S("T1190", "TA0001", "Exploit public-facing application (IIS)", variant="iis"),
        S("T1505.003", "TA0003", "Web shell dropped", FOOTHOLD),
        S("T1059.003", "TA0002", "Commands through the web shell", FOOTHOLD, "webshell"),
        S("T1105", "TA0011", "Payload downloaded with certutil", variant="certutil"),
        S("T1574.002", "TA0003", "DLL side-loading under a signed binary"),
        S("T1543.003", "TA0003", "Windows service persistence"),
        S("T1071.001", "TA0011", "HTTPS C2 beacon established"),
        S("T1003.001", "TA0006", "LSASS dumped with procdump", variant="procdump"),
        S("T1136.001", "TA0003", "Local account created", ESCALATE),
        S("T1046", "TA0007", "Network service scanning of the server subnet"),
        S("T1018", "TA0007", "Remote system discovery"),
        S("T1049", "TA0007", "System network connections discovery"),
        S("T1087.002", "TA0007", "Domain account discovery", variant="net"),
        S("T1021.001", "TA0008", "RDP to the SQL server with stolen credentials"),
        S("T1570", "TA0008", "Lateral tool transfer over SMB"),
        S("T1021.002", "TA0008", "SMB service execution on the file server", variant="psexec"),
        S("T1005", "TA0009", "Data from local system", variant="share"),
        S("T1560.001", "TA0009", "Collection archived with WinRAR in volumes", variant="rar"),
        S("T1030", "TA0010", "Exfiltration in size-limited chunks over C2"),
        S("T1070.001", "TA0005", "Event logs cleared"),
        S("T1070.004", "TA0005", "Tools deleted"),
    ),
    Tooling(c2_protocol="https", beacon_interval=1200.0, beacon_jitter=0.25,
            uri_patterns=("/jquery-3.3.1.min.js", "/ga.js?utm={r}", "/submit.php?id={r}"),
            domain_style=("game", "update", "service", "dns", "ns"), implant_kind="sideload",
            implant_path="C:\\ProgramData\\{dir}\\{name}", implant_name="VMwareXferlogs.exe",
            masquerade=("VMware Xfer Logs", "VMware Tools", "VMwareXferlogs.exe"), archive_tool="rar",
            exfil_chunk_mb=(10.0, 60.0), exfil_days=(3.0, 8.0),
            pace={RECON: (0.0, 0.0), INITIAL: (2.0, 6.0), FOOTHOLD: (0.0, 0.0), ESCALATE: (1.0, 4.0),
                  DISCOVER: (0.5, 3.0), LATERAL: (1.0, 5.0), EXFIL: (2.0, 6.0), PRESENCE: (1.0, 4.0)},
            active_hours=(0, 9), lateral_targets=("sql", "file"), recon_reuses_c2=True),
    aliases=("Winnti", "BARIUM", "Wicked Panda", "Brass Typhoon"),
)

LAZARUS = Profile(
    "lazarus", "Lazarus Group", "G0032",
    "North Korean state-sponsored group (HIDDEN COBRA): research of the organisation, a job-offer lure link "
    "leading to an HTA run by mshta, VBScript and PowerShell stagers, a scheduled task, HTTPS C2 on a "
    "non-standard port, password spraying, RDP and SSH lateral movement, exfiltration over plain HTTP to a "
    "separate server, Defender disabled and firewall opened, timestomping and cleanup.",
    (
        S("T1591", "TA0043", "Gathering victim organisation information from the public site"),
        S("T1566.002", "TA0001", "Spearphishing link: job offer lure", variant="hta"),
        S("T1218.005", "TA0005", "mshta runs the HTA", INITIAL),
        S("T1059.005", "TA0002", "VBScript stager", FOOTHOLD),
        S("T1059.001", "TA0002", "PowerShell downloads the implant", variant="cradle"),
        S("T1053.005", "TA0003", "Scheduled task persistence", variant="schtasks"),
        S("T1571", "TA0011", "HTTPS C2 on a non-standard port"),
        S("T1110.003", "TA0006", "Password spraying against the domain"),
        S("T1078.002", "TA0004", "Valid domain account obtained", ESCALATE),
        S("T1082", "TA0007", "System information discovery"),
        S("T1057", "TA0007", "Process discovery"),
        S("T1046", "TA0007", "Network service scanning"),
        S("T1021.001", "TA0008", "RDP to the file server"),
        S("T1021.004", "TA0008", "SSH to a Linux server"),
        S("T1074.001", "TA0009", "Local data staging"),
        S("T1560", "TA0009", "Collection archived", variant="7z"),
        S("T1048.003", "TA0010", "Exfiltration over plain HTTP to a separate server"),
        S("T1562.001", "TA0005", "Microsoft Defender real-time protection disabled"),
        S("T1562.004", "TA0005", "Firewall opened for RDP"),
        S("T1070.006", "TA0005", "Timestomp"),
        S("T1070.004", "TA0005", "Cleanup"),
    ),
    Tooling(c2_protocol="https", c2_port=8443, beacon_interval=1800.0, beacon_jitter=0.35,
            uri_patterns=("/board/list.php?page={r}", "/include/inc.php?id={r}", "/member/login.asp"),
            domain_style=("career", "job", "recruit", "talent", "hr"), implant_kind="exe",
            implant_path="C:\\ProgramData\\{dir}\\{name}", implant_name="wsmprovav.exe",
            masquerade=("Windows Remote Management Provider", "Microsoft® Windows® Operating System",
                        "wsmprovav.exe"),
            archive_tool="7z", exfil_chunk_mb=(8.0, 40.0), exfil_days=(4.0, 10.0),
            pace={INITIAL: (3.0, 10.0), FOOTHOLD: (0.0, 0.0), ESCALATE: (3.0, 8.0), DISCOVER: (1.0, 3.0),
                  LATERAL: (2.0, 6.0), EXFIL: (3.0, 8.0), PRESENCE: (1.0, 5.0)},
            active_hours=(0, 8), lateral_targets=("file", "linux")),
    aliases=("HIDDEN COBRA", "ZINC", "Diamond Sleet", "Labyrinth Chollima"),
)

BUILT_IN: dict[str, Profile] = {p.key: p for p in (APT29, APT28, APT41, LAZARUS)}


def with_defaults(profile: Profile, base: Profile = APT29,
                  observable: Callable[[Step], bool] | None = None) -> Profile:
    """Fill the stages a profile lacks - or covers only with steps no sensor can see
    (`observable` false, e.g. resource development) - from `base`'s steps for those stages,
    marked `filled`."""
    have = {s.stage for s in profile.steps if observable is None or observable(s)}
    missing = [replace(s, filled=True) for s in base.steps if s.stage not in have]
    if not missing:
        return profile
    merged = sorted((*profile.steps, *missing), key=lambda s: STAGE_INDEX[s.stage])
    # keep the plan's own order within a stage: a stable sort by stage does that
    return replace(profile, steps=tuple(merged))
