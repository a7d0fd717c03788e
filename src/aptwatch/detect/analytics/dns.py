"""DNS tunnelling / exfiltration (T1071.004, T1048.003) and DGA-like lookups (T1568.002).

Tunnelling (`dns.tunnel`), per registered domain (public-suffix aware, `common.registered_domain_sql`),
folded incrementally into the state table `dns_domains`:
- unique subdomain parts (hashes, capped at `max_hashes`), their mean length and mean Shannon
  entropy (bits per character), the longest one;
- TXT / NULL / CNAME / MX / SRV / ANY / private-type queries, NXDOMAIN answers, query rate;
- the querying sources.
A domain is reported when it has at least `min_unique` unique subdomain parts at a rate of at least
`min_unique_per_day` per day of activity, and its score passes `min_score`:
score = 0.35 (volume) + 0.30 * clamp((mean length - 12) / 20) + 0.25 * clamp((mean entropy - 2.5) / 1.5)
+ 0.20 * clamp(share of rare record types / 0.5), capped at 1, and at least 0.85 when half the queries are
NULL or private-range types (iodine's default; no ordinary software asks for them). Encoded payloads make
subdomains long
(> 30 characters is common for iodine / dns2tcp / dnscat) and high-entropy (base32 ~ 4, base64 ~ 5
bits per character over long strings), while ordinary names are short words (~2.5-3).

DGA (`dns.dga`), per source and UTC day: registered domains the source looked up that got no answer
(NXDOMAIN or an empty answer, as DGA bots mostly meet), each scored for name randomness:
- bigram unlikelihood: the mean log-probability of the name's character bigrams under a model
  trained on the labels of the Public Suffix List (~10k real-world labels: cities, brands,
  services; none from any evaluation set), expressed as the share of training labels that are more
  likely than the name (0.95 = less likely than 95% of real labels);
- longest consonant run >= 4, and digits mixed into letters.
name score = 0.6 bigram + 0.2 consonants + 0.2 digits. A source is reported when it has at least
`dga_min_domains` failed lookups of distinct registered domains in a day and their mean name score
is at least `dga_min_name_score`, or at least `dga_burst` of them whatever their shape (hundreds
of distinct failing domains from one host is itself the DGA signature; pronounceable DGAs like
Simda defeat name scoring but not this).
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any, ClassVar

import orjson
import pyarrow as pa

from aptwatch.detect.analytics.common import (
    Options,
    clamp01,
    data_lines,
    domain_table,
    evidence_list,
    hosts_for_ips,
    in_time_range,
    install_macros,
    pending,
    psl_table,
    register_psl,
    registered_domain_sql,
    reset_statements,
    rows,
)
from aptwatch.detect.base import DetectContext, Detector, DetectorResult, DetectSettings
from aptwatch.model.finding import Finding, Severity

NAME = "dns"
#: query types carrying payload in tunnels (by name, and the numeric private range)
RARE_QTYPES = ("TXT", "NULL", "CNAME", "MX", "SRV", "ANY", "*", "PRIVATE", "10", "16", "5", "15", "33", "255")
_IP_LIKE = r"^[0-9.]+$|^[0-9a-f:]+$"


@cache
def bigram_model() -> tuple[pa.Table, pa.Table, tuple[float, ...]]:
    """Character-bigram log10-probabilities (add-one smoothing) from Public Suffix List labels, the count of
    bigrams per first character (for the floor of unseen bigrams), and the percentiles (1..99) of the mean
    bigram log-probability of those training labels."""
    import duckdb

    con = duckdb.connect()
    try:
        con.register("psl", psl_table())
        con.execute(r"""
            CREATE TABLE labels AS SELECT DISTINCT l AS label FROM (
                SELECT unnest(string_split(suffix, '.')) AS l FROM psl)
            WHERE regexp_full_match(l, '[a-z0-9-]{3,}') AND NOT starts_with(l, 'xn--')
        """)
        con.execute("""
            CREATE TABLE bg AS
            WITH s AS (SELECT '^' || label || '$' AS s FROM labels),
            b AS (SELECT unnest(list_transform(range(1, length(s)), lambda i: substr(s, i, 2))) AS bg FROM s),
            c AS (SELECT bg, count(*) AS n FROM b GROUP BY bg),
            f AS (SELECT substr(bg, 1, 1) AS a, sum(n) AS n FROM c GROUP BY a)
            SELECT c.bg, log10((c.n + 1) / (f.n + 38.0)) AS lp, f.n AS a_n
            FROM c JOIN f ON f.a = substr(c.bg, 1, 1)
        """)
        model = con.sql("SELECT bg, lp FROM bg").to_arrow_table()
        firsts = con.sql("SELECT substr(bg, 1, 1) AS a, any_value(a_n) AS n FROM bg GROUP BY a").to_arrow_table()
        con.register("firsts", firsts)
        pct = con.execute(f"""
            WITH m AS ({_mean_lp_sql('labels', 'label', 'bg', 'firsts')})
            SELECT quantile_cont(mlp, [{', '.join(str(i / 100) for i in range(1, 100))}]) FROM m
        """).fetchone()
        assert pct is not None
        return model, firsts, tuple(float(x) for x in pct[0])
    finally:
        con.close()


def _mean_lp_sql(relation: str, col: str, model: str, firsts: str) -> str:
    """Mean bigram log10-probability per distinct value of `relation.col` (unseen bigrams: add-one floor)."""
    return f"""
        SELECT name AS {col}, avg(coalesce(m.lp, log10(1 / (coalesce(f.n, 0) + 38.0)))) AS mlp FROM (
            SELECT name, unnest(list_transform(range(1, length('^' || name || '$')),
                                               lambda i: substr('^' || name || '$', i, 2))) AS bg
            FROM (SELECT DISTINCT {col} AS name FROM {relation})) b
        LEFT JOIN {model} m USING (bg)
        LEFT JOIN {firsts} f ON f.a = substr(b.bg, 1, 1)
        GROUP BY name
    """


def register_bigrams(session: Any) -> tuple[float, ...]:
    model, firsts, pct = bigram_model()
    session.register("aw_bigram", model)
    session.register("aw_bigram_first", firsts)
    return pct


def name_score_sql(relation: str, col: str, pct: tuple[float, ...]) -> str:
    """DGA-likeness of each distinct label in `relation.col` (lower case, no dots): see module doc."""
    q = "[" + ", ".join(f"{x!r}" for x in pct) + "]"
    return f"""
        WITH lp AS ({_mean_lp_sql(relation, col, 'aw_bigram', 'aw_bigram_first')})
        SELECT {col}, mlp,
               len(list_filter({q}, lambda v: v > mlp)) / 99.0 AS bigram_score,
               aw_consonant_run({col}) AS consonant_run,
               CASE WHEN regexp_matches({col}, '[0-9]') AND regexp_matches({col}, '[a-z]') THEN 1 ELSE 0 END AS mixed,
               round(0.6 * len(list_filter({q}, lambda v: v > mlp)) / 99.0
                     + 0.2 * CASE WHEN aw_consonant_run({col}) >= 4 THEN 1 ELSE 0 END
                     + 0.2 * CASE WHEN regexp_matches({col}, '[0-9]') AND regexp_matches({col}, '[a-z]')
                                  THEN 1 ELSE 0 END, 3) AS name_score
        FROM lp
    """


def tunnel_name_score(session: Any, names: pa.Table) -> pa.Table:
    """Per-name tunnel-likeness (used to evaluate the name scorer on labelled names): registered domain,
    subdomain part, its length and entropy, and a 0..1 score (0.5 length + 0.5 entropy terms)."""
    install_macros(session)
    register_psl(session)
    session.register("aw_names_in", names)
    return session.sql(f"""
        WITH n AS (SELECT DISTINCT lower(rtrim(name, '.')) AS name FROM aw_names_in),
        d AS ({registered_domain_sql('n')}),
        s AS (SELECT n.name, d.domain,
                     CASE WHEN d.domain IS NULL OR n.name = d.domain THEN ''
                          ELSE left(n.name, length(n.name) - length(d.domain) - 1) END AS sub
              FROM n LEFT JOIN d USING (name))
        SELECT name, domain, sub, length(sub) AS sub_len, aw_entropy(replace(sub, '.', '')) AS entropy,
               round(0.5 * least(1, greatest(0, (length(sub) - 12) / 20.0))
                     + 0.5 * least(1, greatest(0, (aw_entropy(replace(sub, '.', '')) - 2.5) / 1.5)), 3) AS score
        FROM s
    """)


class Dns(Detector):
    name: ClassVar[str] = NAME
    description: ClassVar[str] = "DNS tunnelling / exfiltration per registered domain, and DGA-like failed lookups"

    def applies(self, settings: DetectSettings, tables: Any) -> bool:
        return "dns" in tables

    def run(self, ctx: DetectContext) -> DetectorResult:
        opts = Options(ctx, NAME)
        result = DetectorResult()
        inc = pending(ctx, NAME, ["dns"], rebuild=opts.get("rebuild", False))
        result.stats = {"ingests": len(inc.ingest_ids)}
        if inc.empty:
            return result
        session = ctx.session
        install_macros(session)
        register_psl(session)
        pct = register_bigrams(session)
        allow = list(data_lines("dns_allowlist.txt")) + [d for d in opts.list("allow_domains", ()) if d]
        session.register("aw_dns_allow", domain_table(allow))
        session.sql(f"""
            CREATE OR REPLACE TEMP TABLE aw_q AS
            SELECT lower(rtrim(query, '.')) AS name, upper(coalesce(query_type, '')) AS qtype,
                   upper(coalesce(rcode, '')) AS rcode, nullif(nullif(trim(coalesce(answers, '')), '-'), '') AS answers,
                   coalesce(src_ip, host) AS src, time,
                   struct_pack(s := source, r := record, t := table_name, e := event_id) AS ev
            FROM dns WHERE {inc.where()} AND query IS NOT NULL AND query <> '' AND time IS NOT NULL
        """)
        session.sql(f"""
            CREATE OR REPLACE TEMP TABLE aw_qd AS
            WITH d AS ({registered_domain_sql('(SELECT DISTINCT name FROM aw_q)')})
            SELECT d.name, d.domain,
                   CASE WHEN d.name = d.domain THEN '' ELSE left(d.name, length(d.name) - length(d.domain) - 1)
                   END AS sub,
                   EXISTS (SELECT 1 FROM aw_dns_allow a WHERE d.domain = a.domain
                           OR ends_with(d.domain, '.' || a.domain) OR ends_with(d.name, '.' || a.domain)) AS allowed
            FROM d WHERE d.domain IS NOT NULL AND NOT regexp_matches(d.name, '{_IP_LIKE}')
        """)
        n_new = session.sql("SELECT count(*) FROM aw_q").column(0)[0].as_py()
        result.stats["queries"] = n_new
        now = datetime.now(UTC)
        statements: list[tuple[str, Any]] = []
        if inc.rebuild:
            statements += reset_statements(NAME, state_tables=("dns_domains",))
        tables: dict[str, pa.Table] = {}
        tun = self._fold_tunnel(ctx, opts, now)
        tables["aw_new_domains"] = tun
        statements.append((_UPSERT_DOMAINS.format(cap=int(opts.get("max_hashes", 4096))), None))
        dga = self._fold_dga(ctx, pct)
        tables["aw_new_dga"] = dga
        statements.append((_UPSERT_DGA, None))
        statements += inc.mark_statements(n_new)
        ctx.writer.write_state(statements, tables)
        result.findings = self._tunnel_findings(ctx, opts, now) + self._dga_findings(ctx, opts, dga)
        result.findings = [f for f in result.findings if in_time_range(ctx, f.time)]
        return result

    # -- tunnelling ---------------------------------------------------------------------
    def _fold_tunnel(self, ctx: DetectContext, opts: Options, now: datetime) -> pa.Table:
        rare = ", ".join(f"'{t}'" for t in RARE_QTYPES)
        return ctx.session.sql(f"""
            WITH q AS (SELECT q.*, d.domain, d.sub FROM aw_q q JOIN aw_qd d USING (name) WHERE NOT d.allowed),
            subs AS (SELECT domain, sub, length(sub) AS len, aw_entropy(replace(sub, '.', '')) AS ent
                     FROM (SELECT DISTINCT domain, sub FROM q WHERE sub <> '')),
            sagg AS (SELECT domain, list(CAST(hash(sub) >> 1 AS BIGINT)) AS sub_hashes, sum(len) AS sub_len_sum,
                            max(len) AS sub_len_max, sum(ent) AS entropy_sum, count(*) AS names
                     FROM subs GROUP BY domain),
            qagg AS (SELECT domain, min(time) AS first_seen, max(time) AS last_seen, count(*) AS queries,
                            count(*) FILTER (WHERE qtype IN ({rare}) OR TRY_CAST(qtype AS INTEGER) >= 65280)
                                AS rare_qtypes,
                            count(*) FILTER (WHERE qtype IN ('NULL', '10', 'PRIVATE')
                                             OR TRY_CAST(qtype AS INTEGER) >= 65280) AS null_qtypes,
                            count(*) FILTER (WHERE rcode IN ('NXDOMAIN', '3')) AS nxdomain,
                            list_distinct(list(src))[1:64] AS srcs,
                            arg_min(ev, time) AS e1, min(time) AS t1, arg_max(ev, time) AS e2, max(time) AS t2,
                            arg_max(ev, length(sub)) AS e3, arg_max(time, length(sub)) AS t3
                     FROM q GROUP BY domain)
            SELECT qagg.domain, first_seen, last_seen, queries, coalesce(sub_hashes, []) AS sub_hashes,
                   coalesce(sub_len_sum, 0) AS sub_len_sum, coalesce(sub_len_max, 0) AS sub_len_max,
                   coalesce(entropy_sum, 0) AS entropy_sum, coalesce(names, 0) AS names, rare_qtypes, null_qtypes,
                   nxdomain, srcs,
                   CAST(json_array(aw_evidence(e1.s, e1.r, e1.t, t1, e1.e), aw_evidence(e3.s, e3.r, e3.t, t3, e3.e),
                                   aw_evidence(e2.s, e2.r, e2.t, t2, e2.e)) AS VARCHAR) AS evidence,
                   TIMESTAMPTZ '{now.isoformat()}' AS updated_at
            FROM qagg LEFT JOIN sagg USING (domain)
        """)

    def _tunnel_findings(self, ctx: DetectContext, opts: Options, now: datetime) -> list[Finding]:
        min_unique = opts.get("min_unique", 50)
        per_day = opts.get("min_unique_per_day", 50)
        min_score = opts.get("min_score", 0.6)
        cands = ctx.writer.read_state("""
            SELECT *, len(sub_hashes) AS uniq, sub_len_sum / greatest(names, 1) AS mean_len,
                   entropy_sum / greatest(names, 1) AS mean_entropy, rare_qtypes / greatest(queries, 1) AS rare_share,
                   greatest(epoch(last_seen) - epoch(first_seen), 3600) / 86400.0 AS days
            FROM dns_domains WHERE updated_at = ? AND len(sub_hashes) >= ?
        """, [now, min_unique])
        out: list[Finding] = []
        cap = int(opts.get("max_hashes", 4096))
        for r in rows(cands):
            uniq = int(r["uniq"])
            rate = uniq / max(float(r["days"]), 1.0)
            if rate < per_day:
                continue
            length = clamp01((float(r["mean_len"]) - 12) / 20)
            entropy = clamp01((float(r["mean_entropy"]) - 2.5) / 1.5)
            rare = clamp01(float(r["rare_share"]) / 0.5)
            score = min(1.0, 0.35 + 0.30 * length + 0.25 * entropy + 0.20 * rare)
            null_share = float(r["null_qtypes"] or 0) / max(int(r["queries"]), 1)
            if null_share >= 0.5:  # NULL / private record types: iodine and kin; unused by ordinary software
                score = max(score, 0.85)
            if score < min_score:
                continue
            sev = Severity.HIGH if score >= 0.85 else Severity.MEDIUM
            srcs = list(r["srcs"] or [])
            ips = [s for s in srcs if _looks_ip(s)]
            hosts = [s for s in srcs if not _looks_ip(s)]
            encoded = int(r["sub_len_sum"] or 0)
            techniques = ["T1071.004", "T1048.003"] if encoded > 100_000 else ["T1071.004"]
            out.append(Finding.build(
                detector=NAME, rule_id="dns.tunnel", severity=sev, time=r["first_seen"], time_last=r["last_seen"],
                title=f"DNS tunnelling: {uniq if uniq < cap else f'>= {cap}'} unique subdomains of {r['domain']} "
                      f"(mean length {float(r['mean_len']):.0f}, entropy {float(r['mean_entropy']):.1f})",
                tactics=["TA0011", "TA0010"] if encoded > 100_000 else ["TA0011"], techniques=techniques,
                entities={"domain": r["domain"], "src_ip": ips[:20], "host": hosts[:20]},
                evidence=evidence_list(r["evidence"]), key=[r["domain"]], score=round(score, 3),
                description=(f"{r['queries']} queries for {uniq} distinct subdomain parts of {r['domain']} "
                             f"({rate:.0f}/day); {int(r['rare_qtypes'])} TXT/NULL/CNAME/MX-type queries, "
                             f"{int(r['nxdomain'])} NXDOMAIN; ~{encoded:,} characters carried in names."),
                extra={"unique_subdomains": uniq, "capped": uniq >= cap, "mean_length": float(r["mean_len"]),
                       "max_length": int(r["sub_len_max"]), "mean_entropy": float(r["mean_entropy"]),
                       "rare_qtype_share": float(r["rare_share"]), "null_qtype_share": round(null_share, 3),
                       "queries": int(r["queries"]),
                       "nxdomain": int(r["nxdomain"]), "characters_in_names": encoded,
                       "terms": {"length": length, "entropy": entropy, "rare_types": rare}},
            ))
        return out

    # -- DGA ----------------------------------------------------------------------------
    def _fold_dga(self, ctx: DetectContext, pct: tuple[float, ...]) -> pa.Table:
        s = ctx.session
        s.sql("""
            CREATE OR REPLACE TEMP TABLE aw_failed AS
            WITH answered AS (SELECT DISTINCT d.domain FROM aw_q q JOIN aw_qd d USING (name)
                              WHERE q.answers IS NOT NULL AND q.rcode IN ('NOERROR', '0')),
            failed AS (SELECT q.*, d.domain FROM aw_q q JOIN aw_qd d USING (name)
                       WHERE NOT d.allowed AND q.src IS NOT NULL AND contains(d.domain, '.')
                         AND (q.answers IS NULL OR q.rcode IN ('NXDOMAIN', '3', 'SERVFAIL', '2')))
            SELECT f.src, date_trunc('day', f.time) AS day, f.domain, split_part(f.domain, '.', 1) AS label,
                   min(f.time) AS time, arg_min(f.ev, f.time) AS ev
            FROM failed f ANTI JOIN answered USING (domain)
            GROUP BY f.src, date_trunc('day', f.time), f.domain
        """)
        s.sql(f"CREATE OR REPLACE TEMP TABLE aw_label_score AS {name_score_sql('aw_failed', 'label', pct)}")
        return s.sql("""
            SELECT f.src, f.day, list(f.domain ORDER BY f.domain) AS domains,
                   list(l.name_score ORDER BY f.domain) AS scores,
                   min(f.time) AS first_seen, max(f.time) AS last_seen,
                   CAST(to_json(list(aw_evidence(f.ev.s, f.ev.r, f.ev.t, f.time, f.ev.e) ORDER BY f.time)[1:8])
                        AS VARCHAR) AS evidence
            FROM aw_failed f JOIN aw_label_score l USING (label)
            GROUP BY f.src, f.day
        """)

    def _dga_findings(self, ctx: DetectContext, opts: Options, new: pa.Table) -> list[Finding]:
        if not new.num_rows:
            return []
        min_domains = opts.get("dga_min_domains", 10)
        min_name = opts.get("dga_min_name_score", 0.6)
        burst = opts.get("dga_burst", 100)
        keys = [f"{r['src']}|{r['day']:%Y-%m-%d}" for r in new.select(["src", "day"]).to_pylist()]
        merged = ctx.writer.read_state("""
            SELECT key, first_seen, last_seen, count, value FROM baselines WHERE analytic = 'dns_dga' AND key IN
                (SELECT unnest(?))
        """, [keys])
        out: list[Finding] = []
        merged_rows = rows(merged)
        known = hosts_for_ips(ctx.writer, [r["key"].split("|", 1)[0] for r in merged_rows])
        for r in merged_rows:
            v = orjson.loads(r["value"])
            domains: list[str] = v.get("domains", [])
            scores: list[float] = [float(x) for x in v.get("scores", [])]
            n = int(r["count"])
            mean = sum(scores) / len(scores) if scores else 0.0
            if not ((n >= min_domains and mean >= min_name) or n >= burst):
                continue
            src, day = r["key"].split("|", 1)
            score = clamp01(0.5 * min(1.0, n / max(burst, 1)) + 0.5 * mean + (0.1 if n >= burst else 0.0))
            sev = Severity.HIGH if score >= 0.8 else Severity.MEDIUM if score >= 0.6 else Severity.LOW
            top = [d for _, d in sorted(zip(scores, domains, strict=False), reverse=True)][:10]
            out.append(Finding.build(
                detector=NAME, rule_id="dns.dga", severity=sev, time=r["first_seen"], time_last=r["last_seen"],
                title=f"DGA-like lookups: {src} failed to resolve {n} distinct domains on {day}",
                tactics=["TA0011"], techniques=["T1568.002"],
                entities={"src_ip" if _looks_ip(src) else "host": src, "domain": top,
                          **({"host": known[src]} if src in known else {})},
                evidence=evidence_list(v.get("evidence")), key=[src, day], score=round(score, 3),
                description=(f"{n} distinct registered domains looked up by {src} on {day} got no answer; mean "
                             f"name randomness {mean:.2f} (bigram model over Public Suffix List labels)."),
                extra={"failed_domains": n, "mean_name_score": round(mean, 3), "examples": top,
                       "burst": n >= burst},
            ))
        return out


def _looks_ip(s: str | None) -> bool:
    if not s:
        return False
    return all(c in "0123456789." for c in s) or (":" in s and all(c in "0123456789abcdefABCDEF:." for c in s))


_UPSERT_DOMAINS = """
    INSERT INTO dns_domains BY NAME SELECT * FROM aw_new_domains
    ON CONFLICT (domain) DO UPDATE SET
        first_seen = least(dns_domains.first_seen, excluded.first_seen),
        last_seen = greatest(dns_domains.last_seen, excluded.last_seen),
        queries = dns_domains.queries + excluded.queries,
        sub_hashes = list_distinct(list_concat(dns_domains.sub_hashes, excluded.sub_hashes))[1:{cap}],
        sub_len_sum = dns_domains.sub_len_sum + excluded.sub_len_sum,
        sub_len_max = greatest(dns_domains.sub_len_max, excluded.sub_len_max),
        entropy_sum = dns_domains.entropy_sum + excluded.entropy_sum,
        names = dns_domains.names + excluded.names,
        rare_qtypes = dns_domains.rare_qtypes + excluded.rare_qtypes,
        null_qtypes = coalesce(dns_domains.null_qtypes, 0) + excluded.null_qtypes,
        nxdomain = dns_domains.nxdomain + excluded.nxdomain,
        srcs = list_distinct(list_concat(dns_domains.srcs, excluded.srcs))[1:64],
        evidence = dns_domains.evidence,
        updated_at = excluded.updated_at
