"""Lateral movement (TA0008): remote execution, pass-the-hash / ticket, and first-seen edges.

Rules (each a `rule_id`; thresholds are options, see docs/detections.md):

Remote execution (host logs):
- `lateral.remote_exec_session`: a process started inside a logon session that a successful network
  logon (type 3) from another address opened on the same host (process.logon_id = auth.logon_id).
  The parent names the mechanism: WmiPrvSE (WMI, T1047), wsmprovhost / winrshost (WinRM / PowerShell
  remoting / WinRS, T1021.006), mmc / excel / explorer / dllhost -Embedding (DCOM, T1021.003), services.exe (service,
  T1569.002 over SMB T1021.002), svchost -k netsvcs/taskeng (scheduled task, T1053.005). Security
  4688 without a parent image (before Windows 10) gets it from the creator PID's latest start.
- `lateral.remote_session`: wsmprovhost / winrshost itself started in such a session: a WinRM /
  PowerShell-remoting session, low severity (administrators use it), the only host trace when the
  commands run inside the host process (T1021.006).
- `lateral.remote_exec_parent`: the same parents spawning a shell / script host / LOLBin without the
  logon link (lower score: local WMI and admin consoles exist).
- `lateral.service_install`: a service installed (7045 / 4697) whose image runs a shell, lives on
  ADMIN$ / a UNC path / a random-named exe in C:\\Windows, or is a known PsExec-like service, or that
  follows a network logon to the host within `window_minutes` (T1021.002, T1569.002, T1543.003).
- `lateral.remote_task`: a scheduled task created or updated (4698 / 4702) by a network logon session
  (T1053.005).
- `lateral.psexec_artifact`: PsExec-like pipes (Sysmon 17/18) or service names (T1569.002).
- `lateral.admin_share_write`: executables written over ADMIN$ / C$ (5145, Zeek smb_files) (T1021.002,
  T1570).
- `lateral.remote_pipe`: svcctl / atsvc / winreg named pipes opened on IPC$ from another address (5145):
  remote service control, task scheduling, registry (T1021.002 with T1569.002 / T1053.002 / T1112);
  PsExec-clone console pipes (`<name>-<host>-<pid>-stdin|stdout|stderr`) are `psexec_artifact`.
Network logs alone:
- `lateral.dce_rpc`: Zeek dce_rpc operations that execute remotely: svcctl CreateService/StartService,
  ITaskSchedulerService SchRpcRegisterTask / atsvc, IWbemServices ExecMethod, IRemoteSCMActivator
  RemoteCreateInstance (DCOM).
Pass-the-hash / ticket:
- `lateral.pth_seclogo`: logon type 9 via seclogo (sekurlsa::pth, overpass-the-hash) (T1550.002).
- `lateral.pth_ntlm`: network logon over NTLM with KeyLength 0 for a named account from another host
  (T1550.002).
- `lateral.ptt_orphan_tgs`: a service ticket (4769) for an account and client address that requested
  no TGT (4768) in the `tgt_hours` before, on a DC that logs TGT requests (T1550.003).
- `lateral.kerberos_rc4`: an account that used AES Kerberos tickets in the baseline requests RC4
  (0x17) tickets (T1550.003 / overpass-the-hash downgrade).
First-seen edges (baseline `lateral`):
- `lateral.new_edge`: host -> host over SMB / RPC / WinRM / RDP / SSH (flows), source -> host and
  user -> host (network and remote-interactive logons, types 3 and 10) never seen during the learning
  period (`learn_days`, default 7) nor since; destinations already reached by >= `hub_sources`
  sources (domain controllers, file servers) are exempt. A source opening >= `fanout` new edges in a
  day raises the severity.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import pyarrow as pa

from aptwatch.detect.analytics.common import (
    Options,
    in_time_range,
    install_macros,
    internal_cidrs,
    internal_ip_sql,
    learning,
    load_baselines,
    pending,
    reset_statements,
    rows,
    upsert_baselines_statement,
)
from aptwatch.detect.analytics.routine import remote_actor as _remote
from aptwatch.detect.analytics.routine import routine_administration
from aptwatch.detect.base import DetectContext, Detector, DetectorResult, DetectSettings
from aptwatch.model.finding import Evidence, Finding, Severity, parse_time

NAME = "lateral"
TABLES = ("process", "auth", "persistence", "file", "pipe", "network", "generic")
#: destination port -> service of a lateral edge
ADMIN_PORTS = {445: "smb", 139: "smb", 135: "rpc", 5985: "winrm", 5986: "winrm", 3389: "rdp", 22: "ssh",
               5900: "vnc"}
LOCAL_SRC = "('', '-', '::1', '127.0.0.1', 'localhost')"
SHELLS = ("cmd.exe", "powershell.exe", "pwsh.exe", "wscript.exe", "cscript.exe", "mshta.exe", "rundll32.exe",
          "regsvr32.exe", "msbuild.exe", "certutil.exe", "bitsadmin.exe", "installutil.exe", "regasm.exe",
          "regsvcs.exe", "msiexec.exe", "wmic.exe", "net.exe", "net1.exe", "whoami.exe", "schtasks.exe", "sc.exe")
#: parent image -> (mechanism, technique)
REMOTE_PARENTS = {
    "wmiprvse.exe": ("WMI", "T1047"),
    "wsmprovhost.exe": ("WinRM", "T1021.006"),
    "winrshost.exe": ("WinRM (WinRS)", "T1021.006"),
    "mmc.exe": ("DCOM (MMC20.Application)", "T1021.003"),
    "dllhost.exe": ("DCOM", "T1021.003"),
    "excel.exe": ("DCOM (Excel)", "T1021.003"),
    "services.exe": ("service (SMB / svcctl)", "T1569.002"),
    "taskeng.exe": ("scheduled task", "T1053.005"),
}
PSEXEC_PIPES = ("psexesvc", "remcom_communic", "paexec", "csexec", "winexesvc", "psexecsvc")
PSEXEC_SERVICES = ("psexesvc", "paexesvc", "remcomsvc", "csexecsvc", "winexesvc", "btobto", "psexecsvc")
RPC_EXEC_OPS = ("createservicew", "createservicea", "createservicewow64w", "startservicew", "startservicea",
                "schrpcregistertask", "schrpcrun", "netrjobadd", "execmethod", "remotecreateinstance",
                "execquery")


class Lateral(Detector):
    name: ClassVar[str] = NAME
    description: ClassVar[str] = ("Lateral movement: remote execution (WMI, WinRM, DCOM, services, tasks, "
                                  "PsExec-like), pass-the-hash / ticket, first-seen host and user edges")

    def applies(self, settings: DetectSettings, tables: Any) -> bool:
        return any(t in tables for t in ("process", "auth", "persistence", "network", "file", "pipe", "generic"))

    def run(self, ctx: DetectContext) -> DetectorResult:
        opts = Options(ctx, NAME)
        result = DetectorResult()
        inc = pending(ctx, NAME, TABLES, rebuild=opts.get("rebuild", False))
        result.stats = {"ingests": len(inc.ingest_ids)}
        if inc.empty:
            return result
        s = ctx.session
        install_macros(s)
        tables = set(s.event_tables())
        new = inc.where()
        win = int(opts.get("window_minutes", 10))
        findings: list[Finding] = []
        if "auth" in tables:
            s.sql(f"""
                CREATE OR REPLACE TEMP TABLE aw_logons AS
                SELECT host, time, logon_id, logon_type, lower(coalesce(target_user, '')) AS user,
                       lower(coalesce(target_domain, '')) AS domain, src_ip, workstation,
                       lower(coalesce(logon_process, '')) AS logon_process,
                       lower(coalesce(auth_package, '')) AS auth_package,
                       coalesce(json_extract_string(data, '$.KeyLength'), '') AS key_length,
                       event_code, source, record, table_name, event_id
                FROM auth WHERE {new} AND (event_code = 4624 OR (action = 'logon' AND outcome = 'success'))
            """)
        findings += self._remote_exec(ctx, tables, new, win)
        findings += self._services_tasks(ctx, tables, new, win)
        findings += self._artifacts(ctx, tables, new, win)
        findings += self._pth(ctx, tables, new, opts)
        observed: list[dict[str, Any]] = []
        edges_findings, statements, tabs, note = self._edges(ctx, tables, new, opts, inc.rebuild, observed)
        findings += edges_findings
        result.notes += [note] if note else []
        before = len(findings)
        findings, r_stmts, r_tabs, r_note = routine_administration(ctx, findings, observed, opts, inc.rebuild)
        routine_count = before - len(findings)
        result.notes += [r_note] if r_note else []
        result.stats["routine"] = routine_count
        ctx.writer.write_state(statements + r_stmts + inc.mark_statements(), {**tabs, **r_tabs})
        result.findings = [f for f in findings if in_time_range(ctx, f.time)]
        return result

    # -- remote execution ---------------------------------------------------------------
    def _remote_exec(self, ctx: DetectContext, tables: set[str], new: str, win: int) -> list[Finding]:
        if "process" not in tables:
            return []
        s = ctx.session
        parents = ", ".join(f"'{p}'" for p in REMOTE_PARENTS)
        shells = ", ".join(f"'{x}'" for x in SHELLS)
        linked = "auth" in tables
        join = f"""LEFT JOIN aw_logons l ON l.host = p.host AND l.logon_id = p.logon_id AND l.logon_type = 3
                   AND coalesce(l.src_ip, '-') NOT IN {LOCAL_SRC}
                   AND l.time BETWEEN p.time - INTERVAL {win * 6} MINUTE AND p.time + INTERVAL 1 MINUTE""" \
            if linked else ""
        lcols = "l.src_ip AS l_src, l.user AS l_user, l.time AS l_time, l.source AS l_source, l.record AS l_record, " \
                "l.table_name AS l_table, l.event_id AS l_event_id" if linked else \
                "NULL AS l_src, NULL AS l_user, NULL AS l_time, NULL AS l_source, NULL AS l_record, NULL AS l_table, " \
                "NULL AS l_event_id"
        # Security 4688 before Windows 10 has no parent image, only the creator's PID (left in `data`): the
        # parent is then the latest start of that PID on the host in the week before (a PID names one live
        # process at a time), so WMI / WinRM / service children are recognised from Security logs alone.
        rs = s.sql(f"""
            WITH p0 AS (SELECT * FROM process WHERE {new} AND coalesce(action, 'start') = 'start' AND time IS NOT NULL),
            orphans AS (SELECT event_id, host, time,
                               coalesce(parent_process_id, CASE WHEN event_code = 4688 THEN
                                   TRY_CAST(json_extract_string(data, '$.ProcessId') AS BIGINT) END) AS ppid
                        FROM p0 WHERE parent_path IS NULL AND host IS NOT NULL),
            bounds AS (SELECT min(time) - INTERVAL 7 DAY AS lo, max(time) AS hi FROM orphans WHERE ppid IS NOT NULL),
            resolved AS (SELECT o.event_id, arg_max(q.process_path, q.time) AS parent_path
                         FROM orphans o JOIN process q ON q.host = o.host AND q.process_id = o.ppid
                              AND q.time <= o.time AND q.time >= o.time - INTERVAL 7 DAY, bounds b
                         WHERE o.ppid IS NOT NULL AND q.time BETWEEN b.lo AND b.hi AND q.process_path IS NOT NULL
                           AND coalesce(q.action, 'start') = 'start'
                         GROUP BY o.event_id),
            p AS (SELECT p0.*, aw_basename(process_path) AS img,
                         aw_basename(coalesce(p0.parent_path, r.parent_path)) AS parent
                  FROM p0 LEFT JOIN resolved r USING (event_id))
            SELECT p.host, p.time, p.img, p.parent, p.command_line, p.parent_command_line, p.user, p.logon_id,
                   p.source, p.record, p.table_name, p.event_id, {lcols}
            FROM p {join}
            WHERE (p.parent IN ({parents}) AND p.img NOT IN ('wmiprvse.exe', 'conhost.exe', 'werfault.exe',
                                                             'wsmprovhost.exe', 'dllhost.exe', 'svchost.exe')
                   AND (p.parent <> 'services.exe' OR {('l.src_ip IS NOT NULL' if linked else 'false')}
                        OR p.img IN ({shells}))
                   AND (p.parent NOT IN ('mmc.exe', 'excel.exe', 'dllhost.exe') OR p.img IN ({shells}))
                   -- the Windows Installer service itself (msiserver: `msiexec.exe /V`), started for every
                   -- MSI install or update, local or pushed
                   AND NOT (p.parent = 'services.exe' AND p.img = 'msiexec.exe'
                            AND rtrim(lower(coalesce(p.command_line, ''))) LIKE '%msiexec.exe /v'))
               OR (p.parent = 'svchost.exe' AND p.img IN ({shells})
                   AND {('l.src_ip IS NOT NULL' if linked else 'false')})
               OR (p.img IN ('wsmprovhost.exe', 'winrshost.exe') AND {('l.src_ip IS NOT NULL' if linked else 'false')})
            QUALIFY row_number() OVER (PARTITION BY p.event_id ORDER BY l_time DESC NULLS LAST) = 1
        """)
        out: list[Finding] = []
        for r in rows(rs):
            if r["img"] in ("wsmprovhost.exe", "winrshost.exe"):
                out.append(_winrm_session(r))
                continue
            mech, tech = REMOTE_PARENTS.get(r["parent"], ("scheduled task / service", "T1053.005"))
            remote = r["l_src"] is not None
            if not remote and r["img"] not in SHELLS and r["parent"] not in ("wsmprovhost.exe", "winrshost.exe",
                                                                               "wmiprvse.exe"):
                continue
            ev = [_ev(r)] + ([_ev(r, "l_")] if remote else [])
            rule = "lateral.remote_exec_session" if remote else "lateral.remote_exec_parent"
            score = 0.85 if remote else 0.55
            title = (f"Remote execution via {mech} on {r['host']}: {r['parent']} -> {r['img']}"
                     + (f" in a network logon from {r['l_src']}" if remote else ""))
            out.append(Finding.build(
                detector=NAME, rule_id=rule, title=title, severity=Severity.HIGH if remote else Severity.MEDIUM,
                time=r["time"], tactics=["TA0008", "TA0002"],
                techniques=[tech] + (["T1021.002"] if tech == "T1569.002" else []),
                entities={"host": r["host"], "user": [r["user"], r["l_user"]], "src_ip": r["l_src"],
                          "process": r["img"]},
                evidence=ev, key=[r["event_id"] or f"{r['source']}:{r['record']}"], score=score,
                description=(f"{r['parent']} started {r['img']} ({(r['command_line'] or '')[:200]}) as {r['user']}"
                             + (f"; the session was opened by a network logon of {r['l_user']} from {r['l_src']}"
                                if remote else "; no linked network logon in the data")),
                extra={"mechanism": mech, "command_line": r["command_line"], "logon_id": r["logon_id"],
                       "network_logon": remote,
                       **(_remote(r["l_src"], r["l_user"], r["host"], f"{rule}:{mech}") if remote else {})},
            ))
        return out

    def _services_tasks(self, ctx: DetectContext, tables: set[str], new: str, win: int) -> list[Finding]:
        if "persistence" not in tables:
            return []
        s = ctx.session
        linked = "auth" in tables
        shells = "|".join(x.replace(".", "\\.") for x in ("cmd.exe", "powershell", "pwsh", "mshta", "rundll32",
                                                           "regsvr32", "wscript", "cscript", "comspec"))
        psx = ", ".join(f"'{x}'" for x in PSEXEC_SERVICES)
        prior = f"""(SELECT arg_max(struct_pack(src := l.src_ip, u := l.user, t := l.time, s := l.source,
                                                r := l.record, tb := l.table_name, e := l.event_id), l.time)
                     FROM aw_logons l WHERE l.host = p.host AND l.logon_type = 3
                       AND coalesce(l.src_ip, '-') NOT IN {LOCAL_SRC} AND l.user NOT LIKE '%$'
                       AND l.time BETWEEN p.time - INTERVAL {win} MINUTE AND p.time + INTERVAL 1 MINUTE)""" \
            if linked else "NULL"
        sess = f"""(SELECT arg_max(struct_pack(src := l.src_ip, u := l.user, t := l.time, s := l.source,
                                               r := l.record, tb := l.table_name, e := l.event_id), l.time)
                    FROM aw_logons l WHERE l.host = p.host AND l.logon_id = p.subject_logon_id AND l.logon_type = 3
                      AND coalesce(l.src_ip, '-') NOT IN {LOCAL_SRC})""" if linked else "NULL"
        rs = s.sql(f"""
            WITH p AS (SELECT * FROM persistence WHERE {new} AND time IS NOT NULL
                       AND (event_code IN (7045, 4697, 4698, 4702)
                            OR action IN ('service_installed', 'task_created', 'task_updated')))
            SELECT p.host, p.time, p.event_code, p.action, p.name, p.image_path, p.account, p.subject_user,
                   p.source, p.record, p.table_name, p.event_id,
                   regexp_matches(lower(coalesce(p.image_path, '')),
                       '({shells})|admin\\$|\\\\\\\\127\\.0\\.0\\.1|^\\\\\\\\|%systemroot%\\\\[a-z0-9]{{8}}\\.exe|'
                       || '\\\\windows\\\\[a-z0-9]{{8}}\\.exe') AS odd_image,
                   lower(coalesce(p.name, '')) IN ({psx}) AS psexec_name,
                   {prior} AS prior_logon, {sess} AS session_logon
            FROM p
        """)
        out: list[Finding] = []
        for r in rows(rs):
            is_task = r["event_code"] in (4698, 4702) or r["action"] in ("task_created", "task_updated")
            linked_logon = r["session_logon"] if is_task else (r["prior_logon"] or r["session_logon"])
            if is_task:
                if not linked_logon:
                    continue
                rule, tech = "lateral.remote_task", ["T1053.005", "T1021"]
                verb = "updated" if r["event_code"] == 4702 or r["action"] == "task_updated" else "created"
                title = (f"Scheduled task '{r['name']}' {verb} on {r['host']} from a network logon "
                         f"({linked_logon['src']})")
                score = 0.8
            else:
                if not (r["odd_image"] or r["psexec_name"] or linked_logon):
                    continue
                if not (r["odd_image"] or r["psexec_name"]) and _per_user_service(r["name"], r["image_path"]):
                    continue  # Windows 10 creates these at every logon: a logon before them proves nothing
                rule, tech = "lateral.service_install", ["T1021.002", "T1569.002", "T1543.003"]
                why = [w for w, ok in (("shell / UNC / ADMIN$ / random-named image", r["odd_image"]),
                                       ("PsExec-like service name", r["psexec_name"]),
                                       (f"after a network logon from {linked_logon['src']}" if linked_logon else "",
                                        bool(linked_logon))) if ok]
                title = f"Remote service install on {r['host']}: '{r['name']}' ({'; '.join(why)})"
                score = 0.6 + 0.15 * len(why)
            ev = [_ev(r)]
            if linked_logon:
                ev.append(_ev({"source": linked_logon["s"], "record": linked_logon["r"],
                               "table_name": linked_logon["tb"], "time": linked_logon["t"],
                               "event_id": linked_logon["e"]}))
            out.append(Finding.build(
                detector=NAME, rule_id=rule, title=title, severity=Severity.HIGH if score >= 0.75 else Severity.MEDIUM,
                time=r["time"], tactics=["TA0008", "TA0002", "TA0003"], techniques=tech,
                entities={"host": r["host"],
                          "user": [u for u in (r["subject_user"], linked_logon["u"] if linked_logon else None) if u],
                          "src_ip": linked_logon["src"] if linked_logon else None, "service": r["name"]},
                evidence=ev, key=[r["event_id"] or f"{r['source']}:{r['record']}"], score=min(score, 0.95),
                description=f"{'Task' if is_task else 'Service'} {r['name']!r} runs {r['image_path']!r}.",
                extra={"image_path": r["image_path"], "account": r["account"],
                       **(_remote(linked_logon["src"], linked_logon["u"], r["host"],
                                  rule if is_task else f"{rule}:{_flags(r)}")
                          if linked_logon else {})},
            ))
        return out

    def _artifacts(self, ctx: DetectContext, tables: set[str], new: str, win: int) -> list[Finding]:
        s = ctx.session
        out: list[Finding] = []
        if "pipe" in tables:
            cond = " OR ".join(f"contains(lower(pipe_name), '{p}')" for p in PSEXEC_PIPES)
            # the pipe event names no source: the latest network logon of an account to the host in the
            # minutes before is the session that created it (as for service installs)
            prior = f"""(SELECT arg_max(struct_pack(src := l.src_ip, u := l.user), l.time) FROM aw_logons l
                         WHERE l.host = p.host AND l.logon_type = 3 AND coalesce(l.src_ip, '-') NOT IN {LOCAL_SRC}
                           AND l.user NOT LIKE '%$'
                           AND l.time BETWEEN p.time - INTERVAL {win} MINUTE AND p.time + INTERVAL 1 MINUTE)""" \
                if "auth" in tables else "NULL"
            for r in rows(s.sql(f"""SELECT host, time, pipe_name, process_path, user, source, record, table_name,
                                           event_id, {prior} AS logon
                                    FROM pipe p WHERE {new} AND ({cond})""")):
                lg = r["logon"] or {}
                out.append(Finding.build(
                    detector=NAME, rule_id="lateral.psexec_artifact", severity=Severity.HIGH, time=r["time"],
                    title=f"PsExec-like named pipe {r['pipe_name']} on {r['host']}",
                    tactics=["TA0008", "TA0002"], techniques=["T1569.002", "T1021.002"],
                    entities={"host": r["host"], "user": r["user"], "process": r["process_path"]},
                    evidence=[_ev(r)], key=[r["event_id"] or f"{r['source']}:{r['record']}"], score=0.85,
                    description=(f"Pipe {r['pipe_name']} used by {r['process_path']}"
                                 + (f", after a network logon of {lg['u']} from {lg['src']}." if lg else ".")),
                    extra=_remote(lg.get("src"), lg.get("u"), r["host"], "lateral.psexec_artifact:pipe")))
        if "file" in tables:
            for r in rows(s.sql(f"""
                SELECT host, time, share_name, relative_target, path, src_ip, user, source, record, table_name, event_id
                FROM file WHERE {new} AND time IS NOT NULL
                  AND regexp_matches(upper(coalesce(share_name, path, '')), '(ADMIN|[A-Z])\\$')
                  AND regexp_matches(lower(coalesce(relative_target, path, '')), '\\.(exe|dll|ps1|bat|vbs|sys)$')
                  AND coalesce(src_ip, '-') NOT IN {LOCAL_SRC}
            """)):
                out.append(Finding.build(
                    detector=NAME, rule_id="lateral.admin_share_write", severity=Severity.MEDIUM, time=r["time"],
                    title=f"Executable over an admin share on {r['host'] or '?'}: {r['relative_target'] or r['path']}",
                    tactics=["TA0008"], techniques=["T1021.002", "T1570"],
                    entities={"host": r["host"], "src_ip": r["src_ip"], "user": r["user"],
                              "file": r["relative_target"] or r["path"]},
                    evidence=[_ev(r)], key=[r["event_id"] or f"{r['source']}:{r['record']}"], score=0.7,
                    description=f"{r['share_name']}\\{r['relative_target'] or r['path']} accessed from {r['src_ip']}.",
                    extra=_remote(r["src_ip"], r["user"], r["host"], "lateral.admin_share_write")))
        if "file" in tables:
            # Remote service control, task scheduling and registry go through named pipes on IPC$ (5145);
            # PsExec clones name their console pipes <name>-<host>-<pid>-stdin/stdout/stderr.
            for r in rows(s.sql(f"""
                SELECT host, src_ip, lower(relative_target) AS pipe, min(time) AS time, max(time) AS time_last,
                       any_value(user) AS user,
                       list(struct_pack(source := source, record := record, table_name := table_name, time := time,
                                        event_id := event_id) ORDER BY time)[1:5] AS evs
                FROM file WHERE {new} AND time IS NOT NULL AND upper(coalesce(share_name, '')) LIKE '%IPC$'
                  AND coalesce(src_ip, '-') NOT IN {LOCAL_SRC}
                  AND (lower(relative_target) IN ('svcctl', 'atsvc', 'winreg')
                       OR regexp_matches(lower(coalesce(relative_target, '')), '-(stdin|stdout|stderr)$'))
                GROUP BY host, src_ip, lower(relative_target), date_trunc('day', time)
            """)):
                pipe = r["pipe"]
                console = pipe.endswith(("-stdin", "-stdout", "-stderr"))
                what = {"svcctl": ("Remote service control", ["T1021.002", "T1569.002"]),
                        "atsvc": ("Remote task scheduling", ["T1021.002", "T1053.002"]),
                        "winreg": ("Remote registry access", ["T1021.002", "T1112"])}.get(
                    pipe, ("PsExec-style console pipe", ["T1021.002", "T1569.002"]))
                out.append(Finding.build(
                    detector=NAME, rule_id="lateral.psexec_artifact" if console else "lateral.remote_pipe",
                    severity=Severity.HIGH if console else Severity.MEDIUM, time=r["time"], time_last=r["time_last"],
                    title=f"{what[0]} over SMB on {r['host']} from {r['src_ip']} (\\\\IPC$\\{pipe})",
                    tactics=["TA0008"], techniques=what[1],
                    entities={"host": r["host"], "src_ip": r["src_ip"], "user": r["user"]},
                    evidence=[_ev(e) for e in r["evs"]], key=[r["host"] or "", r["src_ip"] or "", pipe,
                                                               str(r["time"].date())],
                    score=0.8 if console else 0.6,
                    description=f"Named pipe {pipe} opened on IPC$ of {r['host']} from {r['src_ip']}.",
                    extra=_remote(r["src_ip"], r["user"], r["host"],
                                  f"lateral.remote_pipe:{'console' if console else pipe}")))
        if "generic" in tables:
            ops = ", ".join(f"'{o}'" for o in RPC_EXEC_OPS)
            for r in rows(s.sql(f"""
                WITH g AS (SELECT *, lower(coalesce(json_extract_string(data, '$.operation'),
                                                    json_extract_string(raw, '$.operation'), '')) AS op,
                                  lower(coalesce(json_extract_string(data, '$.endpoint'),
                                                 json_extract_string(raw, '$.endpoint'), '')) AS endpoint,
                                  coalesce(json_extract_string(data, '$."id.orig_h"'),
                                           json_extract_string(raw, '$."id.orig_h"')) AS o,
                                  coalesce(json_extract_string(data, '$."id.resp_h"'),
                                           json_extract_string(raw, '$."id.resp_h"')) AS d
                           FROM generic WHERE {new} AND contains(lower(coalesce(channel, '')), 'dce_rpc'))
                SELECT o AS src_ip, d AS dst_ip, endpoint, op, min(time) AS time, max(time) AS time_last,
                       list(struct_pack(source := source, record := record, table_name := table_name, time := time,
                                        event_id := event_id) ORDER BY time)[1:5] AS evs
                FROM g WHERE op IN ({ops}) AND (op <> 'execquery' OR endpoint = 'iwbemservices')
                GROUP BY ALL
            """)):
                tech = {"svcctl": "T1569.002", "atsvc": "T1053.005", "itaskschedulerservice": "T1053.005",
                        "iwbemservices": "T1047", "iremotescmactivator": "T1021.003"}.get(r["endpoint"], "T1021")
                out.append(Finding.build(
                    detector=NAME, rule_id="lateral.dce_rpc", severity=Severity.MEDIUM, time=r["time"],
                    time_last=r["time_last"], title=f"Remote {r['endpoint']} {r['op']}: {r['src_ip']} -> {r['dst_ip']}",
                    tactics=["TA0008"], techniques=[tech, "T1021"] if tech != "T1021" else ["T1021"],
                    entities={"src_ip": r["src_ip"], "dst_ip": r["dst_ip"]},
                    evidence=[_ev(e) for e in r["evs"]], key=[r["src_ip"] or "", r["dst_ip"] or "", r["endpoint"],
                                                               r["op"], str(r["time"])], score=0.7,
                    description=(f"DCE/RPC {r['endpoint']}::{r['op']} from {r['src_ip']} to {r['dst_ip']} "
                                 "(network only)."),
                    extra=_remote(r["src_ip"], None, r["dst_ip"], f"lateral.dce_rpc:{r['endpoint']}:{r['op']}")))
        return out

    # -- pass-the-hash / ticket -----------------------------------------------------------
    def _pth(self, ctx: DetectContext, tables: set[str], new: str, opts: Options) -> list[Finding]:
        if "auth" not in tables:
            return []
        s = ctx.session
        out: list[Finding] = []
        for r in rows(s.sql(f"""
            SELECT * FROM aw_logons WHERE (logon_type = 9 AND logon_process LIKE 'seclogo%')
               OR (logon_type = 3 AND auth_package LIKE 'ntlm%' AND key_length = '0'
                   AND user NOT IN ('anonymous logon', '') AND user NOT LIKE '%$'
                   AND coalesce(src_ip, '-') NOT IN {LOCAL_SRC})
        """)):
            seclogo = r["logon_type"] == 9
            out.append(Finding.build(
                detector=NAME, rule_id="lateral.pth_seclogo" if seclogo else "lateral.pth_ntlm",
                severity=Severity.HIGH if seclogo else Severity.MEDIUM, time=r["time"],
                title=(f"Overpass-the-hash style logon (type 9, seclogo) for {r['user']} on {r['host']}" if seclogo
                       else f"NTLM network logon with no session key for {r['user']} on {r['host']} "
                            f"from {r['src_ip']}"),
                tactics=["TA0008", "TA0005"], techniques=["T1550.002"],
                entities={"host": r["host"], "user": r["user"], "src_ip": r["src_ip"]},
                evidence=[_ev(r)], key=[r["event_id"] or f"{r['source']}:{r['record']}"],
                score=0.75 if seclogo else 0.6,
                description=("sekurlsa::pth and runas /netonly create type 9 logons via seclogo." if seclogo else
                             "Pass-the-hash tools authenticate over NTLM without a session key (KeyLength 0).")))
        hours = int(opts.get("tgt_hours", 10))
        for r in rows(s.sql(f"""
            WITH k AS (SELECT host, time, lower(split_part(coalesce(target_user, ''), '@', 1)) AS user,
                              regexp_replace(coalesce(src_ip, ''), '^::ffff:', '') AS ip, event_code, service,
                              lower(coalesce(ticket_encryption, '')) AS enc, source, record, table_name, event_id
                       FROM auth WHERE {new} AND event_code IN (4768, 4769)
                         AND coalesce(status, '0x0') IN ('0x0', '0', '') AND time IS NOT NULL),
            dcs AS (SELECT DISTINCT host FROM k WHERE event_code = 4768)
            SELECT t.* FROM k t SEMI JOIN dcs USING (host)
            WHERE t.event_code = 4769 AND t.user NOT LIKE '%$' AND t.user <> ''
              AND t.ip NOT IN ('', '-', '127.0.0.1', '::1')
              AND NOT EXISTS (SELECT 1 FROM k g WHERE g.event_code = 4768 AND g.user = t.user AND g.ip = t.ip
                              AND g.time BETWEEN t.time - INTERVAL {hours} HOUR AND t.time)
              AND t.time >= (SELECT min(time) FROM k) + INTERVAL {hours} HOUR
            QUALIFY row_number() OVER (PARTITION BY t.user, t.ip ORDER BY t.time) = 1
        """)):
            out.append(Finding.build(
                detector=NAME, rule_id="lateral.ptt_orphan_tgs", severity=Severity.MEDIUM, time=r["time"],
                title=f"Service ticket without a TGT request: {r['user']} from {r['ip']} ({r['service']})",
                tactics=["TA0008", "TA0005"], techniques=["T1550.003"],
                entities={"host": r["host"], "user": r["user"], "src_ip": r["ip"]},
                evidence=[_ev(r)], key=[r["user"], r["ip"], str(r["time"])], score=0.6,
                description=(f"No 4768 for {r['user']} from {r['ip']} in the {hours} h before this 4769 "
                             f"on {r['host']}.")))
        return out

    # -- first-seen edges -----------------------------------------------------------------
    def _edges(self, ctx: DetectContext, tables: set[str], new: str, opts: Options, rebuild: bool,
               observed: list[dict[str, Any]]
               ) -> tuple[list[Finding], list[tuple[str, Any]], dict[str, pa.Table], str | None]:
        s = ctx.session
        parts = []
        if "network" in tables:
            ports = ", ".join(str(p) for p in ADMIN_PORTS)
            case = " ".join(f"WHEN {p} THEN '{n}'" for p, n in ADMIN_PORTS.items())
            cidrs = internal_cidrs(opts)
            parts.append(f"""
                SELECT 'flow|' || CASE dst_port {case} END || '|' || src_ip || '|' || dst_ip AS key,
                       src_ip AS src, dst_ip AS dst, NULL AS user, src_ip AS origin, time, source, record,
                       table_name, event_id
                FROM network WHERE {new} AND dst_port IN ({ports}) AND src_ip IS NOT NULL AND dst_ip IS NOT NULL
                  AND src_ip <> dst_ip AND src_ip NOT IN {LOCAL_SRC}
                  AND {internal_ip_sql('src_ip', cidrs)} AND {internal_ip_sql('dst_ip', cidrs)}
                  AND coalesce(conn_state, 'SF') NOT IN ('S0', 'REJ', 'RSTOS0', 'RSTRH', 'SH', 'OTH')""")
        if "auth" in tables:
            parts.append(f"""
                SELECT 'logon|' || coalesce(nullif(src_ip, '-'), lower(workstation)) || '|' || host AS key,
                       coalesce(nullif(src_ip, '-'), lower(workstation)) AS src, host AS dst, user,
                       coalesce(nullif(src_ip, '-'), lower(workstation)) AS origin, time, source, record, table_name,
                       event_id
                FROM aw_logons WHERE logon_type IN (3, 10) AND coalesce(nullif(src_ip, '-'), workstation) IS NOT NULL
                  AND coalesce(src_ip, '-') NOT IN {LOCAL_SRC} AND host IS NOT NULL""")
            parts.append("""
                SELECT 'user|' || user || '|' || host AS key, user AS src, host AS dst, user,
                       coalesce(nullif(src_ip, '-'), lower(workstation)) AS origin, time, source, record, table_name,
                       event_id
                FROM aw_logons WHERE logon_type IN (3, 10) AND user NOT LIKE '%$'
                  AND user NOT IN ('', '-', 'anonymous logon', 'system', 'local service', 'network service')
                  AND host IS NOT NULL""")
        stmts: list[tuple[str, Any]] = reset_statements(NAME) if rebuild else []
        if not parts:
            return [], stmts, {}, None
        new_edges = s.sql(f"""
            SELECT key, any_value(src) AS src, any_value(dst) AS dst, any_value(user) AS user,
                   arg_min(origin, time) AS origin, min(time) AS first_seen,
                   max(time) AS last_seen, count(*) AS count,
                   arg_min(struct_pack(source := source, record := record, table_name := table_name, time := time,
                                       event_id := event_id), time) AS ev
            FROM ({' UNION ALL '.join(parts)}) WHERE key IS NOT NULL AND time IS NOT NULL GROUP BY key
        """)
        if not new_edges.num_rows:
            return [], stmts, {}, None
        lo = min(t for t in new_edges.column("first_seen").to_pylist() if t is not None)
        learn, stmt = learning(ctx.writer, NAME, lo, float(opts.get("learn_days", 7)))
        if stmt:
            stmts.append(stmt)
        note = learn.note([t for t in new_edges.column("first_seen").to_pylist() if t is not None], "lateral.new_edge")
        old = load_baselines(ctx.writer, NAME) if not rebuild else load_baselines(ctx.writer, "__none__")
        s.register("aw_old_edges", old)
        s.register("aw_new_edges", new_edges)
        merged = s.sql(f"""
            SELECT '{NAME}' AS analytic, n.key, least(o.first_seen, n.first_seen) AS first_seen,
                   greatest(o.last_seen, n.last_seen) AS last_seen, coalesce(o.count, 0) + n.count AS count,
                   CAST(NULL AS BIGINT) AS hosts, CAST(NULL AS VARCHAR) AS value
            FROM aw_new_edges n LEFT JOIN aw_old_edges o USING (key)
        """)
        stmts.append(upsert_baselines_statement("aw_lateral_merged"))
        hub = int(opts.get("hub_sources", 20))
        fanout = int(opts.get("fanout", 3))
        cands = s.sql(f"""
            WITH hubs AS (SELECT split_part(key, '|', -1) AS dst, count(*) AS srcs FROM aw_old_edges
                          WHERE starts_with(key, 'logon|') OR starts_with(key, 'flow|') GROUP BY dst),
            fresh AS (SELECT n.*, {('n.first_seen >= ?' if learn.until else 'false')} AS learned
                      FROM aw_new_edges n ANTI JOIN aw_old_edges o USING (key))
            SELECT f.*, coalesce(h.srcs, 0) AS dst_srcs,
                   count(*) OVER (PARTITION BY f.src, date_trunc('day', f.first_seen)) AS src_new_edges
            FROM fresh f LEFT JOIN hubs h ON h.dst = f.dst
            WHERE coalesce(h.srcs, 0) < {hub}
        """, [learn.until] if learn.until else None)
        out: list[Finding] = []
        for r in rows(cands):
            kind = r["key"].split("|", 1)[0]
            svc = r["key"].split("|")[1] if kind == "flow" else ("logon" if kind == "logon" else "user")
            # a host or flow edge is the source's, whoever logged on; a user edge is the account's
            actor = _remote(r["origin"], r["user"] if kind == "user" else None, r["dst"], f"lateral.new_edge:{svc}")
            if not r["learned"]:
                # inside the learning period first-seen edges are not reported, but they are what an
                # administrator's routine is learned from (docs/detections.md, "Routine administration")
                if actor:
                    observed.append({**actor["remote"], "time": r["first_seen"]})
                continue
            many = int(r["src_new_edges"]) >= fanout
            ents: dict[str, Any] = {"user": r["user"]}
            if kind == "flow":
                ents.update({"src_ip": r["src"], "dst_ip": r["dst"]})
            elif kind == "logon":
                ents.update({"src_ip" if _ipish(r["src"]) else "host": r["src"], "host": r["dst"]})
                if not _ipish(r["src"]):
                    ents["host"] = [r["src"], r["dst"]]
            else:
                ents.update({"host": r["dst"]})
            what = {"flow": f"{svc} connection {r['src']} -> {r['dst']}",
                    "logon": f"logon to {r['dst']} from {r['src']}",
                    "user": f"user {r['src']} logging on to {r['dst']}"}[kind]
            out.append(Finding.build(
                detector=NAME, rule_id="lateral.new_edge", severity=Severity.MEDIUM if many else Severity.LOW,
                time=r["first_seen"], time_last=r["last_seen"], title=f"First-seen {what}",
                tactics=["TA0008"], techniques={"rdp": ["T1021.001"], "smb": ["T1021.002"], "rpc": ["T1021"],
                                                "winrm": ["T1021.006"], "ssh": ["T1021.004"],
                                                "vnc": ["T1021.005"]}.get(svc, ["T1021"]),
                entities=ents, evidence=[_ev(r["ev"])], key=[r["key"]], score=0.55 if many else 0.4,
                description=(f"Not seen since the baseline started ({learn.start:%Y-%m-%d}); the source opened "
                             f"{r['src_new_edges']} new edge(s) that day; the destination had {r['dst_srcs']} "
                             f"known source(s)." if learn.start else "First seen."),
                extra={"edge": r["key"], "source_new_edges_that_day": r["src_new_edges"], **actor},
            ))
        return out, stmts, {"aw_lateral_merged": merged}, note


def _winrm_session(r: dict[str, Any]) -> Finding:
    """`lateral.remote_session`: the WinRM / PowerShell-remoting host process itself started in a network
    logon session from another address. Low severity on its own (administrators use remoting); it names
    the source and account when the commands run inside the host process and start no child."""
    return Finding.build(
        detector=NAME, rule_id="lateral.remote_session", severity=Severity.LOW, time=r["time"],
        title=f"WinRM / PowerShell remoting session on {r['host']} from {r['l_src']} ({r['l_user']})",
        tactics=["TA0008"], techniques=["T1021.006"],
        entities={"host": r["host"], "user": [r["user"], r["l_user"]], "src_ip": r["l_src"], "process": r["img"]},
        evidence=[_ev(r), _ev(r, "l_")], key=[r["event_id"] or f"{r['source']}:{r['record']}"], score=0.45,
        description=(f"{r['img']} started in the logon session of a network logon of {r['l_user']} from "
                     f"{r['l_src']}."),
        extra={"mechanism": "WinRM", "logon_id": r["logon_id"], "network_logon": True,
               **_remote(r["l_src"], r["l_user"], r["host"], "lateral.remote_session")},
    )


#: a per-user service instance: "<template>_<LUID in hex>" (Windows 10+ creates one per template at each
#: user logon), running a binary of System32
_PER_USER_NAME = re.compile(r"_[0-9a-f]{4,8}$")
_SYSTEM32 = re.compile(r'^"?(?:[a-z]:|%systemroot%)\\windows\\system32\\|^"?%systemroot%\\system32\\')


def _per_user_service(name: str | None, image: str | None) -> bool:
    return bool(name and image and _PER_USER_NAME.search(name.lower()) and _SYSTEM32.match(image.lower()))


def _flags(r: dict[str, Any]) -> str:
    """What made a service install remote, as part of its actor's method (a routine PsExec source that
    installs a random-named binary is doing something new)."""
    return "+".join(n for n, ok in (("odd-image", r["odd_image"]), ("psexec-name", r["psexec_name"])) if ok) \
        or "after-logon"


def _ipish(v: str | None) -> bool:
    return bool(v) and all(c in "0123456789abcdefABCDEF:." for c in str(v))


def _ev(r: dict[str, Any], prefix: str = "") -> Evidence:
    """Evidence from a row's source / record / table_name / time / event_id (optionally prefixed columns;
    the `l_` columns of a linked logon use `l_table`)."""
    table = r.get(prefix + ("table" if prefix == "l_" else "table_name"))
    return Evidence(str(r.get(prefix + "source") or ""), r.get(prefix + "record"), str(table or ""),
                    parse_time(r.get(prefix + "time")), r.get(prefix + "event_id"))
