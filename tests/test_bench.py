"""The benchmarks still run: each in its --quick smoke mode (the smallest sizes; the numbers mean nothing)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.config import PROJECT_ROOT

# These run one after the other in ONE Python process, each as ``python <script> --quick`` runs it: as
# __main__ through runpy, its own folder first on sys.path, its own argv, stdout, stderr and exit status. Importing
# TensorFlow (several seconds) is then paid once instead of once each. What the sharing could hide, a script that
# only starts because an earlier one imported something for it, is checked by starting each alone with --help.
SHARED = {"bench/speed.py": "ratio", "bench/science.py": "self", "bench/layers.py": "32 filters",
          "bench/noise.py": "the exact float32 product takes", "bench/chunk_shapes.py": "on the ladder",
          "bench/fair_share.py": "beside the long run, now"}

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


def quick_run(script: str, *extra: str, timeout: float = 600) -> str:
    """``script --quick`` in a process of its own (a server and browsers it starts are its children); its output."""
    done = subprocess.run([sys.executable, script, "--quick", *extra], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.slow
def test_dashboard_benchmark_smoke_run(real_data_dir: Path) -> None:
    """A Streamlit server and headless Chromium: its own process, as it always is."""
    done = quick_run("bench/dashboard.py")
    assert "GFLOP/s" in done and "complete picture" in done and "page's own cost" in done
    assert "engine alone" in done and "interactive" in done
    assert "the network alone timed beside it" in done and "lenet uniform" in done
    assert "press to complete picture: server" in done
    assert "press to first picture: server" in done
    assert ("gradient kernel (Stein, white-box; gaussian noise, r = 0), N = 100: converged kernel on screen"
            in done)


@pytest.mark.slow
def test_walks_replay_smoke_run(real_data_dir: Path) -> None:
    """A Streamlit server and three headless Chromium walkers, each in a process of its own."""
    done = quick_run("bench/walks_replay.py")
    assert "GFLOP/s" in done and "server peak RSS" in done


@pytest.mark.slow
def test_soak_smoke_run(real_data_dir: Path) -> None:
    """A Streamlit server and a headless Chromium visitor wandering for half a minute; no page shows an exception."""
    done = quick_run("bench/soak.py")
    assert "GFLOP/s" in done and "server peak RSS" in done
    assert "pages with an exception: 0" in done, done[-2000:]


def test_soak_visits_the_app_with_settings_its_links_accept() -> None:
    """The soak's random addresses open the app's pages with parameters its link schema parses (a page or a
    parameter renamed would leave the soak measuring defaults), and the same seed gives the same day."""
    import random

    from bench.soak import random_address, settings_vocabulary
    from core.link import PARAMS

    pages = {path.stem for path in (PROJECT_ROOT / "pages").glob("*.py")} - {"__init__", "home"}
    vocabulary = settings_vocabulary()
    addresses = [random_address(random.Random(7), vocabulary) for _ in range(2)]
    assert addresses[0] == addresses[1]
    rng, seen = random.Random(0), set()
    for _ in range(500):
        page, query = random_address(rng, vocabulary).split("?")
        assert page[1:] in pages | {""}
        seen.add(page[1:])
        for pair in filter(None, query.split("&")):
            name, value = pair.split("=")
            PARAMS[name].parse(value)  # raises on a value the app refuses
    assert seen == pages | {""}


def test_soak_replays_an_earlier_day_in_order(tmp_path: Path) -> None:
    """``--replay``: each visitor walks the addresses an earlier run's visitor logged, in order, and stops there."""
    import itertools
    import json

    from bench.soak import addresses_of

    logged = ["/class_images?n=100", "/attack?arch=alexnet", "/?seed=3"]
    log = tmp_path / "visitor0.jsonl"
    log.write_text("".join(json.dumps({"address": a, "exception": None}) + "\n" for a in logged))
    assert list(addresses_of(5, log)) == logged
    assert len(list(itertools.islice(addresses_of(5, None), 10))) == 10  # random ones never run out