"""

#: DGA state per (source, day): the failed domains and their name scores, merged across runs
_UPSERT_DGA = """
    INSERT OR REPLACE INTO baselines
    WITH new AS (SELECT src || '|' || strftime(day, '%Y-%m-%d') AS key, domains, scores, first_seen, last_seen,
                        evidence FROM aw_new_dga),
    old AS (SELECT key, first_seen, last_seen, value FROM baselines
            WHERE analytic = 'dns_dga' AND key IN (SELECT key FROM new)),
    items AS (
        SELECT key, unnest(domains) AS d, unnest(scores) AS s FROM new
        UNION ALL
        SELECT key, unnest(CAST(json_extract(value, '$.domains') AS VARCHAR[])),
               unnest(CAST(json_extract(value, '$.scores') AS DOUBLE[])) FROM old
    ),
    agg AS (SELECT key, list(d ORDER BY d) AS domains, list(s ORDER BY d) AS scores
            FROM (SELECT key, d, max(s) AS s FROM items GROUP BY key, d) GROUP BY key)
    SELECT 'dns_dga', n.key, least(o.first_seen, n.first_seen), greatest(o.last_seen, n.last_seen), len(a.domains),
           NULL, CAST(to_json({'domains': a.domains[1:500], 'scores': a.scores[1:500],
                               'evidence': coalesce(json_extract(o.value, '$.evidence'), CAST(n.evidence AS JSON))})
                      AS VARCHAR)
    FROM new n JOIN agg a USING (key) LEFT JOIN old o USING (key)
"""
