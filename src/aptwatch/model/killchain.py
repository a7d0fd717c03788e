"""ATT&CK tactics and the APT lifecycle (kill-chain) stages they map to.

The mapping is the default of ../shared/docs/DESIGN.md. Two choices are ours, documented in
docs/architecture.md:

- A finding tagged with several tactics gets the stage furthest along the lifecycle among
  them, except that `maintain_presence` (defense evasion, impact) only wins when it is the
  finding's only stage: evasion accompanies every step and says little about progression.
- "Persistence first on a host" is `establish_foothold`; persistence or C2 that recurs after
  later stages is re-staged to `maintain_presence` by correlation, which knows the history.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Stage(StrEnum):
    """APT lifecycle stages, in order."""

    RECONNAISSANCE = "reconnaissance"
    INITIAL_COMPROMISE = "initial_compromise"
    ESTABLISH_FOOTHOLD = "establish_foothold"
    ESCALATE_PRIVILEGES = "escalate_privileges"
    INTERNAL_RECON = "internal_recon"
    LATERAL_MOVEMENT = "lateral_movement"
    DATA_EXFILTRATION = "data_exfiltration"
    MAINTAIN_PRESENCE = "maintain_presence"


STAGE_ORDER: tuple[Stage, ...] = tuple(Stage)
STAGE_INDEX: dict[str, int] = {s.value: i for i, s in enumerate(STAGE_ORDER)}

#: ATT&CK Enterprise tactics (v18): id -> (shortname, name), matrix order.
TACTICS: dict[str, tuple[str, str]] = {
    "TA0043": ("reconnaissance", "Reconnaissance"),
    "TA0042": ("resource-development", "Resource Development"),
    "TA0001": ("initial-access", "Initial Access"),
    "TA0002": ("execution", "Execution"),
    "TA0003": ("persistence", "Persistence"),
    "TA0004": ("privilege-escalation", "Privilege Escalation"),
    "TA0005": ("defense-evasion", "Defense Evasion"),
    "TA0006": ("credential-access", "Credential Access"),
    "TA0007": ("discovery", "Discovery"),
    "TA0008": ("lateral-movement", "Lateral Movement"),
    "TA0009": ("collection", "Collection"),
    "TA0011": ("command-and-control", "Command and Control"),
    "TA0010": ("exfiltration", "Exfiltration"),
    "TA0040": ("impact", "Impact"),
}

#: Sigma `attack.<name>` tag (and common spellings) -> tactic id. SigmaHQ's newer tags
#: `attack.stealth` and `attack.defense-impairment` split Defense Evasion; both map to TA0005.
TACTIC_BY_TAG: dict[str, str] = {short: tid for tid, (short, _) in TACTICS.items()}
TACTIC_BY_TAG.update({
    "stealth": "TA0005",
    "defense-impairment": "TA0005",
    "command-control": "TA0011",
    "c2": "TA0011",
})
TACTIC_BY_TAG.update({name.lower().replace(" ", "-"): tid for tid, (_, name) in TACTICS.items()})
TACTIC_BY_TAG.update({name.lower().replace(" ", "_"): tid for tid, (_, name) in TACTICS.items()})
TACTIC_BY_TAG.update({name.lower(): tid for tid, (_, name) in TACTICS.items()})

#: tactic id -> default stage
STAGE_BY_TACTIC: dict[str, Stage] = {
    "TA0043": Stage.RECONNAISSANCE,
    "TA0042": Stage.RECONNAISSANCE,
    "TA0001": Stage.INITIAL_COMPROMISE,
    "TA0002": Stage.ESTABLISH_FOOTHOLD,
    "TA0003": Stage.ESTABLISH_FOOTHOLD,
    "TA0011": Stage.ESTABLISH_FOOTHOLD,
    "TA0004": Stage.ESCALATE_PRIVILEGES,
    "TA0006": Stage.ESCALATE_PRIVILEGES,
    "TA0007": Stage.INTERNAL_RECON,
    "TA0008": Stage.LATERAL_MOVEMENT,
    "TA0009": Stage.DATA_EXFILTRATION,
    "TA0010": Stage.DATA_EXFILTRATION,
    "TA0005": Stage.MAINTAIN_PRESENCE,
    "TA0040": Stage.MAINTAIN_PRESENCE,
}


def tactic_id(name_or_id: str) -> str | None:
    """Tactic id for a tactic id, Sigma tag (`attack.lateral-movement`), shortname or name."""
    key = name_or_id.strip()
    if key.upper() in TACTICS:
        return key.upper()
    key = key.lower().removeprefix("attack.")
    return TACTIC_BY_TAG.get(key)


def stage_for_tactics(tactics: Iterable[str]) -> Stage | None:
    """The stage of a finding with these tactic ids (see module doc for the rule)."""
    stages = {STAGE_BY_TACTIC[t] for t in tactics if t in STAGE_BY_TACTIC}
    if not stages:
        return None
    progression = stages - {Stage.MAINTAIN_PRESENCE}
    if not progression:
        return Stage.MAINTAIN_PRESENCE
    return max(progression, key=lambda s: STAGE_INDEX[s.value])