def test_recorded_walks_are_addresses_of_the_app() -> None:
    """Every address a walk (or a soak's recorded day) replays opens one of the app's pages (a page renamed would
    leave the walk testing a 404)."""
    pages = {path.stem for path in (PROJECT_ROOT / "pages").glob("*.py")} - {"__init__", "home"}
    walks = sorted((PROJECT_ROOT / "bench" / "walks").glob("walk*.txt"))
    assert len(walks) == 3
    for walk in walks:
        for address in walk.read_text().split():
            assert address.startswith("/")
            assert address[1:].split("?")[0] in pages | {""}, address
    from bench.soak import addresses_of

    days = sorted((PROJECT_ROOT / "bench" / "walks" / "day1").glob("visitor*.jsonl"))  # bench/soak.py --replay
    assert len(days) == 3
    for day in days:
        for address in addresses_of(0, day):
            assert address[1:].split("?")[0] in pages | {""}, address


def test_dashboard_cpu_to_the_complete_picture_is_read_between_samples() -> None:
    """The CPU spent from the press to the complete picture comes from cumulative samples taken every 20 ms:
    read off the line between the samples around each instant, so a press between two samples is not rounded
    to either."""
    from bench.dashboard import cpu_between

    samples = [(100.0, 5.0, 1.0), (100.1, 5.2, 1.0), (100.2, 5.2, 1.5)]  # server, then browser, busy
    assert cpu_between(samples, 100.05, 100.15) == pytest.approx((0.1, 0.25))
    assert cpu_between(samples, 100.0, 100.2) == pytest.approx((0.2, 0.5))


# --- bench/stein.py: black-box vs gradient (Stein) kernel -------------------------------------------------


def test_stein_ratios_are_bounds_when_the_black_box_never_gets_there() -> None:
    """A black-box race that ran to its cap gives a lower bound from its whole run; a gradient that never got
    there gives no ratio at all."""
    from bench.stein import Race, ratios

    gradient = Race("gradient", 2, 1000, reached=50, seconds=0.5, curve=[(10, 0.9, 0.1), (50, 0.96, 0.5)])
    reached = Race("regression", 1, 10_000, reached=5000, seconds=10.0, curve=[(5000, 0.95, 10.0)])
    capped = Race("regression", 1, 10_000, seconds=8.0, curve=[(5000, 0.8, 4.0), (10_000, 0.9, 9.0)])
    assert ratios(reached, gradient) == {"stimuli_ratio": 100.0, "time_ratio": 20.0, "bound": "exact"}
    assert ratios(capped, gradient)["stimuli_ratio"] == 200.0
    assert ratios(capped, gradient)["time_ratio"] == 16.0  # one run of all its stimuli, not the staged race's 9 s
    assert ratios(capped, gradient)["bound"].startswith("lower bound")
    assert ratios(reached, Race("gradient", 2, 50, curve=[(50, 0.5, 0.5)]))["stimuli_ratio"] is None
    assert capped.best == 0.9


def test_stein_snapshots_lie_on_a_fine_grid_up_to_the_cap() -> None:
    """A count is the first snapshot at or above the target: the grid's steps bound how far above it can be."""
    from bench.stein import snapshot_points

    assert snapshot_points(1000) == [10, 15, 20, 30, 50, 70, 100, 150, 200, 300, 500, 700, 1000]
    assert snapshot_points(250) == [10, 15, 20, 30, 50, 70, 100, 150, 200, 250]
    points = snapshot_points(1_000_000)
    assert points[-1] == 1_000_000 and all(1.0 < b / a <= 5 / 3 for a, b in zip(points, points[1:]))


def test_stein_correlation_is_the_mean_over_classes() -> None:
    from bench.stein import mean_correlation

    rng = np.random.default_rng(0)
    reference = rng.standard_normal((10, 28, 28))
    flipped = reference.copy()
    flipped[:5] *= -2.0  # correlation −1 for half the classes, +1 (scale-free) for the rest
    assert mean_correlation(3.0 * reference + 1.0, reference) == pytest.approx(1.0)
    assert mean_correlation(flipped, reference) == pytest.approx(0.0, abs=1e-12)


