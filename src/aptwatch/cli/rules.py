"""`aptwatch rules ...`: check Sigma rules, configure rule folders and suppressions in a store."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import orjson
import typer
import yaml

from aptwatch.cli.common import OutOpt, StoreOpt, WaitOpt, err_console, jsonl, open_store, output, table_text
from aptwatch.detect.sigma.compiler import compile_rules, validate
from aptwatch.detect.sigma.detector import META_RULE_PATHS
from aptwatch.detect.sigma.loader import load_rules
from aptwatch.detect.sigma.sql import rule_sql
from aptwatch.detect.sigma.suppress import load_file, to_rows
from aptwatch.errors import InputError, RuleError
from aptwatch.model.schema import EVENTS

app = typer.Typer(help="Sigma rules: check them, configure rule folders and suppressions.", no_args_is_help=True,
                  add_completion=False, rich_markup_mode=None)

PathsArg = Annotated[list[Path], typer.Argument(help="Rule files or folders (SigmaHQ layout).", show_default=False)]
FormatOpt = Annotated[str, typer.Option("--format", help="table | jsonl")]
PlaceholdersOpt = Annotated[Path | None, typer.Option("--placeholders", help="YAML map: placeholder name -> "
                                                                             "list of values (for |expand).")]


def read_placeholders(path: Path | None) -> dict[str, list[str]] | None:
    if path is None:
        return None
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as e:
        raise RuleError(f"cannot read placeholders: {e}", location=str(path)) from None
    if not isinstance(data, dict):
        raise RuleError("placeholders file must be a map of name -> values", location=str(path))
    return {str(k): [str(x) for x in (v if isinstance(v, list) else [v])] for k, v in data.items()}


def check(paths: PathsArg, fmt: FormatOpt = "table", placeholders: PlaceholdersOpt = None, out: OutOpt = None,
          show_sql: Annotated[bool, typer.Option("--sql", help="Also print each rule's SQL (jsonl only).")] = False,
          strict: Annotated[bool, typer.Option("--strict", help="Exit 7 when any rule does not compile.")] = False,
          ) -> None:
    """Compile every rule under PATH: each one compiles or is listed with the reason it does not."""
    for p in paths:
        if not p.exists():
            raise InputError("no such file or directory", location=str(p))
    compiled = compile_rules(load_rules(paths), read_placeholders(placeholders))
    validate(compiled)
    rows = []
    for r in compiled.rules:
        row = {"status": "ok", "rule_id": r.uid, "title": r.meta.title, "level": r.meta.level.value,
               "logsource": "/".join(x or "-" for x in r.meta.logsource),
               "tables": ",".join(r.tables) or ("channel:" + ",".join(r.channels) if r.channels else "*"),
               "path": r.meta.path, "reason": ""}
        if show_sql:
            row["sql"] = rule_sql(r.node, EVENTS[(r.tables or ("generic",))[0]])
        rows.append(row)
    for c in compiled.correlations:
        rows.append({"status": "ok", "rule_id": c.meta.uid, "title": c.meta.title, "level": c.meta.level.value,
                     "logsource": f"correlation:{c.type}", "tables": "sigma_matches", "path": c.meta.path,
                     "reason": ""})
    for prob in compiled.problems:
        rows.append({"status": prob.stage, "rule_id": prob.rule_id or "", "title": prob.title or "", "level": "",
                     "logsource": "", "tables": "", "path": prob.path, "reason": prob.reason})
    with output(out) as f:
        if fmt == "jsonl":
            jsonl(rows, f)
        else:
            bad = [r for r in rows if r["status"] != "ok"]
            table_text(["status", "title", "path", "reason"], bad, f, title=f"{len(bad)} rule(s) not compiled")
    total = len(compiled.rules) + len(compiled.correlations) + len(compiled.problems)
    ok = len(compiled.rules) + len(compiled.correlations)
    by_stage = Counter(p.stage for p in compiled.problems)
    detail = ", ".join(f"{k} {v}" for k, v in sorted(by_stage.items()))
    err_console().print(f"rules check: {ok:,} of {total:,} compiled ({(100.0 * ok / total) if total else 100:.1f}%) "
                        f"from {compiled.files:,} file(s)" + (f"; not compiled: {detail}" if detail else ""),
                        markup=False)
    if strict and compiled.problems:
        raise typer.Exit(RuleError.exit_code)


def _paths(store: StoreOpt) -> tuple[list[str], object]:
    st = open_store(store)
    with st.state.connect(read_only=True) as con:
        row = con.execute("SELECT value FROM meta WHERE key = ?", [META_RULE_PATHS]).fetchone()
    return (orjson.loads(row[0]) if row and row[0] else []), st


def _save_paths(st: object, paths: list[str], wait: float) -> None:
    from aptwatch.store import Store

    assert isinstance(st, Store)
    with st.writer("rules", wait=wait) as w:
        w.write_state([("INSERT OR REPLACE INTO meta VALUES (?, ?)", [META_RULE_PATHS, orjson.dumps(paths).decode()])])


def add(paths: PathsArg, store: StoreOpt = None, wait: WaitOpt = 0.0) -> None:
    """Configure rule folders or files in the store: `detect` runs them without --rules."""
    current, st = _paths(store)
    for p in paths:
        if not p.exists():
            raise InputError("no such file or directory", location=str(p))
        ap = str(p.resolve())
        if ap not in current:
            current.append(ap)
    _save_paths(st, current, wait)
    err_console().print(f"rules: {len(current)} rule path(s) configured", markup=False)


def remove(paths: PathsArg, store: StoreOpt = None, wait: WaitOpt = 0.0) -> None:
    """Remove configured rule paths."""
    current, st = _paths(store)
    gone = {str(p.resolve()) for p in paths} | {str(p) for p in paths}
    kept = [p for p in current if p not in gone]
    _save_paths(st, kept, wait)
    err_console().print(f"rules: {len(current) - len(kept)} removed, {len(kept)} configured", markup=False)


def list_paths(store: StoreOpt = None, out: OutOpt = None) -> None:
    """List the rule paths configured in the store."""
    current, _ = _paths(store)
    with output(out) as f:
        for p in current:
            f.write(p + "\n")


def suppress(file: Annotated[Path, typer.Argument(help="Suppression YAML file (docs/detections.md).")],
             store: StoreOpt = None, wait: WaitOpt = 0.0) -> None:
    """Load a suppression file into the store (replacing earlier rule suppressions)."""
    if not file.exists():
        raise InputError("no such file or directory", location=str(file))
    sups = load_file(file)
    st = open_store(store)
    now = datetime.now(UTC)
    rows = to_rows(sups, now)
    with st.writer("rules", wait=wait) as w:
        w.write_state([("DELETE FROM suppressions WHERE scope = 'rule'", None),
                     *[("INSERT OR REPLACE INTO suppressions VALUES (?, ?, ?, ?, ?, ?, ?, ?)", list(r)) for r in rows]])
    active = sum(1 for s in sups if s.active(now))
    err_console().print(f"rules: {len(sups)} suppression(s) stored, {active} active", markup=False)


def register(main: typer.Typer, wrap: object) -> None:
    """Attach the group to the main app; `wrap` turns user errors into exit codes."""
    from collections.abc import Callable
    from typing import Any, cast

    w = cast("Callable[[Callable[..., Any]], Callable[..., Any]]", wrap)
    app.command("check")(w(check))
    app.command("add")(w(add))
    app.command("remove")(w(remove))
    app.command("list")(w(list_paths))
    app.command("suppress")(w(suppress))
    main.add_typer(app, name="rules")
