"""Evaluate many compiled rules over one event table in one pass.

For a table and a batch of rules, one query:

1. `base` (materialised once): the events in scope, with every field form any rule of the
   batch reads (`sql.Projection`): unmapped fields come out of `data` in one JSON parse, each
   field is lower-cased once, not once per rule.
2. anchored rules (a field must equal one of a few values, or a path must end in a given file
   name): the events' keys are hash-joined with the rules' keys, and each candidate (event,
   rule) pair is tested with that rule's predicate only (`CASE rule WHEN ...`).
3. the other rules: one filter, `p1 OR p2 OR ...`, and for the few events it keeps, the list
   of rules that match.

A batch whose query fails is split in two and retried; a single rule that fails (or runs past
the per-query timeout, enforced by interrupting the engine) becomes an error record, and the
others still run. Regular expressions are RE2: no pattern can backtrack.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from aptwatch.detect.base import RuleError
from aptwatch.detect.sigma import ir
from aptwatch.detect.sigma.compiler import CompiledRule
from aptwatch.detect.sigma.sql import Projection, render
from aptwatch.model.schema import Table
from aptwatch.store.base import Session

#: rules per query (bounds SQL size and the cost of isolating a failing rule)
BATCH = 400
#: per-query time limit, seconds
DEFAULT_TIMEOUT = 600.0

#: entity kind -> columns that may hold it, in preference order (the first present ones are used)
ENTITY_COLUMNS: dict[str, tuple[str, ...]] = {
    "user": ("user", "subject_user", "target_user", "source_user", "account", "member_name"),
    "process": ("process_path", "source_path", "image_path", "host_application"),
    "command_line": ("command_line", "parent_command_line"),
    "parent": ("parent_path",),
    "target_process": ("target_path",),
    "src_ip": ("src_ip",),
    "dst_ip": ("dst_ip",),
    "domain": ("query", "http_host", "server_name", "dst_hostname"),
    "hash": ("sha256", "sha1", "md5", "hashes", "imphash"),
    "file": ("path", "image_loaded", "pipe_name"),
    "registry": ("target_object",),
    "service": ("name",),
    "url": ("uri",),
}
#: evidence and grouping columns carried with every match
META = ("event_id", "ingest_id", "time", "host", "source", "record", "table_name", "event_code", "channel")
#: the columns of a match row, the same for every table: "rule", META, one per entity kind
MATCH_COLUMNS = ("rule", *META, *ENTITY_COLUMNS)


def entity_columns(table: Table) -> dict[str, list[str]]:
    """kind -> columns of `table` holding it."""
    out: dict[str, list[str]] = {}
    for kind, cols in ENTITY_COLUMNS.items():
        present = [c for c in cols if table.has(c)]
        if present:
            out[kind] = present
    return out


def base_columns(table: Table) -> list[str]:
    """Table columns a match carries (META + every entity column present)."""
    ent = [c for cols in entity_columns(table).values() for c in cols]
    return list(dict.fromkeys([*META, *ent]))


def match_select(table: Table, rel: str = "base") -> str:
    """SELECT list turning `rel`'s columns into the common match columns (without `rule`)."""
    ents = entity_columns(table)
    out = [f'{rel}."{c}"' for c in META]
    for kind in ENTITY_COLUMNS:
        cols = ents.get(kind)
        if not cols:
            out.append(f'CAST(NULL AS VARCHAR) AS "{kind}"')
        else:
            vals = [f'CAST(nullif({rel}."{c}", \'\') AS VARCHAR)' for c in cols]
            out.append(f'{vals[0] if len(vals) == 1 else "coalesce(" + ", ".join(vals) + ")"} AS "{kind}"')
    return ", ".join(out)


@dataclass
class EvalResult:
    #: one row per (rule, event): rule (uid) + match_columns(table)
    matches: list[pa.Table] = field(default_factory=list)
    errors: list[RuleError] = field(default_factory=list)
    queries: int = 0
    seconds: float = 0.0


