"""Rare process lineage (TA0002 Execution, TA0005 Defense Evasion).

Baseline `lineage` (rarity: first / last seen, count, hosts) over two kinds of keys, folded
incrementally from the `process` and `network` tables:
- `pc|<parent>|<child>`: parent and child image names (lower-case file names);
- `pd|<process>|<destination>`: a process and the external address it connected to (Sysmon 3).

Rules:
- `lineage.rare_pair`: a parent -> child pair first seen after the learning period (`learn_days`,
  default 7) and, across the fleet, seen on at most `rare_hosts` hosts (default 2) and at most
  `rare_count` times (default 5) so far.
- `lineage.lolbin_parent`: a LOLBin (`data/lolbas.csv`) started by a parent that is an Office
  application, a script host, a browser, a PDF reader, WMI or a web server worker, unless the pair is
  common (>= `common_hosts` hosts, default 5). Content-driven, so it works during learning too.
- `lineage.lolbin_egress`: a LOLBin that downloads or executes (certutil, bitsadmin, mshta,
  regsvr32, rundll32, msbuild, powershell, ...) connecting to an external address no other host's
  same binary contacted (T1105, T1218).
- `lineage.rare_egress`: a process running from a user-writable directory (Users, AppData, Temp,
  ProgramData, Public) connecting out, first seen after learning and on <= `rare_hosts` hosts.
"""

from __future__ import annotations

from typing import Any, ClassVar

from aptwatch.detect.analytics.common import (
    NOT_EXTERNAL,
    Options,
    data_csv,
    evidence_of,
    fold_rarity,
    in_time_range,
    install_macros,
    internal_cidrs,
    internal_ip_sql,
    learning,
    pending,
    reset_statements,
    rows,
)
from aptwatch.detect.base import DetectContext, Detector, DetectorResult, DetectSettings
from aptwatch.model.finding import Finding, Severity

NAME = "lineage"
#: parents that should not normally start LOLBins (documents, scripts, browsers, services with input)
SUSPICIOUS_PARENTS = ("winword.exe", "excel.exe", "powerpnt.exe", "outlook.exe", "mspub.exe", "onenote.exe",
                      "visio.exe", "msaccess.exe", "wscript.exe", "cscript.exe", "mshta.exe", "acrord32.exe",
                      "acrobat.exe", "foxitreader.exe", "chrome.exe", "msedge.exe", "firefox.exe", "iexplore.exe",
                      "wmiprvse.exe", "w3wp.exe", "httpd.exe", "nginx.exe", "tomcat.exe", "java.exe",
                      "sqlservr.exe", "eqnedt32.exe", "hh.exe", "regsvr32.exe", "rundll32.exe")
EGRESS_LOLBINS = ("certutil.exe", "bitsadmin.exe", "mshta.exe", "regsvr32.exe", "rundll32.exe", "msbuild.exe",
                  "installutil.exe", "regasm.exe", "regsvcs.exe", "cmstp.exe", "msiexec.exe", "wmic.exe",
                  "hh.exe", "certreq.exe", "expand.exe", "esentutl.exe", "finger.exe", "cscript.exe",
                  "wscript.exe", "powershell.exe", "pwsh.exe", "curl.exe", "odbcconf.exe", "ieexec.exe")
USER_WRITABLE = r"\\(users|programdata|windows\\temp|temp|appdata|perflogs|recycler|\$recycle\.bin)\\"


