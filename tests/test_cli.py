"""The command line as a user runs it: a real subprocess, real data, the shipped model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.config import PROJECT_ROOT


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=300, env=env)


@pytest.mark.parametrize(
    "args, expected",
    [
        (["train", "--arch", "vgg", "--dataset", "mnist"], "invalid choice: 'vgg'"),
        (["train", "--arch", "lenet", "--dataset", "mnist", "--epochs", "0"], "must be at least 1"),
        (["train", "--arch", "lenet", "--dataset", "mnist", "--seed", "x"], "expected a whole number"),
        (["analyze", "--arch", "lenet", "--dataset", "mnist", "--ratio", "1.5", "--out", "x"], "between 0 and 1"),
        (["analyze", "--arch", "lenet", "--dataset", "mnist", "--samples", "-3", "--out", "x"],
         "between 1 and 100,000,000, got -3"),
        (["frobnicate"], "invalid choice"),
        (["analyze", "--arch", "lenet", "--dataset", "mnist", "--noise", "gaussian", "--sigma", "0", "--out", "x"],
         "must be greater than 0 and at most 1, got 0"),
        (["sta", "--arch", "lenet", "--dataset", "mnist", "--noise", "gaussian", "--sigma", "1.5", "--out", "x"],
         "must be greater than 0 and at most 1, got 1.5"),
        # the page's seeds: a run above them could not be opened on the page (a reader found 2**32 - 1 accepted)
        (["analyze", "--arch", "lenet", "--dataset", "mnist", "--seed", "2147483648", "--out", "x"],
         "must be between 0 and 2,147,483,647, got 2147483648"),
        # a ridge of inf passed the lower bound alone and zeroed every whitened kernel (a review's finding)
        (["analyze", "--arch", "lenet", "--dataset", "mnist", "--ridge", "inf", "--out", "x"],
         "argument --ridge: expected a finite number, got 'inf'"),
        (["analyze", "--arch", "lenet", "--dataset", "mnist", "--samples", "2.5", "--out", "x"],
         "expected a whole number, got '2.5'"),
        # "1e30" ran for ever, and a whole number of 309 digits overflowed math.isfinite into a traceback (a review)
        (["analyze", "--arch", "lenet", "--dataset", "mnist", "--samples", "1e30", "--out", "x"],
         "must be between 1 and 100,000,000, got 1e30"),  # as typed, not as a 31-digit number
        (["sta", "--arch", "lenet", "--dataset", "mnist", "--samples", "9" * 400, "--out", "x"],
         "must be between 1 and 100,000,000, got 999999999999… (400 characters)"),
        (["attack", "--arch", "lenet", "--dataset", "mnist", "--samples", "1e9", "--out", "x"],
         "must be between 1 and 100,000,000"),
        # named by its command, as the range errors are (argparse left it to the top parser: "python -m core:")
        (["attack", "--arch", "lenet", "--dataset", "mnist", "--average", "noise", "--out", "x"],
         "python -m core attack: error: unrecognized arguments: --average noise"),
    ],
)
def test_bad_arguments_give_one_line_and_nonzero_exit(args: list[str], expected: str) -> None:
    done = run_cli(*args)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0] and "Traceback" not in done.stderr


def test_a_whole_number_may_be_written_as_a_float() -> None:
    """Sample counts as researchers write them ("1e6"); a fraction is still refused (above)."""
    from core.__main__ import build_parser

    args = build_parser().parse_args(["analyze", "--arch", "lenet", "--dataset", "mnist", "--samples", "1e3",
                                      "--out", "x"])
    assert args.samples == 1000 and isinstance(args.samples, int)


def test_sigma_with_uniform_noise_is_refused(tmp_path: Path, real_data_dir: Path) -> None:
    done = run_cli("analyze", "--arch", "lenet", "--dataset", "mnist", "--noise", "uniform", "--sigma", "0.3",
                   "--out", str(tmp_path))
    assert done.returncode == 1 and "--sigma applies to" in done.stderr and "Traceback" not in done.stderr


def test_the_gradient_estimator_with_uniform_noise_is_refused_in_one_line(tmp_path: Path) -> None:
    """Stein's lemma needs a Gaussian behind the noise: the CLI says so, and makes no output folder."""
    out = tmp_path / "run"
    done = run_cli("analyze", "--arch", "lenet", "--dataset", "mnist", "--estimator", "gradient", "--noise",
                   "uniform", "--out", str(out))
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1 and "Gaussian" in lines[0], done.stderr
    assert not out.exists()


