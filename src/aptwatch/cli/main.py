"""The `aptwatch` command: registration of every command, and error handling.

Each command group lives in its own module; registering a command is one line below.
User errors (`AptwatchError`) print one line on stderr and exit with the code documented
in docs/cli.md; tracebacks are for bugs only.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from aptwatch import __version__
from aptwatch.cli import correlate as correlate_cmds
from aptwatch.cli import detect as detect_cmds
from aptwatch.cli import ingest as ingest_cmds
from aptwatch.cli import query as query_cmds
from aptwatch.cli import results as results_cmds
from aptwatch.cli import rules as rules_cmds
from aptwatch.cli import simulate as simulate_cmds
from aptwatch.errors import AptwatchError
from aptwatch.runtime import configure_process

F = TypeVar("F", bound=Callable[..., Any])

app = typer.Typer(
    name="aptwatch",
    help="Find advanced persistent threats in security telemetry.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def guarded(fn: F) -> F:
    """Turn user errors into one stderr line and the error's exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except AptwatchError as e:
            sys.stderr.write(f"aptwatch: error: {e}\n")
            raise typer.Exit(e.exit_code) from None
        except BrokenPipeError:
            raise typer.Exit(0) from None

    return wrapper  # type: ignore[return-value]


def command(name: str, fn: Callable[..., Any]) -> None:
    app.command(name)(guarded(fn))


command("ingest", ingest_cmds.ingest)
command("detect", detect_cmds.detect)
command("hunt", detect_cmds.hunt)
command("findings", results_cmds.findings)
command("campaigns", results_cmds.campaigns)
command("query", query_cmds.query)
command("status", query_cmds.status)
command("formats", query_cmds.formats)
command("correlate", correlate_cmds.correlate)
command("replay", correlate_cmds.replay)
command("suppress", correlate_cmds.suppress)
command("suppressions", correlate_cmds.suppressions)
command("unsuppress", correlate_cmds.unsuppress)

command("simulate", simulate_cmds.simulate)
command("demo", simulate_cmds.demo)

rules_cmds.register(app, guarded)


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"aptwatch {__version__}\n")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Show the version and exit.")) -> None:
    """Find advanced persistent threats in security telemetry."""
    configure_process()


def run() -> None:
    """Console-script entry point."""
    app(prog_name="aptwatch")


if __name__ == "__main__":  # pragma: no cover
    run()
