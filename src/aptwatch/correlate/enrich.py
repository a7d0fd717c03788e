"""What the stored events add to a chunk of findings (read through an engine `Session`).

Two cheap lookups, each one SQL query over the lake bounded by the chunk's hosts, event ids and
time span:

1. **Evidence events.** A finding points at its events (`evidence[].table`, `event_id`). Their
   process GUID, parent GUID and image, logon id, user and addresses become extra entities, so
   findings of one process tree or one logon session link even when the detector did not name
   those fields.
2. **Logons to the finding's host** (`auth`: network and remote-interactive logons, SSH, RDP)
   from internal addresses in the `edge_window` before the finding: "connection then logon on
   the destination". A host that receives logons from many sources (a domain controller, a file
   server) makes weak edges: the weight falls as `8 / distinct sources`.
Addresses are mapped to hosts by the store's address context (`context/addresses.py`:
`AddressBook.resolve(ip, at)`, learned from DHCP, Kerberos, logons, Sysmon connections, DNS and
alert agents), so edges land on the host's own findings; unresolved addresses stay as they are (a
host key may be an address).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pyarrow as pa

from aptwatch.model.schema import EVENTS
from aptwatch.store.base import Session

#: event column -> entity kind it provides
EVIDENCE_COLUMNS: dict[str, str] = {
    "process_guid": "process_guid",
    "parent_process_guid": "parent_process_guid",
    "parent_path": "parent_image",
    "source_process_guid": "process_guid",
    "logon_id": "logon_id",
    "user": "user",
    "source_user": "user",
    "target_user": "user",
    "src_ip": "src_ip",
    "dst_ip": "dst_ip",
}
#: a host receiving logons from more distinct sources than this is a hub; its edges weigh HUB / n
HUB_SOURCES = 8
MAX_LOGON_SOURCES = 5


@dataclass
class Enrichment:
    #: finding id -> kind -> values taken from its evidence events
    extra: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    #: finding id -> [(address, hub factor)] of logons on its host shortly before it
    logons: dict[str, list[tuple[str, float]]] = field(default_factory=dict)


def evidence_entities(session: Session, refs: Sequence[tuple[str, str, str]], lo: datetime | None,
                      hi: datetime | None) -> dict[str, dict[str, list[str]]]:
    """refs: (finding id, table, event id) -> finding id -> kind -> values."""
    by_table: dict[str, list[tuple[str, str]]] = {}
    for fid, table, eid in refs:
        if table in EVENTS and eid:
            by_table.setdefault(table, []).append((fid, eid))
    present = set(session.event_tables())
    out: dict[str, dict[str, list[str]]] = {}
    for table, pairs in by_table.items():
        if table not in present:
            continue
        cols = [c for c in EVIDENCE_COLUMNS if EVENTS[table].has(c)]
        if not cols:
            continue
        session.register("want_events", pa.table({"fid": [p[0] for p in pairs], "eid": [p[1] for p in pairs]}))
        where = ""
        params: list[object] = []
        if lo is not None and hi is not None:
            where = "AND e.time BETWEEN ? AND ?"
            params = [lo - timedelta(days=1), hi + timedelta(days=1)]
        select = ", ".join(f'CAST(e."{c}" AS VARCHAR) AS "{c}"' for c in cols)
        rows = session.sql(f'SELECT w.fid, {select} FROM "{table}" e JOIN want_events w ON w.eid = e.event_id '
                           f"WHERE true {where}", params).to_pylist()
        for r in rows:
            per = out.setdefault(r["fid"], {})
            for c in cols:
                v = r.get(c)
                if v is not None and str(v).strip() and str(v).strip() != "-":
                    kind = EVIDENCE_COLUMNS[c]
                    vals = per.setdefault(kind, [])
                    if v not in vals:
                        vals.append(str(v))
    return out


def logon_sources(session: Session, items: Sequence[tuple[str, str, datetime]], window: timedelta
                  ) -> dict[str, list[tuple[str, float]]]:
    """items: (finding id, host, time) -> finding id -> [(source address, hub factor)]."""
    if not items or "auth" not in session.event_tables():
        return {}
    lo = min(t for _, _, t in items) - window
    hi = max(t for _, _, t in items)
    session.register("want_logons", pa.table({
        "fid": [i[0] for i in items], "host": [i[1] for i in items],
        "t": pa.array([i[2] for i in items], pa.timestamp("us", tz="UTC"))}))
    rows = session.sql("""
        WITH l AS (
            SELECT host, lower(src_ip) AS src, time FROM auth
            WHERE host IN (SELECT DISTINCT host FROM want_logons) AND time BETWEEN ? AND ?
              AND src_ip IS NOT NULL AND src_ip NOT IN ('-', '::1', '127.0.0.1', '')
              AND coalesce(action, 'logon') IN ('logon', 'ssh', 'rdp', 'session_reconnect')
              AND coalesce(outcome, 'success') = 'success'
              AND (logon_type IS NULL OR logon_type IN (3, 10))
        ), deg AS (SELECT host, count(DISTINCT src) AS n FROM l GROUP BY host)
        SELECT w.fid, l.src, max(l.time) AS last, any_value(deg.n) AS n
        FROM want_logons w JOIN deg ON deg.host = w.host
        JOIN l ON l.host = w.host AND l.time BETWEEN w.t - to_microseconds(?) AND w.t
        WHERE deg.n <= ?
        GROUP BY w.fid, l.src
        QUALIFY row_number() OVER (PARTITION BY w.fid ORDER BY max(l.time) DESC, l.src) <= ?
    """, [lo, hi, int(window.total_seconds() * 1_000_000), HUB_SOURCES * 20, MAX_LOGON_SOURCES]).to_pylist()
    out: dict[str, list[tuple[str, float]]] = {}
    for r in rows:
        out.setdefault(r["fid"], []).append((r["src"], min(1.0, HUB_SOURCES / max(1, int(r["n"])))))
    return out
