"""The CI-injection attack (Borji & Lin, 2020): blend a class's image into inputs and see whether the model follows.

``x' = (1 − γ)·A + γ·T_k``, where T_k is class k's classification image stretched to [0, 1] (or, as the baseline,
the mean training image of class k stretched the same way) and A is pure noise or a real test image. The targeted
success rate at γ is the share of x' the model calls k, averaged over the ten targets (chance 0.1); the untargeted
view is the share of test inputs still given their true class. On test images the share counts every input,
those of class k included (about a tenth, already called k at γ = 0): the usual targeted rate leaves them out.
If a handful of noise averages can steer the network as well as the class means can, the class images hold what
the network responds to.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.analysis import rescale_to_input
from core.config import IMAGE_SHAPE, NUM_CLASSES
from core.data import kept_while_alive
from core.noise import NoiseSpec, noise_samples

GAMMAS = np.round(np.arange(11) / 10, 1)  # γ = 0, 0.1, …, 1 (exact decimals, as written in the tables)
TEMPLATES = {"class_images": "classification images", "class_means": "class-mean images (baseline)"}
SOURCES = {"noise": "pure noise", "test": "test images"}
#: The attack's noise inputs start this far into the stream (10¹² stimuli): never the stimuli behind the class
#: images, which would otherwise be "attacked" with the very noise they were averaged from.
NOISE_START = 2**40
INPUTS_PER_CALL = 1_000  # inputs blended with all 20 templates per model call
SUBSETS = (100, 200, 500, 1_000)  # inputs per source; each costs 9 × 40 model passes per input
#: The reference run, as the page's link sets it: class images from 200,000 softmax-weighted pure uniform-noise
#: stimuli (a variant of Borji & Lin's answer-grouped averages that gives every class an image), swept with 500
#: inputs per source. The CLI's defaults and README's table are this run; with the page's
#: default 100 inputs the button gave 0.701 / 0.228 where the table says 0.707 / 0.259 (LeNet-MNIST, γ = 0.5).
REFERENCE_RUN = {"r": 0.0, "estimator": "softmax", "part": "noise", "n": 200_000, "noise": "uniform", "seed": 0,
                 "z": False, "subset": 500}

#: Called after each batch of model passes with the share of the sweep done.
AttackProgress = Callable[[float], None]


def class_mean_images(train_images: np.ndarray, train_labels: np.ndarray) -> np.ndarray:
    """The baseline templates: the mean training image of each class, on the 0–1 input scale, ``(10, 28, 28)``.

    Made once per training set and shared, read-only: the Attack page asks for them on every rerun, and the
    float ``np.add.at`` over 60,000 images this replaces took 0.5–1 s of each move of γ on a fast machine."""
    return kept_while_alive(train_images, _CLASS_MEANS, lambda: _class_means(train_images, train_labels))


_CLASS_MEANS: dict[int, np.ndarray] = {}


def _class_means(train_images: np.ndarray, train_labels: np.ndarray) -> np.ndarray:
    pixels = train_images.reshape(len(train_images), -1)
    sums = np.stack([pixels[train_labels == k].sum(axis=0, dtype=np.int64) for k in range(NUM_CLASSES)])  # exact
    counts = np.bincount(train_labels, minlength=NUM_CLASSES)
    means = (sums / (255.0 * np.maximum(counts, 1)[:, None])).reshape(NUM_CLASSES, *IMAGE_SHAPE)
    means.flags.writeable = False
    return means


def attack_templates(class_images: np.ndarray, class_means: np.ndarray) -> np.ndarray:
    """Both template sets min-max stretched to [0, 1] (``rescale_to_input``, as the fed-back matrix draws them),
    stacked in ``TEMPLATES`` order: ``(2, 10, 28, 28)`` float32. An empty class image becomes flat mid-grey."""
    return np.stack([rescale_to_input(np.asarray(class_images)), rescale_to_input(np.asarray(class_means))])


def blend(inputs: np.ndarray, template: np.ndarray, gamma: float) -> np.ndarray:
    """``x' = (1 − γ)·A + γ·T`` in float32; at γ = 0 it is A and at γ = 1 it is T, to the bit."""
    inputs = np.asarray(inputs, np.float32)
    return np.float32(1.0 - gamma) * inputs + np.float32(gamma) * np.asarray(template, np.float32)


