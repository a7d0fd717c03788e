"""Suppressions: known-benign matches an analyst silences, with a reason and an expiry.

File format (YAML; docs/detections.md):

```yaml
suppressions:
  - rule: 5f1e9d3a-...          # rule id, a list of ids, or "*" for every rule
    where:                      # a Sigma detection map: field|modifiers: value(s), all must hold
      host: backup01            # schema columns (host, source, channel, ...) by name
      CommandLine|contains: veeam
    reason: Backup agent, change 4711      # required
    expires: 2026-12-31         # optional (date or ISO time, UTC)
    author: j.doe               # optional
```

`aptwatch rules suppress FILE` stores them in the store's `suppressions` table (scope `rule`).
They are applied in the store: each rule's SQL gets `AND NOT (<conditions>)`, compiled by the
same backend as the rules, so a suppressed event never becomes a match. Suppressions are part
of a rule's version: adding, changing or expiring one re-evaluates that rule over stored events.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import orjson
import yaml
from sigma.exceptions import SigmaError
from sigma.rule import SigmaRule

from aptwatch.detect.sigma import ir
from aptwatch.detect.sigma.backend import AptwatchBackend
from aptwatch.errors import RuleError
from aptwatch.model.schema import COMMON_NAMES


@dataclass(frozen=True)
class Suppression:
    id: str
    rules: tuple[str, ...]
    where: Mapping[str, Any]
    reason: str
    expires: datetime | None = None
    author: str | None = None

    def applies_to(self, uid: str) -> bool:
        return "*" in self.rules or uid in self.rules

    def active(self, now: datetime) -> bool:
        return self.expires is None or self.expires > now


def _when(v: Any, where: str) -> datetime | None:
    if v is None or v == "":
        return None
    if isinstance(v, datetime):
        return v if v.tzinfo else v.replace(tzinfo=UTC)
    if isinstance(v, date):
        return datetime.combine(v, time.max, UTC)  # a date means "through that day"
    try:
        t = datetime.fromisoformat(str(v).replace("Z", "+00:00"))
    except ValueError:
        raise RuleError(f"suppression expiry {v!r} is not a date or ISO time", location=where) from None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _columns_by_name(where: Mapping[str, Any]) -> dict[str, Any]:
    """Schema common columns (host, channel, ...) are named directly: host -> @host."""
    out: dict[str, Any] = {}
    for key, value in where.items():
        name, sep, mods = str(key).partition("|")
        if name in COMMON_NAMES:
            name = "@" + name
        out[name + sep + mods] = value
    return out


def parse(data: Any, where: str) -> list[Suppression]:
    """Suppressions from parsed YAML; a malformed entry is a RuleError naming it."""
    items = data.get("suppressions") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise RuleError("expected a list under 'suppressions:'", location=where)
    out: list[Suppression] = []
    for i, item in enumerate(items, 1):
        loc = f"{where}: suppression {i}"
        if not isinstance(item, dict):
            raise RuleError("each suppression must be a map", location=loc)
        rules = item.get("rule", item.get("rules"))
        rules_t = tuple(str(r) for r in (rules if isinstance(rules, list) else [rules])) if rules else ()
        reason = str(item.get("reason") or "").strip()
        cond = item.get("where") or {}
        if not rules_t:
            raise RuleError("'rule' is required (a rule id, a list, or '*')", location=loc)
        if not reason:
            raise RuleError("'reason' is required", location=loc)
        if not isinstance(cond, dict):
            raise RuleError("'where' must be a map of field: value", location=loc)
        if rules_t == ("*",) and not cond:
            raise RuleError("a suppression of every rule needs 'where' conditions", location=loc)
        expires = _when(item.get("expires"), loc)
        sid = "s-" + hashlib.sha256(orjson.dumps([rules_t, cond, reason], default=str,
                                                 option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]
        sup = Suppression(sid, rules_t, cond, reason, expires, item.get("author"))
        condition_node(sup)  # fail early on a bad condition
        out.append(sup)
    return out


def load_file(path: Path) -> list[Suppression]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as e:
        raise RuleError(f"cannot read suppression file: {e}", location=str(path)) from None
    return parse(data, str(path))


def condition_node(sup: Suppression) -> ir.Node:
    """The suppression's conditions as a condition tree (TRUE when it has none: the whole rule)."""
    if not sup.where:
        return ir.TRUE
    rule = {"title": f"suppression {sup.id}", "logsource": {"product": "any"},
            "detection": {"sel": _columns_by_name(sup.where), "condition": "sel"}}
    try:
        parsed = SigmaRule.from_dict(rule)
        node, _ = AptwatchBackend().to_ir(parsed)
    except (SigmaError, ValueError, TypeError, KeyError) as e:
        raise RuleError(f"suppression {sup.id}: bad 'where': {e}") from None
    return node


def suppression_node(sups: Sequence[Suppression], uid: str) -> ir.Node | None:
    """OR of the conditions of the suppressions that apply to a rule, or None."""
    nodes = [condition_node(s) for s in sups if s.applies_to(uid)]
    return ir.or_(nodes) if nodes else None


def to_rows(sups: Sequence[Suppression], now: datetime) -> list[tuple[Any, ...]]:
    """Rows for the `suppressions` state table (scope 'rule')."""
    return [(s.id, "rule", ",".join(s.rules), orjson.dumps(s.where, default=str).decode(), s.reason, s.author, now,
             s.expires) for s in sups]


def from_rows(rows: Sequence[Mapping[str, Any]]) -> list[Suppression]:
    out = []
    for r in rows:
        where = orjson.loads(r["conditions"]) if r.get("conditions") else {}
        exp = r.get("expires_at")
        out.append(Suppression(r["id"], tuple((r["target"] or "*").split(",")), where, r["reason"] or "",
                               exp.astimezone(UTC) if exp else None, r.get("author")))
    return out
