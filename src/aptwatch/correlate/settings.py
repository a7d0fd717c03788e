"""Every number correlation uses, in one place, with the reason for its value.

None of these values was fitted to a data set: they follow from the reasoning written next to
each (docs/campaigns.md discusses them and shows, for the AIT-ADS check, how results move when
the time constants change). Tests and benchmarks pass other values through `CorrelateSettings`;
the CLI always uses the defaults so that results are comparable between stores.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from aptwatch.model.killchain import Stage

#: evidence weight of a finding by severity (before rule novelty)
SEVERITY_WEIGHT: dict[str, float] = {
    "informational": 0.1, "low": 0.25, "medium": 0.5, "high": 0.75, "critical": 1.0,
}

#: value of a kill-chain stage in the campaign score. Later stages are worth more: a campaign that
#: reaches lateral movement or exfiltration has progressed further than one that only shows
#: reconnaissance. Evasion and impact (maintain_presence) accompany every step and say little about
#: progression; findings without a tactic ("unstaged", e.g. anomaly alerts) count as evidence, not as
#: progression.
STAGE_VALUE: dict[str, float] = {
    Stage.RECONNAISSANCE.value: 0.5,
    Stage.INITIAL_COMPROMISE.value: 1.0,
    Stage.ESTABLISH_FOOTHOLD.value: 1.0,
    Stage.ESCALATE_PRIVILEGES.value: 1.0,
    Stage.INTERNAL_RECON.value: 0.75,
    Stage.LATERAL_MOVEMENT.value: 1.25,
    Stage.DATA_EXFILTRATION.value: 1.25,
    Stage.MAINTAIN_PRESENCE.value: 0.5,
}
UNSTAGED = "unstaged"
UNSTAGED_VALUE = 0.5

#: user names that identify a service identity, never a person: they appear on every Windows or
#: Linux machine and would glue unrelated findings together.
WELL_KNOWN_USERS = frozenset({
    "system", "local system", "localsystem", "local service", "localservice", "network service",
    "networkservice", "anonymous logon", "anonymous", "-", "n/a", "null", "none", "unknown", "nobody",
    "root", "daemon", "www-data", "trustedinstaller", "defaultaccount", "wdagutilityaccount",
})
#: user name prefixes of per-session service identities (Windows Desktop Window Manager, font driver)
WELL_KNOWN_USER_PREFIXES = ("dwm-", "umfd-", "font driver host\\", "window manager\\", "nt service\\",
                            "nt authority\\", "iis apppool\\")

#: parent images whose children are unrelated to each other: being a sibling under one of these says
#: nothing (every service is a child of services.exe, every user program a child of explorer.exe).
SYSTEM_PARENTS = frozenset({
    "services.exe", "svchost.exe", "explorer.exe", "wininit.exe", "winlogon.exe", "smss.exe", "csrss.exe",
    "lsass.exe", "wmiprvse.exe", "taskhostw.exe", "taskeng.exe", "userinit.exe", "system", "runtimebroker.exe",
    "systemd", "init", "sshd", "cron", "crond", "containerd-shim", "dockerd", "launchd",
})
#: logon session ids shared by every process of the machine identity (SYSTEM, LOCAL/NETWORK SERVICE)
SYSTEM_LOGON_IDS = frozenset({"0x3e7", "0x3e4", "0x3e5", "999", "996", "997", "0x0", "0"})


@dataclass(frozen=True)
class CorrelateSettings:
    """Correlation parameters (defaults documented in docs/campaigns.md)."""

    #: how far back a shared artifact links findings: a year, so a March foothold and the following
    #: spring's exfiltration meet.
    horizon: timedelta = timedelta(days=365)
    #: a finding joins a campaign when the noisy-OR of its links to that campaign reaches this value:
    #: one strong link (a shared rare artifact, the same process) or two weak ones (proximity on a host
    #: plus a moderately common user) are enough; one weak link is not.
    join_threshold: float = 0.5
    #: a finding that reaches several campaigns joins the strongest; it merges another into it only when its
    #: link to that one weighs as much as `merge_links` independent links at the join threshold
    #: (1 - (1 - 0.5)^2 = 0.75). A join claims one finding; a merge claims that every member of one campaign
    #: belongs with every member of the other, through that single finding, so it needs more than one weak
    #: link: an SSH login four hours after an intrusion, tied to it by one recurring login anomaly (0.55),
    #: or a finding on a domain controller tied to an administrator's campaign by an edge every admin
    #: leaves there (0.53), must not fuse two campaigns. Strong links (the same process, a rare artifact,
    #: the kill chain progressing on a host, close proximity) merge as before.
    merge_links: int = 2
    #: `recurrence` weighs the chance that *one of* the campaign's signals on the host recurs by coincidence
    #: (the summed rates of its distinct rules there, at most the host's rate), not the chance for the one
    #: rule that did: recurrence is tested for every signal the campaign left on the host, and an unrelated
    #: login raising nine anomalies offers nine chances. False: the rule's own rate (the first version, kept
    #: for comparison in tests and benchmarks).
    recurrence_family: bool = True
    #: routine remote administration (admin.py): a finding whose actor (source address, account) the `lateral`
    #: baseline knows as a routine administrator at the finding's time — administration acted on >= admin_days
    #: earlier days, at >= admin_destinations destinations, first seen >= admin_age before, and no burst beyond
    #: admin_burst x its busiest day — is routine here: no campaign of its own, no proximity, its account,
    #: source address and edges no keys. The values are `lateral`'s defaults (detect/analytics/routine.py):
    #: correlation treats as routine exactly what that detector stops reporting, for every detector's findings.
    admin_routine: bool = True
    admin_days: int = 3
    admin_destinations: int = 3
    admin_age: timedelta = timedelta(days=7)
    admin_burst: float = 2.0
    #: same-host proximity. `rate` is how often the host shows unusual activity: distinct hours with
    #: non-routine findings per hour watched (counted in hours, not campaigns, so it does not depend on
    #: the joins it weighs), smoothed towards the estate's average rate with the weight of
    #: `host_prior_hours` of observation (a host we know nothing about behaves like the average host;
    #: with no history at all it is `host_prior_rate`: one unusual hour a day; the estate average is itself
    #: smoothed towards that with the same weight, because a host's first finding always makes its own
    #: hour "unusual" and early estimates run high). The chance that unrelated
    #: unusual activity falls in a gap g is 1 - exp(-rate * g); proximity alone joins only when that
    #: chance is at most `host_coincidence` (10 %): weight = exp(-k * rate * g) with
    #: k = ln 2 / -ln(1 - host_coincidence), so weight >= 0.5 exactly then (capped at host_weight). On a
    #: server with one unusual hour a week two findings a day apart join; on a host with one every six
    #: hours, 40 minutes apart; on one with unusual activity every hour, 6 minutes apart.
    host_coincidence: float = 0.1
    host_prior_rate: float = 1.0 / 24.0
    host_prior_hours: float = 24.0
    host_weight: float = 0.95
    #: proximity is never looked up further than this
    host_max_window: timedelta = timedelta(days=7)
    #: a connection or logon from host A (an internal address in a finding on B, or a network logon on
    #: B from A's address) links B's finding to campaigns active on A within this window, with weight
    #: edge_weight * rarity(address), carried to the other end only as far as that host's own unusual activity
    #: leaves what follows unexplained: x exp(-rate x gap) (linker.arrival), the gap widened by spans beyond
    #: an hour as for proximity.
    edge_window: timedelta = timedelta(hours=24)
    edge_weight: float = 0.8
    #: progression (a later kill-chain stage on a host after an earlier one there) is weighed by how often
    #: findings of that stage appear on the host, and never looked up further than this: on a quiet host
    #: that rate rests mostly on the prior, and a day is the edge window's reach too (beyond it a chain
    #: needs a shared artifact, not a stage reading)
    progression_window: timedelta = timedelta(hours=24)
    #: cross-host proximity (`estate_time`): a finding on host B (initial compromise or a later on-host
    #: stage) shortly after a reconnaissance-stage member of a campaign on another host A, with a different
    #: rule. The chance that unrelated unusual
    #: activity falls within g on *some* other host is 1 - exp(-R g), R the estate's summed rate (the
    #: average host rate x hosts known), and the weight follows the same 10 % coincidence rule as
    #: host_time, capped at edge_weight. Divided by the number of other hosts with staged findings in
    #: that window, and no link at all when the finding's own rule fired on another host in that window (a
    #: scan sweeping the estate or a fleet-wide deployment touches many hosts at once with the same signals
    #: and links none of them: the hub rule, applied to time), or when an edge already joins the two (the
    #: specific evidence, weighed against hubs). Never looked up beyond `estate_max_window`.
    estate_proximity: bool = True
    estate_max_window: timedelta = timedelta(hours=1)
    #: the same process (or a parent/child pair) or the same logon session on a host
    instance_weight: float = 0.95
    #: rarity = min(1, k / hosts carrying the entity), k = max(rarity_hosts, rarity_share x hosts known):
    #: an artifact on two hosts (or on 0.1 % of a large estate) links fully, one on ten times as many
    #: links at 0.1; a domain controller, a proxy or a fleet-wide tool never glues.
    rarity_hosts: float = 2.0
    rarity_share: float = 0.001
    #: host lists of entities stop growing here (counts beyond it are estimates; such entities are far
    #: below `min_link_weight` in any estate under 100,000 hosts)
    entity_host_cap: int = 256
    #: links weaker than this are not looked up at all (an entity on more than 40 hosts): it would take
    #: a dozen of them to the same campaign to reach the join threshold, and looking them up is what
    #: makes hubs expensive
    min_link_weight: float = 0.05
    #: a rule is routine on a host once it has fired in this many distinct earlier hours there;
    #: routine findings never start or extend a campaign through proximity (only a shared artifact
    #: brings them in). Attack steps come in bursts; background noise recurs hour after hour.
    routine_hours: int = 6
    #: rule novelty = min(1, sqrt(rule_novel_hosts / hosts the rule fired on))
    rule_novel_hosts: float = 3.0
    #: ordered progression: order_step for every step of the longest chain of stages whose first evidence
    #: follows kill-chain order (reconnaissance before initial compromise before escalation ...). An
    #: intrusion progresses in that order; unrelated noise that happens to touch several tactics rarely
    #: does (the idea of scoring by ordered ATT&CK tactic sequences is RapSheet's, Hassan et al. 2020).
    order_step: float = 0.25
    #: spread term of the score: spread_per_host for every host after the first, capped
    spread_per_host: float = 0.25
    spread_cap: float = 1.0
    #: a campaign is *detected* when its score reaches this: the equivalent of three kill-chain stages
    #: each backed by a medium-severity finding (3 x 1.0 x 0.5), or two stages backed by high-severity
    #: findings (2 x 0.75). One rule alone can never reach it (its best contribution is 1.25).
    detect_threshold: float = 1.5
    #: findings processed per chunk (bounds memory; state is written after every chunk)
    chunk_size: int = 50_000
    severity_weight: dict[str, float] = field(default_factory=lambda: dict(SEVERITY_WEIGHT))
    stage_value: dict[str, float] = field(default_factory=lambda: dict(STAGE_VALUE))

    @property
    def merge_threshold(self) -> float:
        """The link weight at which a finding merges a second campaign into the one it joins."""
        return 1.0 - (1.0 - self.join_threshold) ** self.merge_links

    @property
    def host_window(self) -> timedelta:
        """The widest proximity look-up (the per-host window is 3 / rate, capped by this)."""
        return self.host_max_window