@dataclass(frozen=True)
class AttackCurves:
    """The sweep's outcome, per template set, input source, γ and target class."""

    gammas: np.ndarray  # (G,)
    success: np.ndarray  # (2 templates, 2 sources, G, 10 targets): share of inputs the model called the target
    accuracy: np.ndarray  # (2 templates, G, 10 targets): share of test inputs still given their true class
    noise_count: int
    test_count: int
    # (2 templates, G, 10 targets): test inputs of class k the model called k when blended with template k, and
    # (10,) the test inputs of each class: what the usual targeted rate leaves out
    own_class_hits: np.ndarray
    class_counts: np.ndarray

    def targeted(self, template: str, source: str) -> np.ndarray:
        """Targeted success rate against γ, averaged over the ten target classes (chance 0.1)."""
        return self.success[list(TEMPLATES).index(template), list(SOURCES).index(source)].mean(axis=1)

    def targeted_on_others(self, template: str) -> np.ndarray:
        """The usual targeted rate on test images: the share of blends the model called k among the test images
        not of class k, averaged over the ten targets (about 0 at γ = 0, where ``targeted`` is 0.1)."""
        t = list(TEMPLATES).index(template)
        hits = self.success[t, list(SOURCES).index("test")] * self.test_count  # (G, 10)
        others = self.test_count - self.class_counts  # (10,)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.nanmean((hits - self.own_class_hits[t]) / others, axis=1)

    def untargeted(self, template: str) -> np.ndarray:
        """Test accuracy against γ, averaged over the ten blended templates."""
        return self.accuracy[list(TEMPLATES).index(template)].mean(axis=1)


def _predicted(model: Any, images: np.ndarray) -> np.ndarray:
    from core.models import predict_probabilities

    flat = images.reshape(-1, *IMAGE_SHAPE)
    return predict_probabilities(model, flat).argmax(axis=1).reshape(images.shape[:-2])


def attack_sweep(model: Any, class_images: np.ndarray, class_means: np.ndarray, noise_inputs: np.ndarray,
                 test_images: np.ndarray, test_labels: np.ndarray, gammas: np.ndarray = GAMMAS,
                 on_progress: AttackProgress | None = None) -> AttackCurves:
    """Blend every template into every input at every γ and record the model's answers.

    ``noise_inputs`` and ``test_images`` are on the 0–1 scale (uint8 test images are divided by 255). At γ = 0 the
    inputs do not depend on the template and at γ = 1 not on the input, so those two are classified once: the
    sweep costs (G − 2) × 2 × 10 × (noise + test) passes plus the inputs and the 20 templates themselves.
    """
    templates = attack_templates(class_images, class_means)
    test = np.asarray(test_images, np.float32) / (255.0 if np.asarray(test_images).dtype == np.uint8 else 1.0)
    sources = [np.asarray(noise_inputs, np.float32), test]
    both = np.concatenate(sources)
    labels = np.asarray(test_labels)
    targets = np.arange(NUM_CLASSES)
    success = np.zeros((len(TEMPLATES), len(SOURCES), len(gammas), NUM_CLASSES))
    accuracy = np.zeros((len(TEMPLATES), len(gammas), NUM_CLASSES))
    own = np.zeros((len(TEMPLATES), len(gammas), NUM_CLASSES))
    of_class = labels[None, :] == targets[:, None]  # (10 targets, test inputs)
    steps, done = len(gammas), 0
    for g, gamma in enumerate(gammas):
        if gamma == 0.0:  # x' = A for every template and target
            answers = [_predicted(model, inputs) for inputs in sources]
            for s, answer in enumerate(answers):
                success[:, s, g] = (answer[None, :] == targets[:, None]).mean(axis=1)
            accuracy[:, g] = np.mean(answers[1] == labels)
            own[:, g] = ((answers[1] == labels)[None, :] & of_class).sum(axis=1)
        elif gamma == 1.0:  # x' = T_k whatever the input
            answer = _predicted(model, templates)  # (2, 10)
            success[:, :, g] = (answer == targets)[:, None, :]
            accuracy[:, g] = (answer[..., None] == labels).mean(axis=-1)
            own[:, g] = (answer == targets) * of_class.sum(axis=1)
        else:
            # few model calls (each traces the model anew), each at most 20 × INPUTS_PER_CALL images (63 MB)
            answer = np.concatenate([_predicted(model, blend(both[None, None, i : i + INPUTS_PER_CALL],
                                                             templates[:, :, None], gamma))
                                     for i in range(0, len(both), INPUTS_PER_CALL)], axis=2)  # (2, 10, inputs)
            for s, part in enumerate(np.split(answer, [len(sources[0])], axis=2)):
                success[:, s, g] = (part == targets[:, None]).mean(axis=2)
            accuracy[:, g] = (answer[:, :, len(sources[0]):] == labels).mean(axis=2)
            own[:, g] = ((answer[:, :, len(sources[0]):] == targets[:, None]) & of_class).sum(axis=2)
        done += 1
        if on_progress is not None:
            on_progress(done / steps)
    return AttackCurves(np.asarray(gammas, float), success, accuracy, len(sources[0]), len(test), own,
                        of_class.sum(axis=1))