def test_stein_report_of_results_that_kept_only_a_median_of_three() -> None:
    """Results saved before every timed run was kept (bench/results/stein.json) still make their report, and say
    what their medians are of."""
    from bench.stein import RESULTS, report

    saved = json.loads((RESULTS / "stein.json").read_text())
    text = report(saved["records"], "header", saved["target"])
    assert "(median of 3)" in text and "gradient not kept, black-box not kept" in text


@pytest.mark.slow
def test_stein_benchmark_smoke_run(real_data_dir: Path, tmp_path: Path) -> None:
    """--quick on lenet-mnist: the gradient kernel reaches the (quick) target from fewer stimuli than the black-box
    one, its templates classify the test set above chance, and the report has every row."""
    done = quick_run("bench/stein.py", "--out", str(tmp_path / "stein"), timeout=300)
    assert "ratios black-box / gradient" in done
    saved = json.loads((tmp_path / "stein.json").read_text())
    (record,) = saved["records"]
    gradient, blackbox = record["gradient"], record["blackbox"]
    assert gradient["reached"] is not None and gradient["reached"] <= 200
    assert record["stimuli_ratio"] >= 5 and record["time_ratio"] > 1
    stopped_at = blackbox["curve"][-1][0]  # where it got there, or its cap, the reference's N
    assert stopped_at == (blackbox["reached"] or record["reference_samples"]) and record["reference_samples"] == 5000
    counts = [n for n, _, _ in gradient["curve"]]
    assert counts == sorted(counts) and counts[0] == 10  # compared from the first early snapshot on
    assert all(0.2 < accuracy < 1.0 for accuracy in record["templates"].values())  # chance is 10 %
    assert saved["gemm_start"] > 0 and saved["gemm_end"] > 0
    for race_ in (gradient, blackbox):  # the time is the median of seven timed runs, each kept
        assert len(race_["run_times"]) == 7 and race_["seconds"] == pytest.approx(np.median(race_["run_times"]))
    report = (tmp_path / "stein.md").read_text()
    assert "(median of 7)" in report
    assert re.search(r"- lenet / mnist / gaussian: gradient \d+\.\d{3}–\d+\.\d{3} s, black-box \d+\.\d{3}–", report)
    assert "| mnist | lenet | gaussian σ=0.2 | whitened gradient E[∇] | 1,000 |" in report
    rebuilt = subprocess.run([sys.executable, "bench/stein.py", "--report-only", str(tmp_path / "stein.json")],
                             cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert rebuilt.returncode == 0, rebuilt.stderr[-2000:]
    assert (tmp_path / "stein.md").read_text() == report  # the same table, rebuilt from the saved numbers alone
    assert f"gradient: 10: {gradient['curve'][0][1]:.3f}" in report


# --- bench/ab.py: versions timed against each other ---------------------------------------------------------


def test_ab_rotates_the_order_of_the_versions_from_round_to_round() -> None:
    from bench.ab import round_order

    orders = [round_order(["a", "b", "c"], r) for r in range(6)]
    assert [order[0] for order in orders[:3]] == ["a", "b", "c"]  # each first once per rotation
    assert orders[3:] == [["c", "b", "a"], ["a", "c", "b"], ["b", "a", "c"]]  # then the other way round
    assert all(sorted(order) == ["a", "b", "c"] for order in orders)
    assert [round_order(["a", "b"], r) for r in range(4)] == [["a", "b"], ["b", "a"], ["b", "a"], ["a", "b"]]


def test_ab_counts_the_rounds_each_version_was_fastest_in() -> None:
    from bench.ab import lowest_in_rounds

    assert lowest_in_rounds({"a": [0.8, 0.7, 0.9], "b": [0.9, 0.6, 0.8]}) == {"a": 1, "b": 2}


def test_ab_checks_out_a_revision_beside_this_checkout_and_removes_it() -> None:
    from bench.ab import checkouts

    with checkouts(["HEAD", "."]) as found:
        revision, here = found["HEAD"][0], found["."][0]
        assert (revision / "app.py").is_file() and (revision / "cache" / "models" / "lenet-mnist.keras").is_file()
        assert here == PROJECT_ROOT.resolve() and found["HEAD"][1].startswith("commit ")
    assert not revision.exists()
    listed = subprocess.run(["git", "worktree", "list"], cwd=PROJECT_ROOT, capture_output=True, text=True).stdout
    assert str(revision) not in listed


@pytest.mark.slow
def test_ab_benchmark_smoke_run(real_data_dir: Path) -> None:
    """This checkout against itself, one round of one change at N = 1,000: the numbers mean nothing."""
    done = subprocess.run([sys.executable, "bench/ab.py", ".", ".", "--rounds", "1", "--changes", "1", "--pause", "0",
                           "--link", "n=1000&arch=lenet&r=0.0&estimator=softmax&part=noise"],
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "GFLOP/s" in done.stdout and "round 1, .#0: first picture" in done.stdout
    assert ".#1: first" in done.stdout and "lowest in" in done.stdout


def test_dashboard_times_the_first_picture_made_from_enough_stimuli() -> None:
    """A converged kernel is on screen from the first picture made from at least the stimuli it needs, partial or
    not; without a count (or when no partial picture had enough) from the complete picture, whose Plotly
    figure carries no count."""
    from bench.dashboard import first_with

    pictures, shown, whole = [10, 20, 30, 40], [50, 100, 200, None], [False, False, True, True]
    assert first_with(pictures, shown, whole, 70) == 20
    assert first_with(pictures, shown, whole, 100) == 20
    assert first_with(pictures, shown, whole, 20) == 10
    assert first_with(pictures, shown, whole, None) == 30
    assert first_with(pictures, shown, whole, 500) == 30


def test_dashboard_reads_the_converged_count_of_each_model_from_the_stein_results(tmp_path: Path) -> None:
    from bench.dashboard import stein_converged

    results = tmp_path / "stein.json"
    results.write_text(json.dumps({"records": [
        {"arch": "lenet", "dataset": "mnist", "noise": "data", "gradient": {"reached": 15}},
        {"arch": "lenet", "dataset": "mnist", "noise": "gaussian", "gradient": {"reached": 20}},
        {"arch": "alexnet", "dataset": "mnist", "noise": "gaussian", "gradient": {"reached": None}}]}))
    assert stein_converged("lenet", "mnist", results) == 20
    assert stein_converged("alexnet", "mnist", results) is None
    assert stein_converged("lenet", "fashion_mnist", results) is None
    assert stein_converged("lenet", "mnist", tmp_path / "missing.json") is None


def run_with_the_ledger(folder: Path, *arguments: str, trace: str = "1") -> list[dict]:
    """A Python process started in ``folder`` with the ledger's folder on its path, as ``soak.py --ledger`` starts
    the server; it holds 64 MB of NumPy data from its first second on, taken on line 3 of its script. The
    ledger's lines."""
    ledger, script = folder / "ledger.jsonl", folder / "holder.py"
    script.write_text("import time, numpy as np\ntime.sleep(0.8)\nheld = np.ones(2**23)\ntime.sleep(1.6)\n")
    environment = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT / "bench" / "ledger"),
                   "NOISELENS_LEDGER": str(ledger), "NOISELENS_LEDGER_SECONDS": "0.5", "NOISELENS_LEDGER_TRACE": trace}
    subprocess.run([sys.executable, script.name, *arguments], cwd=folder, env=environment, check=True, timeout=120)
    return [json.loads(row) for row in ledger.read_text().splitlines()] if ledger.exists() else []


