"""Persistence rarity: services, Run keys, scheduled tasks and WMI subscriptions first seen across the
fleet (TA0003).

Baseline `persistence` (rarity rows, folded incrementally from `persistence` and `registry`), keyed by
the artefact, normalised so the same software on many hosts is one key:
- `svc|<name>|<image>`: services installed or changed (7045, 4697, 7040);
- `task|<name>|<command>`: scheduled tasks created / updated (4698, 4702, 106, 140, 200);
- `wmi|<name>|<consumer or destination>`: WMI filters, consumers, bindings (Sysmon 19-21, 5861);
- `reg|<autorun key>|<value data>`: Run / RunOnce / Winlogon / Image File Execution Options /
  AppInit_DLLs / services ImagePath / Active Setup / startup-folder writes (Sysmon 12-14, 4657).
Image paths are lower-cased, quotes removed, per-user profile directories replaced by `<user>`.

Rules:
- `persistence.first_seen`: an artefact never seen on any host before, first seen after the learning
  period (`learn_days`, default 7). Severity rises with suspicious content.
- `persistence.suspicious_rare`: an artefact on <= `rare_hosts` hosts (default 2) whose command runs
  from a user-writable directory, through a script host / LOLBin, encoded PowerShell, or a UNC path, or
  any WMI event consumer (CommandLine / ActiveScript): reported at any time, learning included.
ATT&CK: T1543.003 (services), T1053.005 (tasks), T1546.003 (WMI), T1547.001 (Run keys),
T1547.004 (Winlogon), T1546.012 (IFEO), T1546.010 (AppInit).
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from aptwatch.detect.analytics.common import (
    Options,
    evidence_of,
    fold_rarity,
    in_time_range,
    install_macros,
    learning,
    pending,
    reset_statements,
    rows,
)
from aptwatch.detect.base import DetectContext, Detector, DetectorResult, DetectSettings
from aptwatch.model.finding import Finding, Severity

NAME = "persistence"
AUTORUN = (r"\\currentversion\\(run|runonce|runonceex|runservices|runservicesonce|policies\\explorer\\run)\\"
           r"|\\winlogon\\(userinit|shell|notify)|\\image file execution options\\.*\\debugger"
           r"|\\appinit_dlls|\\services\\[^\\]+\\imagepath|\\active setup\\installed components\\"
           r"|\\silentprocessexit\\|\\shell folders\\startup|\\command processor\\autorun")
SUSPICIOUS = re.compile(
    r"\\(users|programdata|temp|appdata|public|perflogs)\\|\\windows\\temp\\|^\\\\\\\\|"
    r"(powershell|pwsh)(\.exe)?\b.*\s-(e|en|enc|enco|encod|encode|encodedcommand)\s|"
    r"\b(mshta|wscript|cscript|regsvr32|rundll32|certutil|bitsadmin|msbuild|installutil)(\.exe)?\b|"
    r"frombase64string|downloadstring|iex\b|invoke-expression|cmd(\.exe)?\s+/c|%comspec%|javascript:|vbscript:")
TECH = {"svc": ["T1543.003"], "task": ["T1053.005"], "wmi": ["T1546.003"], "reg": ["T1547.001"]}


def _norm_sql(col: str) -> str:
    """SQL: lower-case, unquoted, profile directories as <user>."""
    return (f"regexp_replace(replace(lower(coalesce({col}, '')), '\"', ''), "
            f"'\\\\users\\\\[^\\\\]+\\\\', '\\\\users\\\\<user>\\\\', 'g')")


class Persistence(Detector):
    name: ClassVar[str] = NAME
    description: ClassVar[str] = ("Services, tasks, WMI subscriptions and autorun registry values first seen "
                                  "across the fleet")

    def applies(self, settings: DetectSettings, tables: Any) -> bool:
        return "persistence" in tables or "registry" in tables

    def run(self, ctx: DetectContext) -> DetectorResult:
        opts = Options(ctx, NAME)
        result = DetectorResult()
        inc = pending(ctx, NAME, ["persistence", "registry"], rebuild=opts.get("rebuild", False))
        result.stats = {"ingests": len(inc.ingest_ids)}
        if inc.empty:
            return result
        s = ctx.session
        install_macros(s)
        tables = set(s.event_tables())
        new = inc.where()
        obs = []
        if "persistence" in tables:
            obs.append(f"""
                SELECT CASE WHEN event_code IN (7045, 4697, 7040) OR starts_with(coalesce(action, ''), 'service')
                                 THEN 'svc'
                            WHEN starts_with(coalesce(action, ''), 'wmi') OR event_code IN (19, 20, 21, 5861) THEN 'wmi'
                            ELSE 'task' END
                       || '|' || lower(coalesce(name, consumer, filter, '?')) || '|'
                       || {_norm_sql("coalesce(image_path, consumer, content)")} AS key,
                       host, time, source, record, table_name, event_id,
                       coalesce(image_path, consumer, content, '') AS detail
                FROM persistence WHERE {new} AND time IS NOT NULL
                  AND (event_code IN (7045, 4697, 7040, 4698, 4702, 106, 140, 200, 19, 20, 21, 5861)
                       OR action IN ('service_installed', 'service_changed', 'task_created', 'task_updated',
                                     'task_registered', 'wmi_filter', 'wmi_consumer', 'wmi_binding'))""")
        if "registry" in tables:
            obs.append(f"""
                SELECT 'reg|' || regexp_replace(lower(target_object), '^hk(u|ey_users)\\\\[^\\\\]+\\\\',
                                                'hku\\\\<sid>\\\\')
                       || '|' || {_norm_sql('details')} AS key,
                       host, time, source, record, table_name, event_id,
                       coalesce(target_object, '') || ' = ' || coalesce(details, '') AS detail
                FROM registry WHERE {new} AND time IS NOT NULL AND target_object IS NOT NULL
                  AND coalesce(event_type, action, 'setvalue') NOT IN ('DeleteKey', 'DeleteValue', 'delete')
                  AND regexp_matches(lower(target_object), '{AUTORUN}')""")
        if not obs:
            return result
        merged, upsert, tabs = fold_rarity(s, ctx.writer, NAME, " UNION ALL ".join(obs), rebuild=inc.rebuild)
        times = [t for t in merged.column("ev_time").to_pylist() if t is not None]
        learn, stmt = learning(ctx.writer, NAME, min(times) if times else None, float(opts.get("learn_days", 7)))
        statements: list[tuple[str, Any]] = reset_statements(NAME) if inc.rebuild else []
        if stmt:
            statements.append(stmt)
        statements += [upsert, *inc.mark_statements()]
        ctx.writer.write_state(statements, tabs)
        rare_hosts = int(opts.get("rare_hosts", 2))
        out: list[Finding] = []
        for r in rows(merged):
            kind, name, what = ([*r["key"].split("|", 2), "", ""])[:3]
            detail = r["detail"] or ""
            suspicious = bool(SUSPICIOUS.search(detail.lower())) or (kind == "wmi" and "consumer" in r["key"])
            rare = int(r["hosts"]) <= rare_hosts
            fresh = not r["known"] and learn.learned_at(r["ev_time"])
            if kind == "wmi" and rare and not r["known"]:
                suspicious = True  # WMI subscriptions are rare enough that any new one on few hosts counts
            if suspicious and rare and not r["known"]:
                rule, sev, score = "persistence.suspicious_rare", Severity.HIGH, 0.8
            elif fresh:
                rule = "persistence.first_seen"
                sev, score = (Severity.MEDIUM, 0.6) if (suspicious or rare) else (Severity.LOW, 0.4)
            else:
                continue
            techniques = list(TECH.get(kind, ["T1547"]))
            if kind == "reg":
                low = name.lower()
                if "winlogon" in low:
                    techniques = ["T1547.004"]
                elif "image file execution options" in low or "silentprocessexit" in low:
                    techniques = ["T1546.012"]
                elif "appinit_dlls" in low:
                    techniques = ["T1546.010"]
                elif "\\services\\" in low:
                    techniques = ["T1543.003"]
            hosts = list(r["new_hosts"] or [])
            label = {"svc": "service", "task": "scheduled task", "wmi": "WMI subscription",
                     "reg": "autorun value"}.get(kind, kind)
            f = Finding.build(
                detector=NAME, rule_id=rule, severity=sev, time=r["ev_time"],
                title=f"{'Suspicious rare' if rule.endswith('rare') else 'First-seen'} {label}: {name} "
                      f"on {hosts[0] if hosts else '?'}",
                tactics=["TA0003"], techniques=techniques,
                entities={"host": hosts[:10], "service": name if kind in ("svc", "task") else None,
                          "file": what[:300] or None},
                evidence=evidence_of(r["ev"]), key=[r["key"]], score=score,
                description=(f"{label} {name!r} -> {detail[:300]!r}; on {r['hosts']} host(s), {r['count']} time(s) "
                             f"since {r['first_seen']:%Y-%m-%d}."),
                extra={"artefact": r["key"], "detail": detail[:1000], "hosts": r["hosts"], "count": r["count"],
                       "suspicious_content": suspicious, "known_before": r["known"]},
            )
            if in_time_range(ctx, f.time):
                out.append(f)
        result.findings = out
        return result
