"""Typed records crossing the parser -> ingest boundary.

Parsers yield `TableBatch` (a columnar batch of events for one event table) and
`IngestWarning` (a record that could not be read as it should). Batches are Arrow tables
whose columns are a subset of the event table's schema; ingest fills the common columns
it owns (event_id, source, ingest_id, table_name, format) and casts to the table schema.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from aptwatch.model.schema import arrow_schema, event_table

#: columns ingest fills itself; a parser must not set them
INGEST_OWNED = ("event_id", "source", "ingest_id", "table_name", "format")


@dataclass(frozen=True)
class IngestWarning:
    """A bad record (or file): stored in `warnings`, counted, never raised."""

    reason: str
    detail: str = ""
    position: int | None = None

    @staticmethod
    def excerpt(data: bytes | str, limit: int = 160) -> str:
        """A bounded, printable excerpt of offending input for the warning detail."""
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
        text = text.replace("\n", "\\n").replace("\r", "\\r")
        return text[:limit] + ("..." if len(text) > limit else "")


@dataclass(frozen=True)
class TableBatch:
    """Events for one event table, columnar."""

    table: str
    data: pa.Table

    def __post_init__(self) -> None:
        t = event_table(self.table)
        unknown = [n for n in self.data.column_names if not t.has(n)]
        if unknown:
            raise ValueError(f"batch for {self.table} has columns not in the schema: {unknown}")
        owned = [n for n in self.data.column_names if n in INGEST_OWNED]
        if owned:
            raise ValueError(f"batch for {self.table} sets ingest-owned columns: {owned}")
        for required in ("time", "record", "raw"):
            if required not in self.data.column_names:
                raise ValueError(f"batch for {self.table} lacks required column {required}")

    @property
    def num_rows(self) -> int:
        return int(self.data.num_rows)


class RowBuffer:
    """Collects rows (dicts of column -> value) per event table and emits TableBatches.

    For parsers that work record by record (EVTX, syslog). Values must already have the
    column's Python type (str, int, float, bool, aware datetime); unknown keys raise.
    """

    def __init__(self, batch_rows: int = 20_000) -> None:
        self.batch_rows = batch_rows
        self._rows: dict[str, list[Mapping[str, Any]]] = {}

    def add(self, table: str, row: Mapping[str, Any]) -> TableBatch | None:
        """Add a row; returns a full batch when the table's buffer reached batch_rows."""
        rows = self._rows.setdefault(table, [])
        rows.append(row)
        if len(rows) >= self.batch_rows:
            return self._take(table)
        return None

    def flush(self) -> Iterator[TableBatch]:
        for table in list(self._rows):
            if self._rows[table]:
                yield self._take(table)

    def _take(self, table: str) -> TableBatch:
        rows = self._rows.pop(table)
        schema = arrow_schema(event_table(table))
        present: dict[str, None] = {}
        for r in rows:
            present.update(dict.fromkeys(r))
        fields = [schema.field(n) for n in schema.names if n in present]
        return TableBatch(table, pa.Table.from_pylist(list(rows), schema=pa.schema(fields)))
