"""Analyst feedback: mark a campaign, a finding or a rule benign, with a reason.

A suppression is a row in the `suppressions` state table; every later correlation run honours
it, and the campaigns it touches are re-scored at once:

- **finding** (`aptwatch suppress f-...`): the finding contributes nothing to its campaign's
  score; if it arrives later it joins no campaign.
- **rule** (`aptwatch suppress --rule RULE [--host HOST]`): the same for every finding of the
  rule (on that host), past and future, until `--expires`.
- **campaign** (`aptwatch suppress c-...`): the campaign's current findings stop counting and the
  campaign's status becomes `benign`. Findings that join it *later* still count: if they lift it
  over the threshold again, it is re-opened and detected anew (an analyst's "benign" covers what
  they saw, not what the attacker does next).

Removing a suppression (`aptwatch unsuppress ID`) restores the findings' weight and re-scores.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb

from aptwatch.correlate.campaigns import publish
from aptwatch.correlate.settings import CorrelateSettings
from aptwatch.errors import InputError
from aptwatch.store import Store
from aptwatch.store import correlation as cs


@dataclass(frozen=True)
class FeedbackResult:
    suppression: cs.Suppression
    findings: int
    campaigns: list[str]


def _sid(scope: str, target: str, conditions: str) -> str:
    return "s-" + hashlib.sha256(f"{scope}\x1f{target}\x1f{conditions}".encode()).hexdigest()[:12]


def suppress(store: Store, *, target: str | None = None, rule: str | None = None, host: str | None = None,
             reason: str, author: str | None = None, expires: datetime | None = None, wait: float = 0.0,
             settings: CorrelateSettings | None = None) -> FeedbackResult:
    """Record a suppression and apply it to what is already correlated."""
    if not reason or not reason.strip():
        raise InputError("a reason is required (--reason)")
    if (target is None) == (rule is None):
        raise InputError("give either a campaign / finding id or --rule")
    if host and rule is None:
        raise InputError("--host only applies with --rule")
    s = settings or CorrelateSettings()
    now = datetime.now(UTC)
    with store.writer("suppress", wait=wait), cs.connect(store, read_only=False) as con:
        conditions: dict[str, object] = {}
        if rule is not None:
            scope, tgt = "rule", rule
            if host:
                conditions["host"] = host.lower()
        else:
            assert target is not None
            tgt = target.strip()
            if tgt.startswith("c-"):
                scope = "campaign"
                tgt = cs.resolve_campaign(con, tgt)
                found = con.execute("SELECT findings FROM campaigns WHERE id = ?", [tgt]).fetchall()
                row = found[0] if found else None
                members = [r[0] for r in con.execute(
                    "SELECT finding_id FROM campaign_members WHERE campaign_id = ? AND disposition = 'member'",
                    [tgt]).fetchall()]
                if row is None and not members:
                    raise InputError(f"no campaign {target!r} in this store")
                conditions["findings"] = members or list(row[0] if row else [])
            else:
                scope = "finding"
                if not con.execute("SELECT 1 FROM findings WHERE id = ?", [tgt]).fetchall():
                    raise InputError(f"no finding {target!r} in this store (campaign ids start with 'c-')")
        sup = cs.Suppression(_sid(scope, tgt, str(sorted(conditions.items()))), scope, tgt, conditions,
                             reason.strip(), author, now, expires)
        con.execute("BEGIN")
        cs.add_suppression(con, sup)
        fids = cs.members_matching(con, sup)
        affected = cs.mark_members(con, fids, True)
        _rescore(con, affected, s)
        con.execute("COMMIT")
    return FeedbackResult(sup, len(fids), affected)


def unsuppress(store: Store, sid: str, *, wait: float = 0.0, settings: CorrelateSettings | None = None
               ) -> FeedbackResult:
    """Remove a suppression; its findings count again unless another suppression still covers them."""
    s = settings or CorrelateSettings()
    with store.writer("unsuppress", wait=wait), cs.connect(store, read_only=False) as con:
        con.execute("BEGIN")
        sup = cs.remove_suppression(con, sid)
        if sup is None:
            con.execute("ROLLBACK")
            raise InputError(f"no suppression {sid!r} (see `aptwatch suppressions`)")
        fids = cs.members_matching(con, sup)
        still = set()
        for other in cs.suppressions(con):
            still.update(cs.members_matching(con, other))
        restore = [f for f in fids if f not in still]
        affected = cs.mark_members(con, restore, False)
        _rescore(con, affected, s)
        con.execute("COMMIT")
    return FeedbackResult(sup, len(restore), affected)


def _rescore(con: duckdb.DuckDBPyConnection, campaigns: list[str], s: CorrelateSettings) -> None:
    if not campaigns:
        return
    # the evidence changed: when the campaign crossed the threshold is recomputed from what counts now
    cs.reset_detection(con, campaigns)
    publish(con, campaigns, s, {}, cs.suppressions(con))
