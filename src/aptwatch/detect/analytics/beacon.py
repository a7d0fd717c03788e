"""Beaconing: regular call-backs from an internal host to an external destination (ATT&CK T1071, TA0011).

Scoring (all in DuckDB list and aggregate functions over the `pair_days` series; see
docs/detections.md for the numbers measured on labelled data):

1. RITA v5 score, as published (activecm/rita `analysis/beacons.go`), per (source, destination)
   series with at least `min_conns` connections and 3 non-zero intervals:
   - timestamp regularity: inter-arrival deltas (zero deltas dropped); Bowley skew
     (Q1 + Q3 - 2 Q2) / (Q3 - Q1), 0 when Q3 - Q1 < 10 s or the median equals a quartile;
     MAD score (median - MAD) / median (1 when the median is under 1 s); ts = mean of
     1 - |skew| and the MAD score;
   - data-size regularity: the same over bytes sent per connection (MAD score 0 when the median
     is under 1 byte); when a source logs no byte counts (Sysmon 3, TLS-only) the score is
     re-weighted over the other three parts;
   - histogram: connections in 24 equal bins over the dataset's time range; score = max of the
     coefficient-of-variation score (1 - CV, 0 above 1) and the bimodal fit (bars bucketed by
     5% of the tallest, top two buckets over bars - 1, when >= 11 bars);
   - duration: when >= 6 bins are non-empty, max of coverage (series span / dataset span) and
     consistency (longest run of non-empty bins, wrapping, / 12);
   - score = 0.25 ts + 0.25 ds + 0.25 hist + 0.25 dur.
   Quartiles are linear-interpolation quartiles (DuckDB `quantile_cont`), not the Go stats
   package's median-of-halves; the difference is a fraction of a bin.
2. Multi-scale: every series is scored over the whole window (`window_days`, default 14) and
   over its last day, each with its own dataset range; the better scale wins. The statistics are
   ratios, so the same code scores 2-second and daily call-backs.
3. Growing intervals (backoff): a schedule d_i = d_0 * r^i has skewed, dispersed deltas and a
   low RITA score, but constant log-ratios ln(d_{i+1} / d_i); a linear one has constant
   increments. The growth score is 1 - MAD / median of the log-ratios (median >= ln 1.1, >= 60%
   positive) or of the increments, over >= 5 intervals. A separate rule (`beacon.growing`)
   reports series whose growth score and data-size score pass their thresholds.
4. Modifiers: prevalence (the destination is contacted by >= max(3, 25%) of the internal
   sources in the window: -0.15; by one source of >= 10: +0.05); first seen (the destination's
   first day in the retained history is within `first_seen_days` while the history is at least
   twice as long: +0.10).
5. Allowlist: destinations (or addresses that DNS answers / SNI / Host named) under a domain
   of `data/beacon_allowlist.txt` or the option `beacon.allow_domains` are not reported.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

import pyarrow as pa

from aptwatch.detect.analytics import pairs
from aptwatch.detect.analytics.common import (
    Options,
    clamp01,
    data_lines,
    domain_table,
    hosts_for_ips,
    in_time_range,
    install_macros,
    rows,
)
from aptwatch.detect.base import DetectContext, Detector, DetectorResult, DetectSettings
from aptwatch.model.finding import Finding, Severity

NAME = "beacon"


def scoring_sql(series: str, scales: str, *, min_conns: int, hist_bins: int = 24, tight: float = 0.1) -> str:
    """The scoring query: one row per (kind, src, dst, scale) with every sub-score.

    `series` has one row per pair: ts BIGINT[] (sorted), sizes BIGINT[] (aligned with ts);
    `scales` has (scale, lo, hi) rows: the dataset's time range at each scale. `tight`: skew is
    not computed when the IQR is under this fraction of the median (scale-aware jitter tolerance;
    `rita_*` columns keep the published absolute 10-unit rule).
    """
    b = hist_bins
    return f"""
    WITH sc AS (
        SELECT s.kind, s.src, s.dst, c.scale, c.lo, c.hi,
               list_filter(s.ts, lambda x: x >= c.lo) AS ts,
               list_filter(s.sizes, lambda x, i: s.ts[i] >= c.lo) AS sz
        FROM {series} s CROSS JOIN {scales} c
    ),
    d AS (
        SELECT *, list_filter(list_transform(range(1, len(ts)), lambda i: CAST(ts[i + 1] - ts[i] AS DOUBLE)),
                              lambda x: x > 0) AS dt,
               CAST(list_filter(sz, lambda x: x IS NOT NULL) AS DOUBLE[]) AS szn
        FROM sc WHERE len(ts) >= {int(min_conns)} AND c_hi_ok(lo, hi)
    ),
    q AS (
        SELECT *, list_aggregate(dt, 'quantile_cont', [0.25, 0.5, 0.75]) AS tq, list_aggregate(dt, 'mad') AS tmad,
               CASE WHEN len(szn) >= 3 THEN list_aggregate(szn, 'quantile_cont', [0.25, 0.5, 0.75]) END AS sq,
               CASE WHEN len(szn) >= 3 THEN list_aggregate(szn, 'mad') END AS smad,
               list_aggregate(list_transform(ts, lambda x:
                   least({b - 1}, CAST(floor((x - lo) * {b}.0 / (hi - lo)) AS BIGINT))), 'histogram') AS hmap,
               list_transform(range(1, len(dt)), lambda i: ln(dt[i + 1] / dt[i])) AS lr,
               list_transform(range(1, len(dt)), lambda i: dt[i + 1] - dt[i]) AS inc
        FROM d WHERE len(dt) >= 3
    ),
    q2 AS (SELECT *, list_transform(range(0, {b}), lambda k: coalesce(hmap[k], 0)) AS freq FROM q),
    p AS (
        SELECT *,
            CASE WHEN tq[3] - tq[1] >= 10 AND tq[2] <> tq[1] AND tq[2] <> tq[3]
                 THEN (tq[1] + tq[3] - 2 * tq[2]) / (tq[3] - tq[1]) ELSE 0 END AS rita_ts_skew,
            CASE WHEN tq[3] - tq[1] >= greatest(10, {float(tight)} * tq[2]) AND tq[2] <> tq[1] AND tq[2] <> tq[3]
                 THEN (tq[1] + tq[3] - 2 * tq[2]) / (tq[3] - tq[1]) ELSE 0 END AS ts_skew,
            CASE WHEN tq[2] >= 1 THEN greatest(0, (tq[2] - tmad) / tq[2]) ELSE 1 END AS ts_mad_score,
            CASE WHEN sq IS NULL THEN NULL
                 WHEN sq[3] - sq[1] >= 10 AND sq[2] <> sq[1] AND sq[2] <> sq[3]
                 THEN (sq[1] + sq[3] - 2 * sq[2]) / (sq[3] - sq[1]) ELSE 0 END AS rita_ds_skew,
            CASE WHEN sq IS NULL THEN NULL
                 WHEN sq[3] - sq[1] >= greatest(10, {float(tight)} * sq[2]) AND sq[2] <> sq[1] AND sq[2] <> sq[3]
                 THEN (sq[1] + sq[3] - 2 * sq[2]) / (sq[3] - sq[1]) ELSE 0 END AS ds_skew,
            CASE WHEN sq IS NULL THEN NULL WHEN sq[2] >= 1 THEN greatest(0, (sq[2] - smad) / sq[2])
                 ELSE 0 END AS ds_mad_score,
            len(list_filter(freq, lambda f: f > 0)) AS bars,
            list_stddev_pop(freq) / nullif(list_avg(freq), 0) AS cv,
            ceil(list_max(freq) * 0.05) AS bin_size,
            array_to_string(list_transform(freq, lambda f: CASE WHEN f > 0 THEN '1' ELSE '0' END), '') AS bits,
            list_median(lr) AS lr_med, list_aggregate(lr, 'mad') AS lr_mad,
            len(list_filter(lr, lambda x: x > 0)) / greatest(len(lr), 1) AS lr_pos,
            list_median(inc) AS inc_med, list_aggregate(inc, 'mad') AS inc_mad,
            len(list_filter(inc, lambda x: x > 0)) / greatest(len(inc), 1) AS inc_pos
        FROM q2
    ),
    r AS (
        SELECT *,
            round(((1 - abs(ts_skew)) + ts_mad_score) / 2, 3) AS ts_score,
            CASE WHEN ds_skew IS NULL THEN NULL ELSE round(((1 - abs(ds_skew)) + ds_mad_score) / 2, 3) END AS ds_score,
            round(((1 - abs(rita_ts_skew)) + ts_mad_score) / 2, 3) AS rita_ts_score,
            CASE WHEN rita_ds_skew IS NULL THEN NULL
                 ELSE round(((1 - abs(rita_ds_skew)) + ds_mad_score) / 2, 3) END AS rita_ds_score,
            CASE WHEN cv IS NULL OR cv > 1 THEN 0 ELSE round(1 - cv, 3) END AS cv_score,
            CASE WHEN bars >= 11 THEN least(1, round(list_sum(list_sort(map_values(list_aggregate(
                     list_transform(list_filter(freq, lambda f: f > 0), lambda f: floor(f / bin_size) * bin_size),
                     'histogram')), 'DESC')[1:2]) / greatest(bars - 1, 1), 3)) ELSE 0 END AS bimodal_score,
            least({b}, list_max(list_transform(string_split(bits || bits, '0'), lambda x: length(x)))) AS longest_run,
            least(1, ceil((ts[-1] - ts[1]) / (hi - lo) * 1000) / 1000) AS coverage,
            CASE WHEN len(dt) >= 5 AND lr_med >= ln(1.1) AND lr_pos >= 0.6
                 THEN greatest(0, 1 - lr_mad / lr_med) ELSE 0 END AS geo_score,
            CASE WHEN len(dt) >= 5 AND inc_med > 0 AND inc_med >= 0.05 * list_median(dt) AND inc_pos >= 0.6
                 THEN greatest(0, 1 - inc_mad / inc_med) ELSE 0 END AS lin_score
        FROM p
    ),
    s AS (
        SELECT *, greatest(cv_score, bimodal_score) AS hist_score,
               CASE WHEN bars >= 6 THEN greatest(coverage, least(1, ceil(longest_run / 12.0 * 1000) / 1000))
                    ELSE 0 END AS dur_score,
               greatest(geo_score, lin_score) AS growth_score
        FROM r
    )
    SELECT kind, src, dst, scale, lo, hi, len(ts) AS conns, ts[1] AS first_ts, ts[-1] AS last_ts,
           tq[2] AS median_interval, tmad AS interval_mad, sq[2] AS median_bytes,
           ts_skew, ts_mad_score, ts_score, ds_skew, ds_mad_score, ds_score, cv_score, bimodal_score, hist_score,
           coverage, longest_run, dur_score, bars, lr_med, geo_score, lin_score, growth_score,
           round(CASE WHEN ds_score IS NULL THEN (ts_score + hist_score + dur_score) / 3
                      ELSE 0.25 * ts_score + 0.25 * ds_score + 0.25 * hist_score + 0.25 * dur_score END, 3) AS score,
           round(CASE WHEN rita_ds_score IS NULL THEN (rita_ts_score + hist_score + dur_score) / 3
                      ELSE 0.25 * rita_ts_score + 0.25 * rita_ds_score + 0.25 * hist_score + 0.25 * dur_score END, 3)
               AS rita_score
    FROM s
    """


def _install(session: Any) -> None:
    install_macros(session)
    session.sql("CREATE OR REPLACE TEMP MACRO c_hi_ok(lo, hi) AS (hi > lo)")


class Beacon(Detector):
    name: ClassVar[str] = NAME
    description: ClassVar[str] = ("Beaconing (RITA v5 score, multi-scale, growing intervals, prevalence and "
                                  "first-seen modifiers, allowlist) over flows, TLS SNI and HTTP Host")

    def applies(self, settings: DetectSettings, tables: Any) -> bool:
        return any(t in tables for t in ("network", "tls", "http"))

    def run(self, ctx: DetectContext) -> DetectorResult:
        opts = Options(ctx, NAME)
        result = DetectorResult()
        folded = pairs.fold(ctx)
        since = None if opts.get("rebuild", False) else pairs.watermark(ctx, NAME)
        window = opts.get("window_days", 14)
        series_days, top = pairs.changed_pairs(ctx, since, window)
        result.stats = {"folded_events": folded.events, "series_rows": series_days.num_rows}
        if top is not None:
            # the watermark moves even when nothing scores, so old rows are not re-read next time
            ctx.writer.write_state([pairs.watermark_statement(NAME, top)])
        if not series_days.num_rows:
            return result
        session = ctx.session
        _install(session)
        session.register("aw_bdays", series_days)
        session.sql("""
            CREATE OR REPLACE TEMP TABLE aw_series AS
            SELECT kind, src, dst,
                   flatten(list(ts ORDER BY day)) AS ts, flatten(list(sizes ORDER BY day)) AS sizes,
                   max(host) AS host, list_distinct(flatten(list(ports)))[1:16] AS ports,
                   flatten(list(events ORDER BY day)) AS events, sum(bytes_out) AS bytes_out, sum(bytes_in) AS bytes_in
            FROM aw_bdays GROUP BY kind, src, dst
        """)
        rng = ctx.writer.read_state(f"""
            WITH latest AS (SELECT max(day) AS d FROM pair_days)
            SELECT min(ts[1]) AS lo, max(ts[-1]) AS hi FROM pair_days, latest
            WHERE day >= latest.d - to_days({max(0, int(window) - 1)})
        """).to_pylist()[0]
        lo, hi = int(rng["lo"] or 0), int(rng["hi"] or 0)
        scales = [("window", lo, hi)]
        if hi - lo > 2 * 86400:
            scales.append(("day", hi - 86400, hi))
        session.register("aw_scales", pa.table({"scale": [s[0] for s in scales], "lo": [s[1] for s in scales],
                                                "hi": [s[2] for s in scales]}))
        min_conns = opts.get("min_conns", 6)
        scored = session.sql(f"""
            WITH all_scales AS ({scoring_sql('aw_series', 'aw_scales', min_conns=min_conns,
                                             tight=opts.get('tight_iqr', 0.1))})
            SELECT * FROM all_scales
            QUALIFY row_number() OVER (PARTITION BY kind, src, dst
                                       ORDER BY greatest(score, growth_score) DESC, scale) = 1
        """)
        session.register("aw_scored", scored)
        result.stats["scored_pairs"] = scored.num_rows
        result.findings = self._findings(ctx, opts, scored)
        return result

    def _findings(self, ctx: DetectContext, opts: Options, scored: pa.Table) -> list[Finding]:
        min_score = opts.get("min_score", 0.75)
        min_ts = opts.get("min_ts_score", 0.7)
        min_growth = opts.get("min_growth_score", 0.8)
        session = ctx.session
        cands = session.sql(f"""
            SELECT * FROM aw_scored WHERE (score >= {float(min_score) - 0.15} AND ts_score >= {float(min_ts)}) OR
                (growth_score >= {float(min_growth)} AND coalesce(ds_score, 1) >= 0.5)
        """)
        if not cands.num_rows:
            return []
        session.register("aw_cands", cands)
        ctx_rows = ctx.writer.read_state("""
            WITH latest AS (SELECT max(day) AS d FROM pair_days),
            c AS (SELECT DISTINCT kind, dst FROM aw_cands),
            w AS (SELECT p.kind, p.dst, p.src FROM pair_days p SEMI JOIN c USING (kind, dst)
                  WHERE p.day >= (SELECT d FROM latest) - to_days(?)),
            firsts AS (SELECT p.kind, p.dst, min(p.day) AS dst_first_day FROM pair_days p SEMI JOIN c USING (kind, dst)
                       GROUP BY p.kind, p.dst),
            tot AS (SELECT count(DISTINCT src) AS srcs, min(day) AS first_day FROM pair_days)
            SELECT w.kind, w.dst, count(DISTINCT w.src) AS dst_srcs, any_value(f.dst_first_day) AS dst_first_day,
                   any_value(tot.srcs) AS total_srcs, any_value(tot.first_day) AS history_start,
                   any_value(latest.d) AS latest_day
            FROM w JOIN firsts f USING (kind, dst), tot, latest
            GROUP BY w.kind, w.dst
        """, [max(0, int(opts.get("window_days", 14)) - 1)], tables={"aw_cands": cands.select(["kind", "dst"])})
        session.register("aw_ctx", ctx_rows)
        names = pairs.ip_names(ctx)
        session.register("aw_ipnames", names)
        allow = list(data_lines("beacon_allowlist.txt")) + [d for d in opts.list("allow_domains", ()) if d]
        session.register("aw_allow", domain_table(allow))
        first_days = opts.get("first_seen_days", 7)
        merged = session.sql("""
            WITH n AS (
                SELECT c.*, x.dst_srcs, x.total_srcs, x.dst_first_day, x.history_start, x.latest_day,
                       CASE WHEN c.kind = 'name' THEN [c.dst] ELSE coalesce(nm.names, []) END AS names
                FROM aw_cands c LEFT JOIN aw_ctx x USING (kind, dst)
                LEFT JOIN aw_ipnames nm ON c.kind = 'ip' AND nm.ip = c.dst
            )
            SELECT n.*, s.host, s.ports, s.events, s.bytes_out, s.bytes_in,
                   EXISTS (SELECT 1 FROM aw_allow a, unnest(n.names) AS u(nm)
                           WHERE u.nm = a.domain OR ends_with(u.nm, '.' || a.domain)) AS allowlisted
            FROM n JOIN aw_series s USING (kind, src, dst)
        """)
        findings: list[Finding] = []
        allowlisted = 0
        candidates = rows(merged)
        refs = pairs.EventRefs(ctx, [e for r in candidates for e in (r.get("events") or [])[:12]])
        known = hosts_for_ips(ctx.writer, [r["src"] for r in candidates])
        for r in candidates:
            r["host"] = r.get("host") or known.get(r["src"])
            if r["allowlisted"]:
                allowlisted += 1
                continue
            mod, why = _modifiers(r, first_days)
            final = clamp01(float(r["score"]) + mod)
            growing = float(r["growth_score"] or 0) >= min_growth and (r["ds_score"] is None or r["ds_score"] >= 0.5)
            if final >= min_score and float(r["ts_score"]) >= min_ts:
                findings.append(_finding(refs, r, "beacon.periodic", final, why))
            elif growing:
                ds = float(r["ds_score"]) if r["ds_score"] is not None else float(r["growth_score"])
                g = clamp01(0.5 * float(r["growth_score"]) + 0.25 * ds + 0.25 * float(r["coverage"] or 0) + mod)
                if g >= min_score:
                    findings.append(_finding(refs, r, "beacon.growing", g, why))
        return [f for f in findings if in_time_range(ctx, f.time)]


def _modifiers(r: dict[str, Any], first_seen_days: int) -> tuple[float, list[str]]:
    mod = 0.0
    why: list[str] = []
    total = int(r.get("total_srcs") or 0)
    dsrcs = int(r.get("dst_srcs") or 0)
    if dsrcs >= max(3, 0.25 * total) and total > 0:
        mod -= 0.15
        why.append(f"prevalent destination ({dsrcs} of {total} internal sources): -0.15")
    elif dsrcs == 1 and total >= 10:
        mod += 0.05
        why.append(f"rare destination (1 of {total} internal sources): +0.05")
    first, start, latest = r.get("dst_first_day"), r.get("history_start"), r.get("latest_day")
    if first and start and latest and (latest - start).days >= 2 * first_seen_days \
            and (latest - first).days < first_seen_days:
        mod += 0.10
        why.append(f"destination first seen {first:%Y-%m-%d} (history since {start:%Y-%m-%d}): +0.10")
    return mod, why


def _fmt_interval(seconds: float | None) -> str:
    if not seconds:
        return "?"
    s = float(seconds)
    for unit, div in (("d", 86400), ("h", 3600), ("min", 60)):
        if s >= div:
            return f"{s / div:.1f} {unit}"
    return f"{s:.0f} s"


def _finding(refs: pairs.EventRefs, r: dict[str, Any], rule: str, score: float, why: list[str]) -> Finding:
    kind, src, dst = r["kind"], r["src"], r["dst"]
    t0 = datetime.fromtimestamp(int(r["first_ts"]), UTC)
    t1 = datetime.fromtimestamp(int(r["last_ts"]), UTC)
    ports = [p for p in (r.get("ports") or []) if p]
    web = any(p in ("80", "443", "8080", "8443") for p in ports) or kind == "name"
    techniques = ["T1071", "T1071.001"] if web else ["T1071"]
    severity = Severity.HIGH if score >= 0.9 else Severity.MEDIUM if score >= 0.8 else Severity.LOW
    entities: dict[str, Any] = {"src_ip": src, "host": r.get("host")}
    if kind == "ip":
        entities["dst_ip"] = dst
        entities["domain"] = list(r.get("names") or [])[:5]
    else:
        entities["domain"] = dst
    if rule == "beacon.growing":
        title = f"Beaconing with growing intervals: {src} -> {dst} ({r['conns']} connections)"
    else:
        title = f"Beaconing: {src} -> {dst} every ~{_fmt_interval(r['median_interval'])} ({r['conns']} connections)"
    sub = {k: (round(float(r[k]), 3) if r[k] is not None else None) for k in (
        "ts_score", "ds_score", "hist_score", "dur_score", "growth_score", "score", "rita_score", "ts_skew",
        "ds_skew",
        "median_interval", "interval_mad", "median_bytes", "coverage")}
    return Finding.build(
        detector=NAME, rule_id=rule, title=title, severity=severity, time=t0, time_last=t1,
        tactics=["TA0011"], techniques=techniques, entities=entities,
        evidence=refs.evidence(list(r.get("events") or []), 10), key=[kind, src, dst], score=round(score, 3),
        description=(f"{r['conns']} connections from {src} to {dst} between {t0:%Y-%m-%d %H:%M} and "
                     f"{t1:%Y-%m-%d %H:%M} UTC; median interval {_fmt_interval(r['median_interval'])}, "
                     f"scale {r['scale']}. " + "; ".join(why)),
        extra={"kind": kind, "scale": r["scale"], "scores": sub, "modifiers": why, "ports": ports,
               "bars": r["bars"], "longest_run": r["longest_run"], "bytes_out": r.get("bytes_out"),
               "bytes_in": r.get("bytes_in"), "prevalence": {"sources": r.get("dst_srcs"),
                                                              "of": r.get("total_srcs")}},
    )
