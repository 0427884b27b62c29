"""What each ``python -m core`` command does, kept apart from argument parsing."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from core.config import models_dir
from core.data import DataUnavailableError, IdxFormatError
from core.runs import settings_line
from core.tf_start import import_tensorflow_quietly


class UserFacingError(RuntimeError):
    """A problem the user can fix; printed as one line."""


def _train(args: argparse.Namespace) -> int:
    from core.models import TrainProgress
    from core.store import check_writable, train_and_save

    bar: tqdm | None = None

    def report(progress: TrainProgress) -> None:
        nonlocal bar
        if bar is None or bar.total != progress.batches or progress.batch == 1 and not progress.epoch_done:
            if bar is not None:
                bar.close()
            bar = tqdm(total=progress.batches, desc=f"epoch {progress.epoch}/{progress.epochs}", unit="batch",
                       file=sys.stderr)
        if progress.epoch_done:
            bar.set_postfix(loss=f"{progress.loss:.4f}", acc=f"{progress.accuracy:.4f}",
                            test_acc=f"{progress.val_accuracy:.4f}")
            bar.close()
            bar = None
            return
        bar.update(progress.batch - bar.n)
        if progress.batch % 20 == 0:
            bar.set_postfix(loss=f"{progress.loss:.4f}", acc=f"{progress.accuracy:.4f}")

    try:  # before the training, not after it: a read-only cache lost a finished model
        check_writable()
    except OSError as err:
        raise UserFacingError(f"cannot write the models folder {models_dir()}: {err.strerror or err}") from err
    _dataset(args.dataset)  # loaded (and kept) here: a NOISELENS_DATA_DIR passed over is named, as for analyze
    import_tensorflow_quietly()
    ready = train_and_save(args.arch, args.dataset, origin=args.origin, on_progress=report, epochs=args.epochs,
                           seed=args.seed, batch_size=args.batch_size, augment=args.augment)
    meta = ready.metadata
    print(f"{args.arch}-{args.dataset}: test accuracy {meta['test_accuracy']:.2%}, "
          f"{meta['training_seconds']:.0f} s, {meta['file_bytes'] / 1e6:.2f} MB, {meta['parameters']:,} parameters")
    return 0


def _models(_: argparse.Namespace) -> int:
    from core.store import list_models

    print(f"{'model':<30} {'status':<9} {'accuracy':>9} {'epochs':>6} {'origin':<13} created")
    statuses = list_models()
    for status in statuses:
        meta = status.metadata or {}
        # a damaged file's recorded accuracy is of weights it no longer holds (a review read 99.36 % beside "damaged")
        accuracy = f"{meta['test_accuracy']:.2%}" if "test_accuracy" in meta and status.state != "damaged" else "-"
        print(f"{status.arch + '-' + status.dataset:<30} {status.state:<9} {accuracy:>9} "
              f"{meta.get('epochs', '-')!s:>6} {meta.get('origin', '-'):<13} {meta.get('created', '-')}")
        if status.problem and status.state == "damaged":
            print(f"    ! {status.problem}")
    return 1 if any(status.state == "damaged" for status in statuses) else 0  # a script can tell


def _json_text(value: Any) -> str:
    """``value`` as JSON, an undefined number (NaN, ±inf: an empty class, a test without a reference) as null:
    Python's own ``NaN`` is not JSON, and a researcher's parser would refuse the file."""
    import math

    def defined(item: Any) -> Any:
        if isinstance(item, dict):
            return {key: defined(inner) for key, inner in item.items()}
        if isinstance(item, (list, tuple)):
            return [defined(inner) for inner in item]
        if hasattr(item, "item") and getattr(item, "ndim", None) == 0:  # a numpy scalar
            item = item.item()
        return None if isinstance(item, float) and not math.isfinite(item) else item

    return json.dumps(defined(value), indent=2, allow_nan=False) + "\n"


def _write_timing(out: Path, **seconds: float) -> None:
    """How long the run took, in ``timing.json``: the one file that differs between two runs of a command, so
    every other output can be compared byte for byte."""
    (out / "timing.json").write_text(_json_text({key: round(value, 3) for key, value in seconds.items()}))


def _output_folder(path: str) -> Path:
    """``--out``, made if needed. A folder that holds anything is refused: a second run into it left the first
    one's files beside its own (a gradient run kept an earlier run's significance files, which it does not write),
    and an empty name wrote every file into the working folder."""
    if not path.strip():
        raise UserFacingError("--out is empty: give the folder to write the results in")
    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
        held = sorted(entry.name for entry in out.iterdir())
    except OSError as err:
        raise UserFacingError(f"cannot create output folder {out}: {err.strerror}") from err
    if held:
        shown = ", ".join(held[:3]) + (", …" if len(held) > 3 else "")
        raise UserFacingError(f"--out {out} already holds {len(held):,} file{'s' if len(held) > 1 else ''} ({shown}): "
                              "give a new or empty folder, so that no earlier run's files are mixed with this one's")
    return out


def _model_or_explain(arch: str, dataset: str) -> tuple[Any, dict[str, Any]]:
    from core.store import CacheDamagedError, ModelMissingError, load_model

    import_tensorflow_quietly()  # the commands' first use of it: its start-up notes would come between their lines
    try:
        return load_model(arch, dataset)
    except (ModelMissingError, CacheDamagedError) as err:
        raise UserFacingError(f"{err}; train it first: python -m core train --arch {arch} --dataset {dataset}") \
            from err


def _write_results(out: Path, state: Any, images: Any, fed_back: Any, template: Any, names: tuple[str, ...],
                   title: str, shows_z_scores: bool = False) -> None:
    """The arrays, the matrices (the files the pages' *CSVs of the matrices* ZIPs hold), the convergence curve and
    the picture, titled with the settings that made it; with ``shows_z_scores`` the picture is of the z-scores,
    which are saved too."""
    import numpy as np

    from core.analysis import convergence, convergence_csv, matrices_csvs
    from core.picture import picture, png_title
    from core.plots import titled_png

    np.save(out / "class_images.npy", images.images.astype(np.float32))
    np.save(out / "counts.npy", images.weights)
    for name, text in matrices_csvs(names, state, fed_back, template.confusion).items():
        (out / name).write_text(text)
    (out / "convergence.csv").write_text(convergence_csv(*convergence(state, images.estimator, images.part)))
    shown = picture(state, images, shows_z_scores, names)
    if shows_z_scores:
        np.save(out / "z_scores.npy", shown.values.astype(np.float32))
    (out / "class_images.png").write_bytes(titled_png(shown.png(), png_title(title, images.estimator, shows_z_scores)))


#: What summary.json's "whitened" block is of (its raw and whitened template accuracies, its read-outs).
WHITENED_OF = "the regression (black-box) kernel of the noise, whatever --estimator and --part"
NO_KERNEL_OF_ONE = "a covariance needs at least 2 stimuli"


def _write_readout(out: Path, state: Any, data: Any, mean_image: Any, ridge: float) -> dict[str, Any] | None:
    """The whitened kernel and the linear read-out (core/readout.py) beside the class images; None at r = 1."""
    import numpy as np

    from core import readout

    if state.settings.ratio >= 1.0:
        return None
    if state.n < 2:  # a covariance of one stimulus is round-off, not a kernel: no accuracy to report
        return {"of": WHITENED_OF, "ridge": ridge, "undefined": NO_KERNEL_OF_ONE}
    noise = state.settings.noise
    covariance = readout.noise_covariance(noise.kind, noise.sigma, data.train_images)
    fitted = readout.linear_readout(state, covariance, ridge)
    fit = readout.INTERCEPT_FIT_IMAGES
    accuracies = readout.readout_accuracies(state, covariance, ridge, data.test_images, data.test_labels, mean_image,
                                            fit_images=data.train_images[:fit], fit_labels=data.train_labels[:fit])
    np.save(out / "whitened_kernel.npy", fitted.weights.reshape(-1, 28, 28).astype(np.float32))
    np.save(out / "readout_intercept.npy", fitted.intercept)
    whole = None
    if state.settings.ratio > 0:  # the logits regressed on the whole stimulus (its images are the test images)
        surrogate = readout.input_readout(
            state, readout.input_covariance(state.settings.ratio, data.test_images, covariance), ridge)
        np.save(out / "input_readout_weights.npy", surrogate.weights.reshape(-1, 28, 28).astype(np.float32))
        whole = float(np.mean(surrogate.classify(data.test_images) == data.test_labels))
    return {"of": WHITENED_OF, "ridge": ridge, "covariance": covariance.how,
            # the page's caption; null for ∞ (directions that never vary, which λ = 0 gives zero weight)
            "covariance_condition_number": covariance.condition,
            "raw_kernel_template_accuracy": accuracies.raw_template,
            "whitened_template_accuracy": accuracies.whitened_template, "readout_accuracy": accuracies.readout,
            "readout_fitted_intercepts_accuracy": accuracies.fitted_readout, "input_readout_accuracy_in_sample": whole}


def _write_significance(out: Path, state: Any, images: Any, data: Any, names: tuple[str, ...], smoothing: float,
                        primary: float, title: str) -> dict[str, Any] | None:
    """infoVal and the pixel and cluster tests (core/significance.py; z-maps smoothed with σ = ``smoothing``
    pixels, clusters beyond |z| = ``primary``) for noise class images: significance.json, significance_maps.npz
    and significance.png; None where they are not defined."""
    import numpy as np

    from core import readout, significance
    from core.picture import panel_titles, scarce_classes
    from core.plots_significance import significance_png

    if images.part != "noise" or images.estimator not in significance.TESTABLE_ESTIMATORS \
            or state.settings.ratio >= 1.0:
        return None
    noise = state.settings.noise
    covariance = readout.noise_covariance(noise.kind, noise.sigma, data.train_images)
    info = significance.info_values(state, images, covariance.eigenvalues, names)
    regions = significance.significant_regions(state, images, noise.kind, covariance.covariance, smoothing, primary)
    pixels, clusters = regions.counts()
    np.savez_compressed(out / "significance_maps.npz", smoothed_z=regions.smoothed.astype(np.float32),
                        pixel_test=regions.pixel, cluster_test=regions.cluster)
    scale_weights = images.weights if images.marks_scarce else None  # as the page scales the colours
    (out / "significance.png").write_bytes(significance_png(
        images.display, panel_titles(names, images), images.display_unit, regions.pixel, regions.cluster,
        weights=scale_weights, title=f"{title}; smoothing {smoothing:g} px, primary |z| {primary:g}",
        faded=scarce_classes(images)))
    result = {
        "alpha": significance.ALPHA, "alpha_is": "family-wise, two-sided, per class image",
        "thresholds": {key: value for key, value in regions.thresholds.__dict__.items()},
        "info_value_reference": f"generalised chi-square from the noise covariance ({covariance.how})",
        # infoVal = (norm − reference median) / (1.4826 · reference MAD), as the page's CSV has them
        "classes": [{"class": name, "norm": norm, "reference_median": median, "reference_mad": mad,
                     "info_value": value, "pixel_test_pixels": int(p), "cluster_test_pixels": int(c)}
                    for name, norm, median, mad, value, p, c in zip(names, info.norms, info.medians, info.mads,
                                                                     info.values, pixels, clusters)],
        "set_norm": info.norms[-1], "set_reference_median": info.medians[-1], "set_reference_mad": info.mads[-1],
        "set_info_value": info.values[-1],
        "set_info_value_reference": _set_reference_note(state, images.estimator),
    }
    (out / "significance.json").write_text(_json_text(result))
    return {"info_values": [None if np.isnan(v) else round(float(v), 3) for v in info.values[:-1]],
            "set_info_value": None if np.isnan(info.values[-1]) else round(float(info.values[-1]), 3),
            "pixel_test_pixels": pixels.astype(int).tolist(), "cluster_test_pixels": clusters.astype(int).tolist()}


def _set_reference_note(state: Any, estimator: str) -> str:
    """How the set's infoVal reference was found, or why it is unavailable."""
    from core import significance

    if not significance.set_reference_kept(state, estimator):
        return "unavailable: the run lacks the cross-class weight products (Sums.weight_products)"
    cross = ("one-hot weights: no cross products" if estimator in ("truth", "predicted")
             else "with the cross-class weight products Σ w_c·w_k")
    return f"scaled chi-square matched to the generalised chi-square of G ⊗ Σ ({cross})"


def _noise_spec(args: argparse.Namespace) -> Any:
    """The noise of ``--noise``, ``--sigma`` and ``--seed``; σ only for the noise types that have one."""
    from core.noise import DEFAULT_SIGMA, SIGMA_NOISE_TYPES, NoiseSpec

    if args.sigma is not None and args.noise not in SIGMA_NOISE_TYPES:
        raise UserFacingError(f"--sigma applies to {', '.join(sorted(SIGMA_NOISE_TYPES))} noise, not {args.noise}")
    return NoiseSpec(args.noise, DEFAULT_SIGMA if args.sigma is None else args.sigma, args.seed)


@dataclass(frozen=True)
class _ClassImageRun:
    """What ``analyze`` and ``attack`` both start from: one run of the analysis and its class images."""

    out: Path
    data: Any
    model: Any
    meta: dict[str, Any]
    analyzer: Any
    state: Any
    images: Any
    seconds: float


def _class_image_run(args: argparse.Namespace) -> _ClassImageRun:
    """The run the arguments ask for, with a progress bar on stderr. The gradient estimator runs with the model's
    gradients, as the page's fifth grouping does, and is refused (one line) for noise with no Gaussian behind it."""
    import time

    from core import analysis, reverse_correlation

    settings = reverse_correlation.AnalysisSettings(_noise_spec(args), args.ratio,
                                                    gradients=args.estimator in analysis.GRADIENT_ESTIMATORS)
    _warn_if_no_noise(args)
    if args.estimator == "regression" and args.samples < 2:
        raise UserFacingError(f"--estimator regression: {NO_KERNEL_OF_ONE}; use --samples 2 or more")
    data = _dataset(args.dataset)
    model, meta = _model_or_explain(args.arch, args.dataset)
    out = _output_folder(args.out)  # only once there is something to write: a failed start leaves no folder
    analyzer = reverse_correlation.Analyzer(model, data, args.noise)
    bar = tqdm(total=args.samples, unit="img", unit_scale=True, file=sys.stderr, desc="stimuli")
    started = time.perf_counter()
    state = analyzer.run(settings, args.samples, on_progress=lambda s: bar.update(s.n - bar.n))
    seconds = time.perf_counter() - started
    bar.close()
    return _ClassImageRun(out, data, model, meta, analyzer, state,
                          analysis.class_images(state, args.estimator, args.part), seconds)


def _settings_record(args: argparse.Namespace, run: _ClassImageRun) -> dict[str, Any]:
    """The run's settings for ``summary.json`` and ``attack.json``: enough to repeat it, in the record the pages
    title their downloads with. The part is the one drawn: the gradient kernel is of the noise whatever ``--part``
    says, as the page notes."""
    return _controls(args, run).record(args.arch, args.dataset, args.samples, run.images.part)


def _controls(args: argparse.Namespace, run: _ClassImageRun) -> Any:
    """The page's controls for these arguments (``core.link.Controls``): its record and its z-score rule."""
    from core.link import Controls

    noise = run.state.settings.noise
    return Controls(args.samples, args.ratio, args.noise, noise.sigma, args.estimator, args.part, args.seed,
                    getattr(args, "z_scores", False))


def _model_record(meta: dict[str, Any]) -> dict[str, Any]:
    """Which weights made a result: after ``train`` the same command uses other weights, so a summary that named
    only the model's accuracy could not tell two of them apart."""
    return {"model_sha256": meta.get("sha256"), "model_origin": meta.get("origin"),
            "model_test_accuracy": meta.get("test_accuracy")}


def _z_scores_shown(args: argparse.Namespace, run: _ClassImageRun) -> bool:
    """``--z-scores`` by the page's rule (``Controls.shows_z_scores``), with its note where they do not apply."""
    controls = _controls(args, run)
    if args.z_scores and not controls.shows_z_scores:
        print("python -m core: warning: z-scores are defined for the noise part's black-box groupings (not the "
              "gradient kernel); class_images.png shows the class images.", file=sys.stderr)
    return controls.shows_z_scores


def _dataset(name: str) -> Any:
    """The dataset, with a warning when a source the user asked for (``NOISELENS_DATA_DIR``) failed and another
    answered: a mistyped folder fell through to Keras's cache without a word."""
    from core.data import load_dataset

    data = load_dataset(name)
    for reason in data.passed_over:
        print(f"python -m core: warning: {reason}; read {name} from the {data.source} instead", file=sys.stderr)
    return data


def _warn_if_no_noise(args: argparse.Namespace) -> None:
    """As the page warns: at r = 1 the noise averages are of noise the model never saw."""
    from core.analysis import NO_NOISE_AT_FULL_SIGNAL

    if args.ratio >= 1.0 and args.part == "noise":
        print(f"python -m core: warning: {NO_NOISE_AT_FULL_SIGNAL} Use --ratio below 1 or --part input.",
              file=sys.stderr)


def _write_gradient_kernel(out: Path, run: _ClassImageRun) -> dict[str, Any] | None:
    """For the gradient estimator, its whitened form E[∂ logit/∂noise] beside the Σ-weighted kernel (the page
    shows both): ``gradient_whitened.npy`` and its template accuracy; None for the other estimators."""
    import numpy as np

    from core import analysis

    if run.images.estimator not in analysis.GRADIENT_ESTIMATORS:
        return None
    whitened = analysis.gradient_kernel(run.state, whitened=True)
    np.save(out / "gradient_whitened.npy", whitened.images.astype(np.float32))
    template = analysis.template_classify(whitened, run.data.test_images, run.data.test_labels,
                                          run.analyzer.mean_image)
    return {"template_accuracy": template.accuracy}


def _write_example_stimuli(out: Path, run: _ClassImageRun, title: str) -> None:
    """The page's *Example stimuli* strip: the stream's first eight stimuli, as an array and as a picture."""
    import numpy as np

    from core.noise import first_stimuli
    from core.plots import stimuli_strip_png, titled_png

    stimuli = first_stimuli(run.state.settings.noise, run.state.settings.ratio, run.data.test_images,
                            run.data.train_images)
    np.save(out / "example_stimuli.npy", stimuli.astype(np.float32))
    strip = stimuli_strip_png(stimuli, [f"#{i + 1}" for i in range(len(stimuli))])
    (out / "example_stimuli.png").write_bytes(titled_png(strip, f"{title}: the first stimuli (0 black, 1 white)"))


def _analyze(args: argparse.Namespace) -> int:
    import numpy as np

    from core import analysis

    run = _class_image_run(args)
    out, data, state, images, seconds = run.out, run.data, run.state, run.images, run.seconds
    fed_back = analysis.fed_back_matrix(run.model, images)
    template = analysis.template_classify(images, data.test_images, data.test_labels, run.analyzer.mean_image)
    settings = _settings_record(args, run)
    title = settings_line(settings)
    shows_z_scores = _z_scores_shown(args, run)
    _write_results(out, state, images, fed_back, template, data.class_names, title, shows_z_scores)
    _write_example_stimuli(out, run, title)
    summary = {
        "settings": {**settings, "smooth": args.smooth, "primary": args.primary, "z_scores": shows_z_scores},
        **_model_record(run.meta),
        # one stimulus tells no class from another: its averages are one image, scored by chance (one gradient is
        # a kernel already, if a rough one)
        "template_accuracy": template.accuracy if state.n >= 2 or images.estimator in analysis.GRADIENT_ESTIMATORS
        else None,
        "template_accuracy_in_sample": analysis.templates_in_sample(args.ratio, images.estimator, images.part),
        "self_classified": analysis.self_classified(fed_back),
        "empty_classes": [data.class_names[i] for i in np.flatnonzero(images.empty)],
        "class_bias": state.class_bias.astype(int).tolist(),
        "stimulus_accuracy": state.stimulus_accuracy,
        "data_source": data.source, "test_images_scored": len(data.test_images),
    }
    summary["gradient_whitened"] = _write_gradient_kernel(out, run)
    summary["whitened"] = _write_readout(out, state, data, run.analyzer.mean_image, args.ridge)
    summary["significance"] = _write_significance(out, state, images, data, data.class_names, args.smooth,
                                                  args.primary, title)
    (out / "summary.json").write_text(_json_text(summary))
    _write_timing(out, seconds=seconds, images_per_second=state.n / seconds)
    print(f"{title}: {_results_line(summary, args)}{state.n / seconds:,.0f} images/s; wrote {out}/")
    return 0


def _results_line(summary: dict[str, Any], args: argparse.Namespace) -> str:
    """The numbers of ``summary.json`` in one line, each named for what it is of: the whitened block is always
    the regression (black-box) kernel of the noise, whatever ``--estimator`` and ``--part`` say."""
    whitened, tested, gradient = summary["whitened"], summary["significance"], summary["gradient_whitened"]
    accuracy = summary["template_accuracy"]
    parts = [("template accuracy undefined (N = 1)" if accuracy is None else f"template accuracy {accuracy:.2%}")
             + (" (in-sample)" if summary["template_accuracy_in_sample"] and accuracy is not None else ""),
             f"self-classified {summary['self_classified']}/10"]
    if gradient is not None:
        parts.append(f"whitened gradient kernel E[∇] {gradient['template_accuracy']:.2%}")
    if whitened is not None and "undefined" in whitened:
        parts.append(f"whitened regression kernel undefined ({whitened['undefined']})")
    elif whitened is not None:
        parts += [f"whitened regression kernel {whitened['whitened_template_accuracy']:.2%}",
                  f"linear read-out {whitened['readout_accuracy']:.2%} (ridge {args.ridge:g})"]
        if whitened["input_readout_accuracy_in_sample"] is not None:
            parts.append(f"whole-input read-out {whitened['input_readout_accuracy_in_sample']:.2%} (in-sample)")
    if tested is not None:
        parts.append("set infoVal " + ("unavailable" if tested["set_info_value"] is None else
                                       f"{tested['set_info_value']:.2f}")
                     + f" (smoothing {args.smooth:g} px, primary {args.primary:g})")
    return "".join(f"{part}, " for part in parts)


def _attack(args: argparse.Namespace) -> int:
    """Class images from one run, then the γ sweep of the CI-injection attack against the class-mean baseline."""
    import time

    import numpy as np

    from core import attack
    from core.plots_attack import curves_png

    run = _class_image_run(args)
    out, data, images = run.out, run.data, run.images
    means = attack.class_mean_images(data.train_images, data.train_labels)
    inputs = attack.attack_inputs(run.state.settings.noise, data.train_images, data.test_images, data.test_labels,
                                  args.subset, args.subset)
    bar = tqdm(total=len(attack.GAMMAS), unit="γ", file=sys.stderr, desc="attack")
    started = time.perf_counter()
    curves = attack.attack_sweep(run.model, images.images, means, *inputs,
                                 on_progress=lambda done: bar.update(round(done * bar.total) - bar.n))
    attack_seconds = time.perf_counter() - started
    bar.close()

    table = attack.curves_table(curves)
    (out / "attack_curves.csv").write_text(attack.curves_csv(curves))
    (out / "attack_per_target.csv").write_text(
        attack.per_target_table(curves, data.class_names).to_csv(index=False, float_format="%.4f", lineterminator="\n"))
    templates = attack.attack_templates(images.images, means)
    np.save(out / "templates.npy", templates)
    found = attack.attack_examples(run.model, templates, inputs[0], inputs[1], args.target, args.gamma)
    np.save(out / "examples.npy", found.blends.astype(np.float32))
    (out / "examples.csv").write_text(attack.examples_csv(found, args.target, data.class_names))
    settings = _settings_record(args, run)
    (out / "attack.png").write_bytes(curves_png(curves, f"{settings_line(settings)}: CI-injection attack"))
    summary = {
        "settings": {**settings, "subset": args.subset, "target": args.target, "gamma": args.gamma,
                     "noise_inputs_from_stimulus": attack.NOISE_START},
        **_model_record(run.meta),
        "empty_classes": [data.class_names[i] for i in np.flatnonzero(images.empty)],
        "curves": {column: [round(float(v), 6) for v in table[column]] for column in table.columns},
    }
    (out / "attack.json").write_text(_json_text(summary))
    _write_timing(out, analysis_seconds=run.seconds, attack_seconds=attack_seconds)
    at = {g: int(np.flatnonzero(np.isclose(curves.gammas, g))[0]) for g in (0.5, 1.0)}
    print(f"{settings_line(settings)}: targeted success at γ = 0.5 / 1.0: " + "; ".join(
        f"{template} → {source} {curves.targeted(template, source)[at[0.5]]:.3f} / "
        f"{curves.targeted(template, source)[at[1.0]]:.3f}" for template in attack.TEMPLATES
        for source in attack.SOURCES) + "; on test images not of class k " + ", ".join(
        f"{template} {curves.targeted_on_others(template)[at[0.5]]:.3f} / "
        f"{curves.targeted_on_others(template)[at[1.0]]:.3f}" for template in attack.TEMPLATES) + f"; wrote {out}/")
    return 0


def _sta(args: argparse.Namespace) -> int:
    """Spike-triggered averages of every convolutional unit (or of ``--layers``), as NPY and PNG, and the first
    layer's STA–weight correlation, the built-in check."""
    import numpy as np

    from core import plots_sta, sta
    from core.noise import DATA_NOISE_TYPES
    from core.plots import titled_png

    spec = _noise_spec(args)
    model, meta = _model_or_explain(args.arch, args.dataset)
    train_images = _dataset(args.dataset).train_images if args.noise in DATA_NOISE_TYPES else None
    engine = sta.STAEngine(model, args.noise, train_images, layers=args.layers)
    out = _output_folder(args.out)
    bar = tqdm(total=args.samples, unit="img", unit_scale=True, file=sys.stderr, desc="stimuli")
    result = engine.run(spec, args.samples, on_progress=lambda n: bar.update(n - bar.n))
    bar.close()

    settings = {"arch": args.arch, "dataset": args.dataset, "samples": args.samples, "noise": args.noise,
                "sigma": spec.sigma_used, "seed": args.seed, "layers": [f.layer for f in result.fields]}
    layers: dict[str, dict] = {}
    for field in result.fields:
        np.save(out / f"sta_{field.layer}.npy", result.sta(field.layer).astype(np.float32))
        np.save(out / f"mean_patch_{field.layer}.npy", result.mean_patch(field.layer).astype(np.float32))
        centred = result.centred_sta(field.layer)
        (out / f"sta_{field.layer}.png").write_bytes(titled_png(plots_sta.units_grid_png(centred), (
            f"{settings_line(settings)}: {field.layer} STA minus the mean patch, each unit on its own scale")))
        layers[field.layer] = {"keras_name": field.keras_name, "channels": field.channels, "size": list(field.size),
                               "top": field.top, "left": field.left, "position": list(field.position),
                               "firing_rate": [round(float(v), 6) for v in result.firing_rate(field.layer)],
                               # Σ a per unit: the weight each STA is divided by (the page's CSV has it)
                               "activation_sum": [float(v) for v in result.sums[field.layer].activation]}
    summary: dict = {"settings": settings, **_model_record(meta), "firing_rate_unit": "share of the stimuli (0–1) on "
                     "which the unit's activation was above zero", "layers": layers}
    _write_timing(out, seconds=result.seconds)
    message = f"wrote {out}/"
    if "conv1" in result.sums:
        kernels = sta.conv_kernels(model)
        np.save(out / "weights_conv1.npy", kernels.astype(np.float32))
        (out / "weights_conv1.png").write_bytes(titled_png(plots_sta.units_grid_png(kernels),
                                                           f"{args.arch}-{args.dataset}: conv1 weights, each unit on "
                                                           f"its own scale"))
        correlations = sta.weight_correlations(result.centred_sta("conv1"), kernels)
        defined = correlations[np.isfinite(correlations)]  # NaN: a unit whose STA never varied (it never fired)
        mean, lowest = (float(defined.mean()), float(defined.min())) if defined.size else (None, None)
        summary["conv1_weight_correlation"] = {
            "mean": None if mean is None else round(mean, 6), "min": None if lowest is None else round(lowest, 6),
            "per_unit": [None if np.isnan(v) else round(float(v), 6) for v in correlations]}
        message = ("conv1 STA–weight correlation: " + (
            f"mean {mean:.4f}, lowest {lowest:.4f} ({defined.size} of {len(correlations)} units defined); "
            if defined.size else f"undefined: no unit's STA varied over N = {args.samples:,}; ")
            + ("" if args.noise in sta.WHITE_NOISE_TYPES else f"{args.noise} noise is {sta.NOT_WHITE_NOTE}; ")
            + message)
    (out / "summary.json").write_text(_json_text(summary))
    print(f"{settings_line(settings)}: {message}")
    return 0


COMMANDS = {"train": _train, "models": _models, "analyze": _analyze, "attack": _attack, "sta": _sta}


def run(args: argparse.Namespace) -> int:
    try:
        return COMMANDS[args.command](args)
    except (DataUnavailableError, IdxFormatError, ValueError) as err:
        raise UserFacingError(str(err)) from err
    except OSError as err:  # a file or folder that cannot be used (read or written): a traceback before (a reviewer)
        raise UserFacingError(f"{err.filename}: {err.strerror or err}" if err.filename else str(err)) from err
