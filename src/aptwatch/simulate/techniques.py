"""The technique registry: ATT&CK technique id -> emitter, and how a step finds its emitter.

Lookup order for a step:
1. a technique that needs structure (initial access, persistence, credential dumping, lateral
   movement, C2, exfiltration, collection) uses its emitter, whatever the step's command;
2. a step with a literal command (CTID plans) runs that command through its executor
   (PowerShell with a script block, or cmd.exe);
3. the technique's own emitter, then its parent technique's (`T1003.005` -> `T1003`);
4. a default emitter for the step's tactic.
"""

from __future__ import annotations

from collections.abc import Callable

from aptwatch.errors import RegistryError
from aptwatch.simulate import techniques_host, techniques_move, techniques_net
from aptwatch.simulate.attack import AttackCtx
from aptwatch.simulate.profiles import LATERAL, Step

Emitter = Callable[[AttackCtx, float], None]


def _merge(*tables: dict[str, Emitter]) -> dict[str, Emitter]:
    out: dict[str, Emitter] = {}
    for table in tables:
        for k, v in table.items():
            if k in out:
                raise RegistryError(f"technique {k} has two emitters")
            out[k] = v
    return out


EMITTERS: dict[str, Emitter] = _merge(techniques_host.EMITTERS, techniques_move.EMITTERS, techniques_net.EMITTERS)

#: techniques whose emitter is used even when the step carries a literal command
STRUCTURAL = frozenset(t for t in EMITTERS if t.split(".")[0] in {
    "T1566", "T1189", "T1190", "T1133", "T1195", "T1204", "T1505", "T1547", "T1053", "T1543", "T1546", "T1574",
    "T1003", "T1558", "T1110", "T1548", "T1021", "T1570", "T1550", "T1563", "T1071", "T1573", "T1571", "T1090",
    "T1102", "T1041", "T1048", "T1567", "T1030", "T1029", "T1020", "T1537", "T1005", "T1039", "T1119", "T1560",
    "T1074", "T1595", "T1591", "T1594", "T1589", "T1592", "T1590", "T1593", "T1046", "T1070", "T1105", "T1136",
    "T1562", "T1055"})

BY_TACTIC: dict[str, Emitter] = {
    "TA0043": techniques_net.recon_scan, "TA0042": techniques_net.no_telemetry,
    "TA0001": techniques_host.phish_attachment, "TA0002": techniques_host.powershell,
    "TA0003": techniques_host.run_key, "TA0004": techniques_host.uac_bypass, "TA0005": techniques_host.file_deletion,
    "TA0006": techniques_host.lsass_dump, "TA0007": techniques_move.discovery, "TA0008": techniques_move.smb_exec,
    "TA0009": techniques_move.collect, "TA0010": techniques_net.exfiltrate, "TA0011": techniques_net.start_beacon,
    "TA0040": techniques_host.inhibit_recovery,
}


def run_command(ctx: AttackCtx, t: float) -> None:
    """A plan's literal command, through its executor."""
    step = ctx.step
    command = ctx.fill(step.command)
    if step.executor in ("powershell", "psh", "pwsh"):
        ctx.powershell(t, command.strip())
    elif step.executor in ("sh", "bash"):
        return  # Linux process telemetry (auditd) is not simulated; auth.log sees no command
    else:
        tt = t
        for line in [ln.strip() for ln in command.splitlines() if ln.strip()][:6]:
            _, tt = ctx.shell(tt, line)
            tt += ctx.rng.uniform(2, 30)


def emitter(step: Step) -> Emitter:
    """The emitter for a step (see module doc)."""
    tech = step.technique
    if step.stage == LATERAL and tech in techniques_move.LATERAL_REMOTE:
        return techniques_move.LATERAL_REMOTE[tech]
    if tech in STRUCTURAL:
        return EMITTERS[tech]
    if step.command and step.executor:
        return run_command
    if tech in EMITTERS:
        return EMITTERS[tech]
    parent = tech.split(".")[0]
    if parent in EMITTERS:
        return EMITTERS[parent]
    return BY_TACTIC.get(step.tactic, techniques_host.powershell)


def observable(step: Step) -> bool:
    """Whether the step leaves anything in the logs (resource development does not)."""
    return emitter(step) is not techniques_net.no_telemetry


def coverage(steps: list[Step]) -> dict[str, str]:
    """technique -> how it is emitted (`own`, `parent`, `command`, `tactic default`)."""
    out = {}
    for s in steps:
        if s.technique in EMITTERS:
            out[s.technique] = "own"
        elif s.command and s.executor:
            out[s.technique] = "command"
        elif s.technique.split(".")[0] in EMITTERS:
            out[s.technique] = "parent"
        else:
            out[s.technique] = "tactic default"
    return out