def test_a_cache_that_cannot_be_written_is_one_line_before_any_training(tmp_path: Path) -> None:
    """A traceback before (a reviewer), and on a read-only or full disk a finished training was lost at its save:
    the folder is tried first, and any OSError is one line."""
    import os

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    env = {**os.environ, "NOISELENS_CACHE_DIR": str(blocker / "cache")}  # a folder inside a file: ENOTDIR
    done = run_cli("train", "--arch", "lenet", "--dataset", "mnist", "--epochs", "1", env=env)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert "cannot write" in lines[0] and "Not a directory" in lines[0] and "epoch" not in done.stderr


def test_models_lists_shipped_models(real_data_dir: Path) -> None:
    done = run_cli("models")
    assert done.returncode == 0
    assert "lenet-mnist" in done.stdout and "ok" in done.stdout and "%" in done.stdout


def test_a_quiet_import_drops_the_start_up_notes_and_passes_other_lines(tmp_path: Path, capfd, monkeypatch) -> None:
    """What C++ writes to file descriptor 2 during the import is caught; only absl's early INFO lines and its
    notice about them are dropped, so a real warning, or a failed import's message, still reaches the user."""
    from core.tf_start import import_quietly

    (tmp_path / "chatty_module.py").write_text(
        "import os\n"
        "os.write(2, b'WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\\n')\n"
        "os.write(2, b'I0000 00:00:1.5 123 port.cc:153] oneDNN custom operations are on.\\n')\n"
        "os.write(2, b'E0000 00:00:1.5 123 real.cc:1] a real error\\n')\n")
    (tmp_path / "broken_module.py").write_text("raise ImportError('no such library')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    import_quietly("chatty_module")
    with pytest.raises(ImportError, match="no such library"):
        import_quietly("broken_module")
    err = capfd.readouterr().err
    assert err == "E0000 00:00:1.5 123 real.cc:1] a real error\n"


def test_start_up_notes_are_kept_when_the_user_asks_for_info_lines() -> None:
    from core.tf_start import kept_lines, start_up_notes_hidden

    assert not start_up_notes_hidden({"TF_CPP_MIN_LOG_LEVEL": "0"}) and not start_up_notes_hidden({})
    assert start_up_notes_hidden({"TF_CPP_MIN_LOG_LEVEL": "2"})
    assert kept_lines("I1207 12:00:00.1 1 a.cc:1] note\nW1207 12:00:00.1 1 a.cc:1] careful\nplain\n") == \
        "W1207 12:00:00.1 1 a.cc:1] careful\nplain\n"


def test_models_shows_no_accuracy_for_a_damaged_file_and_exits_1(temp_cache: Path, capsys) -> None:
    """A damaged file's recorded accuracy is of weights it no longer holds: the line shows "-" and the reason."""
    import shutil

    from core.__main__ import main
    from core.store import model_path

    (temp_cache / "models").mkdir(parents=True)
    for source in (PROJECT_ROOT / "cache" / "models").glob("lenet-mnist.*"):  # the shipped weights and record
        shutil.copy(source, temp_cache / "models" / source.name)
    blob = bytearray(model_path("lenet", "mnist").read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    model_path("lenet", "mnist").write_bytes(bytes(blob))
    assert main(["models"]) == 1
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("lenet-mnist "))
    assert line.split()[1:3] == ["damaged", "-"], line


@pytest.mark.slow  # a fresh TensorFlow process
def test_analyze_writes_every_file(tmp_path: Path, real_data_dir: Path) -> None:
    out = tmp_path / "run"
    done = run_cli("analyze", "--arch", "lenet", "--dataset", "mnist", "--samples", "1000", "--ratio", "0.7",
                   "--noise", "gaussian", "--sigma", "0.3", "--estimator", "truth", "--average", "input",
                   "--seed", "4", "--out", str(out))
    assert done.returncode == 0, done.stderr
    # TensorFlow's import notes (oneDNN on; absl's early-logging notice) no longer come before the command's lines
    assert "oneDNN" not in done.stderr and "absl" not in done.stderr, done.stderr
    images = np.load(out / "class_images.npy")
    assert images.dtype == np.float32 and images.shape == (10, 28, 28)
    assert np.load(out / "counts.npy").shape == (10,)
    assert len((out / "fed_back.csv").read_text().splitlines()) == 11
    assert len((out / "template_confusion.csv").read_text().splitlines()) == 11
    assert len((out / "stimulus_confusion.csv").read_text().splitlines()) == 11  # r > 0: a true class to confuse
    assert (out / "class_images.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["settings"]["samples"] == 1000 and summary["settings"]["sigma"] == 0.3
    assert 0.5 < summary["template_accuracy"] <= 1.0  # averaged inputs at r = 0.7 look like the digits
    from core.store import inspect_model

    # Which weights: after `train` the same command would use others
    assert summary["model_sha256"] == inspect_model("lenet", "mnist").metadata["sha256"]
    assert summary["model_origin"] == "shipped"
    assert 0.1 < summary["whitened"]["readout_fitted_intercepts_accuracy"] <= 1.0  # the Kernels page's fourth number
    timing = json.loads((out / "timing.json").read_text())
    assert timing["images_per_second"] > 0 and timing["seconds"] > 0 and "seconds" not in summary
    assert done.stdout.startswith("lenet-mnist, N = 1,000, r = 0.7, gaussian noise (σ 0.3), truth grouping of the "
                                  "input part, seed 4: template accuracy "), done.stdout
    assert summary["self_classified"] == 10
    # at r > 0 the templates classify the test images they were averaged from; the whitened block is the regression
    # kernel's whatever the grouping (both unlabelled before a review)
    assert summary["template_accuracy_in_sample"] is True and "% (in-sample), self-classified" in done.stdout
    assert "regression" in summary["whitened"]["of"] and ", whitened regression kernel " in done.stdout
    assert summary["whitened"]["covariance_condition_number"] == pytest.approx(1.0)  # white noise: Σ = σ²·I
    # the page's convergence curve: the mean correlation at each checkpoint with the final images, 1 at N
    curve = (out / "convergence.csv").read_text().splitlines()
    assert curve[0] == "n,mean_correlation_with_final" and curve[-1] == "1000,1.000000" and len(curve) >= 4


def test_analyze_saves_the_pages_example_strip_made_of_the_runs_own_stimuli(tmp_path: Path,
                                                                           real_data_dir: Path) -> None:
    """example_stimuli.* are the page's strip; with N = 8 and ground-truth averages of the whole input, the class
    images are these very stimuli averaged by label: the strip is the run's stimuli, not a look-alike."""
    from core.__main__ import main
    from core.data import load_dataset

    out = tmp_path / "run"
    assert main(["analyze", "--arch", "lenet", "--dataset", "mnist", "--samples", "8", "--ratio", "0.7", "--noise",
                 "gaussian", "--estimator", "truth", "--part", "input", "--seed", "5", "--out", str(out)]) == 0
    stimuli, images = np.load(out / "example_stimuli.npy"), np.load(out / "class_images.npy")
    assert stimuli.dtype == np.float32 and stimuli.shape == (8, 28, 28)
    labels = load_dataset("mnist").test_labels[:8]
    for digit in np.unique(labels):
        assert np.allclose(images[digit], stimuli[labels == digit].mean(axis=0), atol=1e-5), digit
    assert (out / "example_stimuli.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_folder_that_holds_files_or_an_empty_name_is_refused_before_the_run(tmp_path: Path, real_data_dir: Path,
                                                                              monkeypatch: pytest.MonkeyPatch,
                                                                              capsys) -> None:
    """A second run into one folder mixed two runs' files (sta replaced analyze's summary.json and left its class
    images without a record), and ``--out ""`` wrote every file into the working folder (a review)."""
    from core.__main__ import main

    out = tmp_path / "run"
    assert main(["analyze", "--arch", "lenet", "--dataset", "mnist", "--samples", "8", "--out", str(out)]) == 0
    first = {path.name: path.read_bytes() for path in out.iterdir()}
    capsys.readouterr()
    for command in (["analyze", "--arch", "lenet", "--dataset", "mnist", "--samples", "8", "--seed", "3"],
                    ["sta", "--arch", "lenet", "--dataset", "mnist", "--samples", "8"]):
        assert main([*command, "--out", str(out)]) == 1
        error = capsys.readouterr().err
        assert f"--out {out} already holds {len(first)} files (" in error and "new or empty folder" in error, error
        assert {path.name: path.read_bytes() for path in out.iterdir()} == first  # the first run as it was
    here = tmp_path / "working folder"
    here.mkdir()
    monkeypatch.chdir(here)
    assert main(["analyze", "--arch", "lenet", "--dataset", "mnist", "--samples", "8", "--out", " "]) == 1
    assert "--out is empty" in capsys.readouterr().err and not any(here.iterdir())


def strict_json(path: Path) -> dict:
    """The file as a strict JSON parser reads it: Python's NaN and Infinity are refused."""
    def refuse(constant: str) -> None:
        raise ValueError(f"{path.name} holds {constant}, which is not JSON")

    return json.loads(path.read_text(), parse_constant=refuse)


@pytest.mark.slow  # two LeNet runs of 200 stimuli, in this process
def test_a_rerun_writes_the_same_bytes_except_its_timing(tmp_path: Path, real_data_dir: Path) -> None:
    """A researcher diffs two output folders: only timing.json may differ. Uniform noise records no σ."""
    from core.__main__ import main

    folders = [tmp_path / "first", tmp_path / "second"]
    for out in folders:
        assert main(["analyze", "--arch", "lenet", "--dataset", "mnist", "--samples", "200", "--estimator", "softmax",
                     "--seed", "11", "--out", str(out)]) == 0
    names = sorted(path.name for path in folders[0].iterdir())
    assert names == sorted(path.name for path in folders[1].iterdir()) and "timing.json" in names
    for name in names:
        if name != "timing.json":
            assert (folders[0] / name).read_bytes() == (folders[1] / name).read_bytes(), name
    summary = strict_json(folders[0] / "summary.json")
    assert summary["settings"]["noise"] == "uniform" and summary["settings"]["sigma"] is None


@pytest.mark.slow  # LeNet on one stimulus, in this process
def test_one_stimulus_gives_undefined_tests_not_a_crash(tmp_path: Path, real_data_dir: Path, capsys) -> None:
    """N = 1 ended in a ZeroDivisionError (predicted) or "math domain error" (softmax): every class image is then
    zero under any responses, so infoVal has no reference; the files say null, the line says unavailable."""
    from core.__main__ import main

    for estimator in ("predicted", "softmax"):
        out = tmp_path / estimator
        assert main(["analyze", "--arch", "lenet", "--dataset", "mnist", "--samples", "1", "--estimator", estimator,
                     "--out", str(out)]) == 0
        summary = strict_json(out / "summary.json")
        tested = summary["significance"]
        assert tested["set_info_value"] is None and set(tested["info_values"]) == {None}
        strict_json(out / "significance.json")
        # the templates of one stimulus (and the regression kernel's round-off) scored 12-14 % (a review's finding)
        assert summary["template_accuracy"] is None and "undefined" in summary["whitened"]
        printed = capsys.readouterr().out
        assert "set infoVal unavailable" in printed and "template accuracy undefined (N = 1)" in printed
        assert "whitened regression kernel undefined" in printed
    # the regression kernel is a covariance: refused in one line, before any output folder
    assert main(["analyze", "--arch", "lenet", "--dataset", "mnist", "--samples", "1", "--estimator", "regression",
                 "--out", str(tmp_path / "regression")]) == 1
    assert not (tmp_path / "regression").exists()
    assert "needs at least 2 stimuli" in capsys.readouterr().err


@pytest.mark.slow  # LeNet on ten stimuli, in this process
def test_noise_averages_at_r_1_get_the_pages_warning(tmp_path: Path, real_data_dir: Path, capsys) -> None:
    from core.__main__ import main

    assert main(["analyze", "--arch", "lenet", "--dataset", "mnist", "--samples", "10", "--ratio", "1",
                 "--out", str(tmp_path / "run")]) == 0
    assert "warning: At r = 1 no noise reaches the model" in capsys.readouterr().err


def test_a_run_without_data_leaves_no_output_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """The folder is made once there is something to write. Offline here: the downloader is replaced."""
    from core import data
    from core.__main__ import main

    monkeypatch.setenv("NOISELENS_DATA_DIR", str(tmp_path / "nowhere"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))

    def offline(name: str) -> None:
        raise OSError("URL fetch failure: no network")

    monkeypatch.setattr(data, "_SOURCES", (*data._SOURCES[:2], ("Keras download", offline)))
    data.load_dataset.cache_clear()
    out = tmp_path / "run"
    try:
        assert main(["analyze", "--arch", "lenet", "--dataset", "mnist", "--samples", "10", "--out", str(out)]) == 1
    finally:
        data.load_dataset.cache_clear()
    assert "Could not load mnist" in capsys.readouterr().err and not out.exists()


@pytest.mark.parametrize("flag, text, expected", [
    ("--smooth", "2.5", 2.5), ("--smooth", "0.4", 0.4), ("--primary", "3.1", 3.1),
    ("--smooth", "0", "must be greater than 0 and at most 14, got 0"),
    ("--smooth", "-1", "must be greater than 0"), ("--smooth", "15", "must be greater than 0 and at most 14, got 15"),
    ("--primary", "nan", "must be greater than 0 and at most 10, got nan"), ("--primary", "x", "expected a number"),
])
def test_significance_flags_are_parsed_or_refused_in_one_line(flag: str, text: str, expected, capsys) -> None:
    from core.__main__ import build_parser

    argv = ["analyze", "--arch", "lenet", "--dataset", "mnist", "--out", "x", flag, text]
    if isinstance(expected, float):
        args = build_parser().parse_args(argv)
        assert getattr(args, flag[2:]) == expected
        return
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(argv)
    lines = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2 and len(lines) == 1 and f"argument {flag}: {expected}" in lines[0]


def test_significance_flags_default_to_the_page_defaults() -> None:
    from core.__main__ import build_parser
    from core.significance import DEFAULT_PRIMARY, DEFAULT_SMOOTHING

    args = build_parser().parse_args(["analyze", "--arch", "lenet", "--dataset", "mnist", "--out", "x"])
    assert (args.smooth, args.primary) == (DEFAULT_SMOOTHING, DEFAULT_PRIMARY) == (1.5, 2.7)


@pytest.mark.slow  # LeNet on 1,000 stimuli
def test_significance_output_follows_the_flags(tmp_path: Path, real_data_dir: Path) -> None:
    """--smooth 3 --primary 3.3: the thresholds of σ = 3 and u = 3.3, maps tested against them, both flags in
    summary.json, and the set infoVal of softmax class images (from the run's cross-class weight products)."""
    from core.__main__ import main
    from core.significance import field_theory_thresholds

    out = tmp_path / "run"
    assert main(["analyze", "--arch", "lenet", "--dataset", "mnist", "--samples", "1000", "--estimator", "softmax",
                 "--smooth", "3", "--primary", "3.3", "--out", str(out)]) == 0
    result = json.loads((out / "significance.json").read_text())
    expected = field_theory_thresholds(3.0, 3.3)
    assert expected.cluster_size != field_theory_thresholds(1.5, 2.7).cluster_size
    thresholds = result["thresholds"]
    assert (thresholds["smoothing"], thresholds["primary"]) == (3.0, 3.3)
    assert thresholds["pixel"] == pytest.approx(expected.pixel) and thresholds["cluster_size"] == expected.cluster_size
    maps = np.load(out / "significance_maps.npz")
    assert np.array_equal(maps["pixel_test"], np.abs(maps["smoothed_z"]) > expected.pixel)
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["settings"]["smooth"], summary["settings"]["primary"]) == (3.0, 3.3)
    assert summary["significance"]["set_info_value"] is not None
    assert result["set_info_value"] == pytest.approx(summary["significance"]["set_info_value"], abs=5e-4)
    # the reference the page's infoVal CSV shows: infoVal = (norm − median) / (1.4826 · MAD)
    whole_set = {"norm": result["set_norm"], "reference_median": result["set_reference_median"],
                 "reference_mad": result["set_reference_mad"], "info_value": result["set_info_value"]}
    for row in result["classes"] + [whole_set]:
        expected = (row["norm"] - row["reference_median"]) / (1.4826 * row["reference_mad"])
        assert row["info_value"] == pytest.approx(expected)
    assert "cross-class weight products" in result["set_info_value_reference"]


@pytest.mark.slow  # LeNet with gradients on 300 stimuli
def test_analyze_writes_the_gradient_kernel_and_its_whitened_form_as_the_page_has_them(tmp_path: Path,
                                                                                      real_data_dir: Path) -> None:
    """--estimator gradient (the page's fifth grouping): Σ·E[∇ logit] in class_images.npy and E[∇ logit] in
    gradient_whitened.npy, the same as the page's run of the same settings, with its template accuracy."""
    from core import analysis, reverse_correlation
    from core.__main__ import main
    from core.data import load_dataset
    from core.noise import NoiseSpec
    from core.store import load_model

    out = tmp_path / "run"
    assert main(["analyze", "--arch", "lenet", "--dataset", "mnist", "--samples", "300", "--noise", "gaussian",
                 "--estimator", "gradient", "--part", "input", "--seed", "3", "--out", str(out)]) == 0
    data = load_dataset("mnist")
    model = load_model("lenet", "mnist")[0]
    settings = reverse_correlation.AnalysisSettings(NoiseSpec("gaussian", 0.2, 3), 0.0, gradients=True)
    state = reverse_correlation.Analyzer(model, data, "gaussian").run(settings, 300)
    kernel, whitened = analysis.class_images(state, "gradient", "noise"), analysis.gradient_kernel(state, whitened=True)
    for name, expected in (("class_images.npy", kernel.images), ("gradient_whitened.npy", whitened.images)):
        written = np.load(out / name)
        assert written.shape == (10, 28, 28) and np.allclose(written, expected, atol=1e-6 * np.abs(expected).max())
    summary = json.loads((out / "summary.json").read_text())
    assert summary["settings"]["estimator"] == "gradient" and summary["settings"]["sigma"] == 0.2
    assert summary["settings"]["part"] == "noise"  # a kernel of the noise, whatever --part asked for
    assert 0.2 < summary["gradient_whitened"]["template_accuracy"] <= 1.0  # chance is 10 %


@pytest.mark.slow  # the page in AppTest, then a fresh TensorFlow process
def test_the_command_a_page_shows_recomputes_its_numbers(tmp_path: Path, real_data_dir: Path,
                                                        monkeypatch) -> None:
    """A researcher copies the command under Confusion heatmaps and runs it: the same template accuracy, the same
    fed-back matrix, and the page's ZIP of CSVs holds the command's files (Confusion had no download at all)."""
    import io
    import re
    import shlex
    import zipfile

    from tests.apptest import assert_clean, downloaded, figure_data, keeping_downloads, open_page, plotly_array

    keeping_downloads(monkeypatch)
    at = open_page("pages/confusion.py", n="1000", r="0.5", estimator="softmax", part="noise", seed="3")
    assert_clean(at)
    with zipfile.ZipFile(io.BytesIO(downloaded(at, "csv"))) as archive:
        zipped = {name: archive.read(name).decode() for name in archive.namelist()}
    [command] = [code.value for code in at.code if code.value.startswith("python -m core analyze")]
    words = shlex.split(command)
    out = tmp_path / "run"
    words[words.index("--out") + 1] = str(out)
    done = run_cli(*words[3:])
    assert done.returncode == 0, done.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["settings"]["samples"] == 1000 and summary["settings"]["estimator"] == "softmax"
    caption = next(c.value for c in at.caption if "real test images" in c.value)
    # to the digit the command prints (two decimals: with one, 0.1395 read "14.0" here and "13.95%" there)
    assert re.search(r"Accuracy \*\*([\d.]+)%\*\*", caption).group(1) == f"{summary['template_accuracy']:.2%}"[:-1]
    fed_back = np.loadtxt(out / "fed_back.csv", delimiter=",", skiprows=1, usecols=range(1, 11))
    assert np.allclose(plotly_array(figure_data(at, 0)[0]["z"]), fed_back, atol=1e-5)  # the page's fed-back heatmap
    # r > 0: the stimuli's confusion too, counts that add up to N, on the page and from the command
    assert list(zipped) == ["fed_back.csv", "stimulus_confusion.csv", "template_confusion.csv"]
    for name, text in zipped.items():
        written = (out / name).read_text()
        assert text.splitlines()[0] == written.splitlines()[0], name  # the same header
        page_values, cli_values = (np.loadtxt(io.StringIO(t), delimiter=",", skiprows=1, usecols=range(1, 11))
                                   for t in (text, written))
        assert np.allclose(page_values, cli_values, atol=1e-5), name
    assert np.loadtxt(out / "stimulus_confusion.csv", delimiter=",", skiprows=1, usecols=range(1, 11)).sum() == 1000


def test_the_page_s_zip_of_csvs_holds_the_command_line_s_files_byte_for_byte() -> None:
    """Classification images' "CSVs of the matrices (ZIP)": the command's file names and bytes, the same ZIP for the
    same tables (once, two tables went into one file that no CSV reader takes whole)."""
    import io
    import zipfile

    from core.runs import csv_zip

    files = {"fed_back.csv": "class_image,p_0\n0,0.5\n", "template_confusion.csv": "true_class,pred_0\n0,3\n"}
    packed = csv_zip(files)
    assert packed == csv_zip(dict(files))  # no clock in it
    with zipfile.ZipFile(io.BytesIO(packed)) as archive:
        assert archive.namelist() == list(files)
        assert {name: archive.read(name).decode() for name in files} == files


@pytest.mark.parametrize(("accuracy", "model_free", "names"), [
    (None, False, ["fed_back.csv", "template_confusion.csv"]),  # r = 0: no test image, no true class
    (0.9, True, ["fed_back.csv", "template_confusion.csv"]),  # the model-free preview has no answers
    (0.9, False, ["fed_back.csv", "stimulus_confusion.csv", "template_confusion.csv"])])
def test_the_stimuli_s_confusion_is_written_only_where_the_stimuli_have_a_true_class(accuracy, model_free,
                                                                                     names) -> None:
    from types import SimpleNamespace

    from core.analysis import matrices_csvs

    confusion = np.arange(100).reshape(10, 10)
    state = SimpleNamespace(stimulus_accuracy=accuracy, model_free=model_free,
                            sums=SimpleNamespace(confusion=confusion))
    files = matrices_csvs([str(k) for k in range(10)], state, np.full((10, 10), 0.1), confusion)
    assert list(files) == names
    if "stimulus_confusion.csv" in files:
        assert files["stimulus_confusion.csv"].splitlines()[1] == "0," + ",".join(str(k) for k in range(10))
