"""MITRE CTID Adversary Emulation Library plans -> simulator profiles.

A plan YAML (`<adversary>/Emulation_Plan/yaml/*.yaml`, see ../shared/data/ctid-emulation-plans)
is an ordered list of procedures, each with an ATT&CK technique id, a tactic, a step number
and usually the command the emulation ran. The loader keeps the plan's order, maps each
tactic to a lifecycle stage, keeps the command and its executor (so the simulated telemetry
shows the plan's own command lines), drops placeholder entries (`attack_id: x`), and fills
lifecycle stages the plan does not cover (most plans start after initial access) from the
APT29 profile, marking those steps `filled` in the campaign manifest.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from aptwatch.errors import InputError
from aptwatch.model.killchain import tactic_id
from aptwatch.simulate.profiles import APT29, BUILT_IN, Profile, Step, Tooling, with_defaults

#: ATT&CK group ids of the CTID adversaries (their plans do not all say)
GROUP_IDS: dict[str, str] = {
    "apt29": "G0016", "turla": "G0010", "menu_pass": "G0045", "menupass": "G0045", "oilrig": "G0049",
    "sandworm": "G0034", "wizard_spider": "G0102", "fin6": "G0037", "fin7": "G0046", "carbanak": "G0008",
    "ocean_lotus": "G0050", "blind_eagle": "G0099",
}
#: the plans' own tactic spellings that `tactic_id` does not know. CTID's "stage-capabilities"
#: steps run on the victim (planting tools), so they take their technique's tactic below.
TACTIC_ALIASES: dict[str, str] = {
    "defensive-evasion": "TA0005", "credential-dumping": "TA0006", "os credential dumping": "TA0006",
    "commmand and control": "TA0011", "hijack execution flow": "TA0003",
}
#: a tactic for techniques whose plan entry names none usable
TECHNIQUE_TACTICS: dict[str, str] = {
    "T1574": "TA0003", "T1003": "TA0006", "T1059": "TA0002", "T1105": "TA0011", "T1082": "TA0007",
    "T1113": "TA0009", "T1056": "TA0009", "T1036": "TA0005", "T1027": "TA0005", "T1140": "TA0005",
    "T1070": "TA0005", "T1547": "TA0003", "T1053": "TA0003", "T1543": "TA0003", "T1071": "TA0011",
    "T1021": "TA0008", "T1005": "TA0009", "T1560": "TA0009", "T1041": "TA0010", "T1608": "TA0042",
}
_STEP_ID = re.compile(r"^[0-9]+(\.[0-9A-Za-z]+)*(-[0-9A-Za-z.]+)?$")


@dataclass(frozen=True)
class LoadReport:
    """What a plan gave: procedures used, skipped (with why), stages filled from defaults."""

    used: int
    skipped: tuple[tuple[str, str], ...]
    filled: tuple[str, ...]


def _tactic(raw: str, technique: str) -> str | None:
    text = (raw or "").strip()
    for part in re.split(r"[/,]", text):
        tid = tactic_id(part.strip())
        if tid:
            return tid
        low = part.strip().lower()
        for alias, t in TACTIC_ALIASES.items():
            if low.startswith(alias):
                return t
    return TECHNIQUE_TACTICS.get(technique.split(".")[0])


def _command(entry: Mapping[str, Any]) -> tuple[str, str]:
    """(command, executor) from `platforms` (windows first) or `executors`."""
    platforms = entry.get("platforms") or {}
    if isinstance(platforms, Mapping):
        for os_name in ("windows", "linux", "darwin"):
            execs = platforms.get(os_name)
            if isinstance(execs, Mapping):
                for key, body in execs.items():
                    cmd = body.get("command") if isinstance(body, Mapping) else None
                    if isinstance(cmd, str) and cmd.strip():
                        k = str(key).lower()
                        executor = "powershell" if "psh" in k or "pwsh" in k or "powershell" in k else (
                            "sh" if os_name != "windows" or k in ("sh", "bash") else "cmd")
                        return cmd, executor
    for ex in entry.get("executors") or []:
        if isinstance(ex, Mapping) and isinstance(ex.get("command"), str):
            name = str(ex.get("name", "")).lower()
            executor = "powershell" if "powershell" in name else ("sh" if name in ("sh", "bash") else "cmd")
            return ex["command"], executor
    return "", ""


def _defaults(command: str, args: object) -> str:
    """Replace `#{name}` placeholders that the plan gives a default value for."""
    if not command or not isinstance(args, Mapping):
        return command
    for name, spec in args.items():
        if isinstance(spec, Mapping) and spec.get("default") is not None:
            command = command.replace("#{" + str(name) + "}", str(spec["default"]))
    return command


def load_plan(path: Path) -> tuple[Profile, LoadReport]:
    """Turn one CTID emulation plan YAML into a profile."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise InputError(f"cannot read emulation plan: {e}", location=str(path)) from None
    if not isinstance(doc, list):
        raise InputError("not a CTID emulation plan (expected a YAML list of procedures)", location=str(path))
    adversary = path.stem
    description = ""
    steps: list[Step] = []
    skipped: list[tuple[str, str]] = []
    for entry in doc:
        if not isinstance(entry, Mapping):
            continue
        details = entry.get("emulation_plan_details")
        if isinstance(details, Mapping):
            adversary = str(details.get("adversary_name") or adversary)
            description = str(details.get("adversary_description") or "")
            continue
        tech = entry.get("technique") or {}
        tid = str(tech.get("attack_id", "") if isinstance(tech, Mapping) else "").strip().upper()
        name = str(entry.get("name") or tid)
        if not re.match(r"^T[0-9]{4}(\.[0-9]{3})?$", tid):
            skipped.append((name, f"no ATT&CK technique id ({tid or 'missing'})"))
            continue
        tactic = _tactic(str(entry.get("tactic", "")), tid)
        if tactic is None:
            skipped.append((name, f"unknown tactic {entry.get('tactic')!r}"))
            continue
        command, executor = _command(entry)
        command = _defaults(command, entry.get("input_arguments"))
        step_no = str(entry.get("procedure_step", ""))
        label = f"{step_no} {name}" if _STEP_ID.match(step_no) else name
        steps.append(Step(tid, tactic, label[:200], command=command, executor=executor))
    if not steps:
        raise InputError("the plan has no usable procedure (technique id and tactic)", location=str(path))
    key_base = re.sub(r"[^a-z0-9_]+", "_", path.stem.lower()).strip("_")
    group_key = path.parts[-4].lower() if len(path.parts) >= 4 else key_base
    gid = GROUP_IDS.get(group_key) or GROUP_IDS.get(key_base)
    m = re.search(r"\(?(G[0-9]{4})\)?", adversary)
    if m:
        gid = m.group(1)
    profile = Profile(f"ctid:{key_base}", adversary.split("(")[0].strip(), gid,
                      (description or f"CTID emulation plan for {adversary}").strip().replace("\n", " ")[:600],
                      tuple(steps), Tooling(), source=str(path))
    from aptwatch.simulate.techniques import observable

    have = {s.stage for s in profile.steps if observable(s)}
    full = with_defaults(profile, APT29, observable)
    filled = tuple(sorted({s.stage for s in full.steps} - have))
    return full, LoadReport(len(steps), tuple(skipped), filled)


