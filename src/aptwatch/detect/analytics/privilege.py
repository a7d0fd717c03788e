"""Privilege escalation and credential access anomalies (TA0004, TA0006).

Baseline `privilege` (rarity rows, folded incrementally from `auth`, `account`, `process_access`):
- `priv|<account>`: accounts that were assigned special privileges (4672);
- `grp|<group>|<member>`: group memberships added (4728 / 4732 / 4756, `member_added`);
- `lsass|<source image>|<access mask>`: processes that opened LSASS (Sysmon 10).

Rules:
- `privilege.new_special_privileges`: an account (not SYSTEM / service identities / machine accounts /
  DWM- / UMFD- sessions) gets special privileges for the first time after the learning period
  (`learn_days`, default 7) (T1078, T1134).
- `privilege.group_add`: a member added to a privileged group (Administrators, Domain / Enterprise /
  Schema Admins, Account / Server / Backup / Print Operators, DnsAdmins, Remote Desktop Users,
  Remote Management Users, Group Policy Creator Owners, Key Admins, ...) at any time, or to any group
  for the first time after learning (T1098, T1098.007).
- `privilege.lsass_access`: LSASS opened with a mask that can read its memory (PROCESS_VM_READ 0x10,
  or PROCESS_ALL_ACCESS) by an image that is not a known system accessor, or by any image whose
  (image, mask) pair is rare: on <= `rare_hosts` hosts (default 2) (T1003.001).
- `privilege.kerberoast`: one account requesting RC4 (0x17) service tickets for >= `kerberoast_services`
  distinct services (default 5) within an hour (T1558.003).
"""

from __future__ import annotations

from typing import Any, ClassVar

