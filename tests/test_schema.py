"""The schema is data: DDL, Arrow schemas, Sigma maps and docs come from one module."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa

from aptwatch.model.schema import (
    COMMON_NAMES,
    EVENT_TABLES,
    EVENTS,
    STATE_TABLES,
    arrow_schema,
    duckdb_ddl,
    render_markdown,
    sigma_fields,
)

REPO = Path(__file__).resolve().parents[1]
REQUIRED_TABLES = {"process", "network", "dns", "http", "tls", "file", "registry", "image_load", "auth", "account",
                   "persistence", "script", "ids_alert", "generic"}


def test_docs_schema_is_generated_and_current() -> None:
    on_disk = (REPO / "docs" / "schema.md").read_text()
    assert on_disk.strip() == render_markdown().strip(), (
        "docs/schema.md is stale: run `python -m aptwatch.model.schema > docs/schema.md`")


def test_required_tables_and_common_columns() -> None:
    assert set(EVENTS) >= REQUIRED_TABLES
    for t in EVENT_TABLES:
        names = t.column_names
        assert names[: len(COMMON_NAMES) - 2] == list(COMMON_NAMES[:-2]), t.name
        assert names[-2:] == ["data", "raw"], t.name
        for c in t.columns:
            assert c.doc.strip(), f"{t.name}.{c.name} has no doc"


def test_ddl_runs_and_matches_arrow_schema() -> None:
    con = duckdb.connect()
    for t in (*EVENT_TABLES, *STATE_TABLES):
        con.execute(duckdb_ddl(t, f'"{t.name}"'))
        empty = con.sql(f'SELECT * FROM "{t.name}"').to_arrow_table()
        assert empty.column_names == t.column_names
    for t in EVENT_TABLES:
        schema = arrow_schema(t)
        assert isinstance(schema, pa.Schema) and schema.names == t.column_names


def test_sigma_aliases_are_unique_per_table() -> None:
    for t in EVENT_TABLES:
        seen: dict[str, str] = {}
        for c in t.columns:
            for alias in c.sigma:
                assert alias not in seen, f"{t.name}: Sigma field {alias} maps to {seen.get(alias)} and {c.name}"
                seen[alias] = c.name
        assert sigma_fields(t) == seen
