"""The `sigma` detector: Sigma rules over the store, incremental, with suppressions and prevalence.

Rules come from `--rules` paths, the rule folders configured in the store (`aptwatch rules add`)
and the rules aptwatch ships (`aptwatch/rules/`, unless `options["sigma_builtin"]` is False).
Options (`DetectSettings.options`): `sigma_timeout` (seconds per query, default 600),
`sigma_evidence` (evidence references per finding, default 20), `sigma_placeholders`
(name -> values for `|expand` placeholders), `sigma_builtin`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

import orjson
import pyarrow as pa

from aptwatch.detect.base import DetectContext, Detector, DetectorResult, DetectSettings, RuleError
from aptwatch.detect.sigma import correlation, findings, state
from aptwatch.detect.sigma.compiler import CompiledRule, CompiledSet, compile_rules
from aptwatch.detect.sigma.engine import DEFAULT_TIMEOUT, Evaluator, empty_matches, rules_for_table
from aptwatch.detect.sigma.loader import BUILTIN_RULES, load_rules
from aptwatch.detect.sigma.pipeline import product_scope
from aptwatch.detect.sigma.sql import Projection, render
from aptwatch.detect.sigma.suppress import Suppression, from_rows, suppression_node
from aptwatch.model.schema import EVENTS
from aptwatch.store.duckdb import sql_str
from aptwatch.store.writer import StoreWriter

META_RULE_PATHS = "sigma.rule_paths"


def configured_paths(writer: StoreWriter) -> list[Path]:
    rows = writer.read_state("SELECT value FROM meta WHERE key = ?", [META_RULE_PATHS]).to_pylist()
    return [Path(p) for p in orjson.loads(rows[0]["value"])] if rows and rows[0]["value"] else []


def active_suppressions(writer: StoreWriter, now: datetime) -> list[Suppression]:
    rows = writer.read_state("SELECT * FROM suppressions WHERE scope = 'rule' AND (expires_at IS NULL OR "
                             "expires_at > ?)", [now]).to_pylist()
    return from_rows(rows)


def _ts(t: datetime) -> str:
    return f"TIMESTAMPTZ {sql_str(t.astimezone(UTC).isoformat())}"


def _by_product(units: Sequence[tuple[str, tuple[str, ...], list[CompiledRule]]],
                ) -> list[tuple[str, tuple[str, ...], list[CompiledRule], str | None]]:
    """Split each work unit by the rules' log source product: a Linux or macOS `process_creation` rule must
    not run over Windows EVTX events of the same table (Sigma routes by product too). One evaluation per
    product group keeps the batched evaluation's single scan per group (a per-rule condition would not)."""
    out: list[tuple[str, tuple[str, ...], list[CompiledRule], str | None]] = []
    for table, ingest_ids, unit_rules in units:
        groups: dict[str | None, list[CompiledRule]] = {}
        for r in unit_rules:
            groups.setdefault(product_scope(r.meta.logsource[1]), []).append(r)
        for group_scope, rules in sorted(groups.items(), key=lambda kv: kv[0] or ""):
            out.append((table, ingest_ids, rules, group_scope))
    return out


def _flag(value: object) -> bool:
    """An on/off option: a bool from the API, or the text `--set NAME=VALUE` passes (false, no, off, 0)."""
    if isinstance(value, str):
        return value.strip().lower() not in ("false", "no", "off", "0", "")
    return bool(value)


def time_scope(settings: DetectSettings) -> str:
    parts = ["true"]
    if settings.since is not None:
        parts.append(f"time >= {_ts(settings.since)}")
    if settings.until is not None:
        parts.append(f"time < {_ts(settings.until)}")
    return " AND ".join(parts)