from aptwatch.detect.analytics.common import (
    SERVICE_ACCOUNTS,
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
from aptwatch.model.finding import Evidence, Finding, Severity, parse_time

NAME = "privilege"
PRIVILEGED_GROUPS = ("administrators", "domain admins", "enterprise admins", "schema admins", "account operators",
                     "server operators", "backup operators", "print operators", "dnsadmins", "remote desktop users",
                     "remote management users", "group policy creator owners", "key admins", "enterprise key admins",
                     "hyper-v administrators", "cert publishers", "exchange organization administrators",
                     "organization management", "administrateurs", "administratoren")
#: images that open LSASS legitimately (with memory-read rights in some builds)
LSASS_ACCESSORS = ("lsass.exe", "csrss.exe", "wininit.exe", "services.exe", "svchost.exe", "msmpeng.exe",
                   "mssense.exe", "senseir.exe", "wmiprvse.exe", "taskmgr.exe", "procexp64.exe", "procexp.exe",
                   "vmtoolsd.exe", "lsm.exe", "smss.exe", "searchindexer.exe", "mrt.exe", "nissrv.exe",
                   "sgrmbroker.exe", "windefend.exe", "csfalconservice.exe", "sentinelagent.exe",
                   "cyserver.exe", "cb.exe", "repmgr.exe", "xagt.exe", "elastic-endpoint.exe", "osqueryd.exe",
                   "wininit.exe", "winlogon.exe", "dwm.exe")


def _mask_reads_memory(mask: str | None) -> bool:
    if not mask:
        return False
    try:
        m = int(mask, 16) if mask.lower().startswith("0x") else int(mask)
    except ValueError:
        return False
    return bool(m & 0x10) or (m & 0x1FFFFF) == 0x1FFFFF


class Privilege(Detector):
    name: ClassVar[str] = NAME
    description: ClassVar[str] = ("First-time special privileges and group additions, unusual LSASS access, "
                                  "Kerberoasting")

    def applies(self, settings: DetectSettings, tables: Any) -> bool:
        return any(t in tables for t in ("auth", "account", "process_access"))

    def run(self, ctx: DetectContext) -> DetectorResult:
        opts = Options(ctx, NAME)
        result = DetectorResult()
        inc = pending(ctx, NAME, ["auth", "account", "process_access"], rebuild=opts.get("rebuild", False))
        result.stats = {"ingests": len(inc.ingest_ids)}
        if inc.empty:
            return result
        s = ctx.session
        install_macros(s)
        tables = set(s.event_tables())
        new = inc.where()
        svc = ", ".join(f"'{a}'" for a in SERVICE_ACCOUNTS)
        obs = []
        if "auth" in tables:
            obs.append(f"""
                SELECT 'priv|' || lower(coalesce(nullif(subject_domain, '-') || '\\', '') || subject_user) AS key,
                       host, time, source, record, table_name, event_id, privileges AS detail
                FROM auth WHERE {new} AND (event_code = 4672 OR action = 'special_privileges')
                  AND subject_user IS NOT NULL AND lower(subject_user) NOT IN ({svc})
                  AND NOT ends_with(subject_user, '$') AND NOT regexp_matches(lower(subject_user), '^(dwm|umfd)-')
                  AND coalesce(subject_sid, '') NOT IN ('S-1-5-18', 'S-1-5-19', 'S-1-5-20')""")
        if "account" in tables:
            obs.append(f"""
                SELECT 'grp|' || lower(coalesce(group_name, target_user, '?')) || '|'
                       || lower(coalesce(nullif(member_name, '-'), member_sid, '?')) AS key,
                       host, time, source, record, table_name, event_id,
                       coalesce(subject_user, '') || ' -> ' || coalesce(member_name, member_sid, '') AS detail
                FROM account WHERE {new}
                  AND (event_code IN (4728, 4732, 4756, 4746, 4751, 4761) OR action = 'member_added')""")
        if "process_access" in tables:
            obs.append(f"""
                SELECT 'lsass|' || aw_basename(source_path) || '|' || lower(coalesce(granted_access, '')) AS key,
                       host, time, source, record, table_name, event_id, source_path AS detail
                FROM process_access WHERE {new} AND aw_basename(target_path) = 'lsass.exe'
                  AND coalesce(action, 'access') = 'access'""")
        statements: list[tuple[str, Any]] = reset_statements(NAME) if inc.rebuild else []
        out: list[Finding] = []
        tabs: dict[str, Any] = {}
        if obs:
            merged, upsert, tabs = fold_rarity(s, ctx.writer, NAME, " UNION ALL ".join(obs), rebuild=inc.rebuild)
            times = [t for t in merged.column("ev_time").to_pylist() if t is not None]
            learn, stmt = learning(ctx.writer, NAME, min(times) if times else None, float(opts.get("learn_days", 7)))
            if stmt:
                statements.append(stmt)
            statements.append(upsert)
            rare_hosts = int(opts.get("rare_hosts", 2))
            for r in rows(merged):
                f = _judge(r, learn.learned_at(r["ev_time"]), rare_hosts)
                if f is not None:
                    out.append(f)
        out += self._kerberoast(ctx, tables, new, opts)
        ctx.writer.write_state(statements + inc.mark_statements(), tabs)
        result.findings = [f for f in out if in_time_range(ctx, f.time)]
        return result

    def _kerberoast(self, ctx: DetectContext, tables: set[str], new: str, opts: Options) -> list[Finding]:
        if "auth" not in tables:
            return []
        n = int(opts.get("kerberoast_services", 5))
        out = []
        for r in rows(ctx.session.sql(f"""
            WITH k AS (SELECT host, time, lower(split_part(coalesce(target_user, ''), '@', 1)) AS user,
                              lower(coalesce(service, '')) AS service, src_ip, source, record, table_name, event_id
                       FROM auth WHERE {new} AND event_code = 4769
                         AND lower(coalesce(ticket_encryption, '')) IN ('0x17', '0x18', '23', '24')
                         AND NOT ends_with(lower(coalesce(service, '')), '$')
                         AND lower(coalesce(service, '')) <> 'krbtgt')
            SELECT user, date_trunc('hour', time) AS hour, count(DISTINCT service) AS services,
                   list(DISTINCT service)[1:20] AS names, min(time) AS t0, max(time) AS t1, any_value(src_ip) AS src_ip,
                   any_value(host) AS host,
                   list(struct_pack(source := source, record := record, table_name := table_name, time := time,
                                    event_id := event_id) ORDER BY time)[1:10] AS evs
            FROM k WHERE user <> '' GROUP BY user, date_trunc('hour', time) HAVING count(DISTINCT service) >= {n}
        """)):
            out.append(Finding.build(
                detector=NAME, rule_id="privilege.kerberoast", severity=Severity.HIGH, time=r["t0"], time_last=r["t1"],
                title=f"Kerberoasting: {r['user']} requested RC4 tickets for {r['services']} services",
                tactics=["TA0006"], techniques=["T1558.003"],
                entities={"user": r["user"], "src_ip": r["src_ip"], "host": r["host"], "service": r["names"]},
                evidence=[Evidence(e["source"] or "", e["record"], e["table_name"] or "", parse_time(e["time"]),
                                   e["event_id"]) for e in r["evs"]],
                key=[r["user"], str(r["hour"])], score=0.8,
                description=f"RC4-encrypted service tickets for {', '.join(r['names'][:8])} within an hour."))
        return out


def _judge(r: dict[str, Any], learned: bool, rare_hosts: int) -> Finding | None:
    kind, rest = r["key"].split("|", 1)
    hosts = list(r["new_hosts"] or [])
    host = hosts[0] if hosts else None
    fresh = not r["known"] and learned
    if kind == "priv":
        if not fresh:
            return None
        return _f(r, "privilege.new_special_privileges", f"First special privileges for {rest} on {host}",
                  Severity.MEDIUM, 0.6, ["TA0004"], ["T1078", "T1134"], {"user": rest, "host": hosts})
    if kind == "grp":
        group, member = rest.split("|", 1)
        privileged = any(group == g or group.endswith("\\" + g) for g in PRIVILEGED_GROUPS)
        if not (privileged and not r["known"]) and not fresh:
            return None
        sev = Severity.HIGH if privileged else Severity.LOW
        return _f(r, "privilege.group_add", f"{member} added to {'privileged ' if privileged else ''}group {group}",
                  sev, 0.8 if privileged else 0.4, ["TA0004", "TA0003"], ["T1098"],
                  {"user": member, "host": hosts})
    if kind == "lsass":
        image, mask = ([*rest.split("|", 1), ""])[:2]
        reads = _mask_reads_memory(mask)
        unusual = image not in LSASS_ACCESSORS
        rare = int(r["hosts"]) <= rare_hosts and not r["known"]
        if not reads or not (unusual or (rare and learned)):
            return None
        sev = Severity.HIGH if unusual else Severity.MEDIUM
        return _f(r, "privilege.lsass_access", f"LSASS memory access by {image} ({mask}) on {host}", sev,
                  0.85 if unusual else 0.55, ["TA0006"], ["T1003.001"],
                  {"host": hosts, "process": r["detail"] or image})
    return None


def _f(r: dict[str, Any], rule: str, title: str, sev: Severity, score: float, tactics: list[str],
       techniques: list[str], entities: dict[str, Any]) -> Finding:
    return Finding.build(
        detector=NAME, rule_id=rule, title=title, severity=sev, time=r["ev_time"], tactics=tactics,
        techniques=techniques, entities=entities, evidence=evidence_of(r["ev"]), key=[r["key"]], score=score,
        description=(f"{r['key']}: {r['count']} time(s) on {r['hosts']} host(s) since {r['first_seen']:%Y-%m-%d}; "
                     f"{'known before this run' if r['known'] else 'first seen now'}. {(r['detail'] or '')[:200]}"),
        extra={"baseline_key": r["key"], "count": r["count"], "hosts": r["hosts"], "known_before": r["known"]},
    )
