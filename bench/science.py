"""How good are the classification images? Template accuracy and fed-back self-classification.

Run from the project root (long: run it in the background):

    NOISELENS_DATA_DIR=/work/shared/datasets python bench/science.py [--samples 100000 1000000] [--quick]

For every dataset × architecture × noise type of core.noise.NOISE_TYPES (uniform; gaussian, base, pink, data
at σ = 0.2) ONE analysis run of the largest N is made with r = 0 (pure noise) and the noise part averaged; the
smaller N are read from the run's snapshots, and all four estimators come from the same run. For each estimator and N:

* template accuracy: the ten class images used as templates on the real test set (``template_classify``);
* self-classification: how many of the ten class images the model assigns to their own class.

Goals: best template accuracy ≥ 60 % on MNIST and ≥ 70 % on Fashion-MNIST, 10/10 self-classification.

Whitened kernel and linear read-out (core/readout.py): from the same run, the regression kernel whitened with the
noise's covariance, (Σ + λ·s·I)⁻¹·kernel, used as templates (cosine rule) and as a linear read-out
argmax_k (K_k·x + b_k). λ is chosen per rule on 10,000 training images (the last 10,000, never the test set)
from core.readout.RIDGE_CHOICES; the test accuracy at that λ is reported. The read-out is given twice: with the
intercept of the regression (its mean over the stimuli: it carries the network's class bias on noise) and with
the ten intercepts fitted on the first 10,000 training images (core.readout.fitted_intercept). Goals (issue 15):
template or read-out accuracy ≥ 80 % on MNIST and ≥ 70 % on Fashion-MNIST at N ≤ 1,000,000.

``--ratio r --signal train`` mixes signal into the stimuli, r·signal + (1 − r)·noise, with the signal from the
first 50,000 TRAINING images (``--signal test``, the engine's default, would put the images the accuracy is
measured on into the stimuli); the kernel is still regressed on the noise part, and a further read-out regresses
the logits on the whole stimulus (core.readout.input_readout). ``--states DIR`` keeps each run's
sums there (pickled AnalysisState, named arch-dataset-noise-σ-r…-n…) and reuses a saved run instead of
re-running the model. The rows of issue 15 (the best configurations of the probes; drop --archs for AlexNet too):

    NOISELENS_DATA_DIR=/work/shared/datasets nice -n 19 python bench/science.py --datasets mnist --archs lenet \
        --noises data --sigma 0.2 --ratio 0.5 --signal train --samples 100000 1000000 \
        --states /tmp/noiselens-states --out bench/results/science_readout_1m_lenet_mnist
    NOISELENS_DATA_DIR=/work/shared/datasets nice -n 19 python bench/science.py --datasets fashion_mnist \
        --archs lenet --noises data --sigma 0.3 --samples 100000 1000000 \
        --states /tmp/noiselens-states --out bench/results/science_readout_1m_lenet_fashion

A second section compares ways of centring templates and test images (local variants, core is unchanged).
Results go to bench/results/science.json and bench/results/science.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.provenance import command_line, core_version, machine_line  # noqa: E402

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from core.readout import INTERCEPT_FIT_IMAGES as FIT_IMAGES  # noqa: E402  # the first training images fit the
# read-out's intercepts, as on the page and on the command line

RESULTS = Path(__file__).resolve().parent / "results"
ESTIMATOR_ORDER = ("truth", "predicted", "softmax", "regression")
GOALS = {"mnist": 0.60, "fashion_mnist": 0.70}
READOUT_GOALS = {"mnist": 0.80, "fashion_mnist": 0.70}
VALIDATION_IMAGES = 10_000  # the last training images choose λ; the test set only measures
SIGNAL_IMAGES = 50_000  # --signal train: the first training images are the stimuli's signal
QUICK_RIDGES = (0.0, 0.1, 1.0)
PIXELS = 784




# --- template variants (local experiments; core.analysis.template_classify is variant "a") ----------------


def _prepare_tests(test_images: np.ndarray, mean_image: np.ndarray, how: str) -> np.ndarray:
    tests = test_images.reshape(len(test_images), PIXELS).astype(np.float64) / 255.0
    if how == "dataset mean":
        tests = tests - np.asarray(mean_image, np.float64).reshape(1, PIXELS)
    elif how == "own mean":
        tests = tests - tests.mean(axis=1, keepdims=True)
    elif how != "raw":
        raise ValueError(how)
    return tests / np.maximum(np.linalg.norm(tests, axis=1, keepdims=True), 1e-12)


def _classify(templates: np.ndarray, valid: np.ndarray, tests: np.ndarray, labels: np.ndarray,
              normalise: bool = True) -> float:
    """Cosine similarity of (already prepared) unit test vectors to each template; accuracy of the argmax.

    ``normalise=False`` keeps the templates' lengths (a plain dot product: classes with stronger maps win more).
    """
    templates = np.nan_to_num(templates.reshape(10, PIXELS).astype(np.float64))
    if normalise:
        templates = templates / np.maximum(np.linalg.norm(templates, axis=1, keepdims=True), 1e-12)
    similarity = tests @ templates.T
    similarity[:, ~valid] = -np.inf
    return float(np.mean(similarity.argmax(axis=1) == labels))


def _across_class_centred(maps: np.ndarray, valid: np.ndarray) -> np.ndarray:
    flat = maps.reshape(10, PIXELS)
    return flat - flat[valid].mean(axis=0)


# name -> (description, template maker(images, z), test preparation[, normalise templates])
VARIANTS: dict[str, tuple[str, Any, str] | tuple[str, Any, str, bool]] = {
    "a core": ("core template_classify: templates centred across classes, tests minus dataset mean image",
               lambda im, z: _across_class_centred(im.images, ~im.empty), "dataset mean"),
    "b raw templates": ("templates not centred at all (raw class images), tests minus dataset mean",
                        lambda im, z: im.images, "dataset mean"),
    "b2 baseline-centred": ("templates minus the mean stimulus (ClassImages.centred), not across classes",
                            lambda im, z: im.centred, "dataset mean"),
    "c tests own mean": ("templates as (a), each test image minus its own mean pixel value",
                         lambda im, z: _across_class_centred(im.images, ~im.empty), "own mean"),
    "c2 tests raw": ("templates as (a), test images not centred",
                     lambda im, z: _across_class_centred(im.images, ~im.empty), "raw"),
    "d z-scores": ("z-score maps (core.analysis.z_scores) as templates, tests minus dataset mean",
                   lambda im, z: z, "dataset mean"),
    "d2 z-scores centred": ("z-score maps centred across classes, tests minus dataset mean",
                            lambda im, z: _across_class_centred(z, ~im.empty), "dataset mean"),
    "e dot product": ("templates and tests as (a) but templates not normalised to unit length (dot product)",
                      lambda im, z: _across_class_centred(im.images, ~im.empty), "dataset mean", False),
}


def variant_accuracies(images: Any, z: np.ndarray, tests: dict[str, np.ndarray],
                       labels: np.ndarray) -> dict[str, float]:
    valid = ~images.empty
    if not valid.any():
        return {name: float("nan") for name in VARIANTS}
    return {name: _classify(spec[1](images, z), valid, tests[spec[2]], labels, *spec[3:])
            for name, spec in VARIANTS.items()}


def self_classified_of(model: Any, maps: np.ndarray, empty: np.ndarray) -> int:
    """Fed-back self-classification of arbitrary maps, rescaled to [0, 1] like core.fed_back_matrix does."""
    from core.analysis import rescale_to_input, self_classified

    probabilities = np.asarray(model(rescale_to_input(maps.reshape(10, 28, 28))[..., None], training=False),
                               np.float64)
    probabilities[empty] = np.nan
    return self_classified(probabilities)


# --- whitened kernel and linear read-out -------------------------------------------------------------------


def measure_readout(state: Any, samples: list[int], data: Any, mean_image: np.ndarray,
                    ridges: tuple[float, ...], signal_images: np.ndarray | None = None) -> dict[str, Any]:
    """Per N: raw-kernel template accuracy, and the whitened template and read-out accuracies at the λ each rule
    scores best with on the validation images (every λ's figures are kept too). At r > 0 (``signal_images``:
    the images the stream mixed in) also the whole-input read-out, the logits regressed on the whole stimulus."""
    from core import readout

    noise = state.settings.noise
    started = time.perf_counter()
    covariance = readout.noise_covariance(noise.kind, noise.sigma, data.train_images)
    whole = None if signal_images is None or state.settings.ratio <= 0 else readout.input_covariance(
        state.settings.ratio, signal_images, covariance)
    results: dict[str, Any] = {"covariance": covariance.how, "condition": covariance.condition,
                               "covariance_seconds": round(time.perf_counter() - started, 1)}
    validation = (data.train_images[-VALIDATION_IMAGES:], data.train_labels[-VALIDATION_IMAGES:])
    fit = {"fit_images": data.train_images[:FIT_IMAGES], "fit_labels": data.train_labels[:FIT_IMAGES]}
    for n in samples:
        sums = state.snapshots[n]
        per_ridge = {}
        for ridge in ridges:
            test = readout.readout_accuracies(state, covariance, ridge, data.test_images, data.test_labels,
                                              mean_image, sums, **fit)
            check = readout.readout_accuracies(state, covariance, ridge, *validation, mean_image, sums, **fit)
            per_ridge[f"{ridge:g}"] = {"test": {"whitened_template": test.whitened_template, "readout": test.readout,
                                                "fitted_readout": test.fitted_readout},
                                       "validation": {"whitened_template": check.whitened_template,
                                                      "readout": check.readout,
                                                      "fitted_readout": check.fitted_readout},
                                       "raw_template": test.raw_template}
            if whole is not None:
                surrogate = readout.input_readout(state, whole, ridge, sums)
                for where, (images, labels) in (("test", (data.test_images, data.test_labels)),
                                                ("validation", validation)):
                    per_ridge[f"{ridge:g}"][where]["input_readout"] = float(
                        np.mean(surrogate.classify(images) == labels))
        chosen = {}
        rules = ("whitened_template", "readout", "fitted_readout") + (("input_readout",) if whole is not None else ())
        for rule in rules:
            best = max(per_ridge, key=lambda r: (per_ridge[r]["validation"][rule], -float(r)))
            chosen[rule] = {"ridge": float(best), "accuracy": per_ridge[best]["test"][rule]}
        results[str(n)] = {"raw_template": next(iter(per_ridge.values()))["raw_template"], "chosen": chosen,
                           "per_ridge": per_ridge}
    return results


def readout_report(records: list[dict[str, Any]], samples: list[int]) -> list[str]:
    """The whitened-kernel section of the report (absent for results saved before it existed)."""
    rows = [rec for rec in records if "readout" in rec]
    if not rows:
        return []
    out = ["", "## Whitened kernel and linear read-out", "",
           "Test accuracy (%) of the regression kernel as templates (raw), the whitened kernel as templates, and "
           "the linear read-out argmax_k (K_k·x + b_k) with the regression's intercept and with the intercepts "
           f"fitted on the first {FIT_IMAGES:,} training images; λ (× mean pixel variance) chosen per rule on the "
           f"last {VALIDATION_IMAGES:,} training images. At r > 0, the *whole-input read-out* regresses the "
           "logits on the whole stimulus r·signal + (1 − r)·noise instead of on its noise part, (Σ_x + λ·s·I)⁻¹·"
           "Cov(x, logits) with Σ_x = r²·Cov(signal) + (1 − r)²·Σ_noise: the network's best linear approximation "
           "over stimuli that hold images (signal: training images, never the test set).", "",
           "| dataset | arch | noise | r (signal) | N | raw kernel | whitened kernel (λ) | linear read-out (λ) "
           "| read-out, fitted intercepts (λ) | whole-input read-out (λ) | Σ |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    best: dict[str, tuple[float, str]] = {}
    for rec in rows:
        for n in samples:
            result = rec["readout"][str(n)]
            template, linear = result["chosen"]["whitened_template"], result["chosen"]["readout"]
            fitted = result["chosen"].get("fitted_readout")  # absent in results saved before it existed
            whole = result["chosen"].get("input_readout")  # r > 0 only
            fitted_cell, whole_cell = ("–" if rule is None else f"{_pct(rule['accuracy'])} ({rule['ridge']:g})"
                                       for rule in (fitted, whole))
            out.append(f"| {rec['dataset']} | {rec['arch']} | {_noise_label(rec)} | {_ratio_label(rec)} | {n:,} | "
                       f"{_pct(result['raw_template'])} | {_pct(template['accuracy'])} ({template['ridge']:g}) | "
                       f"{_pct(linear['accuracy'])} ({linear['ridge']:g}) | {fitted_cell} | {whole_cell} | "
                       f"{rec['readout']['covariance']} |")
            rules = [("whitened template", template), ("linear read-out", linear)]
            rules += [("read-out with fitted intercepts", fitted)] if fitted is not None else []
            rules += [("whole-input read-out", whole)] if whole is not None else []
            for rule, chosen in rules:
                label = (f"{rule}, {rec['arch']}, {_noise_label(rec)}, r = {_ratio_label(rec)}, N = {n:,}, "
                         f"λ = {chosen['ridge']:g}")
                if chosen["accuracy"] > best.get(rec["dataset"], (-1.0, ""))[0]:
                    best[rec["dataset"]] = (chosen["accuracy"], label)
    out += ["", "Best per dataset (whitened template or read-out):", ""]
    for dataset, (accuracy, label) in best.items():
        goal = READOUT_GOALS.get(dataset, 0)
        out.append(f"- **{dataset}**: {_pct(accuracy).strip()} % ({label}) — goal ≥ {goal:.0%}: "
                   f"{'met' if accuracy >= goal else 'NOT met'}")
    return out


# --- the measurement --------------------------------------------------------------------------------------


def _load(arch: str, dataset: str) -> Any | None:
    from core.store import CacheDamagedError, ModelMissingError, load_model

    try:
        return load_model(arch, dataset)[0]
    except (ModelMissingError, CacheDamagedError) as err:
        print(f"  skipped {arch}-{dataset}: {type(err).__name__}: {err}", flush=True)
        return None


def run_key(arch: str, dataset: str, noise: str, sigma: float, ratio: float, n: int) -> str:
    """File name of a saved run (--states)."""
    return f"{arch}-{dataset}-{noise}-{sigma:g}-r{ratio:g}-n{n}-g0"


def measure(arch: str, dataset: str, noise: str, sigma: float | None, samples: list[int], model: Any,
            data: Any, seed: int, tests: dict[str, np.ndarray],
            ridges: tuple[float, ...] | None = None, ratio: float = 0.0, signal: str = "test",
            states: Path | None = None) -> dict[str, Any]:
    """One run of the largest N; ``tests`` holds the test set prepared for the variants, filled by the first run on
    a dataset and reused by the others (it depends on the dataset only)."""
    from core.analysis import class_images, fed_back_matrix, self_classified, template_classify, z_scores
    from core.reverse_correlation import AnalysisSettings, Analyzer
    from core.noise import DEFAULT_SIGMA, NoiseSpec

    import dataclasses
    import pickle

    spec = NoiseSpec(noise, sigma if sigma is not None else DEFAULT_SIGMA, seed)
    # --signal train: the Analyzer draws its signal from "test_images"; hand it the first training images instead
    source = data if signal == "test" else dataclasses.replace(
        data, test_images=data.train_images[:SIGNAL_IMAGES], test_labels=data.train_labels[:SIGNAL_IMAGES])
    analyzer = Analyzer(model, source, noise)
    saved = None if states is None else states / (run_key(arch, dataset, noise, spec.sigma, ratio,
                                                           max(samples)) + ".pkl")
    started = time.perf_counter()
    last = [started]

    def progress(state: Any) -> None:
        now = time.perf_counter()
        if now - last[0] > 60:
            last[0] = now
            print(f"    … {state.n:,} samples, {state.n / (now - started):,.0f}/s", flush=True)

    settings = AnalysisSettings(spec, ratio)
    if saved is not None and saved.exists():
        state = pickle.loads(saved.read_bytes())
        assert state.settings == settings and state.n == max(samples), f"{saved} holds another run"
        seconds = state.seconds
        print(f"    reusing the saved run {saved} ({seconds:.0f} s when it was made)", flush=True)
    else:
        state = analyzer.run(settings, max(samples), on_progress=progress)
        seconds = time.perf_counter() - started
        if saved is not None:
            saved.parent.mkdir(parents=True, exist_ok=True)
            saved.write_bytes(pickle.dumps(state))
    if not tests:
        tests.update({how: _prepare_tests(data.test_images, analyzer.mean_image, how)
                      for how in ("dataset mean", "own mean", "raw")})
    record: dict[str, Any] = {"arch": arch, "dataset": dataset, "noise": noise,
                              "sigma": None if noise == "uniform" else spec.sigma, "seed": seed,
                              "ratio": ratio, "signal": signal if ratio > 0 else None,
                              "seconds": round(seconds, 1), "rate": round(max(samples) / seconds),
                              "noise_accuracy_of_model": float(np.trace(state.sums.confusion) / state.sums.n),
                              "predicted_class_counts": state.sums.confusion.sum(axis=0).tolist(), "results": {}}
    for n in samples:
        sums = state.snapshots[n]
        for estimator in ESTIMATOR_ORDER:
            images = class_images(state, estimator, "noise", sums=sums)
            core_result = template_classify(images, data.test_images, data.test_labels, analyzer.mean_image)
            fed = fed_back_matrix(model, images)
            z = z_scores(state, images, sums=sums)
            variants = variant_accuracies(images, z, tests, data.test_labels)
            # core's similarity is one float32 product (template_classify: ~50 ms less per redraw), this variant's
            # float64: a test image at a near-tie between two templates may go either way (one of 10,000 for
            # AlexNet-Fashion's regression kernel from data noise), so the two agree to a few images, not exactly
            assert np.isnan(variants["a core"]) or abs(variants["a core"] - core_result.accuracy) <= 3 / len(
                data.test_labels), (variants["a core"], core_result.accuracy)
            record["results"][f"{estimator}@{n}"] = {
                "estimator": estimator, "n": n, "accuracy": core_result.accuracy,
                "self_classified": self_classified(fed), "empty_classes": int(images.empty.sum()),
                "variants": variants,
                "self_variants": {"raw class images (core)": self_classified(fed),
                                  "centred on mean stimulus": self_classified_of(model, images.centred, images.empty),
                                  "centred across classes": self_classified_of(
                                      model, _across_class_centred(images.images, ~images.empty), images.empty),
                                  "z-scores": self_classified_of(model, np.nan_to_num(z), images.empty)},
            }
    if ridges:
        record["readout"] = measure_readout(state, samples, data, analyzer.mean_image, ridges,
                                            source.test_images if ratio > 0 else None)
    return record


# --- report -----------------------------------------------------------------------------------------------


def _pct(x: float) -> str:
    return "  –  " if x is None or np.isnan(x) else f"{100 * x:5.1f}"


def _ratio_label(rec: dict[str, Any]) -> str:
    ratio = rec.get("ratio", 0.0)
    return "0" if not ratio else f"{ratio:g} ({rec.get('signal', 'test')})"


def _noise_label(rec: dict[str, Any]) -> str:
    return rec["noise"] if rec["sigma"] is None else f"{rec['noise']} σ={rec['sigma']:g}"


def report(records: list[dict[str, Any]], samples: list[int], header: str) -> str:
    out = [header, ""]
    n_cols = " | ".join(f"acc @ {n:,}" for n in samples) + " | " + " | ".join(f"self @ {n:,}" for n in samples)
    out.append(f"| dataset | arch | noise | estimator | {n_cols} |")
    out.append("|" + "---|" * (4 + 2 * len(samples)))
    for rec in records:
        for estimator in ESTIMATOR_ORDER:
            cells = [_pct(rec["results"][f"{estimator}@{n}"]["accuracy"]) for n in samples]
            cells += [f"{rec['results'][f'{estimator}@{n}']['self_classified']}/10" for n in samples]
            out.append(f"| {rec['dataset']} | {rec['arch']} | {_noise_label(rec)} | {estimator} | "
                       + " | ".join(cells) + " |")
    out += ["", "At r = 0 the stimuli carry no signal, so **truth** averages noise by a label it is independent of: "
            "its "
            "templates are random, and its row is the chance baseline for one random template set. Random template "
            "sets spread widely (truth rows here span 5.6–17.2 %; with an older noise stream, seeds 1–4 gave 3–9 % "
            "on Fashion-MNIST and seed 0 26 %), so differences of a few points between rows are not meaningful.",
            "", "Run details (one run of the largest N per row group):", ""]
    out.append("| dataset | arch | noise | seconds | images/s "
               "| model accuracy on noise-only stimuli (chance ≈ 10 %) |")
    out.append("|---|---|---|---|---|---|")
    for rec in records:
        out.append(f"| {rec['dataset']} | {rec['arch']} | {_noise_label(rec)} | {rec['seconds']} | {rec['rate']:,} | "
                   f"{_pct(rec['noise_accuracy_of_model'])} |")

    out += ["", "## Best per dataset (core template_classify)", ""]
    for dataset in dict.fromkeys(r["dataset"] for r in records):
        rows = [(res["accuracy"], res["self_classified"], rec, res) for rec in records if rec["dataset"] == dataset
                for res in rec["results"].values()]
        acc, self_c, rec, res = max(rows, key=lambda t: (t[0], t[1], t[3]["n"]))
        goal = GOALS.get(dataset, 0)
        perfect = sum(1 for r in rows if r[1] == 10)
        best_self = max(r[1] for r in rows)
        out.append(f"- **{dataset}**: {_pct(acc).strip()} % ({rec['arch']}, {_noise_label(rec)}, {res['estimator']}, "
                   f"N = {res['n']:,}), self-classification {self_c}/10 — goal ≥ {goal:.0%}: "
                   f"{'met' if acc >= goal else 'NOT met'}; 10/10 self-classification in {perfect} of {len(rows)} "
                   f"rows (best {best_self}/10)")

    out += readout_report(records, samples)

    out += ["", "## Extra: template-centring variants", ""]
    for name, spec in VARIANTS.items():
        out.append(f"- **{name}**: {spec[0]}")
    n = max(samples)
    informative = ("predicted", "softmax", "regression")
    out += ["", f"At N = {n:,}, over estimators {', '.join(informative)} (truth at r = 0 carries no information). "
            "Mean and best accuracy per dataset; 'wins' = rows (arch × noise × estimator) where the variant is "
            "best or tied for best.", ""]
    datasets = list(dict.fromkeys(r["dataset"] for r in records))
    out.append("| variant | " + " | ".join(f"{d} mean | {d} best | {d} wins" for d in datasets) + " |")
    out.append("|---|" + "---|---|---|" * len(datasets))
    table: dict[str, dict[str, tuple[float, float, int]]] = {}
    for dataset in datasets:
        rows = [rec["results"][f"{e}@{n}"]["variants"] for rec in records if rec["dataset"] == dataset
                for e in informative]
        for name in VARIANTS:
            values = np.array([row[name] for row in rows])
            wins = sum(1 for row in rows if row[name] >= np.nanmax(list(row.values())) - 1e-12)
            table.setdefault(name, {})[dataset] = (float(np.nanmean(values)), float(np.nanmax(values)), wins)
    for name in VARIANTS:
        cells = [f"{_pct(table[name][d][0])} | {_pct(table[name][d][1])} | {table[name][d][2]}" for d in datasets]
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    out += ["", "Per estimator (mean over datasets × archs × noise types at N = " + f"{n:,}):", ""]
    out.append("| variant | " + " | ".join(ESTIMATOR_ORDER) + " |")
    out.append("|---|" + "---|" * len(ESTIMATOR_ORDER))
    for name in VARIANTS:
        cells = [_pct(float(np.nanmean([rec["results"][f"{e}@{n}"]["variants"][name] for rec in records])))
                 for e in ESTIMATOR_ORDER]
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    overall = {name: float(np.nanmean([table[name][d][0] for d in datasets])) for name in VARIANTS}
    best = max(overall, key=overall.get)
    out += ["", f"Best variant by mean accuracy (datasets weighted equally): **{best}** "
            f"({_pct(overall[best]).strip()} % vs core {_pct(overall['a core']).strip()} %)."]
    best_rows = []
    for dataset in datasets:
        candidates = [(rec["results"][f"{e}@{m}"]["variants"][v], rec, e, m, v) for rec in records
                      if rec["dataset"] == dataset for e in ESTIMATOR_ORDER for m in samples for v in VARIANTS]
        acc, rec, e, m, v = max(candidates, key=lambda t: -1 if np.isnan(t[0]) else t[0])
        best_rows.append(f"- best single result on {dataset}: {_pct(acc).strip()} % with variant {v} "
                         f"({rec['arch']}, {_noise_label(rec)}, {e}, N = {m:,})")
    out += best_rows

    out += ["", "### Self-classification of what is fed back", "",
            "Core feeds back the raw class images (rescaled to [0, 1]). Alternatives, same rescaling: mean of "
            f"self-classified count (of 10) and rows at 10/10, at N = {n:,}, estimators {', '.join(informative)}.", ""]
    kinds = list(records[0]["results"][f"predicted@{n}"]["self_variants"])
    out.append("| fed back | " + " | ".join(f"{d} mean | {d} rows 10/10" for d in datasets) + " |")
    out.append("|---|" + "---|---|" * len(datasets))
    for kind in kinds:
        cells = []
        for dataset in datasets:
            vals = [rec["results"][f"{e}@{n}"]["self_variants"][kind] for rec in records
                    if rec["dataset"] == dataset for e in informative]
            cells.append(f"{np.mean(vals):.1f} | {sum(v == 10 for v in vals)}/{len(vals)}")
        out.append(f"| {kind} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, nargs="+", default=None,
                        help="sample counts; one run of the largest, smaller ones from its snapshots "
                             "(each must be in 100, 200, 500, 1000, … or equal to the largest)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: N = 100 and 200, lenet on MNIST, uniform and gaussian noise only")
    parser.add_argument("--archs", nargs="+", default=None)
    parser.add_argument("--datasets", nargs="+", default=None)
    parser.add_argument("--noises", nargs="+", default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sigma", type=float, default=0.2, help="σ of gaussian, base and pink noise")
    parser.add_argument("--ratio", type=float, default=0.0, help="signal ratio r of the stimuli (default 0)")
    parser.add_argument("--signal", choices=("train", "test"), default="train",
                        help="where the signal of r > 0 comes from: the first 50,000 training images (default) or "
                             "the test images (the engine's default; they are then also what the accuracy is "
                             "measured on)")
    parser.add_argument("--states", default=None, metavar="DIR",
                        help="keep each run's sums in DIR and reuse a saved run instead of running the model")
    parser.add_argument("--ridges", type=float, nargs="*", default=None,
                        help="ridge strengths tried for the whitened kernel (default: core.readout.RIDGE_CHOICES; "
                             f"--quick: {', '.join(f'{r:g}' for r in QUICK_RIDGES)}); none to skip the section")
    parser.add_argument("--report-only", metavar="JSON", default=None,
                        help="rebuild the markdown report from a saved results file, without running anything")
    parser.add_argument("--out", default=None, help="results file stem (default bench/results/science[_quick])")
    args = parser.parse_args(argv)

    if args.report_only:
        saved = json.loads(Path(args.report_only).read_text())
        text = report(saved["records"], saved["samples"],
                      f"# Noise Lens science benchmark\n\n`{saved['command']}` (code: commit "
                      f"{saved.get('code', '?')})\n\nTemplate accuracy (%) on the real "
                      "test set and fed-back self-classification; r = 0, noise part averaged. "
                      + (f"Total {saved['minutes']:.1f} min. " if "minutes" in saved else "")
                      + f"(Report rebuilt from {Path(args.report_only).name}.)")
        Path(args.report_only).with_suffix(".md").write_text(text + "\n")
        print(text)
        return 0

    from core.reverse_correlation import checkpoint_series

    # --quick: the two smallest counts, so the smaller one is still read from a snapshot of the larger run.
    samples = sorted(set(args.samples or ([100, 200] if args.quick else [100_000, 1_000_000])))
    largest = samples[-1]
    allowed = set(checkpoint_series(largest)) | {largest}
    if not set(samples) <= allowed:
        parser.error(f"sample counts must be snapshot points of the largest run: {sorted(allowed)}")
    archs = args.archs or (["lenet"] if args.quick else ["lenet", "alexnet"])
    datasets = args.datasets or (["mnist"] if args.quick else ["mnist", "fashion_mnist"])
    from core.noise import NOISE_TYPES, SIGMA_NOISE_TYPES

    # --quick: one noise without σ and the cheapest one with σ, so both kinds of row are made and reported
    # (tests/test_analysis.py runs every noise type through Analyzer).
    chosen = args.noises or (["uniform", "gaussian"] if args.quick else None)
    noises = [(k, args.sigma if k in SIGMA_NOISE_TYPES else None) for k in NOISE_TYPES
              if chosen is None or k in chosen]
    from core.readout import RIDGE_CHOICES

    ridges = tuple(args.ridges) if args.ridges is not None else QUICK_RIDGES if args.quick else RIDGE_CHOICES
    stem = Path(args.out) if args.out else RESULTS / ("science_quick" if args.quick else "science")
    stem.parent.mkdir(parents=True, exist_ok=True)

    command = command_line(__file__)
    version = core_version()
    print(f"$ {command}", flush=True)
    print(f"code: commit {version}", flush=True)
    machine = machine_line()
    print(machine, flush=True)
    import tensorflow as tf

    from core.data import load_dataset

    print(f"TensorFlow {tf.__version__}; samples {samples}; r = {args.ratio:g}; averaged part: noise; "
          f"seed {args.seed}", flush=True)
    records: list[dict[str, Any]] = []
    total_started = time.perf_counter()
    for dataset in datasets:
        data = load_dataset(dataset)
        tests: dict[str, np.ndarray] = {}
        for arch in archs:
            model = _load(arch, dataset)
            if model is None:
                continue
            for noise, sigma in noises:
                print(f"  {dataset} / {arch} / {noise} / r = {args.ratio:g}: {largest:,} samples …", flush=True)
                rec = measure(arch, dataset, noise, sigma, samples, model, data, args.seed, tests, ridges,
                              args.ratio, args.signal, Path(args.states) if args.states else None)
                records.append(rec)
                best = max(rec["results"].values(), key=lambda r: r["accuracy"])
                print(f"    done in {rec['seconds']:.0f} s ({rec['rate']:,}/s); "
                      f"best {best['estimator']}@{best['n']:,}: "
                      f"{100 * best['accuracy']:.1f} %, self {best['self_classified']}/10", flush=True)
                if "readout" in rec:
                    template, linear, fitted = (rec["readout"][str(largest)]["chosen"][rule]
                                                for rule in ("whitened_template", "readout", "fitted_readout"))
                    print(f"    whitened kernel @{largest:,}: template {100 * template['accuracy']:.1f} % "
                          f"(λ {template['ridge']:g}), linear read-out {100 * linear['accuracy']:.1f} % "
                          f"(λ {linear['ridge']:g}), with fitted intercepts {100 * fitted['accuracy']:.1f} % "
                          f"(λ {fitted['ridge']:g})"
                          + ("" if "input_readout" not in rec["readout"][str(largest)]["chosen"] else
                             ", whole-input read-out {accuracy:.1%} (λ {ridge:g})".format(
                                 **rec["readout"][str(largest)]["chosen"]["input_readout"])), flush=True)
                stem.with_suffix(".json").write_text(json.dumps(
                    {"command": command, "code": version, "samples": samples, "records": records}, indent=1) + "\n")
    if not records:
        print("no model available: nothing measured")
        return 1
    minutes = (time.perf_counter() - total_started) / 60
    stem.with_suffix(".json").write_text(json.dumps(
        {"command": command, "code": version, "samples": samples, "minutes": round(minutes, 1),
         "records": records}, indent=1) + "\n")
    text = report(records, samples, f"# Noise Lens science benchmark\n\n`{command}` (code: commit {version})\n\n"
                                    f"{machine} at the start; {machine_line().removeprefix('machine: ')} at the "
                                    "end.\n\n"
                                    f"Template accuracy (%) on the real test set and fed-back self-classification; "
                                    f"r = {args.ratio:g}"
                                    + (f" (signal: {args.signal} images)" if args.ratio > 0 else "")
                                    + f", noise part averaged. Total {minutes:.1f} min.")
    stem.with_suffix(".md").write_text(text + "\n")
    print("\n" + text)
    print(f"\nwritten: {stem.with_suffix('.json')}, {stem.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
