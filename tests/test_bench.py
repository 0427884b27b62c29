"""The benchmarks still run: each in its --quick smoke mode (tiny N; the numbers mean nothing)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from core.config import PROJECT_ROOT


@pytest.mark.parametrize("script, expected", [("bench/speed.py", "ratio"), ("bench/science.py", "self"),
                                              ("bench/layers.py", "32 filters"),
                                              ("bench/dashboard.py", "whole-page redraw median = network alone")])
def test_benchmark_smoke_run(script: str, expected: str, real_data_dir, tmp_path) -> None:
    extra = ["--out", str(tmp_path / "science")] if "science" in script else []
    done = subprocess.run([sys.executable, script, "--quick", *extra], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert expected in done.stdout