def test_the_memory_ledger_finds_the_line_that_holds_the_memory(tmp_path: Path) -> None:
    """In a Streamlit server (its command line says so), the ledger traces allocations: 64 MB taken after its first
    line show as growth, charged to the project's line that took them; any other process is left alone (the
    soak's visitors start with the same environment)."""
    lines = run_with_the_ledger(tmp_path, "streamlit", "run")
    assert len(lines) >= 3 and lines[0]["traced"] < 2**25
    assert lines[-1]["traced"] - lines[0]["traced"] >= 2**26
    assert lines[-1]["rss_anon"] > 2**26 and lines[-1]["malloc_in_use"] >= 2**26
    site, grown = lines[-1]["grew_most"][0]
    assert site == "holder.py:3" and grown >= 2**26
    (tmp_path / "ledger.jsonl").unlink()
    assert run_with_the_ledger(tmp_path, "--visitor", "3") == []
    untraced = run_with_the_ledger(tmp_path, "streamlit", "run", trace="0")  # the cheap ledger: no tracemalloc
    assert len(untraced) >= 3 and "traced" not in untraced[-1] and untraced[-1]["malloc_in_use"] >= 2**26


def test_the_ledger_report_is_a_table_in_megabytes_then_the_growth(tmp_path: Path) -> None:
    from bench.soak import ledger_report

    ledger = tmp_path / "ledger.jsonl"
    first = {"minute": 5.0, "rss": 2**30, "rss_anon": 2**29, "traced": 2**27, "sessions": 12, "connected": 3}
    last = {**first, "minute": 10.0, "rss": 3 * 2**29, "grew_most": [["core/runs.py:80", 50 * 2**20]]}
    ledger.write_text(json.dumps(first) + "\n" + json.dumps(last) + "\n")
    report = ledger_report(ledger)
    assert report[0].split()[3:] == ["minute", "rss", "rss_anon", "traced", "sessions"]  # only what was written
    assert report[1].split()[:4] == ["5.0", "1,024", "512", "128"] and report[1].endswith("12 (3 connected)")
    assert report[2].split()[:2] == ["10.0", "1,536"]
    assert report[-1].split() == ["50.0", "core/runs.py:80"]
    assert ledger_report(tmp_path / "none.jsonl") == [f"memory ledger: nothing written to {tmp_path / 'none.jsonl'}"]


