"""Query engines, registered here with one line each.

An engine is a class constructed with the `Store`; `Store.engine(name)` picks one. DuckDB is the
embedded reference engine and the default.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aptwatch.registry import Registry
from aptwatch.store.base import Engine
from aptwatch.store.duckdb import DuckDBEngine

if TYPE_CHECKING:
    from aptwatch.store import Store


@dataclass(frozen=True)
class EngineSpec:
    name: str
    description: str
    make: Callable[[Store], Engine]


ENGINES: Registry[EngineSpec] = Registry("engine", [
    EngineSpec("duckdb", "Embedded DuckDB over the Parquet lake (default).", DuckDBEngine),
])

DEFAULT_ENGINE = "duckdb"
