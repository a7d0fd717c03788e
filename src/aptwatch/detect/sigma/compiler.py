"""Loaded Sigma rules -> `CompiledRule`s (condition tree, routing, anchors, metadata) or problems.

Compilation is per rule: a rule that cannot be routed or converted becomes a `RuleProblem`
with its reason, and the others compile. `validate` additionally binds each rule's SQL in
DuckDB over empty tables of the schema, which is where a regular expression RE2 cannot
compile (back-references, look-arounds) or any other SQL problem shows up.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
from sigma.correlations import SigmaCorrelationRule, SigmaCorrelationType
from sigma.exceptions import SigmaError
from sigma.rule import SigmaRule

from aptwatch.detect.sigma import ir
from aptwatch.detect.sigma.backend import AptwatchBackend
from aptwatch.detect.sigma.loader import RANGE_ATTRIBUTE, LoadedRules, RuleProblem
from aptwatch.detect.sigma.pipeline import build_pipeline, product_scope, route_error, routing
from aptwatch.detect.sigma.sql import Projection, render
from aptwatch.model.finding import Severity
from aptwatch.model.killchain import tactic_id
from aptwatch.model.schema import EVENT_TABLES, EVENTS, empty_select

#: bump when compiled output changes meaning (invalidates the retro-hunt state of every rule)
COMPILER_VERSION = "2"
_TECHNIQUE = re.compile(r"^t\d{4}(\.\d{3})?$", re.IGNORECASE)


@dataclass(frozen=True)
class RuleMeta:
    """What a finding says about its rule."""

    uid: str
    title: str
    level: Severity
    path: str
    name: str | None = None
    status: str | None = None
    tags: tuple[str, ...] = ()
    tactics: tuple[str, ...] = ()
    techniques: tuple[str, ...] = ()
    description: str = ""
    author: str = ""
    falsepositives: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    logsource: tuple[str | None, str | None, str | None] = (None, None, None)


@dataclass(frozen=True)
class CompiledRule:
    meta: RuleMeta
    node: ir.Node
    #: tables fixed by the log source ((): decided from the store's channels, or every table)
    tables: tuple[str, ...]
    #: channels the rule reads (service rules); () for category rules
    channels: tuple[str, ...]
    anchors: frozenset[ir.Anchor] | None
    fields: tuple[str, ...]
    hash: str
    #: False when the rule only feeds correlation rules (`generate: false`)
    output: bool = True

    @property
    def uid(self) -> str:
        return self.meta.uid


@dataclass(frozen=True)
class CompiledCorrelation:
    meta: RuleMeta
    type: str
    rules: tuple[str, ...]
    group_by: tuple[str, ...]
    timespan: int
    #: alias -> {rule uid: field}
    aliases: Mapping[str, Mapping[str, str]]
    op: str | None
    count: float | None
    value_field: str | None
    hash: str
    #: False when the correlation only feeds another correlation (chained, `generate: false`)
    output: bool = True
    #: the referenced rules that are correlations themselves (chained correlations)
    chained: tuple[str, ...] = ()
    #: every comparison of the condition, all of which must hold ((op, count): a range has two); () -> (op, count)
    bounds: tuple[tuple[str, float], ...] = ()

    @property
    def comparisons(self) -> tuple[tuple[str, float], ...]:
        """The condition's comparisons (SQL operator, number), ANDed."""
        if self.bounds:
            return self.bounds
        return ((self.op, float(self.count if self.count is not None else 1)),) if self.op else ()


@dataclass
class CompiledSet:
    rules: list[CompiledRule] = field(default_factory=list)
    correlations: list[CompiledCorrelation] = field(default_factory=list)
    problems: list[RuleProblem] = field(default_factory=list)
    files: int = 0

    def by_uid(self) -> dict[str, CompiledRule]:
        return {r.uid: r for r in self.rules}


def _tags(tags: Iterable[Any]) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    names = tuple(str(t) for t in tags)
    tactics: list[str] = []
    techniques: list[str] = []
    for t in names:
        ns, _, name = t.partition(".")
        if ns.lower() != "attack":
            continue
        if _TECHNIQUE.match(name):
            techniques.append(name.upper())
        elif (tid := tactic_id(name)) is not None:
            tactics.append(tid)
    return names, tuple(dict.fromkeys(tactics)), tuple(dict.fromkeys(techniques))


def _uid(rule: SigmaRule | SigmaCorrelationRule) -> str:
    if rule.id:
        return str(rule.id)
    basis = f"{rule.title}|{rule.source.path if rule.source else ''}"
    return "t-" + hashlib.sha256(basis.encode()).hexdigest()[:16]


