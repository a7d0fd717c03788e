"""Load Sigma rules: folders in the SigmaHQ layout, single files, the project's own rules.

Every file is read on its own, so one bad file (YAML error, unknown modifier, a regex RE2
cannot compile) is a `RuleProblem` with its path and reason and the others load. Rule
files are YAML documents: detection rules, Sigma v2 correlation rules and filters (global
filters apply to the rules they name after everything is loaded), and `action: global`
collections. Folders are searched recursively for `*.yml` / `*.yaml`; SigmaHQ's
`deprecated/` and `unsupported/` folders are skipped (their rules are not meant to run).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError, SigmaRuleLocation
from sigma.filters import SigmaFilter
from sigma.rule import SigmaRule

#: folder names of SigmaHQ's repository that hold rules not meant to run
SKIP_DIRS = frozenset({"deprecated", "unsupported", ".git", "tests", "regression_data"})
#: the project's own rules (written where SigmaHQ has none), shipped in the package
BUILTIN_RULES = Path(__file__).resolve().parents[2] / "rules"

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

#: the comparison keys of a Sigma correlation condition
CONDITION_OPS = ("gt", "gte", "lt", "lte", "eq", "neq")
#: custom attribute holding a correlation's whole condition when it is a range (more than one comparison)
RANGE_ATTRIBUTE = "x-aptwatch-condition-range"


@dataclass(frozen=True)
class RuleProblem:
    """A rule (or file) that cannot be used, with where and why. Nothing is dropped silently."""

    path: str
    reason: str
    rule_id: str | None = None
    title: str | None = None
    stage: str = "parse"

    @property
    def name(self) -> str:
        return self.rule_id or self.title or self.path


@dataclass
class LoadedRules:
    rules: list[SigmaRule] = field(default_factory=list)
    correlations: list[SigmaCorrelationRule] = field(default_factory=list)
    filters: list[SigmaFilter] = field(default_factory=list)
    problems: list[RuleProblem] = field(default_factory=list)
    files: int = 0


def rule_files(paths: Iterable[Path]) -> list[Path]:
    """The rule files under `paths` (files as given, folders recursively), sorted, de-duplicated."""
    out: dict[Path, None] = {}
    for p in paths:
        if p.is_dir():
            found = [f for f in p.rglob("*") if f.suffix.lower() in (".yml", ".yaml") and f.is_file()
                     and not (SKIP_DIRS & set(f.relative_to(p).parts[:-1]))]
            for f in sorted(found):
                out.setdefault(f, None)
        else:
            out.setdefault(p, None)
    return list(out)


def _describe(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return text[:500]


def _ident(rule: SigmaRule | SigmaCorrelationRule | SigmaFilter) -> tuple[str | None, str | None]:
    return (str(rule.id) if rule.id else None), (rule.title or None)


def load_rules(paths: Sequence[Path]) -> LoadedRules:
    """Read every rule file under `paths`; problems are collected, never raised."""
    out = LoadedRules()
    collected: list[SigmaRule | SigmaCorrelationRule | SigmaFilter] = []
    for path in rule_files(paths):
        out.files += 1
        where = str(path)
        try:
            docs = list(yaml.load_all(path.read_bytes(), Loader=_Loader))
        except (OSError, yaml.YAMLError, UnicodeDecodeError) as e:
            out.problems.append(RuleProblem(where, f"cannot read YAML: {_describe(e)}"))
            continue
        if not any(isinstance(d, dict) for d in docs):
            out.problems.append(RuleProblem(where, "no Sigma rule in this file"))
            continue
        _hold_ranges(docs)
        try:
            coll = SigmaCollection.from_dicts([d for d in docs if d is not None], collect_errors=True,
                                              source=SigmaRuleLocation(path), collect_filters=True,
                                              resolve_references=False)
        except (SigmaError, ValueError, TypeError, KeyError, AttributeError) as e:
            out.problems.append(RuleProblem(where, _describe(e)))
            continue
        attached = {id(e) for r in [*coll.rules, *coll.filters] for e in r.errors}
        for err in coll.errors:  # errors of the file itself (rule errors are reported with their rule)
            if id(err) not in attached:
                out.problems.append(RuleProblem(where, _describe(err)))
        for r in [*coll.rules, *coll.filters]:
            if r.errors:
                rid, title = _ident(r)
                out.problems.append(RuleProblem(where, "; ".join(_describe(e) for e in r.errors[:3]), rid, title))
                continue
            collected.append(r)
    _assemble(collected, out)
    return out


def _hold_ranges(docs: list[object]) -> None:
    """Range conditions (`condition: {gt: 100, lte: 200}`, the specification's "conjunction AND in the
    mapping") are valid Sigma that pySigma 2.0 rejects ("exactly one condition item"): pySigma is handed the
    first comparison and the whole mapping is kept as a custom attribute of the rule, which the compiler
    reads (`compiler._bounds`)."""
    for d in docs:
        corr = d.get("correlation") if isinstance(d, dict) else None
        cond = corr.get("condition") if isinstance(corr, dict) else None
        if not isinstance(cond, dict):
            continue
        ops = [k for k in CONDITION_OPS if k in cond]
        if len(ops) < 2:
            continue
        assert isinstance(d, dict) and isinstance(corr, dict)
        d[RANGE_ATTRIBUTE] = {k: cond[k] for k in ops}
        corr["condition"] = {k: v for k, v in cond.items() if k not in ops[1:]}


def _assemble(items: list[SigmaRule | SigmaCorrelationRule | SigmaFilter], out: LoadedRules) -> None:
    """Apply filters and resolve correlation references, one rule at a time."""
    rules = [r for r in items if isinstance(r, SigmaRule)]
    correlations = [r for r in items if isinstance(r, SigmaCorrelationRule)]
    out.filters = [r for r in items if isinstance(r, SigmaFilter)]
    for f in out.filters:
        for i, r in enumerate(rules):
            try:
                rules[i] = f.apply_on_rule(r)  # type: ignore[assignment]
            except (SigmaError, ValueError, KeyError) as e:
                rid, title = _ident(r)
                out.problems.append(RuleProblem(_path(r), f"filter {f.title!r} cannot apply: {_describe(e)}",
                                                rid, title))
    coll = SigmaCollection(init_rules=[*rules, *correlations], resolve_references=False)
    good: list[SigmaCorrelationRule] = []
    for c in correlations:
        try:
            c.resolve_rule_references(coll)
            good.append(c)
        except (SigmaError, ValueError, KeyError) as e:
            rid, title = _ident(c)
            out.problems.append(RuleProblem(_path(c), f"correlation: {_describe(e)}", rid, title))
    out.rules = rules
    out.correlations = good


def _path(rule: SigmaRule | SigmaCorrelationRule | SigmaFilter) -> str:
    return str(rule.source.path) if rule.source is not None else "<memory>"
