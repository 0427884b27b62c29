"""The benchmarks still run: each in its --quick smoke mode (the smallest sizes; the numbers mean nothing)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from core.config import PROJECT_ROOT

# These three run one after the other in ONE Python process, each as ``python <script> --quick`` runs it: as
# __main__ through runpy, its own folder first on sys.path, its own argv, stdout, stderr and exit status. Importing
# TensorFlow (several seconds) is then paid once instead of three times. What the sharing could hide, a script that
# only starts because an earlier one imported something for it, is checked by starting each alone with --help.
SHARED = {"bench/speed.py": "ratio", "bench/science.py": "self", "bench/layers.py": "32 filters"}

RUNNER = r"""
import json, runpy, sys, traceback
from pathlib import Path

out, scripts = Path(sys.argv[1]), json.loads(sys.argv[2])
base_path = sys.path[1:]  # without python -c's '' (the working folder), which `python script` does not add
for script, args in scripts.items():
    name, status = Path(script).stem, 0
    with open(out / f"{name}.out", "w") as stdout, open(out / f"{name}.err", "w") as stderr:
        sys.stdout, sys.stderr = stdout, stderr
        sys.argv, sys.path[:] = [script, *args], [str(Path(script).resolve().parent), *base_path]
        try:
            runpy.run_path(script, run_name="__main__")
        except SystemExit as stop:
            status = stop.code if isinstance(stop.code, int) else int(stop.code is not None)
        except BaseException:
            traceback.print_exc()
            status = 1
        finally:
            sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
    (out / f"{name}.status").write_text(str(status))
"""


@pytest.fixture(scope="module")
def shared_run(real_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Runs the SHARED benchmarks' --quick modes in one process; their outputs and exit statuses land in a folder."""
    out = tmp_path_factory.mktemp("bench")
    scripts = {script: ["--quick", *(["--out", str(out / "science")] if "science" in script else [])]
               for script in SHARED}
    done = subprocess.run([sys.executable, "-c", RUNNER, str(out), json.dumps(scripts)], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    return out


@pytest.mark.slow
@pytest.mark.parametrize("script, expected", list(SHARED.items()))
def test_benchmark_smoke_run(script: str, expected: str, shared_run: Path) -> None:
    name = Path(script).stem
    status = (shared_run / f"{name}.status").read_text()
    assert status == "0", (shared_run / f"{name}.err").read_text()[-2000:]
    assert expected in (shared_run / f"{name}.out").read_text()


@pytest.mark.parametrize("script", list(SHARED))
def test_benchmark_starts_alone(script: str) -> None:
    done = subprocess.run([sys.executable, script, "--help"], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "--quick" in done.stdout


@pytest.mark.slow
def test_dashboard_benchmark_smoke_run(real_data_dir: Path) -> None:
    """A Streamlit server and headless Chromium: its own process, as it always is."""
    done = subprocess.run([sys.executable, "bench/dashboard.py", "--quick"], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "whole-page redraw median = network alone" in done.stdout
