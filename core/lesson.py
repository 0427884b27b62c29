"""The guided lesson: the README's classroom walkthrough as six steps of data, and the rules that turn a measured run
into the answer of each step's question (predict, then reveal).

Every answer is computed from what the current model did, never stored as text: the class it calls pure noise
most often is read from the run's class bias, "sharper or noisier" from the class images' significant pixels at
N/10 and N, "better than chance" from the template accuracy. No Streamlit here: ``pages/lesson.py`` draws it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.config import DATASET_TITLES
from core.models import ARCHITECTURES
from core.noise import DEFAULT_SIGMA

# The one noise stream of the lesson: uniform noise, seed 0. Steps 2–5 all use it at r = 0, so the run grows
# from 1,000 to 10,000 stimuli once and every later step (another grouping, the templates) reuses it.
_STREAM = {"noise": "uniform", "sigma": DEFAULT_SIGMA, "seed": 0, "z": False}
SIGNIFICANT_Z = 3.0  # |z| above this happens by chance for about 2 of a panel's 784 pixels
SHARPENING_MARGIN = 1.1  # "sharper" or "noisier" only when the significant share changes by more than 10 %


def most_called_class(class_bias: np.ndarray) -> int:
    """The class the model gives the most stimuli: its default guess for pure noise."""
    return int(np.argmax(np.nan_to_num(np.asarray(class_bias, dtype=float), nan=-1.0)))


def significant_share(z_scores: np.ndarray, clear: np.ndarray) -> float:
    """Share of the pixels of the clear (not scarce, not empty) classes with |z| > 3: how much of the picture
    stands out of the noise. 0 when no class is clear."""
    z = np.asarray(z_scores)[np.asarray(clear, dtype=bool)]
    return float(np.mean(np.abs(np.nan_to_num(z)) > SIGNIFICANT_Z)) if z.size else 0.0


SHARPENING_CHOICES = ("Sharper", "Noisier", "About the same")


def sharpening_answer(share_before: float, share_after: float) -> int:
    """Index in ``SHARPENING_CHOICES``: sharper when more pixels stand out of the noise after 10× the stimuli."""
    if share_after > share_before * SHARPENING_MARGIN:
        return 0
    if share_after * SHARPENING_MARGIN < share_before:
        return 1
    return 2


CLEAR_CLASS_BANDS = ((0, 3, "1 to 3"), (4, 6, "4 to 6"), (7, 9, "7 to 9"), (10, 10, "All ten"))


def clear_classes_band(clear_count: int) -> int:
    """Index of the band of ``CLEAR_CLASS_BANDS`` holding this many clear class images."""
    for index, (low, high, _) in enumerate(CLEAR_CLASS_BANDS):
        if low <= clear_count <= high:
            return index
    raise ValueError(f"{clear_count} is not a number of classes between 0 and 10")


# Chance is 10 %; the networks themselves score 92-99 %, so "over 70 %" is far better than chance, not their equal.
ACCURACY_BANDS = ((0.0, 0.15, "Close to chance (under 15 %)"), (0.15, 0.40, "Somewhat better (15 to 40 %)"),
                  (0.40, 0.70, "Much better (40 to 70 %)"), (0.70, 1.0, "Far better (over 70 %)"))


def accuracy_band(accuracy: float) -> int:
    """Index of the band of ``ACCURACY_BANDS`` holding this template accuracy (chance is 10 %)."""
    if not 0.0 <= accuracy <= 1.0:
        raise ValueError(f"an accuracy lies between 0 and 1, not {accuracy}")
    return next(index for index, (_, high, _) in enumerate(ACCURACY_BANDS) if accuracy < high or high == 1.0)


MODEL_CHOICES = (("lenet", "mnist"), ("alexnet", "mnist"), ("lenet", "fashion_mnist"), ("alexnet", "fashion_mnist"))


def best_model(accuracies: Sequence[float]) -> int:
    """Index in ``MODEL_CHOICES`` of the model whose class images classify its own test set best."""
    return int(np.argmax(np.nan_to_num(np.asarray(accuracies, dtype=float), nan=-1.0)))


@dataclass(frozen=True)
class Question:
    """A question asked before the figure that answers it. ``choices`` None: the dataset's ten class names.
    ``answer`` maps the step's measurement to the index of the right choice."""

    key: str
    prompt: str
    choices: tuple[str, ...] | None
    answer: Callable[..., int]
    reveal: str  # what the figure shown after the answer measures

    def options(self, class_names: Sequence[str]) -> tuple[str, ...]:
        return tuple(class_names) if self.choices is None else self.choices


