"""The `aptwatch` console script: process environment first (runtime.py), then the CLI.

A module of its own because the environment must be set before pyarrow loads, and importing the CLI
(cli/main.py) loads it.
"""

from __future__ import annotations

from aptwatch.runtime import prepare_environment


def run() -> None:
    """Console-script entry point."""
    prepare_environment()
    from aptwatch.cli.main import run as cli_run

    cli_run()