def meta_of(rule: SigmaRule | SigmaCorrelationRule) -> RuleMeta:
    tags, tactics, techniques = _tags(rule.tags)
    ls = getattr(rule, "logsource", None)
    return RuleMeta(
        uid=_uid(rule), title=rule.title or "(untitled)",
        level=Severity.parse(rule.level.name if rule.level else None),
        path=str(rule.source.path) if rule.source else "<memory>", name=rule.name,
        status=rule.status.name.lower() if rule.status else None, tags=tags, tactics=tactics,
        techniques=techniques, description=(rule.description or "").strip(), author=rule.author or "",
        falsepositives=tuple(str(f) for f in rule.falsepositives or ()),
        references=tuple(str(r) for r in rule.references or ()),
        logsource=(ls.category, ls.product, ls.service) if ls is not None else (None, None, None),
    )


def _hash(*parts: Any) -> str:
    h = hashlib.sha256(COMPILER_VERSION.encode())
    for p in parts:
        h.update(b"\x1f")
        h.update(repr(p).encode("utf-8", "surrogatepass"))
    return h.hexdigest()[:24]


def compile_rules(loaded: LoadedRules, placeholders: Mapping[str, Sequence[str]] | None = None) -> CompiledSet:
    """Compile every loaded rule; each failure becomes a problem with its reason."""
    out = CompiledSet(problems=list(loaded.problems), files=loaded.files)
    backend = AptwatchBackend(processing_pipeline=build_pipeline(placeholders))
    for rule in loaded.rules:
        meta = meta_of(rule)
        cat, product, service = meta.logsource
        why = route_error(cat, product, service)
        if why is not None:
            out.problems.append(RuleProblem(meta.path, why, meta.uid, meta.title, "route"))
            continue
        try:
            node, state = backend.to_ir(rule)
        except (SigmaError, ValueError, TypeError, KeyError, NotImplementedError) as e:
            out.problems.append(RuleProblem(meta.path, str(e).strip().splitlines()[0][:500] or type(e).__name__,
                                            meta.uid, meta.title, "convert"))
            continue
        tables, channels = routing(state)
        out.rules.append(CompiledRule(
            meta=meta, node=node, tables=tables, channels=channels, anchors=ir.anchors(node),
            fields=tuple(ir.fields(node)), output=rule._output,
            # the product scope is part of the version: a store evaluated under another scope (before the
            # scoping, or before a source's declared product changed) drops those matches and re-evaluates
            hash=_hash(node, tables, channels, meta, product_scope(product))))
    compiled_uids = {r.uid for r in out.rules}
    by_ref = {id(r): _uid(r) for r in loaded.rules} | {id(c): _uid(c) for c in loaded.correlations}
    pending = list(loaded.correlations)
    # Chained correlations (a correlation over correlations, Sigma v2): compiled in dependency order, so
    # each correlation's referenced correlations come before it in `out.correlations` (evaluation order).
    while pending:
        progress = False
        for c in list(pending):
            comp = _correlation(c, by_ref, compiled_uids, {x.meta.uid for x in out.correlations})
            if comp is None:
                continue  # waits for a correlation it references
            pending.remove(c)
            progress = True
            if isinstance(comp, RuleProblem):
                out.problems.append(comp)
            else:
                out.correlations.append(comp)
        if not progress:  # what is left references itself in a cycle, or a correlation that failed
            for c in pending:
                m = meta_of(c)
                out.problems.append(RuleProblem(m.path, "correlation references a correlation that did not compile "
                                                "(or a cycle of correlations)", m.uid, m.title, "convert"))
            break
    return out