@dataclass(frozen=True)
class Step:
    """One step of the lesson: the controls it sets (link parameters and values), its text, and its question."""

    title: str
    settings: dict[str, Any]
    text: str
    full_page: str  # the page that shows this view with all its controls
    full_page_title: str
    question: Question | None = None
    all_models: bool = False  # the four shipped models side by side, whatever the sidebar says

    @property
    def control_values(self) -> dict[str, Any]:
        """The settings as ``core.link.Controls`` fields (the link says ``r`` and ``z``)."""
        names = {"r": "ratio", "z": "z_scores"}
        return {names.get(key, key): value for key, value in self.settings.items()}


#: Share of pixels beyond |z| = 3 in pure noise (two-sided, normal): what step 3's verdict is measured against.
CHANCE_BEYOND_3_SIGMA = 0.0027
SETTLED = 0.9  # a convergence curve at or above this halfway along: the picture has mostly settled


def convergence_reading(counts: np.ndarray, correlations: np.ndarray) -> str:
    """Step 3's caption under the convergence curve, read from the curve: it ends at 1 by construction, so "it nears
    1" said nothing (a class read it as settled while it was still climbing steeply)."""
    final = int(counts[-1])
    halfway = counts <= final // 2
    reading = ""
    if halfway.any() and np.isfinite(correlations[halfway][-1]):
        at, value = int(counts[halfway][-1]), float(correlations[halfway][-1])
        reading = (f" At {at:,} stimuli it was **{value:.2f}**: " +
                   ("the picture had mostly settled; more stimuli change it little." if value >= SETTLED else
                    "still far from 1. The images have not settled yet, and more stimuli would still sharpen them."))
    return (f"Correlation of the class images after n stimuli with those after all {final:,}, so its last point is 1 "
            f"by construction: read its slope, not its end.{reading} On the full page, slide N to 100,000 and "
            f"watch.")


STEPS: tuple[Step, ...] = (
    Step("The original figure",
         {"n": 1_000, "r": 0.7, "estimator": "truth", "part": "input", **_STREAM},
         "The original study showed the network 1,000 images of `0.7 · test image + 0.3 · uniform noise` and "
         "averaged them by their **true** class. The noise averages out, the test images stay: ten clean class images. "
         "Fed back to the network (below), most are recognised as their own class (the caption counts them). The "
         "question to ask: *is this what the network sees, or only what we put in?* Grouping by the true label "
         "needs no network at all.",
         "pages/class_images.py", "Classification images"),
    Step("Take the signal away",
         {"n": 1_000, "r": 0.0, "estimator": "predicted", "part": "noise", **_STREAM},
         "Now r = 0: the stimuli are **pure noise**, with no test image in them, and they are grouped by the "
         "network's own answer. Whatever shape appears in an average was put there by the network's decisions. "
         "First, though, look at how the answers spread over the classes: the network's default guesses.",
         "pages/class_images.py", "Classification images",
         Question("bias", "Pure noise: which class will the network call it most often?", None, most_called_class,
                  "the class bias: how often the network called the 1,000 noise images each class")),
    Step("Let the images sharpen",
         # z-scores, the measure the answer is read from; "This step on the full page" opens them too
         {"n": 10_000, "r": 0.0, "estimator": "predicted", "part": "noise", **_STREAM, "z": True},
         "The same noise stream, now 10,000 stimuli: the first 1,000 are the ones of step 2. A class image is an "
         "average, so its noise shrinks like 1/√N (10 times the stimuli, about a third of the noise; 100 times, "
         "a tenth) while the network's template stays. The convergence curve "
         "compares the images along the way with the final ones: it ends at 1 by construction, so read its slope: "
         "still climbing at the end means more stimuli would still change the picture.",
         "pages/class_images.py", "Classification images (slide N further)",
         Question("sharpen", "With 10× more stimuli (10,000 instead of 1,000), will the class images get sharper or "
                  "noisier?", SHARPENING_CHOICES, sharpening_answer,
                  "the share of pixels of the clear class images that stand out of the noise (|z| > 3) at 1,000 "
                  "and at 10,000 stimuli")),
    Step("More classes get an image",
         {"n": 10_000, "r": 0.0, "estimator": "softmax", "part": "noise", **_STREAM},
         "Grouping by the answer leaves the rarely chosen classes with a few noisy stimuli. **Softmax** grouping "
         "counts every stimulus towards every class, weighted by the network's probability for that class. "
         "(Softmax is the network's last step: it turns its scores into ten probabilities that add up to 1.) So a "
         "class the network rarely picks still gathers weight from the stimuli it nearly called that class. On "
         "the full page, *regression* grouping does something similar with the raw scores (the *logits*). How "
         "many classes that rescues depends on the network: try the other models in the sidebar. "
         "Same 10,000 stimuli: switching grouping needs no new pass through the network.",
         "pages/class_images.py", "Classification images",
         Question("clear", "Grouped by softmax, how many of the ten classes will get a clear image (not marked "
                  "*too few*)?", tuple(label for _, _, label in CLEAR_CLASS_BANDS), clear_classes_band,
                  "the softmax class images, with the classes that got under 1 % of the total marked *too few*")),
    Step("Are the averages enough?",
         {"n": 10_000, "r": 0.0, "estimator": "softmax", "part": "noise", **_STREAM},
         "Use the ten noise averages as **templates**: give each of the 10,000 real test images the class whose "
         "image it resembles most (cosine similarity after centring: the average image is taken from both, then 1 "
         "means the same pattern and 0 an unrelated one). Chance is 10 %. Fed back to the network "
         "(below), the averages show whether the network itself recognises its own templates.",
         "pages/confusion.py", "Confusion heatmaps",
         Question("template", "Used as templates, will the ten noise averages classify real test images better "
                  "than chance, and by how much?", tuple(label for _, _, label in ACCURACY_BANDS), accuracy_band,
                  "the template classifier's accuracy on the 10,000 test images")),
    Step("Digits vs clothes, LeNet vs AlexNet",
         {"n": 10_000, "r": 0.0, "estimator": "softmax", "part": "noise", **_STREAM},
         "The same noise stream through all four shipped networks. The digit networks' averages show strokes; the "
         "clothes networks' are coarser blobs, not garment outlines: what a network responds to in noise need not "
         "look like the objects it learned. Count the classes marked * (too few stimuli to trust) under each grid, "
         "and compare the two architectures trained on the same data: do they favour the same classes on noise, "
         "and in the same proportions? The template accuracy says how much of each network's knowledge its noise "
         "averages carry.",
         "pages/compare.py", "Compare",
         Question("models", "Whose noise averages will classify their own test set best?",
                  # as the panels above name them ("LeNet-style · Fashion-MNIST"), not "lenet on fashion_mnist"
                  tuple(f"{ARCHITECTURES[arch].title} · {DATASET_TITLES[dataset]}" for arch, dataset in MODEL_CHOICES),
                  best_model,
                  "each model's template accuracy on its own test set"),
         all_models=True),
)
STEP_COUNT = len(STEPS)


