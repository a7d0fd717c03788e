"""aptwatch's process settings (runtime.py), each checked in a fresh interpreter: they are process-wide."""

from __future__ import annotations

import os
import subprocess
import sys

import pyarrow as pa
import pytest

PROBE = ("import pyarrow as pa; from aptwatch.runtime import configure_process; "
         "configure_process(); print(pa.default_memory_pool().backend_name)")


def _pool_after_configure(env_pool: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    if env_pool:
        env["ARROW_DEFAULT_MEMORY_POOL"] = env_pool
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def _has_jemalloc() -> bool:
    try:
        pa.jemalloc_memory_pool()
    except NotImplementedError:
        return False
    return True


@pytest.mark.skipif(not _has_jemalloc(), reason="this pyarrow build has no jemalloc")
def test_aptwatch_processes_use_jemalloc() -> None:
    assert _pool_after_configure(None) == "jemalloc"


def test_the_users_arrow_pool_choice_stands() -> None:
    assert _pool_after_configure("system") == "system"


def test_the_library_alone_leaves_the_pool_alone() -> None:
    """Importing and using aptwatch as a library does not touch the embedding process's pool."""
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    code = ("import pyarrow as pa; before = pa.default_memory_pool().backend_name; "
            "import aptwatch.ingest, aptwatch.store; print(before == pa.default_memory_pool().backend_name)")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"

