"""The "import" detector: alerts other tools raised (`ids_alert`) become findings correlation can use.

Grouping: one finding per sensor, signature (id and text), host, source and destination address
and time bucket (UTC hour by default; option `import.bucket_seconds`), with the number of alerts in
`extra.count`, the first and last alert time, and the first ten alerts as evidence. Ten thousand
identical alerts in an hour are one finding; the same alert on another host, from another source
or in another hour is another. The finding id is derived from that key (`Finding.build(key=...)`),
so it is the same in every run.

ATT&CK tactics/techniques and the severity come from `detect/alert_mapping.py` (tables in
docs/detections.md). Entities: the alert's host, the addresses, and the hosts those addresses
belonged to at the time (address context, `context/addresses.py`), users, processes, files and
domains the alerts name.

Everything heavy is SQL in the engine: the grouping, the evidence selection (`min_by(..., 10)`),
and the signature metadata sample. Python builds one `Finding` per group.

Incremental: the detector remembers, in its run report (`runs.report.stats.import.ingests`), which
ingest runs it has absorbed; the next run only recomputes the groups that rows of newer ingest
runs touch (over all rows of those groups, so counts stay whole) and upserts them. `--since` /
`--until` recompute every group in the range; option `import.full` recomputes everything.

Ground truth that data sets carry (`label`, `detailedlabel`, `time_label`, `event_label`, ...) lives
in `data`; this detector never reads `data`, and reads `raw` only for JSON signature metadata and
domain names, so labels cannot change a finding (tests/detect/test_imported.py proves it on AIT-ADS).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
import pyarrow as pa

from aptwatch.context.addresses import AddressBook
from aptwatch.context.networks import InternalNetworks, configured_networks, parse_ip
from aptwatch.detect.alert_mapping import (
    MAPPED_DEFAULT_SEVERITY,
    UNMAPPED_DEFAULT_SEVERITY,
    Attack,
    Direction,
    infer_attack,
    metadata_ids,
    sensor_severity,
    split_ids,
)
from aptwatch.detect.base import DetectContext, Detector, DetectorResult, DetectSettings
from aptwatch.model.finding import Evidence, Finding, Severity, iso

NAME = "import"
DEFAULT_BUCKET_SECONDS = 3600
EVIDENCE_PER_FINDING = 10
LIST_LIMIT = 10
MESSAGE_LIMIT = 2000
#: finding score by severity (ranking and campaign weight)
SCORE = {Severity.INFORMATIONAL: 0.1, Severity.LOW: 0.25, Severity.MEDIUM: 0.5, Severity.HIGH: 0.75,
         Severity.CRITICAL: 0.9}
_KEY_COLUMNS = ("sensor", "signature_id", "signature", "host", "src_ip", "dst_ip")
#: JSON paths of a domain name in EVE records, raw or forwarded by Wazuh (raw or inside an indexer export)
_DOMAIN_PATHS = tuple(f"$.{pre}{p}" for pre in ("", "data.", "_source.data.")
                      for p in ("http.hostname", "tls.sni", "dns.rrname", "dns.query[0].rrname"))
_METADATA_PATHS = ("$.alert.metadata", "$.data.alert.metadata", "$._source.data.alert.metadata")


def _sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _key_expr(prefix: str = "") -> str:
    # NULL and '' must differ in the key, and no value may contain the separator (unit separator, U+001F).
    return "concat_ws(chr(31), " + ", ".join(f"coalesce(replace({prefix}{c}, chr(31), ' '), chr(0))"
                                             for c in _KEY_COLUMNS) + f", CAST(epoch_us({prefix}bucket) AS VARCHAR))"


#: per-alert attributes a finding lists (distinct, sorted): column expression -> output name
_LISTED = (("category", "categories"), ("severity", "severities"), ("rule_groups", "groups"),
           ("mitre_tactics", "tactics"), ("mitre_techniques", "techniques"), ('"user"', "users"),
           ("process_path", "processes"), ("file_path", "files"), ("domain", "domains"), ("dst_port", "dst_ports"))


class ImportedAlerts(Detector):
    name = NAME
    description = "Alerts from Suricata, Zeek notice, Wazuh, AMiner, Defender (ids_alert) as findings, " \
                  "grouped per sensor/signature/host/src/dst/hour, mapped to ATT&CK."

    def applies(self, settings: DetectSettings, tables: Sequence[str]) -> bool:
        return "ids_alert" in tables

    def run(self, ctx: DetectContext) -> DetectorResult:
        store = ctx.writer.store
        opts = ctx.settings.options
        bucket = int(opts.get("import.bucket_seconds", DEFAULT_BUCKET_SECONDS))
        ranged = ctx.settings.since is not None or ctx.settings.until is not None
        full = bool(opts.get("import.full", False)) or ranged
        s = ctx.session
        all_ingests = {r["ingest_id"] for r in s.sql("SELECT DISTINCT ingest_id FROM ids_alert").to_pylist()}
        todo = all_ingests if full else all_ingests - _absorbed(store, ctx.settings.min_severity)
        stats: dict[str, Any] = {"ingests": sorted(todo) if not ranged else [], "min_severity":
                                 ctx.settings.min_severity.value, "bucket_seconds": bucket, "groups": 0, "alerts": 0}
        if not todo:
            return DetectorResult(stats=stats)
        where = ["time IS NOT NULL"]
        if ctx.settings.since is not None:
            where.append(f"time >= time_bucket(INTERVAL '{bucket} seconds', "
                         f"TIMESTAMPTZ {_sql_str(ctx.settings.since.isoformat())})")
        if ctx.settings.until is not None:
            where.append(f"time < time_bucket(INTERVAL '{bucket} seconds', "
                         f"TIMESTAMPTZ {_sql_str(ctx.settings.until.isoformat())}) + INTERVAL '{bucket} seconds'")
        s.register("import_todo", pa.table({"ingest_id": pa.array(sorted(todo), pa.string())}))
        touched_only = not full and todo != all_ingests  # every run new: no need to find the touched groups
        groups = s.sql(self._group_sql(bucket, " AND ".join(where), touched_only=touched_only)).to_pylist()
        profiles = self._metadata(s, " AND ".join(where))
        networks = configured_networks(store)
        book = AddressBook.load(store)
        readings: dict[tuple[Any, ...], Attack] = {}  # one ATT&CK reading per distinct alert profile, not per group
        findings = [self._finding(g, profiles, networks, book, bucket, readings) for g in groups]
        stats["groups"] = len(findings)
        stats["alerts"] = sum(int(g["n"]) for g in groups)
        stats["mapped"] = sum(1 for f in findings if f.tactics or f.techniques)
        return DetectorResult(findings=findings, stats=stats)

    # -- SQL ------------------------------------------------------------------------------------
    @staticmethod
    def _group_sql(bucket: int, where: str, *, touched_only: bool) -> str:
        domain = ("CASE WHEN starts_with(raw, '{') AND (contains(raw, '\"hostname\"') OR contains(raw, '\"sni\"') OR "
                  "contains(raw, '\"rrname\"')) THEN coalesce(" + ", ".join(
                      f"json_extract_string(raw, {_sql_str(p)})" for p in _DOMAIN_PATHS) + ") END")
        keys = ", ".join((*_KEY_COLUMNS, "bucket"))
        attrs = ", ".join(c for c, _ in _LISTED)
        lists = ", ".join(f"list(DISTINCT {c} ORDER BY {c}) FILTER (WHERE {c} IS NOT NULL) AS {name}"
                          for c, name in _LISTED)
        joined = " AND ".join(f"g.{c} IS NOT DISTINCT FROM e.{c}" for c in (*_KEY_COLUMNS, "bucket"))
        touched_cte = touched = ""
        if touched_only:
            # the groups rows of new ingest runs fall in (pruned by ingest_id statistics), then every row of them
            touched_cte = f""", t AS (
                SELECT DISTINCT {keys} FROM b WHERE ingest_id IN (SELECT ingest_id FROM import_todo)
            )"""
            on = " AND ".join(f"b.{c} IS NOT DISTINCT FROM t.{c}" for c in (*_KEY_COLUMNS, "bucket"))
            touched = (f"SEMI JOIN t ON {on} WHERE b.bucket BETWEEN (SELECT min(bucket) FROM t) "
                       "AND (SELECT max(bucket) FROM t)")
        return f"""
            WITH b AS (
                SELECT * REPLACE (coalesce(nullif(lower(sensor), ''), 'unknown') AS sensor),
                       time_bucket(INTERVAL '{bucket} seconds', time) AS bucket
                FROM ids_alert WHERE {where}
            ){touched_cte}, a AS (
                SELECT time, source, record, event_id, sensor, signature_id, signature, host, src_ip, dst_ip, bucket,
                       category, severity, rule_groups, mitre_tactics, mitre_techniques, dst_port, "user",
                       process_path, file_path, message, lower({domain}) AS domain
                FROM b {touched}
            ), p AS (
                -- two phases: distinct attribute combinations first (few), then the lists per group; DuckDB's
                -- DISTINCT ... ORDER BY aggregates over every alert cost twice as much (measured on AIT-ADS)
                SELECT {keys}, {attrs}, count(*) AS n, min(time) AS t0, max(time) AS t1 FROM a GROUP BY ALL
            ), g AS (
                SELECT {keys}, sum(n) AS n, min(t0) AS t0, max(t1) AS t1, {lists} FROM p GROUP BY {keys}
            ), e AS (
                SELECT {keys}, min_by(message, (time, source, record)) AS message,
                       min_by({{'source': source, 'record': record, 'time': time, 'event_id': event_id}},
                              (time, source, record), {EVIDENCE_PER_FINDING}) AS evidence
                FROM a GROUP BY {keys}
            )
            SELECT g.*, e.message, e.evidence, {_key_expr("g.")} AS gk FROM g JOIN e ON {joined}
            ORDER BY t0, gk"""

    @staticmethod
    def _metadata(s: Any, where: str) -> dict[tuple[str, str | None, str | None], dict[str, Any]]:
        """Suricata signature metadata per (sensor, signature id, signature), from one raw EVE record each."""
        paths = ", ".join(_sql_str(p) for p in _METADATA_PATHS)
        rows = s.sql(f"""
            WITH m AS (
                SELECT coalesce(nullif(lower(sensor), ''), 'unknown') AS sensor, signature_id, signature,
                       json_extract(raw, [{paths}]) AS v
                FROM ids_alert
                WHERE {where} AND starts_with(raw, '{{') AND contains(raw, '"metadata"') AND json_valid(raw)
            )
            SELECT sensor, signature_id, signature, min(CAST(coalesce(v[1], v[2], v[3]) AS VARCHAR)) AS metadata
            FROM m GROUP BY ALL""").to_pylist()
        out: dict[tuple[str, str | None, str | None], dict[str, Any]] = {}
        for r in rows:
            if r["metadata"]:
                try:
                    md = orjson.loads(r["metadata"])
                except orjson.JSONDecodeError:
                    continue
                if isinstance(md, dict):
                    out[(r["sensor"], r["signature_id"], r["signature"])] = md
        return out

    # -- one finding per group ------------------------------------------------------------------
    def _finding(self, g: dict[str, Any], profiles: dict[tuple[str, str | None, str | None], dict[str, Any]],
                 networks: InternalNetworks, book: AddressBook, bucket: int,
                 readings: dict[tuple[Any, ...], Attack]) -> Finding:
        sensor, sid, sig = g["sensor"], g["signature_id"], g["signature"]
        md_tac, md_tech, md_sev = metadata_ids(profiles.get((sensor, sid, sig), {}))
        direction = _direction(g["src_ip"], g["dst_ip"], networks)
        groups = split_ids(g["groups"] or [])
        tactics = split_ids([*(g["tactics"] or []), *md_tac])
        techniques = split_ids([*(g["techniques"] or []), *md_tech])
        profile = (sensor, sid, sig, tuple(g["categories"] or ()), tuple(groups), tuple(tactics), tuple(techniques),
                   direction)
        attack = readings.get(profile)
        if attack is None:
            attack = readings[profile] = infer_attack(
                sensor=sensor, signature_id=sid, signature=sig, categories=g["categories"] or [], rule_groups=groups,
                mitre_tactics=tactics, mitre_techniques=techniques, direction=direction)
        sensed = [sv for sv in (sensor_severity(sensor, v, md_sev) for v in (g["severities"] or [None])) if sv]
        if sensed:
            severity = max(sensed, key=lambda x: x.rank)
        elif attack.tactics or attack.techniques or attack.severity:
            severity = attack.severity or MAPPED_DEFAULT_SEVERITY
        else:
            severity = UNMAPPED_DEFAULT_SEVERITY
        t0: datetime = g["t0"]
        resolved = {ip: h for ip in (g["host"], g["src_ip"], g["dst_ip"]) if ip and parse_ip(ip) is not None
                    and (h := book.resolve(ip, t0))}
        hosts = [h for h in (_host_entity(g["host"], resolved, networks), *resolved.values()) if h]
        evidence = [Evidence(e["source"], e["record"], "ids_alert", e["time"], e["event_id"]) for e in g["evidence"]]
        title = sig or sid or f"{sensor} alert"
        n = int(g["n"])
        message = (g["message"] or "")[:MESSAGE_LIMIT]
        bucket_start: datetime = g["bucket"]
        return Finding.build(
            detector=NAME,
            rule_id=f"{sensor}:{sid or sig or ''}",
            title=title,
            severity=severity,
            time=t0,
            time_last=g["t1"],
            tactics=attack.tactics,
            techniques=attack.techniques,
            entities={
                "host": hosts, "src_ip": g["src_ip"], "dst_ip": g["dst_ip"], "user": (g["users"] or [])[:LIST_LIMIT],
                "process": (g["processes"] or [])[:LIST_LIMIT], "file": (g["files"] or [])[:LIST_LIMIT],
                "domain": (g["domains"] or [])[:LIST_LIMIT],
            },
            evidence=evidence,
            key=[g["gk"]],
            score=SCORE[severity],
            description=_describe(sensor, title, n, g, resolved, message),
            extra={
                "sensor": sensor, "signature_id": sid, "signature": sig, "count": n,
                "bucket": iso(bucket_start), "bucket_seconds": bucket,
                "categories": g["categories"] or [], "sensor_severity": g["severities"] or [],
                "rule_groups": groups, "attack_basis": attack.basis, "direction": direction,
                "dst_ports": (g["dst_ports"] or [])[:20], "resolved": resolved, "message": message,
            },
        )


def _describe(sensor: str, title: str, n: int, g: dict[str, Any], resolved: dict[str, str], message: str) -> str:
    def addr(ip: str | None) -> str:
        return f"{ip} ({resolved[ip]})" if ip in resolved else str(ip)

    parts = [f"{n} {sensor} alert{'s' if n != 1 else ''} \"{title}\""]
    if g["host"]:
        parts.append(f"on {g['host']}")
    if g["src_ip"]:
        parts.append(f"from {addr(g['src_ip'])}")
    if g["dst_ip"]:
        parts.append(f"to {addr(g['dst_ip'])}")
    parts.append(f"at {iso(g['t0'])}" if n == 1 else f"between {iso(g['t0'])} and {iso(g['t1'])}")
    text = " ".join(parts)
    return f"{text}. First: {message}" if message else text


def _host_entity(host: str | None, resolved: dict[str, str], networks: InternalNetworks) -> str | None:
    """The alert's host as an entity: network sensors key a record by an address (the internal endpoint); that
    address becomes the host it belonged to when known, stays when internal, and is dropped when external (an
    outside address is not one of our hosts; it stays in src_ip / dst_ip)."""
    if host is None or parse_ip(host) is None:
        return host
    if host in resolved:
        return resolved[host]
    return host if networks.contains(host) else None


def _direction(src: str | None, dst: str | None, networks: InternalNetworks) -> Direction:
    if not src or not dst:
        return "unknown"
    s_in, d_in = networks.contains(src), networks.contains(dst)
    if s_in and d_in:
        return "internal"
    if d_in:
        return "inbound"
    if s_in:
        return "outbound"
    return "external"


def _absorbed(store: Any, min_severity: Severity) -> set[str]:
    """Ingest runs earlier import runs absorbed with a minimum severity no stricter than this run's."""
    with store.state.connect(read_only=True) as con:
        rows = con.execute("SELECT report FROM runs WHERE kind = 'detect'").fetchall()
    done: set[str] = set()
    for (report,) in rows:
        try:
            st = (orjson.loads(report) or {}).get("stats", {}).get(NAME, {})
        except (orjson.JSONDecodeError, AttributeError):
            continue
        if not isinstance(st, dict):
            continue
        if Severity.parse(st.get("min_severity")).rank <= min_severity.rank:
            done.update(x for x in st.get("ingests", []) if isinstance(x, str))
    return done