def _correlation(c: SigmaCorrelationRule, by_ref: Mapping[int, str], rule_uids: set[str],
                 done: set[str]) -> CompiledCorrelation | RuleProblem | None:
    """The compiled correlation, its problem, or None while a correlation it references is still pending."""
    meta = meta_of(c)
    supported = {SigmaCorrelationType.EVENT_COUNT, SigmaCorrelationType.VALUE_COUNT, SigmaCorrelationType.TEMPORAL,
                 SigmaCorrelationType.TEMPORAL_ORDERED, SigmaCorrelationType.VALUE_SUM,
                 SigmaCorrelationType.VALUE_AVG, SigmaCorrelationType.VALUE_MEDIAN}
    if c.type not in supported:
        return RuleProblem(meta.path, f"correlation type {c.type.name.lower()} is not supported", meta.uid,
                           meta.title, "convert")
    from sigma.correlations import SigmaCorrelationCondition

    cond = c.condition
    if not isinstance(cond, SigmaCorrelationCondition) and c.type not in (
            SigmaCorrelationType.TEMPORAL, SigmaCorrelationType.TEMPORAL_ORDERED):
        return RuleProblem(meta.path, "extended correlation conditions are not supported", meta.uid, meta.title,
                           "convert")
    if not isinstance(cond, SigmaCorrelationCondition):
        return RuleProblem(meta.path, "extended temporal conditions are not supported", meta.uid, meta.title,
                           "convert")
    refs: list[str] = []
    chained: list[str] = []
    ref_uid: dict[str, str] = {}
    for ref in c.rules or ():
        target = getattr(ref, "rule", None)
        uid = by_ref.get(id(target)) if target is not None else None
        if isinstance(target, SigmaCorrelationRule) and uid is not None:
            if uid not in done:
                return None
            chained.append(uid)
        elif not isinstance(target, SigmaRule) or uid not in rule_uids:
            return RuleProblem(meta.path, f"correlation references {ref.reference!r}, which is not a rule that "
                               "compiled", meta.uid, meta.title, "convert")
        assert uid is not None
        refs.append(uid)
        ref_uid[ref.reference] = uid
    aliases: dict[str, dict[str, str]] = {}
    for alias in c.aliases:  # keys name rules the way the correlation's `rules:` list does
        aliases[alias.alias] = {ref_uid.get(r.reference, r.reference): f for r, f in alias.mapping.items()}
    value_field = cond.fieldref if isinstance(cond.fieldref, str) else (
        cond.fieldref[0] if cond.fieldref else None)
    op = _SQL_OPS.get(cond.op.name.lower())
    bounds = _bounds(c)
    if isinstance(bounds, str):
        return RuleProblem(meta.path, bounds, meta.uid, meta.title, "convert")
    return CompiledCorrelation(
        meta=meta, type=c.type.name.lower(), rules=tuple(refs), group_by=tuple(c.group_by or ()),
        timespan=int(c.timespan.seconds), aliases=aliases, op=op, count=float(cond.count),
        value_field=value_field,
        hash=_hash(c.type, refs, c.group_by, c.timespan.seconds, aliases, op, cond.count, value_field, meta,
                   *((bounds,) if bounds else ())),
        output=bool(getattr(c, "_output", True)), chained=tuple(chained), bounds=bounds)


#: Sigma correlation condition keys -> SQL comparison
_SQL_OPS = {"lt": "<", "lte": "<=", "gt": ">", "gte": ">=", "eq": "=", "neq": "<>"}


def _bounds(c: SigmaCorrelationRule) -> tuple[tuple[str, float], ...] | str:
    """The comparisons of a range condition (the loader kept the mapping pySigma cannot hold), () for a
    single comparison, or why the range is unusable (a count that is no number, a range no count can meet)."""
    raw = (c.custom_attributes or {}).get(RANGE_ATTRIBUTE)
    if not isinstance(raw, dict):
        return ()
    out: list[tuple[str, float]] = []
    for key, value in raw.items():
        if key not in _SQL_OPS or isinstance(value, bool) or not isinstance(value, int | float) \
                or not math.isfinite(value):
            return f"correlation condition {key}: {value!r} is no number"
        out.append((_SQL_OPS[key], float(value)))
    lo = max(((n, op == ">") for op, n in out if op in (">", ">=", "=")), default=None)
    hi = min(((n, op == "<") for op, n in out if op in ("<", "<=", "=")), default=None)
    if lo is not None and hi is not None and (lo[0] > hi[0] or (lo[0] == hi[0] and (lo[1] or hi[1]))):
        return f"correlation condition {raw} can never hold (an empty range)"
    return tuple(out)


def validation_tables(rule: CompiledRule) -> list[str]:
    """Tables a rule is checked against: its own, or `generic` (every field in `data`) plus the
    tables known to hold its channel's events when routing is by channel."""
    return list(rule.tables) or ["generic"]


def validate(compiled: CompiledSet) -> None:
    """Bind every rule's SQL in DuckDB over empty tables; failures move from rules to problems."""
    con = duckdb.connect()
    try:
        for t in EVENT_TABLES:
            con.execute(f'CREATE VIEW "{t.name}" AS {empty_select(t)}')
        keep: list[CompiledRule] = []
        for r in compiled.rules:
            why = check_rule_sql(con, r)
            if why is None:
                keep.append(r)
            else:
                compiled.problems.append(RuleProblem(r.meta.path, why, r.uid, r.meta.title, "validate"))
        compiled.rules = keep
    finally:
        con.close()


def check_rule_sql(con: duckdb.DuckDBPyConnection, rule: CompiledRule) -> str | None:
    for name in validation_tables(rule):
        proj = Projection(EVENTS[name], inline=True)
        try:
            cond = render(rule.node, proj)
            con.execute(f'SELECT count(*) FROM "{name}" WHERE coalesce({cond}, false)').fetchall()
        except duckdb.Error as e:
            msg = str(e).strip().splitlines()[0]
            if "regular expression" in msg.lower() or ("invalid" in msg.lower() and "regex" in repr(rule.node)):
                return f"regular expression not supported by RE2: {msg[:300]}"
            return f"SQL does not bind: {msg[:300]}"
        except (TypeError, ValueError, KeyError) as e:
            return f"cannot render: {e}"
    return None
