"""Fixture files the project writes itself (never copied from ../shared)."""

from __future__ import annotations

import random
from pathlib import Path

import orjson

T0 = 1709287200.0  # 2024-03-01T10:00:00Z


def make_jsonl(path: Path, n: int, *, seed: int = 0, start: float = T0, step: float = 1.0,
               bad_lines: dict[int, bytes] | None = None) -> Path:
    """n generic JSON-lines records (time-ordered); `bad_lines` replaces given 1-based lines."""
    rnd = random.Random(seed)
    bad_lines = bad_lines or {}
    with open(path, "wb") as f:
        for i in range(1, n + 1):
            if i in bad_lines:
                f.write(bad_lines[i] + b"\n")
                continue
            rec = {"@timestamp": start + i * step, "host": {"name": f"WS{rnd.randrange(20):02d}.corp.example"},
                   "event": {"code": 4688}, "message": f"record {i} " + "x" * rnd.randrange(40)}
            f.write(orjson.dumps(rec) + b"\n")
    return path