def test_a_servers_output_is_read_as_it_comes_so_a_chatty_server_never_stalls() -> None:
    """``streamlit_server``'s reader: 1 MB of lines (sixteen times a pipe's buffer) must not block the printer."""
    import time

    from tests.browser import _drained

    printer = subprocess.Popen([sys.executable, "-c", "import sys\nfor _ in range(10_000): print('y' * 99)"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = _drained(printer)
    assert printer.wait(timeout=30) == 0  # without the reader this waits for ever on a full pipe
    deadline = time.time() + 10
    while len(lines) < 10_000 and time.time() < deadline:
        time.sleep(0.05)
    assert len(lines) == 10_000 and lines[-1] == "y" * 99


def test_the_timeline_hook_stamps_the_pictures_a_server_draws(tmp_path: Path) -> None:
    """``bench/cloud_timeline.py``'s hook, on the path of a process that imports the app's modules: a partial
    picture the pacing draws is one line, with its start, end and stimuli; a pacing call that draws nothing is
    none; a process without ``NOISELENS_TIMELINE`` is left alone."""
    timeline = tmp_path / "timeline.txt"
    script = tmp_path / "pages.py"
    script.write_text(
        "import time\n"
        "import core.reverse_correlation, core.plots_live, core.pacing\n"
        "import streamlit.runtime.scriptrunner.script_runner\n"
        "time.sleep(1.5)\n"
        "pacing = core.pacing.RedrawPacing(started=0.0)\n"
        "assert pacing.draw_if_due(100, 10_000, lambda: time.sleep(0.05), clock=lambda: 1.0)\n"
        "assert not pacing.draw_if_due(200, 10_000, lambda: None, clock=lambda: 1.01)  # too soon: no picture\n")
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT / "bench" / "timeline"),
                                                                str(PROJECT_ROOT)])}
    subprocess.run([sys.executable, script.name], cwd=tmp_path, env={**environment, "NOISELENS_TIMELINE":
                   str(timeline)}, check=True, timeout=120)
    (event, start, end, done), = (line.split() for line in timeline.read_text().splitlines())
    assert event == "partial" and done == "100" and 0.04 <= float(end) - float(start) < 1.0
    timeline.unlink()
    subprocess.run([sys.executable, script.name], cwd=tmp_path, env=environment, check=True, timeout=120)
    assert not timeline.exists()