def attack_inputs(noise: NoiseSpec, train_images: np.ndarray, test_images: np.ndarray, test_labels: np.ndarray,
                  noise_count: int, test_count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The inputs A: ``noise_count`` stimuli of the analysis' own noise type from ``NOISE_START`` on, and the first
    ``test_count`` test images (0–1 scale) with their labels."""
    if noise_count < 1 or test_count < 1:
        raise ValueError("the attack needs at least one noise input and one test image")
    if test_count > len(test_images):
        raise ValueError(f"the test set has {len(test_images):,} images, not {test_count:,}")
    noise_inputs = noise_samples(noise, NOISE_START, noise_count, train_images)
    return noise_inputs, test_images[:test_count] / np.float32(255.0), test_labels[:test_count]


EXAMPLES = 4  # attacked inputs of each source in the examples (the page's strips, the command line's files)


@dataclass(frozen=True)
class AttackExamples:
    """The first attacked inputs of each source at one target and γ, and the model's answer to each."""

    blends: np.ndarray  # (2, 2·count, 28, 28) per template set (``TEMPLATES``): the noise inputs', then the tests'
    answers: np.ndarray  # (2, 2·count) int: the class the model gives each blend


def attack_examples(model: Any, templates: np.ndarray, noise_inputs: np.ndarray, test_inputs: np.ndarray,
                    target: int, gamma: float, count: int = EXAMPLES) -> AttackExamples:
    """x' = (1 − γ)·input + γ·template of ``target`` for the first ``count`` inputs of each source, with both template
    sets (``attack_templates``), and the model's answers: the Attack page's examples and the command's."""
    from core.models import predict_probabilities

    blends = np.stack([np.concatenate([blend(noise_inputs[:count], template[target], gamma),
                                       blend(test_inputs[:count], template[target], gamma)])
                       for template in templates])
    answers = predict_probabilities(model, blends.reshape(-1, *IMAGE_SHAPE)).argmax(axis=1)
    return AttackExamples(blends, answers.reshape(blends.shape[:2]))


def examples_csv(found: AttackExamples, target: int, class_names: tuple[str, ...] | list[str]) -> str:
    """One row per example: its template set, source and input number, the model's answer, and whether it is the
    target."""
    import pandas as pd

    count, sources = found.answers.shape[1] // len(SOURCES), list(SOURCES)
    rows = [{"template": template, "source": sources[j // count], "input": j % count, "answer": class_names[answer],
             "is_target": bool(answer == target)}
            for template, answers in zip(TEMPLATES, found.answers) for j, answer in enumerate(answers)]
    return pd.DataFrame(rows).to_csv(index=False, lineterminator="\n")


def curves_table(curves: AttackCurves) -> Any:
    """The figure's numbers, one row per γ: four targeted success rates and two test accuracies."""
    import pandas as pd

    columns: dict[str, Any] = {"gamma": curves.gammas}
    for template in TEMPLATES:
        for source in SOURCES:
            columns[f"success_{template}_{source}"] = curves.targeted(template, source)
    for template in TEMPLATES:
        columns[f"test_accuracy_{template}"] = curves.untargeted(template)
    for template in TEMPLATES:  # the usual targeted rate: test images not already of the target class
        columns[f"success_{template}_test_not_of_the_target_class"] = curves.targeted_on_others(template)
    return pd.DataFrame(columns)


def per_target_table(curves: AttackCurves, class_names: tuple[str, ...] | list[str]) -> Any:
    """Every number behind the curves: success rate per template set, source, γ and target class."""
    import pandas as pd

    rows = [{"template": template, "source": source, "gamma": gamma, "target": class_names[k],
             "success": curves.success[t, s, g, k],
             "test_accuracy": curves.accuracy[t, g, k] if source == "test" else np.nan}
            for t, template in enumerate(TEMPLATES) for s, source in enumerate(SOURCES)
            for g, gamma in enumerate(curves.gammas) for k in range(NUM_CLASSES)]
    return pd.DataFrame(rows)


def curves_csv(curves: AttackCurves) -> str:
    return curves_table(curves).to_csv(index=False, float_format="%.4f", lineterminator="\n")
