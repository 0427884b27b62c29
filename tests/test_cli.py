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
        (["analyze", "--arch", "lenet", "--dataset", "mnist", "--samples", "-3", "--out", "x"], "at least 1"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_arguments_give_one_line_and_nonzero_exit(args: list[str], expected: str) -> None:
    done = run_cli(*args)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0] and "Traceback" not in done.stderr


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


def test_models_lists_shipped_models(real_data_dir: Path) -> None:
    done = run_cli("models")
    assert done.returncode == 0
    assert "lenet-mnist" in done.stdout and "ok" in done.stdout and "%" in done.stdout


@pytest.mark.slow  # a fresh TensorFlow process
def test_analyze_writes_every_file(tmp_path: Path, real_data_dir: Path) -> None:
    out = tmp_path / "run"
    done = run_cli("analyze", "--arch", "lenet", "--dataset", "mnist", "--samples", "1000", "--ratio", "0.7",
                   "--noise", "gaussian", "--sigma", "0.3", "--estimator", "truth", "--average", "input",
                   "--seed", "4", "--out", str(out))
    assert done.returncode == 0, done.stderr
    images = np.load(out / "class_images.npy")
    assert images.dtype == np.float32 and images.shape == (10, 28, 28)
    assert np.load(out / "counts.npy").shape == (10,)
    assert len((out / "fed_back.csv").read_text().splitlines()) == 11
    assert len((out / "template_confusion.csv").read_text().splitlines()) == 11
    assert (out / "class_images.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["settings"]["samples"] == 1000 and summary["settings"]["sigma"] == 0.3
    assert 0.5 < summary["template_accuracy"] <= 1.0  # averaged inputs at r = 0.7 look like the digits
    assert summary["images_per_second"] > 0 and summary["seconds"] > 0
    assert summary["self_classified"] == 10


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
    assert "cross-class weight products" in result["set_info_value_reference"]


@pytest.mark.slow  # LeNet with gradients on 300 stimuli
def test_analyze_writes_the_gradient_kernel_and_its_whitened_form_as_the_page_has_them(tmp_path: Path,
                                                                                      real_data_dir: Path) -> None:
    """--estimator gradient (the page's fifth grouping): Σ·E[∇ logit] in class_images.npy and E[∇ logit] in
    gradient_whitened.npy, the same as the page's run of the same settings, with its template accuracy."""
    from core import analysis
    from core.__main__ import main
    from core.data import load_dataset
    from core.noise import NoiseSpec
    from core.store import load_model

    out = tmp_path / "run"
    assert main(["analyze", "--arch", "lenet", "--dataset", "mnist", "--samples", "300", "--noise", "gaussian",
                 "--estimator", "gradient", "--part", "input", "--seed", "3", "--out", str(out)]) == 0
    data = load_dataset("mnist")
    model = load_model("lenet", "mnist")[0]
    settings = analysis.AnalysisSettings(NoiseSpec("gaussian", 0.2, 3), 0.0, gradients=True)
    state = analysis.Analyzer(model, data, "gaussian").run(settings, 300)
    kernel, whitened = analysis.class_images(state, "gradient", "noise"), analysis.gradient_kernel(state, whitened=True)
    for name, expected in (("class_images.npy", kernel.images), ("gradient_whitened.npy", whitened.images)):
        written = np.load(out / name)
        assert written.shape == (10, 28, 28) and np.allclose(written, expected, atol=1e-6 * np.abs(expected).max())
    summary = json.loads((out / "summary.json").read_text())
    assert summary["settings"]["estimator"] == "gradient" and summary["settings"]["sigma"] == 0.2
    assert summary["settings"]["part"] == "noise"  # a kernel of the noise, whatever --part asked for
    assert 0.2 < summary["gradient_whitened"]["template_accuracy"] <= 1.0  # chance is 10 %
