"""How a third-party alert becomes ATT&CK tactics, techniques and a severity (used by `detect/imported.py`).

The tables here are data; docs/detections.md ("Imported alerts") prints them for analysts. The
order of trust, first hit wins:

1. ids the alert itself names: `mitre_tactics` / `mitre_techniques` columns (Wazuh
   `rule.mitre`, Suricata `metadata mitre_tactic_id / mitre_technique_id`), or Suricata
   signature metadata read from the raw EVE record;
2. structure the sensor gives: Wazuh rule groups, Zeek notice names, the Emerging Threats
   category of a signature name (`ET SCAN ...`), Suricata's classification text, a category that
   is an ATT&CK tactic name (Microsoft Defender);
3. conservative phrases in the alert text (`TEXT_RULES`), for exports that lost the structure
   (the AIT-ADS CSV keeps only the text).

Scans and exploits read direction from the internal ranges: a scan between internal hosts is
Discovery (TA0007, T1046), from outside Reconnaissance (TA0043, T1595); an exploit between internal
hosts is Lateral Movement (TA0008, T1210), from outside Initial Access (TA0001, T1190). When no
rule applies the finding carries no tactic: we do not guess.

Anomaly detectors (AMiner: "New ...", "Unusual occurrence frequencies ...", "High entropy in ...")
report statistics, not behaviours, and are deliberately not mapped by text.

Patterns are plain Python regular expressions without nested quantifiers, applied to the
distinct signatures (not to events), so they run in linear time on attacker-written text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from aptwatch.model.finding import Severity
from aptwatch.model.killchain import TACTICS, tactic_id

Direction = Literal["internal", "inbound", "outbound", "external", "unknown"]
#: a mapping entry is either fixed tactics, or a kind whose tactics depend on direction
Kind = Literal["scan", "exploit"]

_TECHNIQUE = re.compile(r"^T[0-9]{4}(\.[0-9]{3})?$")
_TACTIC = re.compile(r"^TA[0-9]{4}$")


@dataclass(frozen=True)
class Rule:
    """One mapping entry: tactics/techniques (or a direction-dependent kind) and a severity floor used
    only when the sensor gave no severity."""

    tactics: tuple[str, ...] = ()
    techniques: tuple[str, ...] = ()
    kind: Kind | None = None
    severity: Severity | None = None


@dataclass(frozen=True)
class Attack:
    """What the mapping concluded, and from what (`basis`, shown in the finding's extra)."""

    tactics: tuple[str, ...]
    techniques: tuple[str, ...]
    basis: str
    severity: Severity | None = None


def _r(tactics: Iterable[str] = (), techniques: Iterable[str] = (), kind: Kind | None = None,
       severity: str | None = None) -> Rule:
    return Rule(tuple(tactics), tuple(techniques), kind, Severity(severity) if severity else None)


SCAN = _r(kind="scan", severity="low")
EXPLOIT = _r(kind="exploit", severity="medium")

#: direction -> (tactics, techniques) for the direction-dependent kinds
KIND_BY_DIRECTION: dict[Kind, dict[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    "scan": {"internal": (("TA0007",), ("T1046",)), "default": (("TA0043",), ("T1595",))},
    "exploit": {"internal": (("TA0008",), ("T1210",)), "default": (("TA0001",), ("T1190",))},
}

# ------------------------------------------------------------------------------------------------
# Severity scales
# ------------------------------------------------------------------------------------------------
#: Wazuh rule level (0-16) -> severity. Wazuh's own dashboard bands are 0-6 low, 7-11 medium, 12-14
#: high, 15+ critical; we split its "low" band because levels 0-3 are by Wazuh's definition system
#: notifications and successful/authorised events, not attacks.
WAZUH_LEVELS: tuple[tuple[int, Severity], ...] = (
    (15, Severity.CRITICAL), (12, Severity.HIGH), (7, Severity.MEDIUM), (4, Severity.LOW), (0, Severity.INFORMATIONAL))
#: Suricata alert.severity (the classtype priority, 1 = most severe)
SURICATA_PRIORITY: dict[int, Severity] = {1: Severity.HIGH, 2: Severity.MEDIUM, 3: Severity.LOW}
#: Emerging Threats `signature_severity` metadata (per rule, so it wins over the classtype priority)
ET_SIGNATURE_SEVERITY: dict[str, Severity] = {
    "critical": Severity.CRITICAL, "major": Severity.HIGH, "minor": Severity.LOW,
    "informational": Severity.INFORMATIONAL, "audit": Severity.INFORMATIONAL}
#: words other sensors use (Microsoft Defender alerts: Informational..High; Defender AV: Low..Severe)
SEVERITY_WORDS: dict[str, Severity] = {
    "informational": Severity.INFORMATIONAL, "info": Severity.INFORMATIONAL, "low": Severity.LOW,
    "moderate": Severity.MEDIUM, "medium": Severity.MEDIUM, "high": Severity.HIGH, "severe": Severity.CRITICAL,
    "critical": Severity.CRITICAL}
#: severity when the sensor gave none: `low` when a mapping rule read a behaviour (and set no floor of its
#: own), `informational` when nothing did. Exports without severities (the AIT-ADS CSV) are mostly noise
#: (authentication successes, protocol anomalies), so unread alerts stay below the default
#: `--min-severity low` and are kept only when asked for (`--min-severity informational`).
MAPPED_DEFAULT_SEVERITY = Severity.LOW
UNMAPPED_DEFAULT_SEVERITY = Severity.INFORMATIONAL


def sensor_severity(sensor: str | None, value: str | None, signature_severity: str | None = None) -> Severity | None:
    """The sensor's own severity on our scale, or None when it gave none (or one we cannot read)."""
    s = (sensor or "").lower()
    if signature_severity and signature_severity.strip().lower() in ET_SIGNATURE_SEVERITY:
        return ET_SIGNATURE_SEVERITY[signature_severity.strip().lower()]
    v = (value or "").strip().lower()
    if not v:
        return None
    if v.isdigit():
        n = int(v)
        if s == "wazuh":
            return next(sev for floor, sev in WAZUH_LEVELS if n >= floor)
        if s == "suricata":
            return SURICATA_PRIORITY.get(n, Severity.INFORMATIONAL)
        return None  # a bare number from an unknown scale says nothing reliable
    return SEVERITY_WORDS.get(v)


# ------------------------------------------------------------------------------------------------
# Structured mappings
# ------------------------------------------------------------------------------------------------
#: Wazuh rule groups (rule.groups) -> rule. Only groups whose meaning is an ATT&CK behaviour.
WAZUH_GROUPS: dict[str, Rule] = {
    "authentication_failures": _r(["TA0006"], ["T1110"], severity="medium"),
    "brute_force": _r(["TA0006"], ["T1110"], severity="medium"),
    "recon": SCAN,
    "web_scan": SCAN,
    "scan": SCAN,
    "exploit_attempt": EXPLOIT,
    "sql_injection": EXPLOIT,
    "sqlinjection": EXPLOIT,
    "adduser": _r(["TA0003"], ["T1136"], severity="low"),
}

#: Emerging Threats / Snort GPL signature categories (the word after `ET ` / `GPL `) -> rule
ET_CATEGORIES: dict[str, Rule] = {
    "SCAN": SCAN,
    "EXPLOIT": EXPLOIT,
    "WEB_SERVER": EXPLOIT,
    "WEB_SPECIFIC_APPS": EXPLOIT,
    "SQL": EXPLOIT,
    "EXPLOIT_KIT": _r(["TA0001"], ["T1189"], severity="high"),
    "WEB_CLIENT": _r(["TA0001"], ["T1189"], severity="medium"),
    "ACTIVEX": _r(["TA0001"], ["T1189"], severity="medium"),
    "PHISHING": _r(["TA0001"], ["T1566"], severity="medium"),
    "TROJAN": _r(["TA0011"], severity="high"),
    "MALWARE": _r(["TA0011"], severity="high"),
    "MOBILE_MALWARE": _r(["TA0011"], severity="high"),
    "CNC": _r(["TA0011"], ["T1071"], severity="high"),
    "ATTACK_RESPONSE": _r(["TA0002"], ["T1059"], severity="high"),
    "SHELLCODE": _r(["TA0002"], severity="high"),
    "REMOTE_ACCESS": _r(["TA0011"], ["T1219"], severity="medium"),
    "TOR": _r(["TA0011"], ["T1090.003"], severity="medium"),
    "WORM": _r(["TA0008"], ["T1210"], severity="high"),
    "DOS": _r(["TA0040"], ["T1498"], severity="medium"),
    "COINMINING": _r(["TA0040"], ["T1496"], severity="medium"),
}
#: categories whose rules describe policy, inventory, reputation or hunting leads, not a behaviour: no mapping,
#: even when the rule's classtype would suggest one (`ET POLICY IP Check Domain` is classed as an information leak)
ET_UNMAPPED = frozenset({"POLICY", "INFO", "HUNTING", "DNS", "USER_AGENTS", "CURRENT_EVENTS", "DROP", "COMPROMISED",
                         "CINS", "DSHIELD", "CHAT", "P2P", "GAMES", "INAPPROPRIATE", "VOIP", "DELETED", "JA3"})
_ET_PREFIX = re.compile(r"^(?:ET|GPL|ETPRO)\s+([A-Z_0-9]+)\b")

#: Suricata classification texts (classification.config, the EVE `alert.category`) -> rule
CLASSIFICATIONS: dict[str, Rule] = {
    "a network trojan was detected": _r(["TA0011"], severity="high"),
    "malware command and control activity detected": _r(["TA0011"], ["T1071"], severity="high"),
    "domain observed used for c2 detected": _r(["TA0011"], severity="high"),
    "detection of a network scan": SCAN,
    "attempted information leak": _r(kind="scan", severity="low"),
    "information leak": _r(kind="scan", severity="low"),
    "large scale information leak": _r(kind="scan", severity="medium"),
    "web application attack": EXPLOIT,
    "attempted administrator privilege gain": EXPLOIT,
    "successful administrator privilege gain": _r(kind="exploit", severity="high"),
    "attempted user privilege gain": EXPLOIT,
    "unsuccessful user privilege gain": EXPLOIT,
    "successful user privilege gain": _r(kind="exploit", severity="high"),
    "exploit kit activity detected": _r(["TA0001"], ["T1189"], severity="high"),
    "possible social engineering attempted": _r(["TA0001"], ["T1566"], severity="medium"),
    "executable code was detected": _r(["TA0002"], severity="high"),
    "attempted denial of service": _r(["TA0040"], ["T1498"], severity="medium"),
    "denial of service": _r(["TA0040"], ["T1498"], severity="medium"),
    "detection of a denial of service attack": _r(["TA0040"], ["T1498"], severity="medium"),
    "crypto currency mining activity detected": _r(["TA0040"], ["T1496"], severity="medium"),
    "device retrieving external ip address detected": _r(["TA0007"], ["T1016"], severity="low"),
    "attempt to login by a default username and password": _r(["TA0006"], ["T1110.001"], severity="medium"),
}

#: Zeek notice names (lower case) -> rule; `ATTACK::<Tactic>` notices (MITRE BZAR) map by tactic name
ZEEK_NOTICES: dict[str, Rule] = {
    "scan::port_scan": SCAN,
    "scan::address_scan": SCAN,
    "scan::random_scan": SCAN,
    "traceroute::detected": _r(kind="scan", severity="low"),
    "ssh::password_guessing": _r(["TA0006"], ["T1110.001"], severity="medium"),
    "ssh::login_by_password_guesser": _r(["TA0006", "TA0001"], ["T1110", "T1078"], severity="high"),
    "ftp::bruteforcing": _r(["TA0006"], ["T1110"], severity="medium"),
    "http::sql_injection_attacker": EXPLOIT,
    "http::sql_injection_victim": EXPLOIT,
    "teamcymrumalwarehashregistry::match": _r(severity="high"),
    "intel::notice": _r(severity="medium"),
}


@dataclass(frozen=True)
class TextRule:
    """Phrases in an alert's text that name a behaviour unambiguously."""

    name: str
    patterns: tuple[str, ...]
    rule: Rule


def _t(name: str, patterns: Sequence[str], rule: Rule) -> TextRule:
    return TextRule(name, tuple(patterns), rule)


#: Conservative phrase rules, tried in order on the signature text (sensor prefixes like "Wazuh: " removed).
TEXT_RULES: tuple[TextRule, ...] = (
    _t("ransomware", [r"\bransomware\b"], _r(["TA0040"], ["T1486"], severity="critical")),
    _t("credential_dumping", [r"\bmimikatz\b", r"\blsass\b[^\n]{0,60}\b(dump|access|memory)", r"credential dump",
                              r"\bhashdump\b", r"\bsecretsdump\b", r"\bdcsync\b"],
       _r(["TA0006"], ["T1003"], severity="high")),
    _t("kerberoasting", [r"kerberoast"], _r(["TA0006"], ["T1558.003"], severity="high")),
    _t("pass_the_hash", [r"pass[- ]the[- ](hash|ticket)"], _r(["TA0008"], ["T1550"], severity="high")),
    _t("psexec", [r"\bpsexec"], _r(["TA0008"], ["T1021.002"], severity="medium")),
    _t("webshell", [r"\bweb ?shell"], _r(["TA0003"], ["T1505.003"], severity="high")),
    _t("reverse_shell", [r"\breverse shell"], _r(["TA0002", "TA0011"], ["T1059"], severity="high")),
    _t("brute_force", [r"brute[ -]?forc", r"password guess", r"password spray",
                       r"multiple (authentication|auth|login|logon) failures", r"multiple failed log(in|on)s?\b"],
       _r(["TA0006"], ["T1110"], severity="medium")),
    _t("web_scan", [r"multiple web server 4[0-9][0-9] error", r"\bwpscan\b", r"\bnikto\b", r"\bdirb(uster)?\b",
                    r"\bgobuster\b", r"directory (brute|enumeration)"], SCAN),
    _t("scan", [r"\b(port|network|host|address|vulnerability|web)[ -]?scan", r"\(scan\)", r"\bnmap\b",
                r"\bmasscan\b", r"\bzmap\b"], SCAN),
    _t("web_attack", [r"sql injection", r"\bsqli\b", r"common web attack", r"shellshock",
                      r"(directory|path) traversal", r"(remote (code|command)|command) (execution|injection)",
                      r"\blog4j\b", r"\bjndi\b", r"web application attack"], EXPLOIT),
    _t("sudo_to_root", [r"sudo to root", r"successful sudo", r"\bexecuted sudo\b"],
       _r(["TA0004"], ["T1548.003"], severity="low")),
    _t("privilege_escalation", [r"privilege escalation"], _r(["TA0004"], severity="medium")),
    _t("dns_tunnel", [r"dns tunnel", r"\biodine\b", r"\bdnscat", r"\bdnsteal\b"],
       _r(["TA0011"], ["T1071.004"], severity="medium")),
    _t("exfiltration", [r"exfiltrat"], _r(["TA0010"], severity="medium")),
    _t("command_and_control", [r"command and control", r"\bc2\b", r"\bcnc\b", r"cobalt ?strike"],
       _r(["TA0011"], ["T1071"], severity="high")),
    _t("tor", [r"\btor (exit|relay|node|network|traffic)", r"\.onion\b"], _r(["TA0011"], ["T1090.003"],
                                                                              severity="medium")),
    _t("coin_mining", [r"coin ?min(er|ing)", r"crypto ?(currency )?min(er|ing)", r"\bxmrig\b"],
       _r(["TA0040"], ["T1496"], severity="medium")),
    _t("account_created", [r"new user (added|created)", r"user account (was )?created", r"\buseradd\b"],
       _r(["TA0003"], ["T1136"], severity="low")),
    _t("log_cleared", [r"\blog (was |file )?cleared", r"\blogs? (were |was )?deleted"],
       _r(["TA0005"], ["T1070"], severity="medium")),
)
_TEXT_COMPILED: tuple[tuple[TextRule, tuple[re.Pattern[str], ...]], ...] = tuple(
    (tr, tuple(re.compile(p, re.IGNORECASE) for p in tr.patterns)) for tr in TEXT_RULES)
#: text rules read at most this much of a signature (bounded work on attacker-influenced text)
TEXT_LIMIT = 1000
#: prefixes exports put before the sensor's own text ("Wazuh: ...", "Suricata: Alert - ...")
_SENSOR_PREFIX = re.compile(r"^(?:wazuh|suricata|aminer|zeek|ossec)\s*:\s*(?:alert\s*-\s*)?", re.IGNORECASE)


def strip_sensor_prefix(text: str) -> str:
    """'Suricata: Alert - ET SCAN x' -> 'ET SCAN x'; 'Wazuh: sshd: ...' -> 'sshd: ...'."""
    return _SENSOR_PREFIX.sub("", text.strip(), count=1)


def split_ids(values: Iterable[str | None]) -> list[str]:
    """','/';'-separated id lists (and JSON-ish lists) -> distinct items, order kept."""
    out: dict[str, None] = {}
    for v in values:
        if not v:
            continue
        for part in re.split(r"[,;\[\]\"']+", v):
            p = part.strip()
            if p:
                out[p] = None
    return list(out)


def explicit_ids(tactics: Iterable[str], techniques: Iterable[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Tactic ids (ids or names accepted) and technique ids the alert names; malformed ones dropped."""
    tac = [t for t in (tactic_id(x) for x in tactics) if t]
    tech = [x.upper() for x in techniques if _TECHNIQUE.match(x.upper())]
    return tuple(dict.fromkeys(tac)), tuple(dict.fromkeys(tech))


def _category_tactic(category: str) -> str | None:
    """'CredentialAccess' / 'Credential Access' / 'credential-access' -> TA0006 (Defender categories)."""
    spaced = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", category.strip())
    t = tactic_id(spaced)
    return t if t and _TACTIC.match(t) and t in TACTICS else None


def _resolve(rule: Rule, direction: Direction) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if rule.kind is None:
        return rule.tactics, rule.techniques
    table = KIND_BY_DIRECTION[rule.kind]
    return table.get(direction, table["default"])


def _attack(rule: Rule, direction: Direction, basis: str) -> Attack:
    tac, tech = _resolve(rule, direction)
    return Attack(tac, tech, basis, rule.severity)


def infer_attack(*, sensor: str | None, signature_id: str | None, signature: str | None,
                 categories: Sequence[str], rule_groups: Sequence[str], mitre_tactics: Sequence[str],
                 mitre_techniques: Sequence[str], direction: Direction) -> Attack:
    """The ATT&CK reading of one alert group (see the module doc for the order of trust)."""
    tac, tech = explicit_ids(mitre_tactics, mitre_techniques)
    if tac or tech:
        return Attack(tac, tech, "alert")
    groups = [g.strip().lower() for g in rule_groups if g.strip()]
    for g in groups:
        if g in WAZUH_GROUPS:
            return _attack(WAZUH_GROUPS[g], direction, f"wazuh_group:{g}")
    text = strip_sensor_prefix((signature or "")[:TEXT_LIMIT])
    if (sensor or "").lower() == "zeek" or "::" in (signature_id or "") or "::" in text:
        for note in (signature_id or "", text):
            rule = ZEEK_NOTICES.get(note.strip().lower())
            if rule is not None:
                return _attack(rule, direction, f"zeek_notice:{note.strip()}")
            if note.upper().startswith("ATTACK::"):
                words = [w for w in note.split("::", 1)[1].split("_") if w]
                for n in range(len(words), 0, -1):
                    t = tactic_id(" ".join(words[:n]))
                    if t:
                        return Attack((t,), (), f"zeek_notice:{note.strip()}", Severity.HIGH)
    m = _ET_PREFIX.match(text)
    if m and m.group(1) in ET_CATEGORIES:
        return _attack(ET_CATEGORIES[m.group(1)], direction, f"et_category:{m.group(1)}")
    if m and m.group(1) in ET_UNMAPPED:
        return Attack((), (), f"unmapped:et_category:{m.group(1)}")
    if text.startswith("SURICATA "):  # the engine's own decoder / stream / app-layer events: protocol anomalies
        return Attack((), (), "unmapped:suricata_engine")
    for cat in categories:
        rule = CLASSIFICATIONS.get(cat.strip().lower())
        if rule is not None:
            return _attack(rule, direction, f"classification:{cat.strip()}")
        if cat.strip().lower() == "ransomware":
            return Attack(("TA0040",), ("T1486",), "category:Ransomware", Severity.CRITICAL)
        t = _category_tactic(cat)
        if t:
            return Attack((t,), (), f"category:{cat.strip()}")
    for tr, patterns in _TEXT_COMPILED:
        if any(p.search(text) for p in patterns):
            return _attack(tr.rule, direction, f"text:{tr.name}")
    return Attack((), (), "none")


def metadata_ids(metadata: Mapping[str, object]) -> tuple[list[str], list[str], str | None]:
    """Suricata rule metadata (`alert.metadata`: lists of strings) -> tactic ids, technique ids, signature_severity."""

    def strings(key: str) -> list[str]:
        v = metadata.get(key)
        if isinstance(v, str):
            return [v]
        if isinstance(v, list):
            return [x for x in v if isinstance(x, str)]
        return []

    sev = strings("signature_severity")
    return strings("mitre_tactic_id"), strings("mitre_technique_id"), (sev[0] if sev else None)