def parse_step(text: str) -> int:
    """A step number from a link: a whole number from 1 to ``STEP_COUNT``."""
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"must be a whole number from 1 to {STEP_COUNT}") from None
    if not 1 <= value <= STEP_COUNT:
        raise ValueError(f"must be between 1 and {STEP_COUNT}")
    return value


def step(number: int) -> Step:
    """Step ``number`` (1-based), as the link and the progress indicator count."""
    return STEPS[number - 1]


@dataclass
class AnswerTally:
    """How a class answered each question, server-wide: counts per choice, one answer per session per question.

    Only counts are kept, plus which opaque per-tab tokens already answered (so a session cannot vote twice);
    nothing says who chose what. Shared by every session, so every access holds the lock.
    """

    _counts: dict[str, list[int]] = field(default_factory=dict)
    _answered: set[tuple[str, str]] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, question: str, session: str, choice: int, choices: int) -> bool:
        """Count ``choice`` (0-based, of ``choices``) for ``question``; False if this session answered it already."""
        if not 0 <= choice < choices:
            raise ValueError(f"choice {choice} is not one of {choices}")
        with self._lock:
            if (question, session) in self._answered:
                return False
            self._answered.add((question, session))
            counts = self._counts.setdefault(question, [0] * choices)
            counts[choice] += 1
            return True

    def counts(self, question: str, choices: int) -> np.ndarray:
        """Answers per choice so far (zeros before the first)."""
        with self._lock:
            return np.array(self._counts.get(question, [0] * choices), dtype=int)

    def clear(self, question: str) -> None:
        """Forget a question's answers (a new class, a new round)."""
        with self._lock:
            self._counts.pop(question, None)
            self._answered = {pair for pair in self._answered if pair[0] != question}


def tally_key(question: Question, dataset: str, arch: str) -> str:
    """Answers are counted per model: the right answer (and the ten choices) depend on it."""
    return question.key if question.key == "models" else f"{question.key}/{dataset}/{arch}"