class Lineage(Detector):
    name: ClassVar[str] = NAME
    description: ClassVar[str] = ("Rare parent -> child and process -> destination pairs across hosts and time; "
                                  "LOLBins started by unusual parents or reaching out")

    def applies(self, settings: DetectSettings, tables: Any) -> bool:
        return "process" in tables or "network" in tables

    def run(self, ctx: DetectContext) -> DetectorResult:
        opts = Options(ctx, NAME)
        result = DetectorResult()
        inc = pending(ctx, NAME, ["process", "network"], rebuild=opts.get("rebuild", False))
        result.stats = {"ingests": len(inc.ingest_ids)}
        if inc.empty:
            return result
        s = ctx.session
        install_macros(s)
        tables = set(s.event_tables())
        new = inc.where()
        obs = []
        if "process" in tables:
            obs.append(f"""
                SELECT 'pc|' || aw_basename(parent_path) || '|' || aw_basename(process_path) AS key, host, time,
                       source, record, table_name, event_id, command_line AS detail
                FROM process WHERE {new} AND coalesce(action, 'start') = 'start' AND process_path IS NOT NULL
                  AND parent_path IS NOT NULL AND parent_path <> ''""")
        if "network" in tables:
            obs.append(f"""
                SELECT 'pd|' || aw_basename(process_path) || '|' || dst_ip AS key, host, time, source, record,
                       table_name, event_id, process_path AS detail
                FROM network WHERE {new} AND process_path IS NOT NULL AND dst_ip IS NOT NULL
                  AND coalesce(initiated, true)
                  AND NOT {internal_ip_sql('dst_ip', internal_cidrs(opts) + NOT_EXTERNAL)}""")
        if not obs:
            return result
        merged, upsert, tabs = fold_rarity(s, ctx.writer, NAME, " UNION ALL ".join(obs), rebuild=inc.rebuild)
        times = [t for t in merged.column("ev_time").to_pylist() if t is not None]
        learn, start_stmt = learning(ctx.writer, NAME, min(times) if times else None,
                                     float(opts.get("learn_days", 7)))
        statements: list[tuple[str, Any]] = reset_statements(NAME) if inc.rebuild else []
        if start_stmt:
            statements.append(start_stmt)
        statements += [upsert, *inc.mark_statements()]
        ctx.writer.write_state(statements, tabs)
        lolbins = {r["binary"]: r for r in data_csv("lolbas.csv")}
        rare_hosts = int(opts.get("rare_hosts", 2))
        rare_count = int(opts.get("rare_count", 5))
        common_hosts = int(opts.get("common_hosts", 5))
        pd_hosts = _egress_prevalence(merged)
        out: list[Finding] = []
        for r in rows(merged):
            kind, a, b = ([*r["key"].split("|", 2), "", ""])[:3]
            learned = learn.learned_at(r["ev_time"])
            fresh = not r["known"] and learned
            rare = int(r["hosts"]) <= rare_hosts and int(r["count"]) <= rare_count
            f = None
            if kind == "pc":
                if b in lolbins and a in SUSPICIOUS_PARENTS and int(r["hosts"]) < common_hosts and a != b:
                    f = _finding(r, "lineage.lolbin_parent", f"LOLBin {b} started by {a}", Severity.HIGH, 0.8,
                                 ["TA0002", "TA0005"], [lolbins[b]["technique"], "T1204"], a, b)
                elif fresh and rare:
                    f = _finding(r, "lineage.rare_pair", f"Rare process lineage {a} -> {b}",
                                 Severity.MEDIUM if b in lolbins else Severity.LOW, 0.6 if b in lolbins else 0.45,
                                 ["TA0002"], [lolbins[b]["technique"]] if b in lolbins else ["T1059"], a, b)
            elif kind == "pd":
                procs_to_dst = pd_hosts.get(b, 0)
                if a in EGRESS_LOLBINS and procs_to_dst <= 1 and not r["known"]:
                    f = _finding(r, "lineage.lolbin_egress", f"{a} connected to {b}", Severity.HIGH, 0.75,
                                 ["TA0011", "TA0005"], ["T1105", lolbins.get(a, {}).get("technique", "T1218")], a, b)
                elif fresh and rare and _user_writable(r["detail"]):
                    f = _finding(r, "lineage.rare_egress", f"Rare egress: {a} (user-writable path) -> {b}",
                                 Severity.MEDIUM, 0.55, ["TA0011"], ["T1071"], a, b)
            if f is not None and in_time_range(ctx, f.time):
                out.append(f)
        result.findings = out
        return result


def _egress_prevalence(merged: Any) -> dict[str, int]:
    """destination -> how many (process) keys reached it in this batch + baseline (rough prevalence)."""
    out: dict[str, int] = {}
    for key in merged.column("key").to_pylist():
        if key.startswith("pd|"):
            dst = key.split("|", 2)[2]
            out[dst] = out.get(dst, 0) + 1
    return out


def _user_writable(path: str | None) -> bool:
    import re

    return path is not None and re.search(USER_WRITABLE, path.lower()) is not None


def _finding(r: dict[str, Any], rule: str, title: str, sev: Severity, score: float, tactics: list[str],
             techniques: list[str], a: str, b: str) -> Finding:
    hosts = list(r["new_hosts"] or [])
    ev = evidence_of(r["ev"])
    t = r["ev_time"]
    return Finding.build(
        detector=NAME, rule_id=rule, title=f"{title} on {hosts[0] if hosts else '?'}", severity=sev, time=t,
        tactics=tactics, techniques=techniques,
        entities={"host": hosts[:10], "process": [a, b] if rule != "lineage.lolbin_egress" else [a],
                  "dst_ip": b if rule in ("lineage.lolbin_egress", "lineage.rare_egress") else None},
        evidence=ev, key=[r["key"], *(hosts[:1])], score=score,
        description=(f"{r['key']}: {r['count']} time(s) on {r['hosts']} host(s) since "
                     f"{r['first_seen']:%Y-%m-%d}; {'known before this run' if r['known'] else 'first seen now'}. "
                     f"Example: {(r['detail'] or '')[:300]}"),
        extra={"pair": r["key"], "count": r["count"], "hosts": r["hosts"], "known_before": r["known"],
               "example": (r["detail"] or "")[:1000]},
    )