class SigmaDetector(Detector):
    name: ClassVar[str] = "sigma"
    description: ClassVar[str] = "Sigma rules (SigmaHQ and your own) compiled to SQL over the store"

    def applies(self, settings: DetectSettings, tables: Sequence[str]) -> bool:
        return bool(tables)

    def run(self, ctx: DetectContext) -> DetectorResult:
        t0 = time.monotonic()
        settings, writer = ctx.settings, ctx.writer
        opts = settings.options
        paths = [*settings.rule_paths, *configured_paths(writer)]
        if _flag(opts.get("sigma_builtin", True)) and BUILTIN_RULES.is_dir():
            paths.append(BUILTIN_RULES)
        result = DetectorResult()
        compiled = compile_rules(load_rules(paths), opts.get("sigma_placeholders"))
        t_compile = time.monotonic() - t0
        skipped_ls = 0
        for p in compiled.problems:
            if p.stage == "route":
                skipped_ls += 1
            else:
                result.errors.append(RuleError(p.name, p.reason, p.path))
        now = datetime.now(UTC)
        sups = active_suppressions(writer, now)
        rules = self._select(compiled, settings, sups)
        metas = {r.uid: r.meta for r in compiled.rules} | {c.meta.uid: c.meta for c in compiled.correlations}

        # What the store holds, per table: ingest runs and channels (routing of service rules).
        scope = time_scope(settings)
        ingests: dict[str, list[str]] = {}
        row_counts: dict[tuple[str, str], int] = {}
        by_table: dict[str, list[CompiledRule]] = {}
        for table in ctx.session.event_tables():
            inv = ctx.session.sql(f'SELECT ingest_id, lower(channel) AS ch, count(*) AS n FROM "{table}" '
                                  f"WHERE {scope} GROUP BY ALL").to_pylist()
            if not inv:
                continue
            ingests[table] = sorted({r["ingest_id"] for r in inv if r["ingest_id"] is not None})
            for r in inv:
                key = (table, r["ingest_id"])
                row_counts[key] = row_counts.get(key, 0) + int(r["n"])
            applicable = rules_for_table(rules, table, {r["ch"] for r in inv if r["ch"]})
            if applicable:
                by_table[table] = applicable
        stale = state.forget_old_versions(writer, rules)
        done = state.evaluated(writer, rules, settings.since, settings.until)
        # bound the events materialised per query: split work units into chunks of ingest runs
        units = state.chunk(state.plan(by_table, ingests, done), row_counts,
                            int(opts.get("sigma_chunk_rows", state.CHUNK_ROWS)))
        corr_fields = correlation.needed_fields(compiled.correlations)
        timeout = float(opts.get("sigma_timeout", DEFAULT_TIMEOUT))
        sup_of = {r.uid: suppression_node(sups, r.uid) for r in rules}
        touched: set[str] = set(stale)
        n_matches = 0
        queries = 0
        timing: dict[str, float] = {"compile": round(t_compile, 3), "plan": round(time.monotonic() - t0 - t_compile, 3)}
        for table, ingest_ids, unit_rules, group_scope in _by_product(units):
            t_unit = time.monotonic()
            tbl = EVENTS[table]
            unit_scope = f"{scope} AND ingest_id IN ({', '.join(sql_str(i) for i in ingest_ids)})"
            if group_scope:
                unit_scope += f" AND {group_scope}"

            def extra(rule: CompiledRule, proj: Projection) -> str | None:
                node = sup_of.get(rule.uid)
                return None if node is None else render(node, proj)

            ev = Evaluator(ctx.session, tbl, unit_scope, timeout=timeout, extra=extra)
            res = ev.run(unit_rules)
            queries += res.queries
            result.errors.extend(res.errors)
            failed = {e.rule for e in res.errors}
            ok_rules = [r for r in unit_rules if r.uid not in failed]
            matches = pa.concat_tables(res.matches) if res.matches else empty_matches()
            fields = correlation.extract_fields(ctx.session, tbl, matches, corr_fields)
            state.record(writer, table, ingest_ids, ok_rules, matches, settings.since, settings.until, ctx.run_id,
                         fields)
            n_matches += matches.num_rows
            touched |= set(matches.column("rule").to_pylist())
            timing[f"table.{table}"] = round(timing.get(f"table.{table}", 0.0) + time.monotonic() - t_unit, 3)
        t_find = time.monotonic()
        # Findings of every rule that changed, recomputed from all its stored matches.
        evidence = int(opts.get("sigma_evidence", findings.EVIDENCE))
        extent = findings.store_extent(ctx.session.sql)
        output_uids = [u for u in touched if u in metas and self._outputs(compiled, u)]
        rows = findings.group_matches(writer, output_uids, evidence)
        new = findings.build(rows, metas, extent)
        findings.delete_findings(writer, findings.stale_findings(writer, sorted(touched), [f.id for f in new]))
        result.findings.extend(new)
        corr = correlation.evaluate(writer, compiled.correlations, metas, extent, evidence)
        result.findings.extend(corr.findings)
        result.errors.extend(corr.errors)
        # correlations are recomputed from all stored matches: an episode that no longer fires (a suppression,
        # an edited rule) loses its finding; a correlation that failed keeps what it had
        failed_corr = {e.rule for e in corr.errors}
        corr_ids = sorted(c.meta.uid for c in compiled.correlations if c.meta.uid not in failed_corr)
        findings.delete_findings(writer, findings.stale_findings(writer, corr_ids, [f.id for f in corr.findings]))
        timing["findings"] = round(time.monotonic() - t_find, 3)
        result.stats = {
            "rules": len(compiled.rules), "correlations": len(compiled.correlations),
            "rules_run": len(rules), "skipped_logsources": skipped_ls, "problems": len(compiled.problems),
            "suppressions": len(sups), "work_units": len(units), "queries": queries, "matches": n_matches,
            "findings": len(new), "correlation_findings": len(corr.findings),
            "compile_seconds": round(t_compile, 3), "seconds": round(time.monotonic() - t0, 3), "timing": timing,
        }
        return result

    @staticmethod
    def _outputs(compiled: CompiledSet, uid: str) -> bool:
        for r in compiled.rules:
            if r.uid == uid:
                return r.output
        return True

    @staticmethod
    def _select(compiled: CompiledSet, settings: DetectSettings, sups: Sequence[Suppression]) -> list[CompiledRule]:
        """Rules at or above the minimum level (and those correlations need); suppressions join the hash."""
        needed = {u for c in compiled.correlations for u in c.rules}
        # the fields a rule's stored matches carry for the correlations over it are part of its version: a
        # correlation added later re-evaluates the rules it reads, so old matches get the fields it groups by
        carried = correlation.needed_fields(compiled.correlations)
        out = []
        for r in compiled.rules:
            if r.meta.level.rank < settings.min_severity.rank and r.uid not in needed:
                continue
            mine = sorted(s.id for s in sups if s.applies_to(r.uid))
            version = r.hash + (f":{':'.join(mine)}" if mine else "")
            if r.uid in carried:
                version += ":f=" + ",".join(sorted(carried[r.uid]))
            out.append(replace(r, hash=version) if version != r.hash else r)
        return out

