"""`aptwatch simulate`: writes logs and ground truth, refuses to overwrite, lists profiles."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "aptwatch.cli.main", *args], capture_output=True, text=True)


def test_simulate_writes_logs_and_truth(tmp_path: Path) -> None:
    out = tmp_path / "sim"
    r = run("simulate", str(out), "--hosts", "10", "--days", "2", "--seed", "3", "--profile", "lazarus",
            "--campaign-start", "0", "--windows-format", "otrf", "--noise", "0.3")
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""  # summary and progress go to stderr
    assert "campaign sim-lazarus-s3-1" in r.stderr and "hunt them with: aptwatch hunt" in r.stderr
    assert list((out / "logs" / "windows").glob("nxlog-*.json"))
    assert (out / "truth" / "ground_truth.jsonl").stat().st_size > 0
    assert (out / "truth" / "org.json").exists() and (out / "simulation.json").exists()


def test_simulate_refuses_non_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "x").write_text("keep me")
    r = run("simulate", str(tmp_path), "--days", "1", "--hosts", "8")
    assert r.returncode == 3 and "not empty" in r.stderr and "Traceback" not in r.stderr


def test_simulate_bad_values_are_one_line_errors(tmp_path: Path) -> None:
    r = run("simulate", str(tmp_path / "a"), "--profile", "apt99")
    assert r.returncode == 3 and r.stderr.startswith("aptwatch: error:") and "unknown profile" in r.stderr
    r = run("simulate", str(tmp_path / "b"), "--start", "yesterday")
    assert r.returncode == 3 and "YYYY-MM-DD" in r.stderr
    r = run("simulate", str(tmp_path / "c"), "--windows-format", "evtx")
    assert r.returncode == 3 and "windows-format" in r.stderr


def test_list_profiles() -> None:
    r = run("simulate", "--list-profiles")
    assert r.returncode == 0
    for key in ("apt29", "apt28", "apt41", "lazarus"):
        assert key in r.stdout
