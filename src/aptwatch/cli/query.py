"""`aptwatch query`, `aptwatch status`, `aptwatch formats`: looking into the store."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from aptwatch.cli.common import OutOpt, StoreOpt, open_store, output, table_text, write_arrow
from aptwatch.context.networks import configured_networks
from aptwatch.sources import sniff_order


class QueryFormat(StrEnum):
    table = "table"
    jsonl = "jsonl"
    csv = "csv"


def query(
    sql: Annotated[str, typer.Argument(help="SQL (DuckDB dialect) over event tables, `events`, findings, "
                                            "campaigns, warnings, sources, ...", show_default=False)],
    store: StoreOpt = None,
    fmt: Annotated[QueryFormat, typer.Option("--format", "-f", help="Output format.")] = QueryFormat.table,
    out: OutOpt = None,
) -> None:
    """Run read-only SQL over the store (SELECT / EXPLAIN only; no file access)."""
    st = open_store(store)
    with st.session(with_state=True, read_only_sql=True) as s:
        result = s.sql(sql)
    with output(out) as f:
        write_arrow(result, fmt.value, f)


def status(store: StoreOpt = None) -> None:
    """Summarise the store: events per table, sources, warnings, findings, campaigns."""
    st = open_store(store)
    with st.session(with_state=True) as s:
        tables = s.sql("SELECT table_name, sum(rows) AS events, count(*) AS files, min(min_time) AS first, "
                       "max(max_time) AS last FROM files WHERE status = 'active' GROUP BY ALL ORDER BY 2 DESC")
        counts = s.sql("SELECT (SELECT count(*) FROM sources) AS sources, (SELECT count(*) FROM warnings) AS warnings, "
                       "(SELECT count(*) FROM findings) AS findings, (SELECT count(*) FROM campaigns) AS campaigns"
                       ).to_pylist()[0]
        reasons = s.sql("SELECT reason, count(*) AS n FROM warnings GROUP BY ALL ORDER BY n DESC LIMIT 10")
        addresses = s.sql("SELECT count(DISTINCT ip) AS n FROM host_addresses").to_pylist()[0]["n"]
    with output(None) as f:
        table_text(tables.column_names, tables.to_pylist(), f, title=f"store {st.root}")
        f.write(", ".join(f"{k}: {v:,}" for k, v in counts.items()) + "\n")
        f.write(f"internal networks: {', '.join(configured_networks(st).cidrs)}; "
                f"addresses mapped to hosts: {addresses:,}\n")
        if reasons.num_rows:
            f.write("warnings by reason: " + ", ".join(f"{r['reason']} {r['n']:,}" for r in reasons.to_pylist())
                    + "\n")


def formats(out: OutOpt = None) -> None:
    """List the log formats aptwatch reads, in the order content is offered to them."""
    rows = [{"name": s.name, "priority": s.priority, "description": s.description} for s in sniff_order()]
    with output(out) as f:
        table_text(["name", "priority", "description"], rows, f)