class Evaluator:
    """Runs rules over one table of a session: one scan of the table, then in-memory passes."""

    _seq = itertools.count()

    def __init__(self, session: Session, table: Table, scope: str = "true", *,
                 timeout: float = DEFAULT_TIMEOUT, batch: int = BATCH,
                 extra: Callable[[CompiledRule, Projection], str | None] | None = None) -> None:
        self.session = session
        self.table = table
        self.scope = scope
        self.timeout = timeout
        self.batch = batch
        #: per-rule extra condition (suppressions), SQL over the same projection; None = nothing
        self.extra = extra

    def run(self, rules: Sequence[CompiledRule]) -> EvalResult:
        res = EvalResult()
        t0 = time.monotonic()
        rules = [r for r in rules if r.anchors is None or r.anchors]  # an empty anchor set never matches
        if not rules:
            return res
        n = next(self._seq)
        self.base, self.cand, self.vals = f"__sigma_base_{n}", f"__sigma_cand_{n}", f"__sigma_vals_{n}"
        proj = Projection(self.table)
        preds: dict[str, str] = {}
        errors: dict[str, str] = {}
        for r in rules:
            try:
                p = f"coalesce({render(r.node, proj)}, false)"
                if self.extra is not None and (sup := self.extra(r, proj)) is not None:  # noqa: S610
                    p = f"({p} AND NOT coalesce({sup}, false))"
                preds[r.uid] = p
            except (TypeError, ValueError, KeyError) as e:
                errors[r.uid] = f"cannot render: {e}"
        res.errors.extend(RuleError(r.uid, errors[r.uid], r.meta.path) for r in rules if r.uid in errors)
        rules = [r for r in rules if r.uid in preds]
        try:
            try:
                self._materialise(proj, rules, res)
            except Exception as e:  # the scan itself failed or timed out: every rule reports it
                res.errors.extend(RuleError(r.uid, _why(e), r.meta.path) for r in rules)
                return res
            self.preds = preds
            self.index = {r.uid: i for i, r in enumerate(rules)}
            if self.has_cand:  # an anchored rule without a candidate event cannot match: skip binding it
                have = set(self.session.sql(f"SELECT DISTINCT __r FROM {self.cand}").column(0).to_pylist())
                rules = [r for r in rules if not r.anchors or self.index[r.uid] in have]
            for i in range(0, len(rules), self.batch):
                self._run_isolating(list(rules[i:i + self.batch]), res)
        finally:
            self.session.sql(f"DROP TABLE IF EXISTS {self.base}")
            self.session.sql(f"DROP TABLE IF EXISTS {self.cand}")
            self.session.sql(f"DROP TABLE IF EXISTS {self.vals}")
        res.seconds = time.monotonic() - t0
        return res

    def _materialise(self, proj: Projection, rules: list[CompiledRule], res: EvalResult) -> None:
        """The one scan of the table: events in scope with every field form (base), their distinct
        combinations of field values (vals, which rules are evaluated on), and the candidate
        (value combination, rule) pairs of the anchored rules, as ids (cand)."""
        slots: dict[tuple[str, str], int] = {}
        a_slot: list[int] = []
        a_key: list[str] = []
        a_rule: list[int] = []
        for i, r in enumerate(rules):
            for fname, kind, value in sorted(r.anchors or ()):
                slot = slots.setdefault((fname, kind), len(slots))
                a_slot.append(slot)
                a_key.append(value)
                a_rule.append(i)
        self.has_cand = False
        keys_sql = []
        for (fname, kind), slot in slots.items():
            low = proj.ref(fname, "low")
            key = low if kind == "eq" else f"regexp_extract({low}, '[^\\\\/]*$')"
            keys_sql.append(f"SELECT rid, {slot} AS slot, {key} AS key FROM {self.vals} WHERE {low} IS NOT NULL")
        cols = base_columns(self.table)
        json_sel = proj.json_select()
        inner = f'SELECT *{", " + json_sel if json_sel else ""} FROM "{self.table.name}" WHERE {self.scope}'
        fcols = proj.aliases()
        select = ", ".join([*(f'"{c}"' for c in cols), *proj.select_list()])
        res.queries += 2
        self._timed(f"CREATE TEMP TABLE {self.base} AS SELECT row_number() OVER () AS rid, {select} FROM ({inner})")
        # Logs repeat themselves (the same command lines, paths, services): rules are evaluated once per
        # distinct combination of the values they read, and the matches fan out to the events.
        group = f", {', '.join(fcols)} FROM {self.base} GROUP BY {', '.join(fcols)}" if fcols else f" FROM {self.base}"
        self._timed(f"CREATE TEMP TABLE {self.vals} AS SELECT min(rid) AS rid, list(rid) AS rids{group}")
        if keys_sql:
            self.session.register("__sigma_anchors", pa.table({
                "slot": pa.array(a_slot, pa.int32()), "key": pa.array(a_key, pa.string()),
                "r": pa.array(a_rule, pa.int32())}))
            res.queries += 1
            self.has_cand = True
            self._timed(
                f"CREATE TEMP TABLE {self.cand} AS WITH anch AS (SELECT DISTINCT slot, lower(key) AS key, r "
                f"FROM __sigma_anchors), keys AS ({' UNION ALL '.join(keys_sql)}), "
                "SELECT DISTINCT anch.r AS __r, keys.rid FROM keys JOIN anch USING (slot, key) ORDER BY 1, 2")

    def _run_isolating(self, rules: list[CompiledRule], res: EvalResult) -> None:
        if not rules:
            return
        try:
            res.queries += 1
            res.matches.append(self._query(rules))
        except Exception as e:  # any engine error is the rules' problem, isolated below
            if len(rules) == 1:
                res.errors.append(RuleError(rules[0].uid, _why(e), rules[0].meta.path))
                return
            half = len(rules) // 2
            self._run_isolating(rules[:half], res)
            self._run_isolating(rules[half:], res)

    def build(self, rules: list[CompiledRule]) -> str:
        """SQL of one batch over the materialised tables. Each predicate appears once (binding a
        predicate costs more than evaluating it over thousands of in-memory events): anchored
        rules as branches of one CASE over their candidate pairs, the others as one list of
        `CASE WHEN p THEN i END` per event."""
        anchored = [(self.index[r.uid], self.preds[r.uid]) for r in rules if r.anchors]
        free = [(self.index[r.uid], self.preds[r.uid]) for r in rules if not r.anchors]
        parts = []
        if anchored:
            case = " ".join(f"WHEN {i} THEN {p}" for i, p in anchored)
            # the pairs hold ids only; the join brings the fields the predicates read, and the CASE
            # (which reads the pair's rule) cannot be pushed below it onto every event
            parts.append(f"SELECT c.__r AS r, c.rid FROM {self.cand} c JOIN {self.vals} USING (rid) "
                         f"WHERE CASE c.__r {case} ELSE false END")
        if free:
            listed = ", ".join(f"CASE WHEN {p} THEN {i} END" for i, p in free)
            parts.append(f"SELECT unnest(l) AS r, rid FROM (SELECT rid, list_filter([{listed}], "
                         f"lambda x: x IS NOT NULL) AS l FROM {self.vals}) WHERE len(l) > 0")
        hits = " UNION ALL ".join(parts)
        return (f"WITH hits AS ({hits}), ev AS (SELECT hits.r, unnest(v.rids) AS rid FROM hits "
                f"JOIN {self.vals} v USING (rid)) SELECT ev.r, {match_select(self.table)} "
                f"FROM ev JOIN {self.base} base USING (rid)")

    def _query(self, rules: list[CompiledRule]) -> pa.Table:
        result = self._timed(self.build(rules))
        uids = pa.array(list(self.index), pa.string())
        rule_col = pc.take(uids, result.column("r").cast(pa.int32())) if len(result) else pa.array([], pa.string())
        return result.drop_columns(["r"]).add_column(0, "rule", rule_col)

    def _timed(self, sql: str) -> pa.Table:
        interrupt = getattr(self.session, "interrupt", None)
        fired = threading.Event()
        done = threading.Event()
        watcher = None
        if interrupt is not None and self.timeout > 0:
            def watch() -> None:
                if done.wait(self.timeout):
                    return
                fired.set()
                # keep interrupting until the query gives up: one sent before it started is lost
                while not done.is_set():
                    interrupt()
                    done.wait(0.05)
            watcher = threading.Thread(target=watch, name="sigma-timeout", daemon=True)
            watcher.start()
        try:
            return self.session.sql(sql)
        except Exception as e:
            if fired.is_set():
                raise TimeoutError(f"query ran longer than {self.timeout:g}s and was interrupted") from e
            raise
        finally:
            done.set()
            if watcher is not None:
                watcher.join()


def _why(e: BaseException) -> str:
    msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return f"run-time error: {msg[:400]}"


def rules_for_table(rules: Sequence[CompiledRule], table: str, channels: set[str]) -> list[CompiledRule]:
    """The rules that apply to `table`, given the (lower-cased) channels it holds."""
    out = []
    for r in rules:
        if r.tables:
            if table in r.tables:
                out.append(r)
        elif r.channels:
            if any(c.lower() in channels for c in r.channels):
                out.append(r)
        else:
            out.append(r)
    return out


def empty_matches() -> pa.Table:
    types = {"time": pa.timestamp("us", tz="UTC"), "record": pa.int64(), "event_code": pa.int32()}
    return pa.table({c: pa.array([], types.get(c, pa.string())) for c in MATCH_COLUMNS})


__all__ = ["MATCH_COLUMNS", "EvalResult", "Evaluator", "empty_matches", "entity_columns", "ir", "rules_for_table"]
