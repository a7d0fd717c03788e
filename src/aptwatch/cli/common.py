"""Shared CLI pieces: options, consoles, output writers."""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO, Annotated, Any

import orjson
import pyarrow as pa
import typer
from rich.console import Console
from rich.table import Table

from aptwatch.store import Store

StoreOpt = Annotated[
    Path | None,
    typer.Option("--store", help="Store directory. Default: $APTWATCH_STORE, else ./.aptwatch.", show_default=False),
]
WaitOpt = Annotated[
    float, typer.Option("--wait", help="Seconds to wait for a busy store before giving up.", min=0.0)
]
OutOpt = Annotated[Path | None, typer.Option("-o", "--output", help="Write to FILE instead of stdout.")]


def err_console() -> Console:
    """Progress, logs and messages: stderr, never mixed with machine output."""
    return Console(stderr=True, highlight=False, soft_wrap=True)


def open_store(path: Path | None) -> Store:
    return Store.open(path, create=False)


@contextmanager
def output(path: Path | None) -> Iterator[IO[str]]:
    if path is None:
        yield sys.stdout
        sys.stdout.flush()
    else:
        with open(path, "w", encoding="utf-8", newline="") as f:
            yield f


def _plain(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.isoformat().replace("+00:00", "Z")
    return v


def jsonl(rows: Iterable[Mapping[str, Any]], out: IO[str]) -> int:
    n = 0
    for r in rows:
        out.write(orjson.dumps(r, default=str, option=orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC).decode())
        out.write("\n")
        n += 1
    return n


def csv_rows(columns: Sequence[str], rows: Iterable[Mapping[str, Any]], out: IO[str]) -> None:
    w = csv.writer(out)
    w.writerow(columns)
    for r in rows:
        w.writerow([_cell(r.get(c)) for c in columns])


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, list | dict):
        return orjson.dumps(v, default=str).decode()
    return str(_plain(v))


def table_text(columns: Sequence[str], rows: Iterable[Mapping[str, Any]], out: IO[str], title: str | None = None,
               max_width: int = 80) -> None:
    """A rich table rendered to `out`. Cell text is shown literally (no markup): logs are attacker-written."""
    t = Table(title=title, show_lines=False, header_style="bold")
    for c in columns:
        t.add_column(c, overflow="fold", max_width=max_width)
    for r in rows:
        t.add_row(*[_cell(r.get(c))[:2000] for c in columns])
    console = Console(file=out, width=200 if not out.isatty() else None, highlight=False, markup=False,
                      emoji=False, soft_wrap=False)
    console.print(t)


def write_arrow(table: pa.Table, fmt: str, out: IO[str]) -> None:
    rows = table.to_pylist()
    if fmt == "jsonl":
        jsonl(rows, out)
    elif fmt == "csv":
        csv_rows(table.column_names, rows, out)
    else:
        table_text(table.column_names, rows, out)