def find_plans(plans_dir: Path) -> dict[str, Path]:
    """`ctid:<name>` -> plan file for every plan YAML under the CTID library folder."""
    out: dict[str, Path] = {}
    for p in sorted(plans_dir.glob("*/Emulation_Plan/yaml/*.y*ml")):
        key = re.sub(r"[^a-z0-9_]+", "_", p.stem.lower()).strip("_")
        out[f"ctid:{key}"] = p
    return out


def default_plans_dir() -> Path | None:
    """$APTWATCH_SHARED_DATA/ctid-emulation-plans or ../shared/data/ctid-emulation-plans, if present."""
    base = os.environ.get("APTWATCH_SHARED_DATA")
    for cand in ([Path(base) / "ctid-emulation-plans"] if base else []) + \
            [Path.cwd().parent / "shared" / "data" / "ctid-emulation-plans"]:
        if cand.is_dir():
            return cand
    return None


def resolve_profile(name: str, plans_dir: str | None) -> Profile:
    """A built-in profile key, `ctid:<plan>` (looked up under `plans_dir`), or a plan file path."""
    key = name.strip()
    if key.lower() in BUILT_IN:
        return BUILT_IN[key.lower()]
    if key.lower().endswith((".yaml", ".yml")):
        p = Path(key)
        if not p.is_file():
            raise InputError("no such emulation plan file", location=key)
        return load_plan(p)[0]
    if key.lower().startswith("ctid:"):
        root = Path(plans_dir) if plans_dir else default_plans_dir()
        if root is None or not root.is_dir():
            raise InputError(f"profile {key!r} needs the CTID emulation plans: pass --plans DIR "
                             "(../shared/data/ctid-emulation-plans)")
        plans = find_plans(root)
        k = "ctid:" + re.sub(r"[^a-z0-9_]+", "_", key[5:].lower()).strip("_")
        if k not in plans:
            raise InputError(f"unknown CTID plan {key!r}; known: {', '.join(sorted(plans)) or 'none'}")
        return load_plan(plans[k])[0]
    raise InputError(f"unknown profile {name!r}; built-in: {', '.join(BUILT_IN)}; or ctid:<plan>, or a plan file")


__all__ = ["GROUP_IDS", "LoadReport", "default_plans_dir", "find_plans", "load_plan", "replace", "resolve_profile"]
