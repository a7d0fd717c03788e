"""Slow exfiltration: bytes trickling out to one external destination over days and weeks (TA0010).

Input: the `pair_days` aggregate (internal source -> external address, per UTC day: bytes out and
in, connections), folded incrementally from flow logs (see `pairs.py`). For every source with new
flows, each of its destinations is scored over the window (`window_days`, default 28):

- volume: bytes sent to the destination over the window; at least `min_bytes` (default 5 MB);
- out/in ratio: uploads dominate (`min_ratio`, default 3: browsing and downloads are the reverse);
- spread: the bytes came on at least `min_days` distinct days (default 2): slow, chunked transfer
  (T1030). Single-day transfers, however chunked, are out of this analytic's scope (a day of media
  uploads to a social network looks the same);
- own baseline: robust z-score (median / 1.4826 MAD, log10 bytes) of this destination's volume
  against the source's other external destinations;
- peers: robust z-score of the source's total upload volume against every internal source's total
  in the same window, and the destination's prevalence (how many internal sources use it);
- cloud storage / file sharing: the destination's names (DNS answers, SNI, Host) fall under a domain
  of `data/cloud_storage_domains.txt` (T1567.002).

score = 0.25 volume (log10(bytes / min_bytes) / 2, capped) + 0.20 ratio ((ratio - 1) / 9)
        + 0.20 rarity (1 when the destination has one internal source, 0.5 for two, else 0; only counted
          when the window has >= 5 internal sources)
        + 0.15 own (z / 3) + 0.10 peers (z / 3), renormalised to 0.9 over the terms that can be computed
        (rarity and peers need >= 5 internal sources in the window, own baseline >= 3 destinations of the
        source), + 0.10 cloud storage;
reported at `min_score` (default 0.55) when volume, ratio and spread hold.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from aptwatch.detect.analytics import pairs
from aptwatch.detect.analytics.common import (
    Options,
    clamp01,
    data_lines,
    domain_table,
    hosts_for_ips,
    in_time_range,
    rows,
)
from aptwatch.detect.base import DetectContext, Detector, DetectorResult, DetectSettings
from aptwatch.model.finding import Finding, Severity

NAME = "exfil"


class SlowExfil(Detector):
    name: ClassVar[str] = NAME
    description: ClassVar[str] = ("Slow exfiltration: upload-heavy flows to one destination over days, against "
                                  "the host's own baseline and its peers; uploads to cloud storage")

    def applies(self, settings: DetectSettings, tables: Any) -> bool:
        return "network" in tables

    def run(self, ctx: DetectContext) -> DetectorResult:
        opts = Options(ctx, NAME)
        result = DetectorResult()
        folded = pairs.fold(ctx)
        since = None if opts.get("rebuild", False) else pairs.watermark(ctx, NAME)
        window = int(opts.get("window_days", 28))
        scored = ctx.writer.read_state(f"""
            WITH latest AS (SELECT max(day) AS d FROM pair_days),
            w AS (SELECT p.* FROM pair_days p, latest
                  WHERE p.kind = 'ip' AND p.day >= latest.d - to_days({window - 1})),
            touched AS (SELECT DISTINCT src FROM pair_days
                        WHERE kind = 'ip' AND (CAST(? AS TIMESTAMPTZ) IS NULL OR updated_at > ?)),
            pr AS (SELECT src, dst, sum(coalesce(bytes_out, 0)) AS bytes_out, sum(coalesce(bytes_in, 0)) AS bytes_in,
                          count(DISTINCT day) AS days, sum(conns) AS conns, min(day) AS first_day, max(day) AS last_day,
                          max(host) AS host, flatten(list(events ORDER BY day)) AS events,
                          list(struct_pack(day := day, bytes := bytes_out) ORDER BY day) AS daily
                   FROM w GROUP BY src, dst),
            prev AS (SELECT dst, count(DISTINCT src) AS dst_srcs FROM w GROUP BY dst),
            own AS (SELECT src, median(log10(bytes_out + 1)) AS own_med, mad(log10(bytes_out + 1)) AS own_mad,
                           count(*) AS own_n, sum(bytes_out) AS src_total FROM pr GROUP BY src),
            fleet AS (SELECT median(log10(src_total + 1)) AS f_med, mad(log10(src_total + 1)) AS f_mad,
                             count(*) AS f_n FROM own)
            SELECT pr.*, prev.dst_srcs, own.own_med, own.own_mad, own.own_n, own.src_total, fleet.*
            FROM pr JOIN touched USING (src) JOIN prev USING (dst) JOIN own USING (src), fleet
            WHERE pr.bytes_out >= ?
        """, [since, since, int(opts.get("min_bytes", 5_000_000))])
        top = ctx.writer.read_state("SELECT max(updated_at) FROM pair_days").column(0)[0].as_py()
        if top is not None:
            ctx.writer.write_state([pairs.watermark_statement(NAME, top)])
        result.stats = {"folded_events": folded.events, "candidates": scored.num_rows}
        if not scored.num_rows:
            return result
        names = {r["ip"]: list(r["names"] or []) for r in rows(pairs.ip_names(ctx))}
        cloud = {d for d in data_lines("cloud_storage_domains.txt")} | set(opts.list("cloud_domains", ()))
        cloud_t = domain_table(cloud)
        cloud_set = set(cloud_t.column(0).to_pylist())
        out: list[Finding] = []
        cands = rows(scored)
        refs = pairs.EventRefs(ctx, [e for r in cands for e in (r.get("events") or [])[:12]])
        known = hosts_for_ips(ctx.writer, [r["src"] for r in cands])
        for r in cands:
            r["host"] = r.get("host") or known.get(r["src"])
            f = _score(refs, r, names.get(r["dst"], []), cloud_set, opts)
            if f is not None and in_time_range(ctx, f.time):
                out.append(f)
        result.findings = out
        return result


def _under(name: str, domains: set[str]) -> str | None:
    parts = name.split(".")
    for i in range(len(parts)):
        cand = ".".join(parts[i:])
        if cand in domains:
            return cand
    return None


def _robust_z(x: float, med: float | None, mad: float | None) -> float:
    if med is None:
        return 0.0
    scale = 1.4826 * float(mad or 0.0)
    return (x - float(med)) / max(scale, 0.25)  # floor: a quarter decade when the baseline is flat


def _score(refs: pairs.EventRefs, r: dict[str, Any], names: list[str], cloud: set[str],
           opts: Options) -> Finding | None:
    import math

    min_bytes = int(opts.get("min_bytes", 5_000_000))
    out_b, in_b = int(r["bytes_out"]), int(r["bytes_in"])
    ratio = out_b / max(in_b, 1)
    if ratio < opts.get("min_ratio", 3.0):
        return None
    if int(r["days"]) < opts.get("min_days", 2):
        return None
    cloud_hit = next((c for n in names if (c := _under(n, cloud))), None)
    volume = clamp01(math.log10(max(out_b, 1) / max(min_bytes, 1)) / 2)
    ratio_t = clamp01((ratio - 1) / 9)
    dst_srcs = int(r["dst_srcs"] or 0)
    # rarity means something only in a fleet: with a handful of sources every destination is "rare"
    fleet = int(r["f_n"] or 0)
    rarity = 0.0 if fleet < 5 else 1.0 if dst_srcs <= 1 else 0.5 if dst_srcs == 2 else 0.0
    own_z = _robust_z(math.log10(out_b + 1), r["own_med"], r["own_mad"]) if int(r["own_n"] or 0) >= 3 else 0.0
    peer_z = _robust_z(math.log10(int(r["src_total"] or 0) + 1), r["f_med"], r["f_mad"]) \
        if int(r["f_n"] or 0) >= 3 else 0.0
    # terms that need a fleet (rarity, peers) or a history (own destinations) are left out, and the weights
    # renormalised, when there is none: a lone host is judged on what can be known about it
    terms = [(0.25, volume), (0.20, ratio_t)]
    if fleet >= 5:
        terms += [(0.20, rarity), (0.10, clamp01(peer_z / 3))]
    if int(r["own_n"] or 0) >= 3:
        terms.append((0.15, clamp01(own_z / 3)))
    score = 0.9 * sum(w * v for w, v in terms) / sum(w for w, _ in terms) + (0.10 if cloud_hit else 0.0)
    if score < opts.get("min_score", 0.55):
        return None
    src, dst = r["src"], r["dst"]
    first_day: datetime = r["first_day"]
    last_day: datetime = r["last_day"]
    sev = Severity.HIGH if score >= 0.8 else Severity.MEDIUM if score >= 0.65 else Severity.LOW
    techniques = ["T1048"]
    if cloud_hit:
        techniques = ["T1567.002", "T1567"]
    techniques.append("T1030")
    mb = out_b / 1e6
    return Finding.build(
        detector=NAME, rule_id="exfil.slow", severity=sev, time=first_day, time_last=last_day,
        title=f"Upload-heavy transfer: {src} sent {mb:,.1f} MB to {cloud_hit or dst} over {r['days']} day(s)",
        tactics=["TA0010"], techniques=techniques,
        entities={"src_ip": src, "dst_ip": dst, "host": r.get("host"), "domain": names[:5]},
        evidence=refs.evidence(list(r["events"] or []), 10), key=[src, dst], score=round(score, 3),
        description=(f"{out_b:,} bytes out vs {in_b:,} in (ratio {ratio:.1f}) in {r['conns']} connections on "
                     f"{r['days']} day(s) {first_day:%Y-%m-%d}..{last_day:%Y-%m-%d}; destination used by "
                     f"{dst_srcs} internal source(s); z vs own destinations {own_z:.1f}, vs peers {peer_z:.1f}"
                     + (f"; cloud storage / file sharing ({cloud_hit})" if cloud_hit else "") + "."),
        extra={"bytes_out": out_b, "bytes_in": in_b, "ratio": round(ratio, 2), "days": r["days"],
               "connections": r["conns"], "destination_sources": dst_srcs, "own_z": round(own_z, 2),
               "peer_z": round(peer_z, 2), "cloud_storage": cloud_hit, "names": names[:10],
               "daily_bytes_out": [{"day": d["day"].strftime("%Y-%m-%d"), "bytes": d["bytes"]}
                                   for d in (r.get("daily") or [])][-28:],
               "terms": {"volume": round(volume, 3), "ratio": round(ratio_t, 3), "rarity": rarity}},
    )
